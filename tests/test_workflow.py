"""The Snakemake workflow end to end on a tiny experiment (subprocess, temp directory).

Checks the contract of issue 6: every declared output appears, a second run does
nothing, and deleting one figure re-creates only that figure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY = """\
experiment: tiny
seed: 0
trials: 2
problem:
  transform: fourier
  resolution: 16
  wavelet: haar
  sampling: {scheme: [theory, uniform], rate: [0.3, 0.5]}
  signal: {kind: sparse-in-levels, sparsity: [[2, 2, 4, 4]]}
  noise: [0.0, 0.01]
networks:
  - {name: firenet, depth: 40, params: {lam: 1.0e-2, p: 10, delta: 1.0e-9}}
  - {name: fista, depth: 40, params: {lam: 1.0e-3}}
attack:
  kind: momentum
  depths: [10, 40]
  params: {lam: 0.01, eta: 0.05, tau: 0.001, steps: 6, record_every: 2}
examples:
  - {network: firenet, trial: 0, attack_depth: 40}
"""


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--cores", "2",
        "--keep-incomplete",
        *args,
    ]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    if shutil.which("snakemake", path=str(BIN)) is None:
        pytest.fail("snakemake is not installed in the test environment")
    work = tmp_path_factory.mktemp("wf")
    (work / "config" / "experiments").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text("experiments: [tiny]\n")
    (work / "config" / "experiments" / "tiny.yaml").write_text(TINY)
    proc = _snakemake(work)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work


def _outputs(work: Path) -> list[Path]:
    res = work / "results" / "tiny"
    return [
        res / "sweep.summary.json",
        res / "fits.nc",
        res / "report.html",
        *sorted((res / "figures").glob("*.png")),
        *sorted((res / "figures").glob("*.pdf")),
    ]


def test_every_declared_output_exists(workflow_run):
    res = workflow_run / "results" / "tiny"
    assert (res / "sweep.zarr").is_dir()
    for p in _outputs(workflow_run):
        assert p.exists() and p.stat().st_size > 0, p
    pngs = {p.stem for p in (res / "figures").glob("*.png")}
    pdfs = {p.stem for p in (res / "figures").glob("*.pdf")}
    assert pngs == pdfs
    # every figure type the tiny config supports
    assert {"error_vs_depth", "error_vs_noise", "phase_transition", "amplification",
            "stability_panel"} <= {p.split("__")[0] for p in pngs}
    html = (res / "report.html").read_text()
    assert "data:image/png;base64" in html and "config_hash" in html
    for name in ("sweep", "analyse", "report"):
        assert (res / "logs" / f"{name}.log").exists()


def test_second_run_does_nothing(workflow_run):
    proc = _snakemake(workflow_run, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_deleting_one_figure_recreates_only_it(workflow_run):
    figs = sorted((workflow_run / "results" / "tiny" / "figures").glob("*.png"))
    victim = figs[0]
    others = {p: p.stat().st_mtime_ns for p in _outputs(workflow_run) if p != victim}
    victim.unlink()
    proc = _snakemake(workflow_run)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert victim.exists()
    log = proc.stdout + proc.stderr
    assert "rule figure:" in log and "rule sweep:" not in log and "rule analyse:" not in log
    changed = [p for p, t in others.items() if p.stat().st_mtime_ns != t]
    # only the victim's PDF twin (same job) and the report (which embeds it) are rewritten
    assert set(changed) <= {victim.with_suffix(".pdf"),
                            workflow_run / "results" / "tiny" / "report.html"}


def test_lint_and_format_are_clean():
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    lint = subprocess.run([str(BIN / "snakemake"), "--lint"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, (
        lint.stdout[-3000:] + lint.stderr[-3000:])
    fmt = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stderr[-2000:]
