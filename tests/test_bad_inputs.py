"""The bad-input corpus: every malformed config and command line a user can write.

Each case must be refused before any work: a non-zero exit within seconds, one message
naming the offending key or option (and its value where there is one), no traceback,
and nothing left behind (no store, no lock file, no output). The configs are variations
of one valid config; the command lines cover every subcommand's options and paths.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import pytest
import yaml

from stablesweep.cli import main

BASE = {
    "experiment": "corpus",
    "seed": 0,
    "trials": 1,
    "problem": {
        "transform": "fourier",
        "resolution": 16,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
        "noise": 0.0,
    },
    "networks": [{"name": "fista", "depth": 5, "params": {"lam": 1.0e-3}}],
}

MOMENTUM = {"kind": "momentum", "depths": [3],
            "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2}}
WORST_CASE = {"kind": "worst-case", "budget": [0.01],
              "params": {"objective": "change", "steps": 2, "restarts": 1}}


def _with(path: str, value, base=None):
    """BASE with the entry at dotted ``path`` (list indices as numbers) set to ``value``;
    the sentinel ``DELETE`` removes it."""
    cfg = copy.deepcopy(BASE if base is None else base)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        last = int(last)
    if value is DELETE:
        del node[last]
    elif isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return cfg


DELETE = object()
ATTACKED = {**BASE, "attack": MOMENTUM}

#: (case id, config mapping, text the message must contain: the key, at least)
BAD_CONFIGS = [
    ("experiment-missing", _with("experiment", DELETE), "experiment"),
    ("experiment-empty", _with("experiment", ""), "experiment"),
    ("experiment-slash", _with("experiment", "a/b"), "experiment"),
    ("seed-negative", _with("seed", -1), "seed"),
    ("seed-text", _with("seed", "x"), "seed"),
    ("seed-float", _with("seed", 1.5), "seed"),
    ("trials-zero", _with("trials", 0), "trials"),
    ("trials-huge", _with("trials", 10**12), "trials"),
    ("trials-text", _with("trials", "two"), "trials"),
    ("problem-missing", _with("problem", DELETE), "problem"),
    ("problem-list", _with("problem", [1, 2]), "problem"),
    ("transform-typo", _with("problem.transform", "fouier"), "transform"),
    ("resolution-odd", _with("problem.resolution", 15), "resolution"),
    ("resolution-zero", _with("problem.resolution", 0), "resolution"),
    ("resolution-negative", _with("problem.resolution", -16), "resolution"),
    ("resolution-huge", _with("problem.resolution", 2**20), "resolution"),
    ("scheme-unknown", _with("problem.sampling.scheme", "random"), "scheme"),
    ("rate-zero", _with("problem.sampling.rate", 0), "rate"),
    ("rate-above-one", _with("problem.sampling.rate", 1.5), "rate"),
    ("rate-nan", _with("problem.sampling.rate", float("nan")), "rate"),
    ("rate-inf", _with("problem.sampling.rate", float("inf")), "rate"),
    ("noise-negative", _with("problem.noise", -0.1), "noise"),
    ("noise-inf", _with("problem.noise", float("inf")), "noise"),
    ("noise-nan", _with("problem.noise", float("nan")), "noise"),
    ("noise-1e300", _with("problem.noise", 1e300), "noise"),
    ("signal-kind", _with("problem.signal.kind", "gaussian-blobs"), "kind"),
    ("sparsity-empty", _with("problem.signal.sparsity", []), "sparsity"),
    ("sparsity-negative", _with("problem.signal.sparsity", [-1, 2, 2, 2]), "sparsity"),
    ("sparsity-too-large", _with("problem.signal.sparsity", [500, 500, 500, 500]),
     "sparsity"),
    ("wavelet-unknown", _with("problem.wavelet", "db99"), "wavelet"),
    ("image-path-as-name", _with("problem.signal", {"kind": "image",
                                                   "name": "photos/camera.png"}), "name"),
    ("image-unknown-name", _with("problem.signal", {"kind": "image", "name": "lena"}),
     "name"),
    ("networks-empty", _with("networks", []), "networks"),
    ("networks-missing", _with("networks", DELETE), "networks"),
    ("network-unknown", _with("networks.0.name", "resnet"), "name"),
    ("depth-zero", _with("networks.0.depth", 0), "depth"),
    ("depth-huge", _with("networks.0.depth", 10**9), "depth"),
    ("depth-text", _with("networks.0.depth", "ten"), "depth"),
    ("param-unknown", _with("networks.0.params.foo", 1), "foo"),
    ("fista-L-zero", _with("networks.0.params.L", 0), "L"),
    ("firenet-p-not-dividing", _with("networks.0", {"name": "firenet", "depth": 7,
                                                    "params": {"p": 5}}), "networks[0]"),
    ("primal-dual-steps-too-large", _with("networks.0", {
        "name": "primal-dual", "depth": 5, "params": {"tau": 10.0, "sigma": 10.0}}),
     "networks[0]"),
    ("factory-os-system", _with("networks.0", {"name": "custom", "depth": 5,
                                               "factory": "os:system"}), "factory"),
    ("factory-missing-module", _with("networks.0", {"name": "custom", "depth": 5,
                                                    "factory": "no_such_module:f"}),
     "factory"),
    ("factory-missing", _with("networks.0", {"name": "custom", "depth": 5}), "factory"),
    ("duplicate-labels", _with("networks.1", {"name": "fista", "depth": 5}), "label"),
    ("unknown-top-level-key", _with("trails", 2), "trails"),
    ("attack-kind", _with("attack", {**MOMENTUM, "kind": "fgsm"}), "kind"),
    ("attack-missing-tau", _with("attack.params.tau", DELETE, ATTACKED), "tau"),
    ("attack-steps-negative", _with("attack.params.steps", -1, ATTACKED), "steps"),
    ("attack-depth-zero", _with("attack.depths", [0], ATTACKED), "depths"),
    ("attack-depth-beyond-network", _with("attack.depths", [1000], ATTACKED), "depth"),
    ("worst-case-budget-negative", _with("attack", {**WORST_CASE, "budget": [-0.1]}),
     "budget"),
    ("worst-case-objective", _with("attack", {
        **WORST_CASE, "params": {**WORST_CASE["params"], "objective": "loss"}}),
     "objective"),
    ("example-unknown-network", {**ATTACKED, "examples": [
        {"network": "unet", "trial": 0, "attack_depth": 3}]}, "network"),
    ("example-trial-out-of-range", {**ATTACKED, "examples": [
        {"network": "fista", "trial": 5, "attack_depth": 3}]}, "trial"),
    ("minimiser-text", _with("minimiser", "yes"), "minimiser"),
    ("store-cells-per-block-zero", _with("store", {"cells_per_block": 0}), "cells_per_block"),
    ("store-unknown-key", _with("store", {"shards": 4}), "store"),
]

#: (case id, YAML text, text the message must contain)
BAD_TEXTS = [
    ("duplicate-key", yaml.safe_dump(BASE) + "seed: 3\n", "seed"),
    ("top-level-list", "- 1\n- 2\n", "mapping"),
    ("empty-file", "", "empty"),
    ("yaml-syntax", "experiment: [unclosed\n", "line"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working folder: relative outputs (results/...) land here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused(argv: list[str], capsys, workdir: Path, expect: str) -> str:
    """Run the CLI in-process; check the refusal; return its message."""
    before = {p for p in workdir.rglob("*")}
    start = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    text = out + err
    assert code not in (0, None), f"accepted: {argv}\n{text}"
    assert "Traceback" not in text, text
    assert expect.lower() in text.lower(), f"message does not name {expect!r}:\n{text}"
    assert elapsed < 30, f"took {elapsed:.0f} s to refuse"
    left = {p for p in workdir.rglob("*")} - before
    assert not left, f"left behind: {sorted(map(str, left))}"
    return text


@pytest.mark.parametrize("case, cfg, expect", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused(case, cfg, expect, workdir, capsys):
    path = workdir / f"{case}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    _refused(["run", str(path), "--workers", "1", "--quiet"], capsys, workdir, expect)


@pytest.mark.parametrize("case, text, expect", BAD_TEXTS, ids=[c[0] for c in BAD_TEXTS])
def test_bad_config_text_is_refused(case, text, expect, workdir, capsys):
    path = workdir / f"{case}.yaml"
    path.write_text(text)
    _refused(["run", str(path), "--quiet"], capsys, workdir, expect)


def test_valid_base_config_is_accepted(workdir, capsys):
    """The corpus varies a config that is itself valid (a dry run accepts it)."""
    path = workdir / "base.yaml"
    path.write_text(yaml.safe_dump(ATTACKED))
    assert main(["run", str(path), "--dry-run"]) == 0
    assert "nothing computed or written" in capsys.readouterr().out
    assert sorted(p.name for p in workdir.iterdir()) == ["base.yaml"]


def _config(workdir: Path) -> str:
    path = workdir / "ok.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return str(path)


#: (case id, argv builder (workdir -> argv), text the message must contain)
BAD_COMMANDS = [
    ("run-missing-config", lambda w: ["run", str(w / "none.yaml")], "none.yaml"),
    ("run-config-is-directory", lambda w: ["run", str(w)], "directory"),
    ("run-workers-zero", lambda w: ["run", _config(w), "--workers", "0"], "--workers"),
    ("run-workers-negative", lambda w: ["run", _config(w), "--workers", "-3"], "--workers"),
    ("run-workers-huge", lambda w: ["run", _config(w), "--workers", "100000"], "--workers"),
    ("run-retries-negative", lambda w: ["run", _config(w), "--retries", "-1"], "--retries"),
    ("run-retries-text", lambda w: ["run", _config(w), "--retries", "x"], "--retries"),
    ("run-cells-per-task-zero", lambda w: ["run", _config(w), "--cells-per-task", "0"],
     "--cells-per-task"),
    ("run-workers-and-scheduler", lambda w: ["run", _config(w), "--workers", "1",
                                             "--scheduler", "tcp://x:1"], "--scheduler"),
    ("run-cluster-missing", lambda w: ["run", _config(w), "--cluster", str(w / "c.yaml")],
     "c.yaml"),
    ("run-cluster-is-directory", lambda w: ["run", _config(w), "--cluster", str(w)],
     "directory"),
    ("run-scheduler-unreachable", lambda w: ["run", _config(w), "--scheduler",
                                             "tcp://127.0.0.1:1"], "tcp://127.0.0.1:1"),
    ("run-scheduler-not-an-address", lambda w: ["run", _config(w), "--scheduler",
                                                "http://example"], "--scheduler"),
    ("run-unknown-option", lambda w: ["run", _config(w), "--wrokers", "2"], "--wrokers"),
    ("run-out-is-file", lambda w: ["run", _config(w), "--out", _config(w)], "ok.yaml"),
    ("status-missing-store", lambda w: ["status", str(w / "none.zarr")], "none.zarr"),
    ("status-not-a-store", lambda w: ["status", str(w)], "not a sweep store"),
    ("analyse-threshold-nan", lambda w: ["analyse", str(w / "s.zarr"), "--threshold",
                                         "nan"], "--threshold"),
    ("analyse-threshold-negative", lambda w: ["analyse", str(w / "s.zarr"),
                                              "--threshold", "-1"], "--threshold"),
    ("analyse-n-boot-zero", lambda w: ["analyse", str(w / "s.zarr"), "--n-boot", "0"],
     "--n-boot"),
    ("analyse-missing-store", lambda w: ["analyse", str(w / "none.zarr")], "none.zarr"),
    ("figures-missing-store", lambda w: ["figures", str(w / "none.zarr")], "none.zarr"),
    ("report-missing-store", lambda w: ["report", str(w / "none.zarr")], "none.zarr"),
    ("no-subcommand", lambda w: [], "command"),
    ("unknown-subcommand", lambda w: ["sweep"], "sweep"),
]


@pytest.mark.parametrize("case, argv, expect", BAD_COMMANDS, ids=[c[0] for c in BAD_COMMANDS])
def test_bad_command_line_is_refused(case, argv, expect, workdir, capsys):
    args = argv(workdir)  # writes its inputs (a valid config) before the snapshot
    _refused(args, capsys, workdir, expect)


def test_corpus_size():
    """The issue asks for at least 60 bad configs and command lines."""
    assert len(BAD_CONFIGS) + len(BAD_TEXTS) + len(BAD_COMMANDS) >= 60


def test_interrupted_run_prints_no_traceback_and_keeps_no_lock(tmp_path):
    """Ctrl-C of a running sweep (SIGINT to its process group, as a terminal sends it):
    exit 130, one line, no traceback, no lock."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump({**BASE, "trials": 50, "networks": [
        {"name": "fista", "depth": 2000, "params": {"lam": 1.0e-3}}]}))
    store = tmp_path / "slow.zarr"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stablesweep.cli import console; console()", "run",
         str(path), "--out", str(store), "--workers", "1"],
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not store.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # the run and its worker processes
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    assert "interrupted" in err and "resume" in err
    assert not store.with_name(store.name + ".lock").exists()
