"""Sweeps with trained networks and per-network choices: ``sampling.mask_from``, attacks at
each network's own depth (and skipped depths), sparsity weights from the signal, ellipse
details. The model file is a real one: a tiny U-Net trained for one epoch on two images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from stablesweep.levels import weight_map
from stablesweep.modelfile import load_mask, load_model_file, save_atomic
from stablesweep.sweep import ConfigError, StoreError, load_config, run_sweep
from stablesweep.sweep.config.grid import cells
from stablesweep.sweep.config.networks import build_network, network_params
from stablesweep.sweep.config.problem import draw_problem
from stablesweep.sweep.run.cell import run_cell
from stablesweep.sweep.run.execute import make_layout, make_task
from stablesweep.sweep.store import create_store, finalize, open_or_create
from stablesweep.sweep.store.writer import write_cell

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A U-Net model file for 16x16 Fourier measurements (trained for one tiny epoch)."""
    from stablesweep.training.config import parse_training_config
    from stablesweep.training.trainer import train

    raw = {"name": "unet-16", "seed": 0,
           "network": {"name": "unet", "params": {"channels": 2, "scales": 2}},
           "problem": {"transform": "fourier", "resolution": 16,
                       "sampling": {"scheme": "uniform", "rate": 0.4, "seed": 2}},
           "data": {"train": 2, "validation": 1, "details": True},
           "training": {"epochs": 1, "batch_size": 2, "device": "cpu"}}
    out = tmp_path_factory.mktemp("models") / "unet-16"
    return train(parse_training_config(raw), out_dir=out, progress=False, log=None).model_path


def trained_config(model: Path, **changes) -> dict:
    cfg = {
        "experiment": "trained",
        "seed": 1,
        "trials": 2,
        "problem": {"transform": "fourier", "resolution": 16,
                    "sampling": {"mask_from": str(model)},
                    "signal": {"kind": "ellipses", "details": True}},
        "networks": [{"name": "unet", "depth": 1, "params": {"checkpoint": str(model)}},
                     {"name": "fista", "depth": 6, "params": {"lam": 1.0e-3}}],
        "attack": {"kind": "momentum",
                   "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2}},
        "examples": [{"network": "unet"}],
    }
    cfg.update(changes)
    return cfg


def run_all(cfg, store: Path):
    layout = make_layout(cfg)
    create_store(store, layout)
    for cell in cells(cfg):
        write_cell(store, layout, cell, run_cell(make_task(layout, cell)))
    finalize(store)
    return layout, xr.open_zarr(store).load()


# --------------------------------------------------------------------------- mask_from


def test_mask_from_measures_with_the_trained_mask(model_file, tmp_path):
    cfg = load_config(trained_config(model_file))
    assert cfg.fixed["mask_from"] == str(model_file) and cfg.fixed["details"] is True
    assert "scheme" not in cfg.fixed and "rate" not in cfg.fixed
    mask = load_mask(model_file)
    point = cfg.point(())
    a, b = draw_problem(point, cfg.seed, 0), draw_problem(point, cfg.seed, 1)
    assert np.array_equal(a.A.mask.numpy(), mask) and np.array_equal(b.A.mask.numpy(), mask)
    assert not torch.equal(a.x, b.x)  # images still differ per trial

    layout, ds = run_all(cfg, tmp_path / "s.zarr")
    assert layout.layers[0] > 0  # the U-Net was built on the trained mask when probing
    assert (ds["status"] == "ok").all(), ds["message"].values
    assert (ds["attack_status"] == "ok").all(), ds["attack_message"].values
    assert (ds["done"] == 1).all()
    assert ds["mask_from"].item() == str(model_file) and bool(ds["details"].item())
    assert ds.attrs["mask_from_m"] == int(mask.sum())
    # attack.depths left out: one "own depth" entry, the depths in attacked_depth
    assert list(ds["attack_depth"].values) == [-1]
    assert ds["attacked_depth"].sel(attack_depth=-1).values.tolist() == [1, 6]
    assert np.isfinite(ds["example_attacked"]).all()
    assert json.loads(ds.attrs["network_weights"]) == {"unet": "none", "fista": "uniform"}

    # a retrained network (another mask in the same file) cannot resume into the store
    data = load_model_file(model_file)
    data["operator"]["mask"] = ~data["operator"]["mask"]
    moved = tmp_path / "unet-16" / "model.pt"
    save_atomic(data, moved)
    cfg_moved = load_config(trained_config(moved, examples=[], networks=[
        {"name": "fista", "depth": 6, "params": {"lam": 1.0e-3}}]))
    store = tmp_path / "m.zarr"
    open_or_create(store, lambda: make_layout(cfg_moved), cfg_moved)
    data["operator"]["mask"] = ~data["operator"]["mask"]
    save_atomic(data, moved)
    with pytest.raises(StoreError, match=r"measured with another mask than the one now in"):
        open_or_create(store, lambda: make_layout(cfg_moved), cfg_moved)


def test_mask_from_is_checked_before_running(model_file, tmp_path):
    def problems(**changes):
        with pytest.raises(ConfigError) as info:
            load_config(trained_config(model_file, **changes))
        return "\n".join(info.value.problems)

    base = trained_config(model_file)["problem"]
    text = problems(problem={**base, "transform": ["fourier", "walsh"]})
    assert "problem.transform[1]: 'walsh' does not match the fourier mask of shape (16, 16) " \
           "in problem.sampling.mask_from" in text
    assert "every transform must be 'fourier'" in text
    text = problems(problem={**base, "resolution": [16, 32]})
    assert "problem.resolution[1]: 32 does not match the fourier mask" in text
    assert "problem.resolution[0]" not in text
    # a checkpoint trained with another mask than the mask_from one
    data = load_model_file(model_file)
    data["operator"]["mask"][0, 0] = ~data["operator"]["mask"][0, 0]
    other = save_atomic(data, tmp_path / "other" / "model.pt")
    text = problems(networks=[{"name": "unet", "depth": 1, "params": {"checkpoint": str(other)}}])
    assert (f"networks[0].params.checkpoint: '{other}' was trained with another mask than the "
            "one of problem.sampling.mask_from") in text
    assert "the masks differ in 1 entries" in text
    # ... which the network may be told to accept
    load_config(trained_config(model_file, networks=[
        {"name": "unet", "depth": 1,
         "params": {"checkpoint": str(other), "allow_mask_mismatch": True}}]))
    with pytest.raises(ConfigError, match=r"problem\.sampling\.mask_from: cannot read"):
        (tmp_path / "bad.pt").write_text("not a model")
        load_config(trained_config(tmp_path / "bad.pt", networks=[{"name": "fista", "depth": 2}]))


def test_trained_vs_stable_config(tmp_path, monkeypatch):
    path = REPO / "config" / "experiments" / "trained-vs-stable.yaml"
    cfg = load_config(path, check_files=False)  # structure, whatever was trained
    assert cfg.fixed["mask_from"] == "models/unet-64/model.pt"
    assert cfg.attack.depths == (-1,)
    assert [cfg.attacked_depth(n, 0)[0] for n in range(4)] == [1, 8, 200, 200]
    assert [e.attack_depth for e in cfg.examples] == [0, 0, 0, 0]
    # where nothing was trained yet, the message says how to train
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config" / "training").mkdir(parents=True)
    for name in ("unet-64", "learned-pd-64"):
        shutil.copy(REPO / "config" / "training" / f"{name}.yaml", tmp_path / "config/training")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert ("problem.sampling.mask_from: 'models/unet-64/model.pt' does not exist; "
            "train it first with `stablesweep train config/training/unet-64.yaml "
            "--models-dir models`" in info.value.problems)
    assert ("networks[1].params.checkpoint: 'models/learned-pd-64/model.pt' does not "
            "exist; train it first with `stablesweep train config/training/learned-pd-64.yaml "
            "--models-dir models`" in info.value.problems)
    # a profile's model folder names the profile
    with pytest.raises(ConfigError, match=r"`stablesweep train config/training/unet-64\.yaml "
                                          r"--profile paper`"):
        load_config(trained_config(Path("results/models/unet-64-paper/model.pt")))


# --------------------------------------------------------------------------- attack depths


def depth_config(depths=None, **changes):
    attack = {"kind": "momentum", "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3,
                                             "steps": 2}}
    if depths is not None:
        attack["depths"] = depths
    cfg = {
        "experiment": "depths", "seed": 2, "trials": 1,
        "problem": {"transform": "walsh", "resolution": 8,
                    "sampling": {"scheme": "uniform", "rate": 0.5},
                    "signal": {"kind": "sparse-in-levels", "sparsity": [1, 1, 1]}},
        "networks": [{"name": "fista", "depth": 6, "params": {"lam": 1.0e-3}},
                     {"name": "firenet", "depth": 4, "params": {"lam": 1.0e-3, "p": 2}}],
        "attack": attack,
    }
    cfg.update(changes)
    return load_config(cfg)


def test_depths_beyond_a_network_are_skipped(tmp_path):
    cfg = depth_config([2, 6])
    # through Dask: the cell (firenet, 6) has nothing to compute and is written directly
    summary = run_sweep(cfg, tmp_path / "s.zarr", workers=1, progress=False)
    assert summary.computed == 4 and summary.failed == 0
    ds = xr.open_zarr(tmp_path / "s.zarr").load()
    assert ds["attacked_depth"].values.tolist() == [[2, 6], [2, 0]]
    fire = ds.sel(network="firenet", attack_depth=6)
    assert (fire["attack_status"] == "skipped").all()
    assert fire["attack_message"].str.contains("exceeds the network's depth 4").all()
    assert np.isnan(fire["amplification"]).all()
    others = ds["attack_status"].where(ds["attacked_depth"] > 0, "ok")
    assert (others == "ok").all() and (ds["done"] == 1).all()  # skipped is not a failure
    assert np.isfinite(ds["rel_error"].sel(network="firenet", depth=4)).all()

    # each network at its own depth: the same numbers as that depth given explicitly
    own = depth_config()
    assert own.attack.depths == (-1,)
    _, ds_own = run_all(own, tmp_path / "own.zarr")
    assert ds_own["attacked_depth"].values.tolist() == [[6], [4]]
    np.testing.assert_array_equal(
        ds_own["amplification"].sel(network="fista", attack_depth=-1),
        ds["amplification"].sel(network="fista", attack_depth=6))


def test_trained_networks_get_the_own_depth_entry(model_file):
    cfg = load_config(trained_config(model_file, attack={
        "kind": "momentum", "depths": [3],
        "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2}}))
    assert cfg.attack.depths == (3, -1)
    assert [cfg.attacked_depth(0, j)[0] for j in range(2)] == [None, 1]  # unet
    assert [cfg.attacked_depth(1, j)[0] for j in range(2)] == [3, None]  # fista
    assert "attacked at its own depth 1 only" in cfg.attacked_depth(0, 0)[1]
    assert cfg.examples[0].attack_depth == 1  # the unet example defaults to its entry
    # the unet cell at depth 3 only runs the forward pass; skipped attack, nothing failed
    layout = make_layout(cfg)
    task = make_task(layout, cells(cfg)[0])
    assert task.forward and task.skips_attack and not task.trivial
    res = run_cell(task)
    assert (res.values["status"] == "ok").all() and not res.failed
    assert (res.values["attack_status"] == "skipped").all()
    assert make_task(layout, cells(cfg)[3]).trivial  # fista, -1: nothing to do


# --------------------------------------------------------------------------- weights


WEIGHTS_ONLY = '''
from stablesweep.networks import FISTA


def weighted_fista(A, depth, weights=None, lam=1e-3):
    return FISTA(A, depth, lam=lam, weights=weights)
'''


def test_sparsity_weights_come_from_the_signal(tmp_path, monkeypatch):
    (tmp_path / "weights_only.py").write_text(WEIGHTS_ONLY)
    monkeypatch.syspath_prepend(str(tmp_path))
    nets = [{"name": "fista", "depth": 2},
            {"name": "fista", "label": "uniform", "depth": 2, "params": {"s": None}},
            {"name": "fista", "label": "own-s", "depth": 2, "params": {"s": [1, 2, 1]}},
            {"name": "custom", "factory": "weights_only:weighted_fista", "depth": 2}]
    cfg = depth_config(networks=nets)
    assert [cfg.weights_source(i) for i in range(4)] == ["signal", "uniform", "params",
                                                         "signal"]
    point = cfg.point(())
    A = draw_problem(point, cfg.seed, 0).A
    expected = weight_map(A.shape, [1, 1, 1])
    assert network_params(cfg.networks[0], point, A) == {"s": [1, 1, 1]}
    built = [build_network(spec, A, point=point) for spec in cfg.networks]
    torch.testing.assert_close(built[0].weights, expected)
    torch.testing.assert_close(built[3].module.weights, expected)  # inside CustomNetwork
    assert (built[1].weights == 1).all()
    torch.testing.assert_close(built[2].weights, weight_map(A.shape, [1, 2, 1]))
    # not at other signals
    ellipses = depth_config(problem={**cfg.data["problem"], "signal": {"kind": "ellipses"}},
                            networks=nets[:1])
    assert ellipses.weights_source(0) == "uniform"
    assert network_params(ellipses.networks[0], ellipses.point(()), A) == {}


def test_ellipse_details():
    cfg = depth_config(problem={"transform": "fourier", "resolution": 16,
                                "sampling": {"scheme": "uniform", "rate": 0.5},
                                "signal": {"kind": "ellipses", "details": [False, True]}})
    assert cfg.axes["details"] == (False, True)
    plain, detailed = (draw_problem(cfg.point((i,)), cfg.seed, 0) for i in range(2))
    diff = (detailed.x - plain.x).abs()
    assert 0 < diff.max() <= 0.1 + 1e-12  # the same phantom plus small details
    assert (diff > 0).float().mean() < 0.2
