"""The K-digits construction and experiment (stablesweep.barrier)."""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from stablesweep.barrier import (
    BarrierProblem,
    load_barrier_config,
    other_index,
    parse_barrier_config,
    run_experiment,
)
from stablesweep.configuration import ConfigError

GRID = list(itertools.product([1, 3, 6], [10, 20, 30]))


@pytest.mark.parametrize(("K", "n"), GRID)
def test_matrices_close_minimisers_far(K, n):
    P = BarrierProblem(K, n, j=1)
    Q = P.other()
    assert Q.j == 2 and other_index(2, 2) == 1
    tails = P.sample_tails(4, 0)
    # the same measurements for both indices ...
    np.testing.assert_allclose(P.measurements(tails), Q.measurements(tails), rtol=0, atol=1e-15)
    # ... from matrices within 2^-n (sqrt(2) * 2^-n-1 up to rounding of entries ~ ||a||) ...
    dA = np.linalg.norm(P.matrix - Q.matrix, 2)
    assert dA <= 2.0**-n
    ulp = np.spacing(P.norm_a)
    np.testing.assert_allclose(dA, np.sqrt(2) * 2.0 ** (-n - 1), rtol=0, atol=8 * ulp)
    # ... but minimisers about 10^-K apart (3 * 10^-K * rho_min / rho)
    dx = np.linalg.norm(P.minimisers(tails) - Q.minimisers(tails), axis=1)
    np.testing.assert_allclose(dx, 3 * 10.0**-K * P.rho_min / P.rho, rtol=1e-12)
    assert np.all((10.0**-K < dx) & (dx < 10.0 ** (1 - K)))
    # the DCT mixing is orthonormal: the operator norm is ||a|| either way
    np.testing.assert_allclose(P.norm(), P.norm_a, rtol=1e-12)


@pytest.mark.parametrize(("K", "n"), GRID)
def test_stated_minimiser_has_a_dual_certificate(K, n):
    """KKT: A x = y, ||v|| <= 1 and -A^T v in lam * subdifferential of ||x||_1."""
    P = BarrierProblem(K, n, j=2)
    tails = P.sample_tails(3, 1)
    x, y = P.minimisers(tails), P.measurements(tails)
    np.testing.assert_allclose(x @ P.matrix.T, y, rtol=0, atol=1e-13 * (1 + np.abs(y).max()))
    for xi, ti in zip(x, tails, strict=True):
        v = P.certificate(ti)
        assert np.linalg.norm(v) < 1
        g = -P.matrix.T @ v / P.lam
        on = xi != 0
        np.testing.assert_allclose(g[on], np.sign(xi[on]), rtol=0, atol=1e-9)
        assert np.all(np.abs(g[~on]) <= 1 + 1e-9)
        # strictly inside on the other head entry: |g| = rho_min / rho
        np.testing.assert_allclose(abs(g[0]), P.rho_min / P.rho, rtol=1e-9)


@pytest.mark.parametrize(("K", "n"), [(1, 10), (3, 10)])
def test_minimiser_agrees_with_an_independent_convex_solver(K, n):
    """Clarabel (through cvxpy) finds the stated minimiser, not the other index's.

    Only for (K, n) where double precision can tell the two apart: the objective gap
    between them is about 2^-n / 10^K, so for larger K, n every solver (FIRENET included)
    lands between them; that is the point of the construction.
    """
    import cvxpy as cp  # the test extra's oracle: missing, the test fails (never skips)

    P = BarrierProblem(K, n, j=1)
    Q = P.other()
    tails = P.sample_tails(2, 2)
    for tail, y in zip(tails, P.measurements(tails), strict=True):
        z = cp.Variable(P.N)
        prob = cp.Problem(cp.Minimize(P.lam * cp.norm1(z) + cp.norm2(P.matrix @ z - y)))
        prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        x = P.minimisers(tail[None])[0]
        sep = np.linalg.norm(x - Q.minimisers(tail[None])[0])
        assert prob.value >= P.objective(x, y)[0] - 1e-9
        assert np.linalg.norm(z.value - x) <= 1e-3 * sep


def test_dense_operator_and_firenet_input():
    P = BarrierProblem(3, 10)
    A = P.operator()
    assert A.shape == (P.N,) and A.m == P.m and A.dtype == torch.float64
    np.testing.assert_allclose(A.norm(), P.norm(), rtol=1e-12)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, P.N, dtype=torch.float64, generator=g)
    w = torch.randn(3, P.m, dtype=torch.float64, generator=g)
    np.testing.assert_allclose(float((A(z) * w).sum()), float((z * A.adjoint(w)).sum()),
                               rtol=1e-12)
    torch.testing.assert_close(A.to_image(z), z)


def test_problem_validation():
    with pytest.raises(ValueError, match=r"j = 3 is not allowed; expected an integer in 1..2"):
        BarrierProblem(1, 10, j=3)
    with pytest.raises(ValueError, match=r"delta = 0.3 is not allowed; expected 0 < delta < 1/4"):
        BarrierProblem(1, 10, delta=0.3)
    with pytest.raises(ValueError, match=r"K = 0 is not allowed"):
        BarrierProblem(0, 10)


def test_config_file_matches_the_defaults():
    path = Path(__file__).resolve().parents[1] / "config" / "experiments" / "k-digits.yaml"
    cfg = load_barrier_config(path)
    assert cfg.data == parse_barrier_config().data
    assert cfg.Ks == [1, 3, 6] and cfg.ns == [10, 20, 30]
    assert cfg.lista["train"] == 8000 and cfg.lista["validation"] == 100
    assert cfg.lista["layers"] == 10 and cfg.firenet == {"p": 50, "n": 30, "delta": 1e-6}
    assert cfg.problem(1, 10).delta == pytest.approx(1 / 6)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"lista: unknown key 'epoch'; allowed keys: "
                       r"batch_size, epochs, layers"):
        parse_barrier_config({"lista": {"epoch": 3}})
    with pytest.raises(ValueError, match=r"grid.K\[0\]: 0 is out of range; expected >= 1"):
        parse_barrier_config({"grid": {"K": [0]}})
    with pytest.raises(ValueError, match=r"grid.n: \[\] has too few entries; expected at "
                       r"least 1"):
        parse_barrier_config({"grid": {"n": []}})
    with pytest.raises(ValueError, match=r"problem.delta: 'x' is not a number; expected a "
                       r"real number or a fraction such as '1/6'"):
        parse_barrier_config({"problem": {"delta": "x"}})
    with pytest.raises(ValueError, match=r"problem.lam: '-1/2' is out of range; expected >= 0"):
        parse_barrier_config({"problem": {"lam": "-1/2"}})
    # every problem at once, the problem's own checks once the rest is valid
    with pytest.raises(ConfigError, match=r"invalid k-digits config: 3 problems") as info:
        parse_barrier_config({"seed": -1, "colour": 1, "firenet": {"p": 0}})
    assert info.value.problems == [
        "config: unknown key 'colour'; allowed keys: experiment, firenet, grid, lista, "
        "problem, seed",
        "firenet.p: 0 is out of range; expected >= 1",
        "seed: -1 is out of range; expected >= 0"]
    with pytest.raises(ConfigError, match=r"problem: delta = 0.3 is not allowed"):
        parse_barrier_config({"problem": {"delta": 0.3}})


def test_config_file_problems_name_the_file_kind_and_command(tmp_path):
    with pytest.raises(ConfigError, match=r"config file '.*' is a directory; expected a YAML "
                       r"file"):
        load_barrier_config(tmp_path)
    with pytest.raises(ConfigError, match=r"config file '.*none\.yaml' does not exist"):
        load_barrier_config(tmp_path / "none.yaml")
    sweep = Path(__file__).resolve().parents[1] / "config" / "experiments" / "quick.yaml"
    with pytest.raises(ConfigError, match=r"this is an experiment \(sweep\) config \(keys "
                       r"examples, minimiser, trials\), not a K-digits barrier config; run "
                       r"it with `stablesweep run .*quick\.yaml`"):
        load_barrier_config(sweep)


TINY = {
    "grid": {"K": [1, 3], "n": [10]},
    "lista": {"layers": 4, "train": 200, "validation": 20, "test": 10, "epochs": 15,
              "batch_size": 50, "lr": 1e-2},
    "firenet": {"p": 20, "n": 5},
}


def test_experiment_table(tmp_path):
    cfg = parse_barrier_config(TINY)
    rows = run_experiment(cfg, tmp_path, progress=False, log=None)
    assert [(r["K"], r["n"]) for r in rows] == [(1, 10), (3, 10)]
    for r in rows:
        K = r["K"]
        # LISTA learns its own problem far better than 10^-K ...
        assert r["lista_error_own"] < 0.2 * 10.0**-K
        # ... but is about 3 * 10^-K from the other index's minimiser: no K digits
        assert r["lista_error"] > 10.0**-K and not r["lista_k_digits"]
        assert r["firenet_error"] > 10.0**-K and not r["firenet_k_digits"]
        assert r["matrix_distance"] <= r["two_to_minus_n"]
    with open(tmp_path / "table.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 2 and float(table[1]["ten_to_minus_K"]) == 1e-3
    assert "| K | n |" in (tmp_path / "table.md").read_text()
    assert "<table" in (tmp_path / "table.html").read_text()
    assert (tmp_path / "summary.json").is_file()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "lista-K1-n10.pt", "lista-K3-n10.pt"]
    # a rerun reuses the trained networks and gives the same table
    again = run_experiment(cfg, tmp_path, progress=False, log=None)
    assert [r["lista_error"] for r in again] == [r["lista_error"] for r in rows]


def test_barrier_cli(tmp_path, capsys):
    import yaml

    from stablesweep.cli.barrier import add_barrier_parser, run_barrier

    parser = argparse.ArgumentParser()
    add_barrier_parser(parser.add_subparsers(dest="command"))
    tiny = {**TINY, "grid": {"K": [1], "n": [10]}}
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(tiny))
    args = parser.parse_args(["barrier", "--config", str(path), "--out", str(tmp_path / "o"),
                              "--no-progress"])
    assert args.func(args) == 0
    assert (tmp_path / "o" / "table.csv").is_file()
    bad = parser.parse_args(["barrier", "--config", str(tmp_path / "none.yaml")])
    assert run_barrier(bad) == 1
    assert "does not exist" in capsys.readouterr().err
