"""Figures fit for a paper (issue 12) and the equal-budget figures (issue 15): properties
read back from the matplotlib objects and recomputed independently from the stores."""

from __future__ import annotations

import io

import matplotlib.colors as mcolors
import matplotlib.figure
import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar
from matplotlib.lines import Line2D
from matplotlib.text import Text
from test_figures_data import AMP, FLOOR, LEVELS, OWN_DEPTH, SIGMA, extended_sweep, worst_case_store

from stablesweep.analysis import analyse
from stablesweep.figures import (
    FIGURES,
    attack_convergence,
    error_vs_depth,
    error_vs_noise,
    figure_names,
    make_figures,
    opt_error_vs_depth,
    stability_panel,
    worst_case_amplification,
    worst_case_errors,
)
from stablesweep.figures.common import OKABE_ITO, network_styles, style

CELL = {"scheme": [0], "rate": [1], "sparsity": [0]}


@pytest.fixture(scope="module")
def sweep() -> xr.Dataset:
    return extended_sweep().isel(CELL)


@pytest.fixture(scope="module")
def fits(sweep) -> xr.Dataset:
    return analyse(sweep, n_boot=5, threshold=1e-2)


@pytest.fixture(scope="module")
def wc() -> xr.Dataset:
    return worst_case_store()


@pytest.fixture(scope="module")
def wc_fits(wc) -> xr.Dataset:
    return analyse(wc, n_boot=0)


def _draw(fig) -> None:
    with style():
        fig.savefig(io.BytesIO(), format="png")


def _all_figures(sweep, fits, wc, wc_fits) -> list[tuple[str, object]]:
    """(name, figure) of every figure of both stores."""
    out = []
    for data, product in ((sweep, fits), (wc, wc_fits)):
        for draw in FIGURES.values():
            out += list(draw(data, product).items())
    return out


def _data_lines(ax) -> list[Line2D]:
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_every_type_is_drawn_and_listed_without_drawing(sweep, fits, wc, wc_fits, tmp_path,
                                                        monkeypatch):
    drawn = _all_figures(sweep, fits, wc, wc_fits)
    drawn = [name for name, _ in drawn]
    assert {name.split("__")[0] for name in drawn} == set(FIGURES)

    def no_figure(*args, **kwargs):
        raise AssertionError("figure_names created a figure")

    monkeypatch.setattr(matplotlib.figure.Figure, "__init__", no_figure)
    listed = figure_names(sweep, fits) + figure_names(wc, wc_fits)
    monkeypatch.undo()
    assert sorted(listed) == sorted(drawn)
    # make_figures writes exactly the listed names.
    paths = make_figures(wc, wc_fits, tmp_path, formats=("png",))
    assert [p.stem for p in paths] == figure_names(wc, wc_fits)


def test_no_sentinel_or_placeholder_units_reach_the_reader(sweep, fits, wc, wc_fits):
    for name, fig in _all_figures(sweep, fits, wc, wc_fits):
        with style():
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
        renderer = canvas.get_renderer()
        texts = [fig.get_suptitle()] + [
            t for ax in fig.axes for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())]
        texts += [t.get_text() for leg in fig.legends + [ax.get_legend() for ax in fig.axes
                                                          if ax.get_legend()]
                  for t in leg.get_texts()]
        assert all(t.get_fontsize() >= 9 for t in fig.findobj(Text) if t.get_text())
        for text in texts:
            assert "1/(1)" not in text and "[none]" not in text, (name, text)
            assert "-1" not in text and "−1" not in text, (name, text)
        for ax in fig.axes:
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                assert "none" not in label and "1/(1)" not in label, (name, label)
            # Tick labels on log axes never overlap (drawn ones, inside the view).
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_scale() != "log":
                    continue
                lo, hi = sorted(axis.get_view_interval())
                ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
                boxes = [t.label1.get_window_extent(renderer) for t in ticks
                         if t.label1.get_visible() and t.label1.get_text()
                         and lo <= t.get_loc() <= hi]
                for i, a in enumerate(boxes):
                    for b in boxes[i + 1:]:
                        assert not a.overlaps(b), (name, axis.axis_name)
                assert len(boxes) >= 2, (name, axis.axis_name)


def test_series_use_the_palette_and_one_style_per_network(sweep, fits, wc, wc_fits):
    palette = {mcolors.to_hex(c) for c in OKABE_ITO}
    seen: dict[str, tuple] = {}
    for name, fig in _all_figures(sweep, fits, wc, wc_fits):
        if name.startswith(("phase_transition", "stability_panel")):
            continue
        for ax in fig.axes:
            for line in _data_lines(ax):
                label = line.get_label()
                if "theory" in label or not np.size(line.get_xdata()):
                    continue
                assert mcolors.to_hex(line.get_color()) in palette, (name, label)
                net = label.split(",")[0].split(":")[0]
                if net in ("ergodic", "firenet", "unet", "fista") and label == net:
                    key = (mcolors.to_hex(line.get_color()), line.get_marker())
                    assert seen.setdefault(net, key) == key, (name, net)  # same everywhere
    assert len(set(seen.values())) == len(seen) == 4
    assert len({k[1] for k in seen.values()}) == 4  # distinct markers
    # Distinct dash patterns too (greyscale), for the built-ins and any other name.
    dashes = [str(v["linestyle"]) for v in network_styles([*seen, "custom-a"]).values()]
    assert len(set(dashes)) == len(dashes) == 5
    # Built-ins keep their slot whatever else a store holds.
    assert network_styles(["firenet"])["firenet"] == network_styles(
        ["unet", "firenet", "zzz"])["firenet"]


def test_theory_line_is_relative(sweep, fits):
    figs = error_vs_depth(sweep, fits)
    for labels, fig in zip(sweep["noise"].values, figs.values(), strict=True):
        expected = float((sweep["sigma_theory"] / sweep["signal_norm"]).mean())
        np.testing.assert_allclose(
            float(fits["eps_theory_rel"].sel(noise=labels).mean()), expected, rtol=1e-12)
        for ax in fig.axes:
            (theory,) = [line for line in ax.get_lines() if "theory" in line.get_label()]
            np.testing.assert_allclose(theory.get_ydata(), expected, rtol=1e-12)
            assert "relative" in theory.get_label()
            assert "relative error" in ax.get_ylabel()
            assert ax.get_xlabel() == "depth n (iterations)"
    # Without fits the store's σ/‖x‖ gives the same line; an absolute σ alone draws none.
    (fig,) = error_vs_depth(sweep.isel(noise=[0])).values()
    (theory,) = [line for line in fig.axes[0].get_lines() if "theory" in line.get_label()]
    np.testing.assert_allclose(theory.get_ydata(), expected, rtol=1e-12)
    (bare,) = error_vs_depth(sweep.isel(noise=[0]).drop_vars("signal_norm")).values()
    assert not [line for line in bare.axes[0].get_lines() if "theory" in line.get_label()]


def test_fit_lines_are_styled_like_their_data(sweep, fits):
    (fig,) = error_vs_depth(sweep.isel(noise=[0]), fits.isel(noise=[0])).values()
    ax = fig.axes[0]
    for net in ("ergodic", "firenet"):
        (data,) = [line for line in ax.get_lines() if line.get_label() == net]
        (fit,) = [line for line in ax.get_lines() if line.get_label().startswith(f"{net}: fit")]
        assert fit.get_color() == data.get_color()
        assert fit.get_linestyle() == data.get_linestyle()
        assert fit.get_linewidth() < data.get_linewidth()
        assert fit.get_marker() in ("None", "", None)
    # The legend sits outside the axes (a figure legend below them).
    assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)


def _opt_fits(sweep, flag: str) -> xr.Dataset:
    """A fits product with known opt fits: ergodic C/n^γ, firenet C e^{−cn}."""
    nets = list(sweep["network"].values)
    models = ["power_law", "exponential"]
    return xr.Dataset(
        {
            "opt_model": ("network", ["power_law", "exponential"]),
            "opt_C": (("network", "fit_model"), [[0.3, np.nan], [np.nan, 0.6]]),
            "opt_gamma": ("network", [1.0, np.nan]),
            "opt_c": ("network", [np.nan, 0.1]),
            "opt_fit_flag": (("network", "fit_model"), [["", ""], ["", flag]]),
            "recovery_floor": ("network", [FLOOR, FLOOR]),
        },
        coords={"network": nets, "fit_model": models},
    )


def test_opt_error_figure_draws_the_fit_or_says_why_not(sweep):
    cell = sweep.isel(noise=[0])
    (fig,) = opt_error_vs_depth(cell, _opt_fits(cell, "")).values()
    ax = fig.axes[0]
    (fit,) = [line for line in ax.get_lines() if line.get_label().startswith("ergodic: fit")]
    np.testing.assert_allclose(fit.get_ydata(), 0.3 / fit.get_xdata(), rtol=1e-10)
    (fit,) = [line for line in ax.get_lines() if line.get_label().startswith("firenet: fit")]
    np.testing.assert_allclose(fit.get_ydata(), 0.6 * np.exp(-0.1 * fit.get_xdata()), rtol=1e-10)
    floors = [line for line in ax.get_lines() if "recovery floor" in line.get_label()]
    assert len(floors) == 1  # both networks solve one problem: one shared floor line
    np.testing.assert_allclose(floors[0].get_ydata(), FLOOR)
    # different floors get a line each, in the network's colour, named by network
    other = _opt_fits(cell, "").assign(recovery_floor=("network", [FLOOR, 2 * FLOOR]))
    (fig2,) = opt_error_vs_depth(cell, other).values()
    floors = [line for line in fig2.axes[0].get_lines() if "recovery floor" in line.get_label()]
    assert sorted(float(line.get_ydata()[0]) for line in floors) == [FLOOR, 2 * FLOOR]
    assert {line.get_label().rsplit("(", 1)[-1] for line in floors} == {"ergodic)", "firenet)"}
    assert "optimisation error" in ax.get_ylabel()

    (flagged,) = opt_error_vs_depth(cell, _opt_fits(cell, "floor above data")).values()
    ax = flagged.axes[0]
    (entry,) = [line for line in ax.get_lines() if line.get_label().startswith("firenet: fit")]
    assert entry.get_label() == "firenet: fit flagged: floor above data"
    assert np.size(entry.get_xdata()) == 0  # in the legend only, nothing drawn
    texts = [t.get_text() for t in flagged.legends[0].get_texts()]
    assert "firenet: fit flagged: floor above data" in texts


def test_noise_figure_is_against_the_swept_relative_noise(sweep, fits):
    (fig,) = error_vs_noise(sweep, fits).values()
    ax = fig.axes[0]
    for container in ax.containers:
        np.testing.assert_array_equal(container.lines[0].get_xdata(), sweep["noise"].values)
    assert len(ax.containers) == 2
    assert "relative noise" in ax.get_xlabel()
    secondary = [child for child in ax.get_children() if hasattr(child, "get_xlabel")
                 and "absolute" in str(child.get_xlabel())]
    assert secondary  # the absolute ‖e‖ on a secondary axis


def test_worst_case_errors_are_relative_and_per_network(wc, wc_fits):
    for use in (wc_fits, None):
        (fig,) = worst_case_errors(wc, use).values()
        axes = [ax for ax in fig.axes if ax.axison]
        assert [ax.get_title() for ax in axes] == list(AMP)
        norm = wc["signal_norm"]
        for ax, net in zip(axes, AMP, strict=True):
            worst, rand = _data_lines(ax)
            expected = (wc["worst_case_error"] / norm).sel(network=net).mean("trial")
            np.testing.assert_allclose(worst.get_ydata(), expected.values.ravel(), rtol=1e-12)
            expected = (wc["random_noise_error"] / norm).sel(network=net).mean("trial")
            np.testing.assert_allclose(rand.get_ydata(), expected.values.ravel(), rtol=1e-12)
            np.testing.assert_array_equal(worst.get_xdata(), LEVELS)
            assert ax.get_xscale() == "log"
            assert worst.get_label() == "worst case"


def test_worst_case_amplification_on_one_axis_with_sigma_max(wc, wc_fits):
    (fig,) = worst_case_amplification(wc, wc_fits).values()
    (ax,) = fig.axes
    for net, amp in AMP.items():
        (line,) = [line for line in ax.get_lines() if line.get_label() == net]
        np.testing.assert_allclose(line.get_ydata(), amp * (1 + 3 / 20), rtol=1e-12)
        np.testing.assert_array_equal(line.get_xdata(), LEVELS)
        (star,) = [s for s in ax.get_lines() if s.get_marker() == "*"
                   and s.get_color() == line.get_color() and np.size(s.get_xdata())]
        np.testing.assert_allclose(star.get_ydata(), SIGMA[net])
        assert star.get_xdata()[0] < min(LEVELS)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("Jacobian" in t for t in texts)


def test_attack_convergence_per_budget(wc):
    (fig,) = attack_convergence(wc).values()
    axes = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in axes] == [rf"$\varepsilon$ = {e:g}" for e in LEVELS]
    trace = (wc["worst_case_trace"] / wc["signal_norm"]).mean("trial")
    for ax, level in zip(axes, LEVELS, strict=True):
        for net in AMP:
            (line,) = [line for line in ax.get_lines() if line.get_label() == net]
            np.testing.assert_allclose(
                line.get_ydata(), trace.sel(network=net, noise_level=level).values.ravel())
            assert np.all(np.diff(line.get_ydata()) >= 0)  # best so far: never falls
    # The momentum attack's objective when no worst-case trace is stored.
    momentum = wc.drop_vars("worst_case_trace")
    momentum["attack_objective"] = -wc["meas_pert_norm"]
    (fig,) = attack_convergence(momentum).values()
    (ax,) = fig.axes
    assert "Q(r)" in ax.get_ylabel()


def test_own_depth_is_named_not_minus_one(wc, wc_fits):
    (fig,) = FIGURES["amplification"](wc, wc_fits).values()
    left, right = fig.axes[:2]
    labels = [line.get_label() for line in _data_lines(left)]
    assert labels == [f"{n}, own depth (n = {OWN_DEPTH[n]})" for n in AMP]
    xs = sorted(float(line.get_xdata()[0]) for line in right.get_lines())
    assert xs == sorted(OWN_DEPTH.values())
    assert "own attack path" in left.get_title() and "not equal" in fig.get_suptitle()
    assert "/" in left.get_xlabel()  # relative ‖Ar‖


def test_stability_panel_scale_colour_bars_and_difference(wc):
    (fig,) = stability_panel(wc).values()
    _draw(fig)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 2
    truth = wc["example_truth"].values[0]
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    shared, diffs = images[:6], images[6:]
    assert all(im.get_clim() == (truth.min(), truth.max()) for im in shared)
    np.testing.assert_array_equal(shared[0].get_array(), truth)  # x itself, visible
    output = wc["example_output"].values[0]
    for k, im in enumerate(diffs):
        np.testing.assert_allclose(
            im.get_array(), np.abs(wc["example_attacked"].values[0, k] - output))
        assert im.get_clim()[0] == 0.0
    assert sum(isinstance(getattr(ax, "_colorbar", None), Colorbar) for ax in bars) == 2
    assert "own depth (n = 1)" in fig.get_suptitle()
