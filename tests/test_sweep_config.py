"""Experiment configs: schema + semantic validation, sweep axes, cells and seeds."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from stablesweep.attacks.momentum_kind import kept_steps, record_steps
from stablesweep.sweep.config import ConfigError, load_config, validate
from stablesweep.sweep.config.grid import Cell, cells, stream_seed

BASE = {
    "experiment": "tiny",
    "seed": 0,
    "trials": 2,
    "problem": {
        "transform": ["fourier", "walsh"],
        "resolution": 16,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
        "noise": [0.0, 0.01],
    },
    "networks": [
        {"name": "fista", "depth": 20, "params": {"lam": 1.0e-3}},
        {"name": "firenet", "depth": 20, "params": {"lam": 1.0e-3, "p": 5}},
    ],
    "attack": {
        "kind": "momentum",
        "depths": [5],
        "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 4, "record_every": 2},
    },
    "examples": [{"network": "fista", "trial": 1, "noise": 0.01}],
}

DELETE = object()


def mutate(*changes):
    """BASE with ``(dotted.path, value)`` changes (DELETE removes the key)."""
    cfg = copy.deepcopy(BASE)
    for path, value in changes:
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        node = cfg
        for k in keys[:-1]:
            node = node[k]
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return cfg


BAD = [
    # (id, changes, expected message: key path + value + what is allowed)
    ("transform", [("problem.transform", "fouier")],
     r"problem\.transform: unknown value 'fouier'; expected one of: fourier, walsh"),
    ("transform-in-axis", [("problem.transform", ["fourier", "fouier"])],
     r"problem\.transform\[1\]: unknown value 'fouier'; expected one of: fourier, walsh"),
    ("resolution-power-of-two", [("problem.resolution", 48)],
     r"problem\.resolution: resolution 48 is not a power of two"),
    ("resolution-too-small", [("problem.resolution", [16, 1])],
     r"problem\.resolution\[1\]: 1 is out of range; expected >= 2"),
    ("resolution-type", [("problem.resolution", "big")],
     r"problem\.resolution: 'big' is not valid; expected an integer or a list of those"),
    ("dim", [("problem.dim", 3)], r"problem\.dim: unknown value 3; expected one of: 1, 2"),
    ("wavelet-not-orthogonal", [("problem.wavelet", "bior2.2")],
     r"problem\.wavelet: wavelet 'bior2\.2' is not orthogonal"),
    ("wavelet-unknown", [("problem.wavelet", ["haar", "db99"])],
     r"problem\.wavelet\[1\]: unknown wavelet 'db99'; expected an orthogonal"),
    ("scheme", [("problem.sampling.scheme", "random")],
     r"problem\.sampling\.scheme: unknown scheme 'random'; expected one of: theory, uniform"),
    ("rate-range", [("problem.sampling.rate", 1.5)],
     r"problem\.sampling\.rate: 1\.5 is out of range; expected > 0 and <= 1"),
    ("rate-and-budgets", [("problem.sampling.budgets", [2] * 16)],
     r"problem\.sampling: keys \['budgets', 'rate', 'scheme'\]; expected either 'rate'"),
    ("budgets-length", [("problem.sampling", {"budgets": [[1, 2, 3]]})],
     r"problem\.sampling\.budgets\[0\]: \[1, 2, 3\] does not fit resolution 16, dim 2, "
     r"transform fourier: budgets has shape \(3,\); expected \(16,\)"),
    ("budgets-too-large", [("problem.sampling", {"budgets": [4] * 15 + [500]})],
     r"problem\.sampling\.budgets: .* budget 500 for band \(4, 4\) is larger than the band"),
    ("theory-needs-sparsity",
     [("problem.sampling.scheme", "theory"), ("problem.signal", {"kind": "ellipses"})],
     r"problem\.signal\.sparsity: missing; scheme 'theory' needs the local sparsities"),
    ("sparsity-length", [("problem.signal.sparsity", [2, 2, 2])],
     r"problem\.signal\.sparsity: \[2, 2, 2\] does not fit resolution 16 .*expected one entry "
     r"per level"),
    ("sparsity-too-large", [("problem.signal.sparsity", [[2, 2, 2, 2], [2, 2, 2, 500]])],
     r"problem\.signal\.sparsity\[1\]: \[2, 2, 2, 500\] does not fit .*expected 0 <= s\[4\]"),
    ("sparsity-negative", [("problem.signal.sparsity", [2, -1, 2, 2])],
     r"problem\.signal\.sparsity\[1\]: -1 is out of range; expected >= 0"),
    ("signal-kind", [("problem.signal.kind", "noise")],
     r"problem\.signal\.kind: unknown value 'noise'; expected one of: sparse-in-levels, image, "
     r"ellipses"),
    ("image-needs-name", [("problem.signal", {"kind": "image"})],
     r"problem\.signal: missing key 'name' \(needed by kind 'image'\); expected one of: camera"),
    ("image-name", [("problem.signal", {"kind": "image", "name": "lena"})],
     r"problem\.signal\.name: unknown test image 'lena'; expected one of: camera, ascent, aero"),
    ("image-1d", [("problem.signal", {"kind": "image", "name": "camera"}), ("problem.dim", 1)],
     r"problem\.dim: test images are 2-D; kind 'image' needs dim 2"),
    ("noise", [("problem.noise", -0.1)], r"problem\.noise: -0\.1 is out of range; expected >= 0"),
    ("problem-unknown-key", [("problem.snr", 3)],
     r"problem: unknown key 'snr'; allowed keys: dim, noise, resolution, sampling, signal"),
    ("top-unknown-key", [("trails", 3)],
     r"config: unknown key 'trails'; allowed keys: attack, examples, experiment, minimiser, "
     r"networks"),
    ("missing-seed", [("seed", DELETE)], r"config: missing required key 'seed'"),
    ("trials", [("trials", 0)], r"trials: 0 is out of range; expected >= 1"),
    ("network-name", [("networks.0.name", "fist")],
     r"networks\[0\]\.name: unknown network 'fist'; expected one of: .*fista.*custom"),
    ("network-depth", [("networks.0.depth", 0)],
     r"networks\[0\]\.depth: 0 is out of range; expected >= 1"),
    ("firenet-depth-vs-p", [("networks.1.depth", 22)],
     r"networks\[1\]\.depth: 22 is not a multiple of params\.p = 5"),
    ("firenet-default-p", [("networks.1.params", {"lam": 1e-3})],
     r"networks\[1\]\.depth: 20 is not a multiple of params\.p = 20|"
     r"attack\.depths\[0\]: 5 is not a multiple of p = 20"),
    ("param-type", [("networks.0.params.lam", "small")],
     r"networks\[0\]\.params\.lam: 'small' is not valid; expected a finite number >= 0"),
    ("param-int", [("networks.1.params.p", 2.5)],
     r"networks\[1\]\.params\.p: 2\.5 is not valid; expected a positive integer"),
    ("unknown-network-param", [("networks.1.params.rho", 1.0)],
     r"networks\[1\]\.params\.rho: unknown parameter of network 'firenet'; allowed: .*lam"),
    ("custom-needs-factory", [("networks.0", {"name": "custom", "depth": 5})],
     r"networks\[0\]: missing required key 'factory'"),
    ("custom-factory-import",
     [("networks.0", {"name": "custom", "factory": "nosuch.module:fn", "depth": 5})],
     r"networks\[0\]\.factory: cannot import 'nosuch\.module:fn' \(ImportError"),
    ("factory-format",
     [("networks.0", {"name": "custom", "factory": "not a path", "depth": 5})],
     r"networks\[0\]\.factory: 'not a path' is not valid; expected an import path"),
    ("duplicate-label", [("networks.1", {"name": "fista", "depth": 20})],
     r"networks\[1\]\.label: 'fista' is already used by networks\[0\]; expected a unique label"),
    ("attack-kind", [("attack.kind", "pgd")],
     r"attack\.kind: unknown value 'pgd'; expected one of: momentum, worst-case"),
    ("attack-depth-too-deep", [("attack.depths", [30])],
     r"attack\.depths\[0\]: 30 exceeds the depth of every network \(the deepest, "
     r"networks\[0\] \(fista\), has depth 20\); expected <= 20"),
    ("attack-depth-vs-p-only-up-to-depth",  # 15 > firenet's 10: skipped there, not an error
     [("networks.1.depth", 10), ("attack.depths", [5, 15, 7])],
     r"attack\.depths\[2\]: 7 is not a multiple of p = 5 of networks\[1\] \(firenet\)"),
    ("attack-depths-only-trained",
     [("networks", [{"name": "unet", "depth": 1}]), ("examples", DELETE)],
     r"attack\.depths: no network here can be truncated: trained networks \(unet\) are "
     r"attacked at their own depth only; leave attack\.depths out"),
    ("example-skipped-attack-depth",
     [("networks.1.depth", 10), ("attack.depths", [5, 20]),
      ("examples.0", {"network": "firenet", "attack_depth": 20})],
     r"examples\[0\]\.attack_depth: network 'firenet' is not attacked at attack depth 20 "
     r"\(attack depth 20 exceeds the network's depth 10\); expected one of: 5"),
    ("mask-from-and-rate", [("problem.sampling.mask_from", "m.pt")],
     r"problem\.sampling: rate, scheme given together with 'mask_from'; expected either "
     r"'mask_from' alone"),
    ("mask-from-missing",
     [("problem.sampling", {"mask_from": "results/models/no-such-net/model.pt"})],
     r"problem\.sampling\.mask_from: 'results/models/no-such-net/model\.pt' does not exist; "
     r"train it first with `stablesweep train <training config>`"),
    ("noise-huge", [("problem.noise", [0.0, 1e300])],
     r"problem\.noise\[1\]: 1e\+300 is out of range; expected >= 0 and <= 100"),
    ("worst-case-objective", [("attack", {"kind": "worst-case", "budget": [0.01], "params": {
        "objective": "loss", "steps": 2, "restarts": 1}}), ("examples", DELETE)],
     r"attack\.params\.objective: unknown value 'loss'; expected one of: error, change"),
    ("worst-case-method", [("attack", {"kind": "worst-case", "budget": [0.01], "params": {
        "method": "sgd", "steps": 2}}), ("examples", DELETE)],
     r"attack\.params\.method: unknown value 'sgd'; expected one of: normalized, adam"),
    ("worst-case-protocol", [("attack", {"kind": "worst-case", "budget": [0.01], "params": {
        "protocol": "madry"}}), ("examples", DELETE)],
     r"attack\.params\.protocol: unknown value 'madry'; expected one of: genzel"),
    ("worst-case-steps-needed", [("attack", {"kind": "worst-case", "budget": [0.01],
                                             "params": {"tol": 1e-3}}), ("examples", DELETE)],
     r"attack\.params: missing key 'steps' \(needed by kind 'worst-case' without a protocol; "
     r"it is the cap of the stopping rule\)"),
    ("worst-case-patience", [("attack", {"kind": "worst-case", "budget": [0.01], "params": {
        "steps": 5, "patience": 0}}), ("examples", DELETE)],
     r"attack\.params\.patience: 0 is not valid; expected a positive integer"),
    ("mask-from-directory", [("problem.sampling", {"mask_from": "tests"})],
     r"problem\.sampling\.mask_from: 'tests' is a directory; expected a model file written "
     r"by `stablesweep train` \(<models dir>/<name>/model\.pt\)"),
    ("image-path-as-name", [("problem.signal", {"kind": "image", "name": "data/my.png"}),
                            ("problem.transform", "fourier")],
     r"problem\.signal\.name: 'data/my\.png' looks like a file path, but `name` takes the "
     r"name of one of the test images: camera, ascent, aero, shepp-logan\. A sweep cannot "
     r"read image files; to reconstruct your own images use "
     r"stablesweep\.signals\.load_images"),
    ("image-unknown-name", [("problem.signal", {"kind": "image", "name": "lena"})],
     r"problem\.signal\.name: unknown test image 'lena'; expected one of: camera, ascent, "
     r"aero, shepp-logan"),
    ("name-without-image-kind", [("problem.signal.name", "photo.png")],
     r"problem\.signal\.name: only used by kind 'image' \(a named test image\); the signal "
     r"kinds here are sparse-in-levels"),
    ("theory-with-image-needs-sparsity",
     [("problem.signal", {"kind": "image", "name": "camera"}),
      ("problem.sampling.scheme", "theory")],
     r"problem\.signal\.sparsity: missing; scheme 'theory' needs the local sparsities \(one "
     r"non-negative integer per level\) \(with signal kind image too: the theory budget "
     r"follows them; or use scheme 'uniform'\)"),
    ("mask-from-type", [("problem.sampling", {"mask_from": ["a.pt", "b.pt"]})],
     r"problem\.sampling\.mask_from: \[\"a\.pt\", \"b\.pt\"\] is not a string"),
    ("checkpoint-needs-mask-from",
     [("networks.0", {"name": "unet", "depth": 1, "params": {"checkpoint": "u.pt"}}),
      ("examples", DELETE)],
     r"networks\[0\]\.params\.checkpoint: 'unet' is a trained network and refuses any mask "
     r"but the one it was trained with; measure with that mask: problem\.sampling: "
     r"\{mask_from: u\.pt\}"),
    ("details-needs-ellipses", [("problem.signal.details", True)],
     r"problem\.signal\.details: only used by kind 'ellipses'; the signal kinds here are "
     r"sparse-in-levels"),
    ("attack-depth-vs-p", [("attack.depths", [7])],
     r"attack\.depths\[0\]: 7 is not a multiple of p = 5 of networks\[1\] \(firenet\)"),
    ("worst-case-budget", [("attack.kind", "worst-case"),
                           ("attack.params", {"steps": 2, "restarts": 1})],
     r"attack: missing key 'budget' \(needed by kind 'worst-case'\)"),
    ("momentum-budget", [("attack.budget", [0.1])],
     r"attack\.budget: only used by kind 'worst-case'; kind 'momentum' takes none"),
    ("attack-param-unknown", [("attack.params.rho", 1.0)],
     r"attack\.params\.rho: unknown parameter of the momentum attack; allowed: lam, eta, gamma, "
     r"tau, steps"),
    ("attack-param-missing", [("attack.params.tau", DELETE)],
     r"attack\.params: missing key 'tau' \(needed by kind 'momentum'\)"),
    ("record-every", [("attack.params.record_every", 10)],
     r"attack\.params\.record_every: 10 exceeds steps = 4; expected 1 <= record_every <= 4"),
    ("example-off-grid", [("examples.0.noise", 0.5)],
     r"examples\[0\]\.noise: 0\.5 is not on the axis; expected one of: 0\.0, 0\.01"),
    ("example-trial", [("examples.0.trial", 5)],
     r"examples\[0\]\.trial: 5 is out of range; expected an integer in 0\.\.1"),
    ("example-key", [("examples.0.colour", "red")],
     r"examples\[0\]: unknown key 'colour'; allowed keys: transform, noise, network, trial, "
     r"attack_depth"),
]


@pytest.mark.parametrize("changes, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_is_reported(changes, message):
    with pytest.raises(ConfigError) as info:
        load_config(mutate(*changes))
    assert any(re.search(message, p) for p in info.value.problems), info.value.problems
    assert re.search(message, str(info.value))


def test_every_problem_is_reported_at_once():
    cfg = mutate(("problem.transform", "fouier"), ("problem.resolution", 48),
                 ("networks.1.depth", 22), ("attack.kind", "pgd"), ("trials", -1))
    with pytest.raises(ConfigError, match=r"invalid config: 5 problems") as info:
        load_config(cfg)
    text = str(info.value)
    for part in ("problem.transform:", "problem.resolution:", "networks[1].depth:",
                 "attack.kind:", "trials:"):
        assert part in text


def test_base_config_is_valid():
    assert validate(BASE) == []


def test_yaml_text_and_file(tmp_path):
    text = yaml.safe_dump(BASE)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    a, b = load_config(path), load_config(text)
    assert a.hash == b.hash == load_config(BASE).hash
    assert a.text == text
    with pytest.raises(ConfigError, match=r"config file '.*missing\.yaml' does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config("a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigError, match=r"config file '.*' is a directory; expected a YAML "
                       r"file \(such as '.*<name>\.yaml'\)"):
        load_config(tmp_path)


@pytest.mark.parametrize(("path", "kind", "command"), [
    ("config/experiments/k-digits.yaml", "a K-digits barrier config",
     "stablesweep barrier --config config/experiments/k-digits.yaml"),
    ("config/training/unet-64.yaml", "a training config",
     "stablesweep train config/training/unet-64.yaml"),
    ("config/tradeoff/kernel-32.yaml", "a kernel trade-off config",
     "stablesweep tradeoff config/tradeoff/kernel-32.yaml"),
])
def test_another_kind_of_config_is_named_with_its_command(path, kind, command, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"config: this is {kind} (keys ")
    assert problem.endswith(f"not an experiment (sweep) config; run it with `{command}`")


def test_config_errors_are_one_class():
    from stablesweep.barrier import BarrierConfigError
    from stablesweep.configuration import ConfigError as Shared
    from stablesweep.tradeoff import TradeoffConfigError
    from stablesweep.training import TrainingConfigError

    assert ConfigError is Shared
    for cls in (BarrierConfigError, TradeoffConfigError, TrainingConfigError):
        assert issubclass(cls, ConfigError) and issubclass(cls, ValueError)
    assert str(TrainingConfigError(["a: b"], "t.yaml")) == (
        "invalid training config t.yaml: 1 problem\n  - a: b")


def test_sweep_axes_and_list_valued_parameters():
    cfg = load_config(BASE)
    assert cfg.axes == {"transform": ("fourier", "walsh"), "noise": (0.0, 0.01)}
    # a flat list is ONE sparsity pattern; defaults are filled in
    assert cfg.fixed["sparsity"] == (2, 2, 2, 2)
    assert cfg.fixed["dim"] == 2 and cfg.fixed["wavelet"] == "haar"
    # a list of lists is a sweep axis of patterns
    cfg = load_config(mutate(("problem.signal.sparsity", [[2, 2, 2, 2], [1, 2, 3, 4]])))
    assert cfg.axes["sparsity"] == ((2, 2, 2, 2), (1, 2, 3, 4))
    assert cfg.grid_shape == (2, 2, 2)
    index, point = next(cfg.points())
    assert index == (0, 0, 0) and point["sparsity"] == (2, 2, 2, 2)
    assert point["transform"] == "fourier" and point["rate"] == 0.5


def test_network_labels_attack_and_examples():
    cfg = load_config(BASE)
    assert [n.label for n in cfg.networks] == ["fista", "firenet"]
    assert record_steps(cfg.attack) == (0, 2, 4)
    assert kept_steps(cfg.attack) == (2, 4)
    (ex,) = cfg.examples
    assert (ex.point, ex.network, ex.trial, ex.attack_depth) == ((0, 1), 0, 1, 0)
    assert len(cells(cfg)) == 2 * 2 * 2 * 1


def test_cells_and_forward_flag():
    cfg = load_config(mutate(("attack.depths", [5, 10])))
    cs = cells(cfg)
    assert len(cs) == 2 * 2 * 2 * 2
    assert cs[0] == Cell((0, 0), 0, 0) and cs[0].runs_forward
    assert not cs[1].runs_forward and cs[1].attack_depth == 1
    assert len({c.key for c in cs}) == len(cs)


def test_seeds_come_from_coordinates():
    cfg = load_config(BASE)
    p = dict(cfg.point((0, 0)))
    q = dict(cfg.point((0, 1)))  # another noise level
    state = lambda s: s.generate_state(4).tolist()  # noqa: E731
    # mask and signal do not depend on the noise level; the noise stream does
    for stream in ("mask", "signal"):
        assert state(stream_seed(0, 1, stream, p)) == state(stream_seed(0, 1, stream, q))
    assert state(stream_seed(0, 1, "noise", p)) != state(stream_seed(0, 1, "noise", q))
    # trials, global seed and streams differ
    assert state(stream_seed(0, 0, "mask", p)) != state(stream_seed(0, 1, "mask", p))
    assert state(stream_seed(1, 0, "mask", p)) != state(stream_seed(0, 0, "mask", p))
    assert state(stream_seed(0, 0, "mask", p)) != state(stream_seed(0, 0, "signal", p))
    # values, not positions: the same point in a bigger grid keeps its seeds
    bigger = load_config(mutate(("problem.noise", [0.05, 0.0, 0.01])))
    r = dict(bigger.point((0, 1)))
    assert r == p
    assert state(stream_seed(0, 1, "noise", r)) == state(stream_seed(0, 1, "noise", p))


def test_a_repeated_yaml_key_is_refused_not_silently_overridden(tmp_path):
    from stablesweep.training.config import TrainingConfigError, load_training_config

    text = yaml.safe_dump(BASE, sort_keys=False) + "trials: 200\n"
    with pytest.raises(ConfigError) as info:
        load_config(text)
    (problem,) = info.value.problems
    assert "found the key 'trials' twice (first on line" in problem
    # the other configs the package reads use the same loader
    path = tmp_path / "train.yaml"
    path.write_text("name: a\nname: b\n")
    with pytest.raises(TrainingConfigError, match="found the key 'name' twice"):
        load_training_config(path)


def test_the_old_budget_key_levels_loads_with_a_deprecation_warning():
    """``attack.levels`` (the budget's old name) still loads, as ``budget``; both at once
    is an error naming them."""
    old = mutate(("attack", {"kind": "worst-case", "levels": [0.01, 0.1],
                             "params": {"steps": 2}}), ("examples", DELETE))
    with pytest.warns(FutureWarning, match=r"attack\.levels: deprecated name of attack\.budget"):
        cfg = load_config(yaml.safe_dump(old))
    assert cfg.attack.budget == (0.01, 0.1)
    both = copy.deepcopy(old)
    both["attack"]["budget"] = [0.01]
    with pytest.raises(ConfigError, match=r"attack\.levels: deprecated name of attack\.budget, "
                                          r"which is also given; expected only attack\.budget"):
        load_config(both)
