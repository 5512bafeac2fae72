"""A new attack kind is one module: the registry drives config checks, store, cell,
estimate, analysis and report.

This module declares a trivial ``random-direction`` kind (the change φ(y + e) − φ(y) for
a few random e of norm ε‖y‖, one per entry of its own ``direction`` axis), registers it,
and runs it through a tiny sweep, the analysis and the report — touching no other
file. Every shipped kind is also checked for what the registry promises.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr

from stablesweep.attacks import ATTACKS, AttackKind, Axis, TrialOutcome, Variable
from stablesweep.attacks.registry import attack_kind, register_attack

DIRECTION = "direction"


def random_direction(net, A, x, y, *, budget: float, count: int, generator: torch.Generator
                     ) -> dict[str, Any]:
    """``count`` random e with ‖e‖ = budget·‖y‖: the changes ‖φ(y + e) − φ(y)‖."""
    with torch.no_grad():
        clean = net(y)
        out = {"change": [], "attacked": [], "e": []}
        for _ in range(count):
            e = torch.randn(y.shape, generator=generator, dtype=torch.float64).to(y.dtype)
            e = e * (budget * torch.linalg.vector_norm(y) / torch.linalg.vector_norm(e))
            rec = net(y + e)
            out["change"].append(float(torch.linalg.vector_norm(rec - clean)))
            out["attacked"].append(rec)
            out["e"].append(e)
    out["clean_error"] = float(torch.linalg.vector_norm(clean - x))
    out["clean"] = clean
    return out


def _run(trial) -> TrialOutcome:
    s = trial.settings
    res = random_direction(trial.net, trial.A, trial.x, trial.y, budget=s.budget[0],
                           count=int(s.params["count"]), generator=trial.generator)
    change = np.array(res["change"])
    e_norm = np.array([float(torch.linalg.vector_norm(e)) for e in res["e"]])
    images = {}
    if trial.keep:
        images = {"example_output": res["clean"], "example_attacked": res["attacked"],
                  "example_perturbed": [trial.x + trial.A.measure_adjoint(e) for e in res["e"]]}
    return TrialOutcome({"random_direction_change": change,
                         "random_direction_amplification": change / e_norm},
                        res["clean_error"], change, images)


def _check(params: Mapping[str, Any]) -> list[str]:
    count = params.get("count")
    if isinstance(count, int) and count > 10:
        return [f"attack.params.count: {count} is too many; expected at most 10"]
    return []


def _directions(settings) -> range:
    return range(int(settings.params.get("count", 1)))


RANDOM_DIRECTION = AttackKind(
    name="random-direction",
    function=random_direction,
    summary="the change under a few random perturbations of norm budget ||y||",
    axes=(Axis(DIRECTION, "random direction", _directions),),
    variables=(
        Variable("random_direction_change", ("trial", DIRECTION), float, "1",
                 "change ||phi(y + e) - phi(y)|| for random e, ||e|| = budget ||y||",
                 source="random-direction"),
        Variable("random_direction_amplification", ("trial", DIRECTION), float, "1",
                 "change / ||e|| for random e", source="random-direction"),
    ),
    run=_run,
    passes=lambda settings: int(settings.params.get("count", 1)) + 1,
    caption=lambda section: [("random directions", section.get("params", {}).get("count"))],
    kept=Axis("attack_record", "random direction of the kept image", _directions),
    uses_budget=True,
    supplied=frozenset({"net", "A", "x", "y", "generator", "budget"}),
    check=_check,
)

TINY = {
    "experiment": "registry",
    "seed": 3,
    "trials": 2,
    "problem": {"transform": "fourier", "resolution": 8, "wavelet": "haar",
                "sampling": {"scheme": "uniform", "rate": 0.5},
                "signal": {"kind": "sparse-in-levels", "sparsity": [1, 2, 3]},
                "noise": [0.0, 0.01]},
    "networks": [{"name": "fista", "depth": 6, "params": {"lam": 1.0e-3}}],
    "attack": {"kind": "random-direction", "budget": [0.05], "params": {"count": 3}},
    "examples": [{"network": "fista", "trial": 0}],
}


@pytest.fixture
def kind(monkeypatch):
    """The registry with the test's kind (removed again afterwards)."""
    from stablesweep.attacks import registry

    monkeypatch.setitem(registry.ATTACKS, RANDOM_DIRECTION.name, RANDOM_DIRECTION)
    return RANDOM_DIRECTION


# ----------------------------------------------------------------- the shipped kinds


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_shipped_kind_declares_what_the_sweep_needs(name):
    kind = attack_kind(name)
    axes = {ax.name for ax in kind.axes}
    for row in kind.variables:
        assert row.dims[0] == "trial" and set(row.dims[1:]) <= axes, row
        assert row.long_name and row.units == "1" and row.source == name
    allowed = kind.allowed_params()
    assert not set(allowed) & kind.supplied
    assert set(kind.required_params({})) <= set(allowed)


def test_an_unknown_kind_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown attack kind 'pgd'; expected one of: "
                                         r"momentum, worst-case"):
        attack_kind("pgd")


def test_registering_a_variable_name_twice_is_refused(kind):
    clash = AttackKind(**{**RANDOM_DIRECTION.__dict__, "name": "clash"})
    with pytest.raises(ValueError, match=r"variable 'random_direction_change' is already "
                                         r"stored by random-direction"):
        register_attack(clash)
    with pytest.raises(ValueError, match=r"'random-direction' is already registered"):
        register_attack(RANDOM_DIRECTION)


# ------------------------------------------------------- a new kind, end to end


def test_the_new_kind_is_checked_from_its_declaration(kind):
    from stablesweep.sweep.config import ConfigError, load_config

    cfg = load_config(TINY)
    assert cfg.attack.kind == "random-direction" and cfg.attack.budget == (0.05,)
    bad = copy.deepcopy(TINY)
    bad["attack"]["params"] = {"count": 11, "rho": 1}
    del bad["attack"]["budget"]
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "attack.params.count: 11 is too many; expected at most 10" in text
    assert ("attack.params.rho: unknown parameter of the random-direction attack; allowed: "
            "count") in text
    assert "attack: missing key 'budget' (needed by kind 'random-direction')" in text
    del bad["attack"]["params"]["count"]
    with pytest.raises(ConfigError, match=r"attack\.params: missing key 'count' \(needed by "
                                          r"kind 'random-direction'\)"):
        load_config(bad)
    bad["attack"]["params"]["count"] = 0  # typed by the function's annotation (int)
    with pytest.raises(ConfigError, match=r"attack\.params\.count: 0 is not valid; expected a "
                                          r"positive integer"):
        load_config(bad)


def test_the_new_kind_runs_through_sweep_analysis_and_report(kind, tmp_path):
    from distributed import Client, LocalCluster

    from stablesweep.analysis import analyse
    from stablesweep.report import write_report
    from stablesweep.sweep import load_config, run_sweep
    from stablesweep.sweep.config.grid import cells
    from stablesweep.sweep.run.estimate import layers_per_trial

    cfg = load_config(TINY)
    attacked = [c for c in cells(cfg) if c.attack_depth is not None]
    extra = layers_per_trial(cfg, attacked[0], 6) - layers_per_trial(cfg, attacked[0], None)
    assert extra == 3 * 6 * 4  # the kind's cost model: count + 1 passes at depth 6
    store = tmp_path / "sweep.zarr"
    # workers in this process (threads): they see the kind registered here
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster):
        summary = run_sweep(cfg, store, scheduler=cluster.scheduler_address, progress=False)
    assert summary.lost == 0
    with xr.open_zarr(store) as ds:
        ds = ds.load()
    change = ds["random_direction_change"]
    assert change.dims == ("noise", "network", "attack_depth", "trial", DIRECTION)
    assert change.attrs["long_name"].startswith("change ||phi(y + e) - phi(y)||")
    assert ds[DIRECTION].values.tolist() == [0, 1, 2]
    assert (ds["attack_status"].values == "ok").all()
    assert np.isfinite(change.values).all() and (change.values > 0).all()
    e_norm = change.values / ds["random_direction_amplification"].values
    np.testing.assert_allclose(e_norm, e_norm[..., :1] * np.ones(3))  # ||e|| = budget ||y||
    assert ds["example_attacked"].sizes["attack_record"] == 3
    assert np.isfinite(ds["example_attacked"].values[..., :8, :8]).all()
    assert "worst_case_error" not in ds and "pert_norm" not in ds

    fits = analyse(ds, n_boot=5)
    fits_path = tmp_path / "fits.nc"
    fits.to_netcdf(fits_path)
    html = write_report(store, fits_path, None, tmp_path / "report.html").read_text()
    assert "random-direction" in html


def test_the_caption_of_a_kind_comes_from_its_declaration(kind):
    from stablesweep.report.captions import _attack_terms

    assert _attack_terms({"kind": "random-direction", "params": {"count": 3}}) == [
        ("random directions", 3)]
    assert _attack_terms({"kind": "worst-case", "levels": [0.1]}) == [("budgets ε", [0.1])]
    assert _attack_terms({"kind": "unknown"}) == []
