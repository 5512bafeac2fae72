"""docs/analysis_example: the worked analysis runs on a tiny store, so it never rots.

The notebook (docs/analysis_example.ipynb, paired by jupytext with the percent script
docs/analysis_example.py) is executed by nbclient with its store given in
``STABLESWEEP_STORE``; its own checks (the package's figure equals the curves computed
from the raw store, pandas on the exported table equals xarray on the store) run inside.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "docs" / "analysis_example.py"
NOTEBOOK = REPO / "docs" / "analysis_example.ipynb"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_notebook_and_script_are_paired():
    """The .ipynb holds the cells of the .py (rewrite it with
    ``jupytext --to ipynb docs/analysis_example.py``), without outputs."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert _cells(notebook) == _cells(jupytext.read(SCRIPT))
    assert not any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)


def test_notebook_runs_on_a_tiny_store(tmp_path, monkeypatch):
    from test_export import make_store

    store = make_store(tmp_path / "sweep.zarr")
    monkeypatch.setenv("STABLESWEEP_STORE", str(store))
    monkeypatch.setenv("STABLESWEEP_OUTDIR", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback
    seconds = time.perf_counter() - start
    outputs = "\n".join(o.get("text", "") for c in notebook.cells
                        for o in c.get("outputs", []) if c.cell_type == "code")
    assert "the package's curves equal the means computed here" in outputs
    assert "pandas and xarray agree" in outputs
    assert (tmp_path / "sweep.parquet").is_file()
    assert seconds < 30, f"the example took {seconds:.1f} s"
