"""Blocks of cells, written by the workers themselves, one chunk (file) per variable.

The tiny sweep of ``test_sweep_run`` with ``store: {cells_per_block: 6}`` (blocks of 1 x 2
x 4 x 1 cells: both noise levels x all networks) must give the same numbers as the
one-cell-per-file layout, whatever the worker count, after a kill -9 of the client or of
a worker, and after damage; a store written before blocks existed keeps its layout.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from test_sweep_run import (  # noqa: F401 - dask_cluster is a fixture
    TIMINGS,
    TINY,
    assert_same_store,
    dask_cluster,
    kill_run_once_done,
    write_config,
)

from stablesweep.sweep import load_config, run_sweep
from stablesweep.sweep.config.grid import cells
from stablesweep.sweep.run.block import run_block
from stablesweep.sweep.run.execute import make_layout
from stablesweep.sweep.store import create_store
from stablesweep.sweep.store.integrity import metadata_damage, verify_cells
from stablesweep.sweep.store.layout import FILES_PER_CELL, MIN_TASKS, cell_block

BLOCKED = {**TINY, "store": {"cells_per_block": 6}}
N_CELLS = 16
BLOCK = (1, 2, 4, 1)  # transform, noise, network, attack_depth


def files(store: Path) -> int:
    return sum(1 for p in store.rglob("*") if p.is_file())


def assert_same_values(a: Path, b: Path) -> None:
    """Equal data and coordinates (the configs differ only in their store layout)."""
    x, y = xr.open_zarr(a), xr.open_zarr(b)
    assert set(x.variables) == set(y.variables)
    for name in x.variables:
        if name not in TIMINGS:
            np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=name)


@pytest.fixture(scope="module")
def blocked(tmp_path_factory):
    """The blocked config and its uninterrupted 2-worker run."""
    root = tmp_path_factory.mktemp("blocked")
    cfg_path = write_config(root / "blocked.yaml", BLOCKED)
    store = root / "reference.zarr"
    summary = run_sweep(load_config(cfg_path), store, workers=2, progress=False)
    assert summary.computed == N_CELLS and summary.lost == 0
    return cfg_path, store


def test_blocks_are_chunks_with_the_same_numbers(blocked, tmp_path, capsys):
    cfg_path, store = blocked
    ds = xr.open_zarr(store)
    assert ds.attrs["cell_block"] == list(BLOCK)
    assert ds["done"].encoding["chunks"] == BLOCK
    assert ds["rel_error"].encoding["chunks"] == (1, 2, 4, 2, 12)  # + trial, depth
    assert ds["sigma_theory"].encoding["chunks"] == (1, 2, 2)  # problem: point dims only
    assert ds["example_truth"].encoding["chunks"] == (1, 16, 16)  # one example per file
    assert (store / "rel_error" / "c" / "1" / "0" / "0" / "0" / "0").is_file()
    # one cell per file (the config without `store`) gives the same numbers
    plain = tmp_path / "plain.zarr"
    run_sweep(load_config(TINY), plain, workers=1, progress=False)
    assert_same_values(store, plain)
    assert files(store) < files(plain) / 2
    # every done cell verifies against its checksum
    cfg = load_config(cfg_path)
    assert verify_cells(store, make_layout(cfg, store), cells(cfg)).damaged == []
    assert metadata_damage(store, make_layout(cfg, store)) == {}
    from stablesweep.cli import main

    assert main(["status", str(store), "--verify", "--no-config"]) == 0
    out = capsys.readouterr().out
    assert f"files:      {files(store)} (" in out and "blocks of 8 cells (1, 2, 4, 1)" in out


def test_one_worker_and_an_external_scheduler_give_the_same_store(
        blocked, tmp_path, dask_cluster):  # noqa: F811 - the fixture imported above
    cfg_path, reference = blocked
    one = tmp_path / "one.zarr"
    run_sweep(load_config(cfg_path), one, workers=1, progress=False)
    assert_same_store(reference, one)
    external = tmp_path / "external.zarr"
    run_sweep(load_config(cfg_path), external, scheduler=dask_cluster, progress=False)
    assert_same_store(reference, external)


def test_kill_the_client_mid_block_and_resume(blocked, tmp_path):
    """kill -9 of the client (and its workers) while a block is half written: the done
    cells of the block survive, the rerun computes only the others."""
    cfg_path, reference = blocked
    store = tmp_path / "killed.zarr"
    done_at_kill = kill_run_once_done(cfg_path, store, tmp_path, at_least=2, poll=0.01)
    assert 2 <= done_at_kill < N_CELLS
    summary = run_sweep(load_config(cfg_path), store, workers=1, progress=False)
    assert summary.skipped == done_at_kill
    assert summary.computed == N_CELLS - done_at_kill and summary.lost == 0
    assert_same_store(reference, store)


KILLER = '''
import os, pathlib, signal

from stablesweep.networks import build_network


def killer_fista(A, depth, log, kill_at):
    """FISTA; inside a Dask worker, the `kill_at`-th build (counted in `log`) kills it."""
    try:
        from distributed import get_worker

        get_worker()
    except ValueError:  # in the client (probing the network's depths)
        return build_network("fista", A, depth=depth)
    path = pathlib.Path(log)
    with path.open("a") as f:
        f.write("build\\n")
    if len(path.read_text().splitlines()) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return build_network("fista", A, depth=depth)
'''


def test_a_worker_killed_mid_block_loses_no_finished_cell(tmp_path, monkeypatch):
    """The worker dies (kill -9) on the 4th cell of a 6-cell block; the retried task
    skips the 3 cells already written and computes the other 3: 7 builds in all."""
    (tmp_path / "killer_net.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers inherit sys.path
    log = tmp_path / "builds.log"
    base = {k: v for k, v in TINY.items() if k not in ("attack", "examples")}
    cfg = load_config({
        **base, "trials": 1, "store": {"cells_per_block": 6},
        "problem": {**TINY["problem"], "transform": "walsh",
                    "noise": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]},
        "networks": [{"name": "custom", "factory": "killer_net:killer_fista", "depth": 4,
                      "params": {"log": str(log), "kill_at": 4}}],
    })
    store = tmp_path / "s.zarr"
    summary = run_sweep(cfg, store, workers=1, progress=False)
    assert summary.computed == 6 and summary.lost == 0
    assert len(log.read_text().splitlines()) == 7
    ds = xr.open_zarr(store)
    assert (ds["status"] == "ok").all() and (ds["done"] == 1).all()
    assert verify_cells(store, make_layout(cfg, store), cells(cfg)).damaged == []


def test_a_damaged_chunk_recomputes_its_block(blocked, tmp_path):
    """A deleted chunk file of rel_error: every cell of that block fails its checksum
    and is computed again; the store then equals the undamaged one."""
    cfg_path, reference = blocked
    cfg = load_config(cfg_path)
    store = tmp_path / "damaged.zarr"
    shutil.copytree(reference, store)
    chunks = sorted(p for p in (store / "rel_error" / "c").rglob("*") if p.is_file())
    assert len(chunks) == 2  # one per transform
    chunks[1].unlink()
    # the cells of the second transform with a rel_error to lose (the network that
    # raises in every trial has none: its all-NaN values still match their checksum)
    values = xr.open_zarr(reference)["rel_error"].values
    hit = sorted(c.key for c in cells(cfg)
                 if c.point[0] == 1 and not np.isnan(values[c.index[:3]]).all())
    assert len(hit) >= 4
    report = verify_cells(store, make_layout(cfg, store), cells(cfg))
    assert sorted(c.key for c, _ in report.damaged) == hit
    summary = run_sweep(cfg, store, workers=2, progress=False)
    assert summary.repaired == len(hit) and summary.computed == len(hit)
    assert_same_store(reference, store)


def test_run_block_skips_done_cells_and_reports(blocked, tmp_path):
    """A task run again on a finished block (a retry) computes nothing."""
    cfg_path, reference = blocked
    cfg = load_config(cfg_path)
    store = tmp_path / "again.zarr"
    shutil.copytree(reference, store)
    layout = make_layout(cfg, store)
    block = [c for c in cells(cfg) if layout.block_of(c) == (0, 0, 0, 0)]
    assert len(block) == 8
    report = run_block(store, layout, block, "test")
    assert (report.done, report.skipped, report.errors) == (0, 8, [])
    assert_same_store(reference, store)


def test_a_store_from_before_blocks_keeps_its_layout(tmp_path):
    """A config whose new stores get blocks (128 cells: more than 2 x MIN_TASKS), with
    a store written the old way (one cell per file): its metadata is not taken for
    damage, the run resumes it in its own layout, and the numbers equal a new store's."""
    base = {k: v for k, v in TINY.items() if k not in ("attack", "examples")}
    cfg = load_config({
        **base, "trials": 1,
        "problem": {**TINY["problem"], "transform": "walsh",
                    "noise": [round(0.001 * k, 3) for k in range(128)]},
        "networks": [{"name": "fista", "depth": 3, "params": {"lam": 1.0e-3}}],
    })
    new = make_layout(cfg)
    assert new.blocked and math.prod(new.cell_block) == 2
    old = tmp_path / "old.zarr"
    create_store(old, replace(new, block=()))  # what the previous version wrote
    assert not make_layout(cfg, old).blocked
    assert metadata_damage(old, make_layout(cfg, old)) == {}
    summary = run_sweep(cfg, old, workers=2, progress=False)
    assert summary.computed == 128 and summary.lost == 0 and summary.repaired == 0
    assert xr.open_zarr(old)["rel_error"].encoding["chunks"][0] == 1
    fresh = tmp_path / "new.zarr"
    run_sweep(cfg, fresh, workers=2, progress=False)
    assert xr.open_zarr(fresh)["rel_error"].encoding["chunks"][0] == 2
    assert_same_values(old, fresh)


@pytest.mark.parametrize(("shape", "arrays", "expected"), [
    ((2, 2, 4, 1), 20, (1, 1, 1, 1)),          # 16 cells: one per block
    ((10, 10, 10, 10), 12, (1, 1, 10, 10)),     # 10,000 cells: >= 5 x 12 per block
    ((2, 50, 50, 2), 12, (1, 1, 50, 2)),        # the benchmark's 10,000 cells
    ((100, 10, 5, 2), 24, (2, 10, 5, 2)),       # 10,000 cells, attack: >= 5 x 24 per block
    ((50, 3), 12, (1, 3)),                       # 150 cells: small blocks
])
def test_cell_block_rule(shape, arrays, expected):
    """On average at least the target per block (edge blocks included): at most 0.2
    files per cell on large sweeps."""
    cfg = load_config(TINY)
    block = cell_block(cfg, shape, arrays)
    assert block == expected
    total = math.prod(shape)
    blocks = math.prod(math.ceil(n / b) for n, b in zip(shape, block, strict=True))
    target = max(1, min(math.ceil(arrays / FILES_PER_CELL), total // MIN_TASKS))
    assert total / blocks >= target
    if total >= MIN_TASKS * arrays / FILES_PER_CELL:  # large sweeps: few files
        assert arrays * blocks / total <= FILES_PER_CELL
    assert cell_block(replace(cfg, cells_per_block=7), shape, arrays) == cell_block(
        replace(cfg, cells_per_block=7), shape, 1)


def test_cells_per_block_is_validated():
    from stablesweep.sweep import ConfigError

    for bad in (0, -3, 2.5, "many"):
        with pytest.raises(ConfigError, match=r"store\.cells_per_block"):
            load_config({**TINY, "store": {"cells_per_block": bad}})
    with pytest.raises(ConfigError, match=r"store"):
        load_config({**TINY, "store": {"cells": 3}})


def test_a_block_split_over_several_tasks_writes_in_turns(blocked, tmp_path):
    """Blocks of 8 cells split into tasks of 1 cell on 2 workers: the tasks of a block
    write under its Dask lock, and the store equals the one-task-per-block run."""
    cfg_path, reference = blocked
    store = tmp_path / "split.zarr"
    summary = run_sweep(load_config(cfg_path), store, workers=2, progress=False,
                        cells_per_task=1)
    assert summary.computed == N_CELLS and summary.lost == 0
    assert_same_store(reference, store)


@pytest.mark.parametrize(("pending", "workers", "expected"), [
    (1000, 2, 16),    # whole blocks (16 cells) still give 4 tasks per worker
    (100_000, 500, 16),
    (384, 500, 1),    # few cells, many workers: one cell per task
    (10_000, 500, 5),
])
def test_task_size(pending, workers, expected):
    from stablesweep.sweep.run.execute import task_size

    layout = replace(make_layout(load_config(TINY)), block=(1, 1, 16, 1))
    assert task_size(pending, workers, layout) == expected
