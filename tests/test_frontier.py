"""The accuracy–stability frontier (stablesweep.frontier; issue 23).

Independent checks: the configs and their errors; the training jitter's law; training
that is deterministic per seed and changed by weight and noise; model files cached and
shipped by training hash; measurements that obey the bounds on every pair (a theorem:
a failure is a bug), zero-filling's exact amplification 1, the robustness curve's
η = 0 point equal to the clean error and non-decreasing in η; the 1/κ slope on
synthetic data of known slope; the command's errors; the workflow's jobs.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from stablesweep.cli import main
from stablesweep.frontier.analysis import bound_checks, frontier_verdict, kappa_slope
from stablesweep.frontier.config import (
    FrontierConfigError,
    load_frontier_config,
    model_specs,
    parse_frontier_config,
    reference_specs,
)
from stablesweep.frontier.models import obtain_model, training_hash
from stablesweep.tradeoff.training import jitter

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = {
    "name": "tiny",
    "seed": 0,
    "problem": {"transform": "fourier", "resolution": 16, "wavelet": "haar",
                "sampling": {"scheme": "radial", "lines": 4}},
    "detail": {"kind": "texture", "radius": [1.5, 2.5], "contrast": [0.8, 1.2],
               "kappa": 0.1, "margin": 4, "window": 2},
    "training": {"train": 24, "validation": 8, "epochs": 2, "batch_size": 8, "seeds": [0, 1]},
    "architectures": {"unet": {"channels": 4, "scales": 2},
                      "learned-pd": {"layers": 2, "hidden": 4}},
    "grid": {"detail_weight": [0.0, 1.0], "noise": [0.0, 0.05]},
    "visibility": {"kappa": [0.1, 0.2], "detail_weight": 1.0, "noise": 0.0},
    "references": {"firenet": {"n": 2, "p": 5}, "fista": {"depth": 10},
                   "zero-filling": {}},
    "models": None,
    "pairs": 4,
    "attack": {"steps": 5, "jacobian_iters": 3},
    "robustness": {"budgets": [0.0, 0.01, 0.05], "steps": 5, "jacobian_iters": 3},
}


def tiny(**changes) -> dict:
    data = copy.deepcopy(TINY)
    for path, value in changes.items():
        node = data
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return data


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("n", [32, 64, 256])
def test_shipped_configs_load(n):
    cfg = load_frontier_config(ROOT / "config" / "frontier" / f"frontier-{n}.yaml")
    assert cfg.name == f"frontier-{n}"
    specs = model_specs(cfg)
    # 2 architectures x (4 weights x 3 noises + 2 extra visibilities) x 3 seeds
    assert len(specs) == 2 * (4 * 3 + 2) * 3
    assert len({s.id for s in specs}) == len(specs)
    assert [s.id for s in reference_specs(cfg)] == ["firenet", "fista", "primal-dual",
                                                    "zero-filling"]
    assert cfg.problem["sampling"] == {"scheme": "radial", "lines": {32: 5, 64: 10,
                                                                     256: 40}[n]}


@pytest.mark.parametrize("changes, message", [
    ({"grid.noise": [0.0, 1.5]}, "grid.noise[1]: 1.5"),
    ({"grid.detail_weight": [0.0, 0.0]}, "grid.detail_weight: [0.0, 0.0] is not valid"),
    ({"visibility.detail_weight": 0.5}, "visibility.detail_weight: 0.5 is not valid; "
                                        "expected one of grid.detail_weight"),
    ({"visibility.kappa": [0.1, 0.7]}, "visibility.kappa[1]: 0.7"),
    ({"training.seeds": [1, 1]}, "training.seeds: [1, 1] is not valid"),
    ({"architectures.resnet": {}}, "resnet"),
    ({"problem.transform": "walsh"}, "'radial' is not valid with transform 'walsh'"),
    ({"problem.sampling": {"scheme": "radial", "lines": 0}}, "problem.sampling.lines: 0"),
    ({"robustness.budgets": []}, "robustness.budgets"),
])
def test_bad_configs_are_named(changes, message):
    with pytest.raises(FrontierConfigError) as err:
        parse_frontier_config(tiny(**changes))
    assert message in str(err.value)


def test_a_tradeoff_config_is_named_as_such(tmp_path):
    with pytest.raises(FrontierConfigError, match="kernel trade-off config.*stablesweep "
                                                  "tradeoff"):
        load_frontier_config(ROOT / "config" / "tradeoff" / "kernel-32.yaml")


def test_unknown_model_id_lists_the_ids():
    cfg = parse_frontier_config(TINY)
    with pytest.raises(ValueError, match="model 'unet-w9' is not in config tiny"):
        cfg.spec("unet-w9")
    assert cfg.spec("unet-w1-n0.05-k0.1-s1").noise == 0.05


def test_training_hash_depends_only_on_what_makes_the_weights():
    cfg = parse_frontier_config(TINY)
    spec = cfg.spec("unet-w1-n0-k0.1-s0")
    h = training_hash(cfg, spec)
    other = parse_frontier_config(tiny(pairs=7, name="other", **{"attack.steps": 9}))
    assert training_hash(other, spec) == h
    for change in ({"training.epochs": 3}, {"detail.radius": [1.0, 2.0]},
                   {"architectures.unet": {"channels": 6, "scales": 2}}):
        assert training_hash(parse_frontier_config(tiny(**change)), spec) != h
    assert training_hash(cfg, cfg.spec("unet-w1-n0-k0.2-s0")) != h


# --------------------------------------------------------------------------- training


def test_jitter_norms_are_uniform_on_the_budget_and_seeded():
    y = torch.randn(4000, 30, dtype=torch.complex64)
    e = jitter(0.08, torch.Generator().manual_seed(3))(y) - y
    ratio = (torch.linalg.vector_norm(torch.view_as_real(e).flatten(1), dim=1)
             / torch.linalg.vector_norm(torch.view_as_real(y).flatten(1), dim=1)).numpy()
    assert ratio.max() <= 0.08 * (1 + 1e-5) and ratio.min() >= 0
    # u ~ U(0, 1): mean 1/2, variance 1/12 (4000 draws: 5 sigma margins)
    assert abs(ratio.mean() / 0.08 - 0.5) < 5 * (1 / 12 / 4000) ** 0.5
    again = jitter(0.08, torch.Generator().manual_seed(3))(y) - y
    assert torch.equal(e, again)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    cfg = parse_frontier_config(TINY)
    from stablesweep.tradeoff.problem import make_operator

    A = make_operator(cfg.problem)
    cache = tmp_path_factory.mktemp("models")
    log: list[str] = []
    out = {}
    for mid in ("unet-w1-n0-k0.1-s0", "unet-w1-n0.05-k0.1-s0", "unet-w0-n0-k0.1-s0",
                "learned-pd-w1-n0-k0.1-s0"):
        out[mid] = obtain_model(cfg, cfg.spec(mid), A, cache, log=log.append)
    return cfg, A, cache, out, log


def test_models_are_trained_once_then_cached(trained):
    cfg, A, cache, out, _ = trained
    assert all(src == "trained" for _, src in out.values())
    path, src = obtain_model(cfg, cfg.spec("unet-w1-n0-k0.1-s0"), A, cache)
    assert src == "cached" and path == out["unet-w1-n0-k0.1-s0"][0]


def test_training_is_deterministic_and_changed_by_noise_and_weight(trained, tmp_path):
    from stablesweep.modelfile import load_model_file

    cfg, A, _, out, _ = trained
    again, src = obtain_model(cfg, cfg.spec("unet-w1-n0-k0.1-s0"), A, tmp_path)
    assert src == "trained"
    first = load_model_file(out["unet-w1-n0-k0.1-s0"][0])["state_dict"]
    second = load_model_file(again)["state_dict"]
    assert all(torch.equal(first[k], second[k]) for k in first)
    for other in ("unet-w1-n0.05-k0.1-s0", "unet-w0-n0-k0.1-s0"):
        sd = load_model_file(out[other][0])["state_dict"]
        assert any(not torch.equal(first[k], sd[k]) for k in first)


def test_shipped_files_are_used_when_their_hash_matches(trained, tmp_path):
    cfg, A, cache, _, _ = trained
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    spec = cfg.spec("unet-w1-n0-k0.1-s0")
    shutil.copy(cache / f"{spec.id}.pt", shipped / f"{spec.id}.pt")
    path, src = obtain_model(cfg, spec, A, tmp_path / "out", models_dir=shipped)
    assert src == "shipped" and path.is_file()
    # a file of another recipe is named and not used
    other = parse_frontier_config(tiny(**{"training.epochs": 1}))
    log: list[str] = []
    _, src = obtain_model(other, spec, A, tmp_path / "out2", models_dir=shipped,
                          log=log.append)
    assert src == "trained"
    assert any("differs from the config's" in line for line in log)


# --------------------------------------------------------------------------- measurement


@pytest.fixture(scope="module")
def measured(trained):
    from stablesweep.frontier.measure import measure_model

    cfg, _, _, out, _ = trained
    res = {mid: measure_model(cfg, cfg.spec(mid), model_path=path)
           for mid, (path, _) in out.items()}
    for ref in ("zero-filling", "fista"):
        res[ref] = measure_model(cfg, cfg.spec(ref))
    return cfg, res


def test_bounds_hold_on_every_pair(measured):
    _, res = measured
    for mid, ds in res.items():
        along, worst = ds["amplification"].values, ds["worst_amplification"].values
        rec, ker = ds["recovery_bound"].values, ds["kernel_bound"].values
        assert np.all(worst >= along * (1 - 1e-9)), mid
        ok = np.isfinite(rec)
        assert np.all(along[ok] >= rec[ok] * (1 - 1e-9)), mid
        ok = np.isfinite(ker)
        assert np.all(along[ok] >= ker[ok] * (1 - 1e-9)), mid
        np.testing.assert_allclose(ds["visibility"].values, 0.1 if "k0.2" not in mid else 0.2,
                                   rtol=1e-9)


def test_zero_filling_amplifies_exactly_once(measured):
    # Re B* is the adjoint of an isometry restricted to the sampled frequencies: along
    # A delta it changes by ||B* B delta|| = ||B delta||, and no direction does more
    _, res = measured
    ds = res["zero-filling"]
    np.testing.assert_allclose(ds["amplification"].values, 1.0, rtol=1e-9)
    np.testing.assert_allclose(ds["worst_amplification"].values, 1.0, rtol=1e-6)


def test_robustness_starts_at_the_clean_error_and_never_falls(measured):
    cfg, res = measured
    for mid, ds in res.items():
        err = ds["robust_error"].values
        assert list(ds["budget"].values) == cfg.budgets
        np.testing.assert_allclose(err[0], ds["error_x"].values, rtol=1e-9, err_msg=mid)
        assert np.all(np.diff(err, axis=0) >= -1e-12), mid


def test_measurements_do_not_depend_on_the_order(measured, trained):
    from stablesweep.frontier.measure import measure_model

    cfg, res = measured
    again = measure_model(cfg, cfg.spec("fista"))
    for v in ("worst_amplification", "robust_error"):
        np.testing.assert_array_equal(again[v].values, res["fista"][v].values)


# --------------------------------------------------------------------------- analysis


def _synthetic(amps: dict[float, float], detail: float = 0.2, pairs: int = 9):
    """A collected-like dataset: unet models at visibilities kappa, 3 seeds, pair values
    amp * (1 + small spread)."""
    rng = np.random.default_rng(0)
    ids, arch, k, w, nz, sd, tr = [], [], [], [], [], [], []
    for kappa in amps:
        for s in range(3):
            ids.append(f"unet-k{kappa}-s{s}")
            arch.append("unet")
            k.append(kappa)
            w.append(1.0)
            nz.append(0.0)
            sd.append(s)
            tr.append(1)
    m = len(ids)
    amp = np.array([[amps[kk] * (1 + 0.02 * rng.standard_normal()) for _ in range(pairs)]
                    for kk in k])
    det = np.full((m, pairs), detail)
    rec = (1 - det) / np.array(k)[:, None]
    ds = xr.Dataset({"amplification": (("model", "pair"), amp),
                     "worst_amplification": (("model", "pair"), amp * 1.1),
                     "detail_error": (("model", "pair"), det),
                     "recovery_bound": (("model", "pair"), rec),
                     "kernel_bound": (("model", "pair"), np.full((m, pairs), np.nan))},
                    coords={"model": ids, "arch": ("model", arch), "kappa": ("model", k),
                            "detail_weight": ("model", w), "noise": ("model", nz),
                            "seed": ("model", sd), "trained": ("model", tr)})
    return ds


def test_kappa_slope_recovers_a_known_slope():
    ks = [0.05, 0.1, 0.2]
    one = kappa_slope(_synthetic({k: 0.8 / k for k in ks}), "unet", detail_weight=1.0,
                      noise=0.0, draws=300)
    assert abs(one["slope"] + 1) < 0.03 and one["contains_minus_one"]
    two = kappa_slope(_synthetic({k: 0.08 / k**2 for k in ks}), "unet", detail_weight=1.0,
                      noise=0.0, draws=300)
    assert abs(two["slope"] + 2) < 0.05 and not two["contains_minus_one"]
    none = kappa_slope(_synthetic({k: 1.0 for k in ks}, detail=0.9), "unet",
                       detail_weight=1.0, noise=0.0, draws=50)
    assert np.isnan(none["slope"]) and len(none["excluded"]) == 9


def test_bound_checks_find_a_violation():
    ds = _synthetic({0.1: 9.0})
    assert bound_checks(ds)["along_below_recovery"] == 0
    assert frontier_verdict(ds)["shown"] is True
    bad = ds.copy(deep=True)
    bad["amplification"][0, 0] = 1.0  # below the bound (1 - 0.2) / 0.1 = 8
    assert bound_checks(bad)["along_below_recovery"] == 1
    assert frontier_verdict(bad)["shown"] is False


# --------------------------------------------------------------------------- command


def _write(tmp_path: Path, data: dict, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_command_errors(tmp_path, capsys):
    cfg = _write(tmp_path, TINY)
    assert main(["frontier", "train", str(cfg), "-o", str(tmp_path / "o")]) == 2
    assert "--model is required" in capsys.readouterr().err
    assert main(["frontier", "train", str(cfg), "--model", "fista"]) == 2
    assert "untrained reference" in capsys.readouterr().err
    assert main(["frontier", "measure", str(cfg), "--model", "nope"]) == 2
    assert "--model: model 'nope' is not in config tiny" in capsys.readouterr().err
    assert main(["frontier", "collect", str(cfg), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "have no measurement of this config" in err and "-w0-n0-k0.1-s0" in err
    bad = _write(tmp_path, tiny(**{"grid.noise": [2.0]}), "bad")
    assert main(["frontier", "run", str(bad)]) == 2
    assert "grid.noise[0]: 2.0" in capsys.readouterr().err
    assert main(["frontier", "list", str(cfg)]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == len(model_specs(parse_frontier_config(TINY))) + 3


def test_dry_run_estimates_and_runs_nothing(tmp_path, capsys):
    cfg = _write(tmp_path, TINY)
    out = tmp_path / "o"
    assert main(["frontier", "run", str(cfg), "-o", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "20 trained models, 20 to train; 23 networks to measure" in text
    assert "nothing was run" in text
    assert not out.exists()


def test_workflow_schedules_one_job_per_model():
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    res = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "1", "--snakefile",
                          str(ROOT / "Snakefile"), "--directory", str(ROOT),
                          "results/frontier/frontier-256/frontier.nc"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    counts = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and not parts[0].endswith(":"):
            counts[parts[0]] = int(parts[1])
    assert counts == {"frontier": 1, "frontier_measure": 88, "frontier_model": 84,
                      "total": 173}


# --------------------------------------------------------------------------- claims


@pytest.mark.claims
def test_the_bound_holds_for_every_shipped_model_and_pair():
    """Every shipped frontier-32 model (and reference), on every test pair at its κ:
    amplification along Aδ ≥ (1 − D)/κ and ≥ the kernel bound (triangle inequality); the
    detail-trained models of each architecture: worst case at ‖Aδ‖ ≥ along Aδ."""
    from stablesweep.frontier.measure import attack_generator, build_reference
    from stablesweep.frontier.models import load_model
    from stablesweep.tradeoff.experiment import measure_network
    from stablesweep.tradeoff.pairs import make_pairs
    from stablesweep.tradeoff.problem import make_operator
    from stablesweep.tradeoff.training import seed_streams

    torch.set_num_threads(1)
    cfg = load_frontier_config(ROOT / "config" / "frontier" / "frontier-32.yaml")
    A = make_operator(cfg.problem)
    pairs = {k: make_pairs(cfg.pairs, A, cfg.detail_at(k), seed_streams(cfg.seed)["pairs"])
             for k in cfg.kappas}
    folder = ROOT / cfg.models
    checked = 0
    strongest = max(cfg.grid["detail_weight"])
    for spec in [*model_specs(cfg), *reference_specs(cfg)]:
        if spec.trained:
            from stablesweep.modelfile import load_model_file

            path = folder / f"{spec.id}.pt"
            assert load_model_file(path)["training_hash"] == training_hash(cfg, spec), spec.id
            net = load_model(A, spec, path)
        else:
            net = build_reference(cfg, spec.arch, A)
        p = pairs[spec.kappa]
        attack = (cfg.attack if spec.trained and spec.detail_weight == strongest
                  and spec.noise == 0 and spec.seed == cfg.seeds[0]
                  and spec.kappa == cfg.kappa else None)
        res = measure_network(net, A, p, attack=attack,
                              generator=attack_generator(cfg, spec) if attack else None)
        along, D = res["amplification"], res["detail_error"]
        rec = (1 - D) / spec.kappa
        assert np.all(along >= rec * (1 - 1e-9)), spec.id
        ker = res["kernel_bound"]
        ok = np.isfinite(ker)
        assert np.all(along[ok] >= ker[ok] * (1 - 1e-9)), spec.id
        if attack:
            assert np.all(res["worst_amplification"] >= along * (1 - 1e-9)), spec.id
        checked += len(along)
    assert checked == (len(model_specs(cfg)) + len(reference_specs(cfg))) * cfg.pairs


def test_run_in_two_processes_measures_everything_and_resumes(tmp_path, capsys):
    small = tiny(**{"training.seeds": [0], "grid.detail_weight": [1.0], "grid.noise": [0.0],
                    "visibility": None, "references": {"zero-filling": {}},
                    "architectures": {"learned-pd": {"layers": 2, "hidden": 4}}})
    cfg = _write(tmp_path, small)
    out = tmp_path / "o"
    assert main(["frontier", "run", str(cfg), "-o", str(out), "--jobs", "2", "--quiet"]) == 0
    md = capsys.readouterr().out
    assert "## Frontier at the matched budget" in md and "learned-pd w=1 noise=0%" in md
    assert sorted(p.name for p in (out / "measure").iterdir()) == [
        "learned-pd-w1-n0-k0.1-s0.nc", "zero-filling.nc"]
    for name in ("frontier.nc", "frontier.md", "frontier.png", "robustness.png"):
        assert (out / name).is_file()
    stamp = (out / "measure" / "zero-filling.nc").stat().st_mtime_ns
    assert main(["frontier", "run", str(cfg), "-o", str(out), "--quiet"]) == 0  # resumes
    assert (out / "measure" / "zero-filling.nc").stat().st_mtime_ns == stamp
