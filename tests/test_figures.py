"""Tests of stablesweep.figures on the synthetic sweep of tests/test_analysis.py."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import xarray as xr
from matplotlib.text import Text
from test_analysis import KEPT_STEPS, TRUTH, meas_pert_norm_truth, synthetic_sweep
from test_figures_data import extended_sweep

from stablesweep import figures
from stablesweep.analysis import analyse
from stablesweep.figures import (
    FIGURES,
    amplification_curves,
    error_vs_depth,
    error_vs_noise,
    make_figures,
    phase_transition,
    stability_panel,
)
from stablesweep.figures.common import cell_title, save, stem, style

#: Sweep cells kept for the written figures: one scheme, rate and sparsity; both noise levels.
SMALL = {"scheme": [0], "rate": [1], "sparsity": [0]}


@pytest.fixture(scope="module")
def sweep() -> xr.Dataset:
    return synthetic_sweep()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The pipeline's stores: the sweep in Zarr, its analysis in netCDF, both read back."""
    root = tmp_path_factory.mktemp("results")
    with warnings.catch_warnings():  # fixed-width strings are not in the Zarr v3 spec yet
        warnings.simplefilter("ignore")
        extended_sweep().isel(SMALL).to_zarr(root / "sweep.zarr", mode="w")
        sweep = xr.open_zarr(root / "sweep.zarr")
    analyse(sweep, n_boot=5, threshold=1e-2).to_netcdf(root / "fits.nc")
    with xr.open_dataset(root / "fits.nc") as fits:
        yield sweep, fits.load()


def _forbid(*args, **kwargs):
    raise AssertionError("a figure recomputed an analysis that fits.nc already holds")


def test_make_figures_writes_every_type_from_the_stores(stored, tmp_path, monkeypatch):
    sweep, fits = stored
    # With fits.nc given, nothing is re-analysed: the stored products are drawn.
    monkeypatch.setattr(figures.phase, "recovery_probability", _forbid)
    monkeypatch.setattr(figures.stability, "stability_summary", _forbid)
    paths = make_figures(sweep, fits, tmp_path / "figures")
    stems = sorted({p.stem for p in paths})
    assert stems == sorted([
        "error_vs_depth__transform-fourier_scheme-theory_rate-0.25_sparsity-s4_noise-0",
        "error_vs_depth__transform-fourier_scheme-theory_rate-0.25_sparsity-s4_noise-0.05",
        "opt_error_vs_depth__transform-fourier_scheme-theory_rate-0.25_sparsity-s4_noise-0",
        "opt_error_vs_depth__transform-fourier_scheme-theory_rate-0.25_sparsity-s4_noise-0.05",
        "objective_gap_vs_depth__transform-fourier_scheme-theory_rate-0.25_sparsity-s4_noise-0",
        "objective_gap_vs_depth__transform-fourier_scheme-theory_rate-0.25_sparsity-s4_noise-"
        "0.05",
        "error_vs_noise__transform-fourier_scheme-theory_rate-0.25_sparsity-s4",
        "phase_transition__transform-fourier_noise-0",
        "phase_transition__transform-fourier_noise-0.05",
        "amplification__transform-fourier_scheme-theory_rate-0.25",
        "stability_panel__example-0",
        "stability_panel__example-1",
    ])
    # The worst-case types need a worst-case store (tests/test_figures_paper.py).
    assert {s.split("__")[0] for s in stems} == set(FIGURES) - {
        "worst_case", "worst_case_amplification", "attack_convergence"}
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(
        p.name for p in paths
    )
    for path in paths:
        head = path.read_bytes()[:8]
        assert path.stat().st_size > 1000
        assert head.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF"), path.name
    assert len(paths) == 2 * len(stems)


def test_files_are_reproducible(stored, tmp_path):
    sweep, fits = stored
    paths = []
    for name in ("a", "b"):
        (fig,) = phase_transition(sweep.isel(noise=[0]), fits.isel(noise=[0])).values()
        with style():
            paths.append(save(fig, tmp_path, name))
    first, second = paths
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.suffix


def _texts(fig) -> list[Text]:
    fig.savefig(io.BytesIO(), format="png")  # draw: ticks and layout exist
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


STORED_TYPES = [n for n in FIGURES if not n.startswith(("worst_case", "attack_"))]


@pytest.mark.parametrize("name", STORED_TYPES)
def test_figures_are_labelled_and_readable(stored, name):
    sweep, fits = stored
    figs = FIGURES[name](sweep, fits)
    assert figs
    fig = next(iter(figs.values()))
    with style():
        texts = _texts(fig)
    assert min(t.get_fontsize() for t in texts) >= 9
    assert fig.get_suptitle()
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or not ax.axison:
            continue
        assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())


def test_error_vs_depth_overlays_the_selected_fit(sweep):
    cell = sweep.isel(scheme=[0], rate=[1], sparsity=[0], noise=[0])
    fits = analyse(cell, n_boot=0)
    (fig,) = error_vs_depth(cell, fits).values()
    log_ax = fig.axes[0]
    fitted = [line for line in log_ax.get_lines() if "fit" in line.get_label()]
    assert len(fitted) == len(TRUTH)
    assert any("gamma" in line.get_label() for line in fitted)  # ergodic: power law
    assert any("cn" in line.get_label() for line in fitted)  # firenet: exponential
    (bare,) = error_vs_depth(cell).values()
    assert not [line for line in bare.axes[0].get_lines() if "fit" in line.get_label()]


def test_phase_transition_puts_schemes_side_by_side(sweep):
    figs = phase_transition(sweep.isel(noise=[0]), threshold=1e-2)
    (fig,) = figs.values()
    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(maps) == len(TRUTH) * sweep.sizes["scheme"]
    assert [ax.get_title() for ax in maps[:2]] == ["ergodic — theory", "ergodic — uniform"]
    mesh = maps[0].collections[0]
    # Rows: sparsity s4, s8; columns: rate 0.1, 0.25 (ergodic, theory, noise 0).
    np.testing.assert_allclose(mesh.get_array().reshape(2, 2), [[0.5, 1.0], [0.0, 0.75]])


def test_stability_panel_shows_perturbations_and_reconstructions(sweep):
    figs = stability_panel(sweep)
    assert sorted(figs) == ["stability_panel__example-0", "stability_panel__example-1"]
    fig = figs["stability_panel__example-1"]
    assert fig.get_suptitle().startswith("Stability test — firenet\n")
    assert "attack_depth = 160" in fig.get_suptitle()
    # Columns: x, then x + r_j at the kept steps, ‖r_j‖ looked up in pert_norm.
    titles = [ax.get_title() for ax in fig.axes]
    norms = [2 * meas_pert_norm_truth(step) for step in KEPT_STEPS]
    assert titles[:4] == ["$x$"] + [
        f"$x + r_{{{j}}}$\n$\\|r_{{{j}}}\\|$ = {n:.3g}" for j, n in enumerate(norms, 1)
    ]
    assert titles[4:6] == ["$\\varphi(y)$", "$\\varphi(y + A r_{1})$"]
    image = fig.axes[7].get_images()[0]
    assert image.get_cmap().name == "gray"
    # One grey scale fixed to the true image's range; brighter pixels are clipped.
    truth = sweep["example_truth"].values[1]
    assert image.get_clim() == (truth.min(), truth.max())
    np.testing.assert_allclose(
        image.get_array(),
        np.clip(np.abs(sweep["example_attacked"].values[1, 2]), truth.min(), truth.max()))
    # The names of the original issue work too.
    renamed = sweep.rename(
        example_perturbed="example_perturbation", example_attacked="example_reconstruction"
    )
    assert sorted(stability_panel(renamed)) == sorted(figs)


def test_figures_skip_what_the_dataset_lacks(sweep):
    errors_only = sweep[["rel_error"]]
    assert amplification_curves(errors_only) == {}
    assert stability_panel(errors_only) == {}
    assert error_vs_noise(sweep.isel(noise=[0])) == {}
    assert phase_transition(sweep.isel(rate=0, drop=True)) == {}
    assert error_vs_depth(sweep[["amplification"]]) == {}


def test_file_names_and_titles():
    labels = {"transform": "fourier", "rate": 0.25, "sparsity": "s 4/8"}
    assert stem("error_vs_depth", labels) == (
        "error_vs_depth__transform-fourier_rate-0.25_sparsity-s_4_8"
    )
    assert stem("phase_transition", {}) == "phase_transition"
    assert cell_title(labels, width=30) == "transform = fourier,\nrate = 0.25, sparsity = s 4/8"
