"""The cell function in-process: problem draws, signals, worst-case attacks, layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from stablesweep.sweep import load_config
from stablesweep.sweep.cell import draw_problem, run_cell
from stablesweep.sweep.execute import make_layout, make_task
from stablesweep.sweep.grid import cells
from stablesweep.sweep.store import create_store, finalize, write_cell


def config(**changes):
    cfg = {
        "experiment": "cell",
        "seed": 3,
        "trials": 2,
        "problem": {
            "transform": "fourier",
            "resolution": 16,
            "sampling": {"scheme": "theory", "rate": 0.4},
            "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
            "noise": [0.0, 0.05],
        },
        "networks": [{"name": "fista", "depth": 6}],
    }
    for key, value in changes.items():
        if key in (*cfg["problem"], "dim"):
            cfg["problem"][key] = value
        else:
            cfg[key] = value
    return load_config(cfg)


def first_result(cfg):
    layout = make_layout(cfg)
    cell = cells(cfg)[0]
    return layout, cell, run_cell(make_task(layout, cell))


def test_problem_draw_is_shared_across_noise_levels_and_exact():
    cfg = config()
    p, q = cfg.point((0,)), cfg.point((1,))
    a, b = draw_problem(p, cfg.seed, 1), draw_problem(q, cfg.seed, 1)
    assert torch.equal(a.A.mask, b.A.mask) and torch.equal(a.x, b.x)
    assert torch.equal(a.y, a.A(a.z))  # no noise
    assert math.isclose(b.noise_norm, 0.05 * float(torch.linalg.vector_norm(b.A(b.z))),
                        rel_tol=1e-9)
    assert a.A.m == round(0.4 * 256)
    c = draw_problem(p, cfg.seed, 0)
    assert not torch.equal(a.A.mask, c.A.mask)  # trials differ


def test_cell_is_deterministic():
    cfg = config()
    layout = make_layout(cfg)
    task = make_task(layout, cells(cfg)[1])
    r1, r2 = run_cell(task), run_cell(task)
    for name, value in r1.values.items():
        if name != "wall_time":
            np.testing.assert_array_equal(value, r2.values[name], err_msg=name)
    assert (r1.values["status"] == "ok").all()


@pytest.mark.parametrize("signal, dim, finite_sigma", [
    ({"kind": "image", "name": "camera"}, 2, False),
    ({"kind": "image", "name": "camera", "sparsity": [4, 4, 4, 4]}, 2, True),
    ({"kind": "ellipses"}, 1, False),
])
def test_image_signals(signal, dim, finite_sigma):
    sampling = {"scheme": "uniform", "rate": 0.5}
    cfg = config(signal=signal, dim=dim, sampling=sampling, examples=[{"trial": 1}])
    layout, cell, res = first_result(cfg)
    assert (res.values["status"] == "ok").all(), res.values["message"]
    assert np.isfinite(res.values["sigma_theory"]).all() == finite_sigma
    if finite_sigma:
        assert (res.values["sigma_theory"] > 0).all()
    images = res.examples[0]
    assert images["example_truth"].shape == ((1, 16) if dim == 1 else (16, 16))
    assert np.isfinite(images["example_output"]).all()


def test_explicit_budgets():
    cfg = config(sampling={"budgets": [[2, 1, 0, 0] + [0] * 12, [4] * 4 + [2] * 12]})
    assert cfg.axes["budgets"][1] == (4,) * 4 + (2,) * 12
    a = draw_problem(cfg.point((0, 0)), cfg.seed, 0)
    assert a.A.m == 3


def test_worst_case_attack_cell_and_store(tmp_path):
    cfg = config(
        attack={"kind": "worst-case", "depths": [3], "levels": [0.01, 0.1],
                "params": {"steps": 2, "restarts": 1}},
        examples=[{"network": "fista", "trial": 0, "noise": 0.05}],
    )
    layout = make_layout(cfg)
    store = tmp_path / "wc.zarr"
    create_store(store, layout)
    for cell in cells(cfg):
        res = run_cell(make_task(layout, cell))
        assert (res.values["attack_status"] == "ok").all(), res.values["attack_message"]
        write_cell(store, layout, cell, res)
    finalize(store)
    ds = xr.open_zarr(store).load()
    assert ds["worst_case_error"].dims == ("noise", "network", "attack_depth", "trial",
                                           "noise_level")
    wc = ds["worst_case_error"]
    assert np.isfinite(wc).all()
    # more noise, larger worst-case error; never below random noise of the same size
    assert (wc.sel(noise_level=0.1) >= wc.sel(noise_level=0.01)).all()
    assert (wc >= ds["random_noise_error"] - 1e-12).all()
    assert list(ds["attack_record"].values) == [0.01, 0.1]
    assert "example_perturbed" not in ds
    assert np.isfinite(ds["example_attacked"]).all()
    assert (ds["done"] == 1).all()
