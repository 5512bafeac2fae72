"""The cell function in-process: problem draws, signals, worst-case attacks, layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from stablesweep.sweep import load_config
from stablesweep.sweep.config.grid import cells
from stablesweep.sweep.config.problem import draw_problem
from stablesweep.sweep.run.cell import run_cell
from stablesweep.sweep.run.execute import make_layout, make_task
from stablesweep.sweep.store import create_store, finalize
from stablesweep.sweep.store.writer import write_cell


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
        attack={"kind": "worst-case", "depths": [3], "budget": [0.01, 0.1],
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
    assert np.isfinite(ds["example_attacked"]).all()
    # the change, the perturbation's norm and their ratio, per budget
    amp = ds["worst_case_change"] / ds["worst_case_pert_norm"]
    np.testing.assert_allclose(ds["worst_case_amplification"], amp, rtol=1e-12)
    assert (ds["worst_case_change"] >= 0).all() and np.isfinite(ds["random_noise_change"]).all()
    # the attack's trace: best objective so far, ending at the stored worst-case error
    trace = ds["worst_case_trace"]
    assert trace.dims[-1] == "attack_iter" and trace.sizes["attack_iter"] == 3  # 2 steps + 1
    assert (trace.diff("attack_iter") >= -1e-12).all()
    np.testing.assert_allclose(trace.isel(attack_iter=-1), wc, rtol=1e-10)
    # the example shows x + A^* e* (the perturbation seen in the image domain)
    assert ds["example_perturbed"].dims == ("example", "attack_record", "row", "col")
    assert np.isfinite(ds["example_perturbed"]).all()
    assert not np.allclose(ds["example_perturbed"].isel(attack_record=1),
                           ds["example_truth"].isel(example=0))
    assert (ds["done"] == 1).all()


def test_psnr_and_ssim_agree_with_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    cfg = config(signal={"kind": "image", "name": "camera", "sparsity": [4, 4, 4, 4]},
                 noise=0.0, examples=[{"network": "fista", "trial": 1}])
    _, _, res = first_result(cfg)
    out, ref = res.examples[0]["example_output"], res.examples[0]["example_truth"]  # |phi(y)|, |x|
    rng = ref.max() - ref.min()
    assert math.isclose(res.values["psnr"][1], peak_signal_noise_ratio(ref, out, data_range=rng),
                        rel_tol=1e-9)
    assert math.isclose(res.values["ssim"][1], structural_similarity(ref, out, data_range=rng),
                        rel_tol=1e-9)
    # 1-D signals have none
    _, _, res1 = first_result(config(signal={"kind": "ellipses"}, dim=1,
                                     sampling={"scheme": "uniform", "rate": 0.5}))
    assert np.isnan(res1.values["psnr"]).all() and np.isnan(res1.values["ssim"]).all()


def test_minimiser_option_records_optimisation_and_recovery_errors(tmp_path):
    from stablesweep.networks import build_network, own_problem, solve_minimiser
    from stablesweep.networks.minimiser import objective_value

    cfg = config(minimiser={"tol": 1e-8}, noise=0.0,
                 networks=[{"name": "primal-dual", "depth": 30},
                           {"name": "unet", "depth": 1, "params": {"channels": 4, "scales": 2}}])
    layout = make_layout(cfg)
    store = tmp_path / "m.zarr"
    create_store(store, layout)
    for cell in cells(cfg):
        write_cell(store, layout, cell, run_cell(make_task(layout, cell)))
    finalize(store)
    ds = xr.open_zarr(store).load()
    # independent recomputation for trial 1 of the primal-dual network
    prob = draw_problem(cfg.point(()), cfg.seed, 1)
    net = build_network("primal-dual", prob.A, 30, s=[2, 2, 2, 2])
    sol = solve_minimiser(own_problem(net), prob.A, prob.y, tol=1e-8)
    with torch.no_grad():
        its = net.iterates(prob.y)
    x_norm = float(prob.x.norm())
    want = np.array([float((its[k - 1] - sol.x_hat).norm()) / x_norm for k in (1, 10, 30)])
    got = ds["opt_error"].sel(network="primal-dual", trial=1, depth=[1, 10, 30]).values
    np.testing.assert_allclose(got, want, rtol=1e-6)
    rec = ds["recovery_error"].sel(network="primal-dual", trial=1).item()
    assert math.isclose(rec, float((sol.x_hat - prob.x).norm()) / x_norm, rel_tol=1e-6)
    assert (ds["minimiser_certificate"].sel(network="primal-dual") <= 1e-8).all()
    # the triangle inequality ties the three errors together at every depth
    pd = ds.sel(network="primal-dual")
    assert (pd["rel_error"] <= pd["opt_error"] + pd["recovery_error"] + 1e-9).all()
    # the objective per depth, recomputed from the iterates with objective_value
    z = prob.A.to_coefficients(its.to(prob.A.dtype))
    want_obj = [objective_value(own_problem(net), prob.A, z[k - 1], prob.y) for k in (1, 10, 30)]
    np.testing.assert_allclose(ds["objective"].sel(network="primal-dual", trial=1,
                                                   depth=[1, 10, 30]).values, want_obj,
                               rtol=1e-9)
    gap = ds["objective_gap"].sel(network="primal-dual", trial=1, depth=[1, 10, 30]).values
    np.testing.assert_allclose(gap, np.array(want_obj) - sol.objective, rtol=1e-9, atol=1e-12)
    # Chambolle-Pock's ergodic theorem: the gap is below (||z||^2/2 + 1/2 + ||A z||)/n
    c = (float(sol.z_hat.norm()) ** 2 / 2 + 0.5 + float(prob.A(sol.z_hat).norm()))
    bound = ds["gap_bound"].sel(network="primal-dual", trial=1).values
    np.testing.assert_allclose(bound, c / ds["depth"].values, rtol=1e-9)
    assert (pd["objective_gap"] <= pd["gap_bound"]).all()
    assert (pd["objective_gap"] >= -1e-6 * pd["minimiser_objective"]).all()
    # zero-filling: ||A* y - x|| / ||x||
    zf = float((prob.A.measure_adjoint(prob.y) - prob.x).norm()) / x_norm
    assert math.isclose(ds["zero_filling_error"].sel(trial=1).item(),
                        zf, rel_tol=1e-9)
    # a trained-style network has no own problem: NaN, with the reason in the attrs
    assert np.isnan(ds["opt_error"].sel(network="unet")).all()
    assert np.isnan(ds["gap_bound"].sel(network="unet")).all()
    assert "trained" in ds["recovery_error"].attrs["comment"]
