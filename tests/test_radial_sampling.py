"""Radial-line Fourier sampling (``stablesweep.sampling.radial_mask``): reference tests.

Independent references: hand-counted masks for 1, 2 and 4 lines (the axes and the
diagonals), the distance of every sampled frequency to its line, conjugate symmetry,
the zero frequency, and the published setting (40 lines at 256² sample 15 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stablesweep.sampling import radial_line_points, radial_mask


def _centred(mask: np.ndarray) -> set[tuple[int, int]]:
    """Sampled frequencies in {-n/2+1, ..., n/2}² (the natural order's frequencies)."""
    n = mask.shape[0]
    idx = np.argwhere(mask)
    freq = np.where(idx > n // 2, idx - n, idx)
    return {(int(a), int(b)) for a, b in freq}


@pytest.mark.parametrize("n", [8, 16, 64])
def test_one_line_is_the_row_frequency_axis(n):
    m = radial_mask((n, n), 1)
    expected = np.zeros((n, n), dtype=bool)
    expected[:, 0] = True
    np.testing.assert_array_equal(m, expected)


@pytest.mark.parametrize("n", [8, 32])
def test_two_lines_are_both_axes(n):
    m = radial_mask((n, n), 2)
    assert int(m.sum()) == 2 * n - 1
    assert m[:, 0].all() and m[0, :].all()


@pytest.mark.parametrize("n", [8, 32, 128])
def test_four_lines_are_axes_and_diagonals(n):
    # axes: 2n - 1; each diagonal adds n indices (n + 1 points, the two ends share the
    # Nyquist index), minus the zero frequency; the diagonals share the corner index.
    m = radial_mask((n, n), 4)
    assert int(m.sum()) == 4 * n - 4
    k = np.arange(n)
    assert m[k, k].all() and m[k, (-k) % n].all()


@pytest.mark.parametrize("n, lines", [(32, 5), (64, 10), (32, 7), (16, 3)])
def test_conjugate_symmetric_and_dc(n, lines):
    m = radial_mask((n, n), lines)
    mirrored = np.roll(np.flip(m, (0, 1)), 1, (0, 1))  # index k -> -k mod n
    np.testing.assert_array_equal(m, mirrored)
    assert m[0, 0]


@pytest.mark.parametrize("n, lines", [(32, 5), (64, 10), (256, 40)])
def test_every_sample_lies_on_one_of_the_lines(n, lines):
    """Line count: each sampled frequency is within half a pixel (along the minor axis)
    of one of the L lines at angles pi l / L, and every line has its n + 1 points."""
    m = radial_mask((n, n), lines)
    pts = np.array(sorted(_centred(m)), dtype=float)
    angles = [math.pi * l / lines for l in range(lines)]
    dist = np.full(len(pts), np.inf)
    for th in angles:
        c, s = math.cos(th), math.sin(th)
        # offset along the minor axis (what rounding may move a point by): <= 1/2
        off = (np.abs(pts[:, 1] - pts[:, 0] * s / c) if abs(c) >= abs(s)
               else np.abs(pts[:, 0] - pts[:, 1] * c / s))
        dist = np.minimum(dist, off)
        line = radial_line_points(n, th)
        assert len(line) == n + 1
        assert m[line[:, 0] % n, line[:, 1] % n].all()
    assert dist.max() <= 0.5 + 1e-12
    # of the lines at 4L equally spaced candidate angles, exactly the L chosen ones lie
    # wholly in the mask: no spare line hides in it
    whole = [j for j in range(4 * lines)
             if m[tuple((radial_line_points(n, math.pi * j / (4 * lines)) % n).T)].all()]
    assert whole == [4 * l for l in range(lines)]


def test_sample_counts_grow_with_lines_and_match_the_published_rate():
    counts = [int(radial_mask((64, 64), L).sum()) for L in range(1, 20)]
    assert all(b > a for a, b in zip(counts, counts[1:], strict=False))
    # Genzel et al. / Gottschling et al.: 40 lines at 256² — 15.0 % of the frequencies
    rate = radial_mask((256, 256), 40).mean()
    assert 0.149 < rate < 0.151
    # the frontier configs keep that rate: 5 lines at 32², 10 at 64²
    assert abs(radial_mask((32, 32), 5).mean() - rate) < 0.002
    assert abs(radial_mask((64, 64), 10).mean() - rate) < 0.002


@pytest.mark.parametrize("kwargs, match", [
    ({"shape": (32,), "lines": 4}, "square 2-D shape"),
    ({"shape": (32, 16), "lines": 4}, "square 2-D shape"),
    ({"shape": (24, 24), "lines": 4}, "power of two"),
    ({"shape": (32, 32), "lines": 0}, "lines = 0"),
    ({"shape": (32, 32), "lines": 2.5}, "lines = 2.5"),
    ({"shape": (32, 32), "lines": 4, "transform": "walsh"}, "transform 'fourier'"),
])
def test_bad_inputs_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        radial_mask(**kwargs)


# --------------------------------------------------------------------------- where it is used

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _training_raw(sampling: dict) -> dict:
    import yaml

    raw = yaml.safe_load((ROOT / "config" / "training" / "unet-64.yaml").read_text())
    raw["problem"]["sampling"] = sampling
    raw.pop("profiles", None)
    return raw


def test_training_configs_take_radial_lines():
    from stablesweep.training.config import parse_training_config
    from stablesweep.training.data import make_mask

    cfg = parse_training_config(_training_raw({"scheme": "radial", "lines": 10}))
    np.testing.assert_array_equal(make_mask(cfg), radial_mask((64, 64), 10))


@pytest.mark.parametrize("sampling, message", [
    ({"scheme": "radial"}, "problem.sampling.lines: missing; scheme 'radial'"),
    ({"scheme": "radial", "lines": 8, "rate": 0.2}, "rate not used by scheme 'radial'"),
    ({"scheme": "uniform", "rate": 0.2, "seed": 1, "lines": 8},
     "problem.sampling.lines: only used by scheme 'radial'"),
])
def test_training_config_radial_errors(sampling, message):
    from stablesweep.training.config import TrainingConfigError, parse_training_config

    with pytest.raises(TrainingConfigError, match=message):
        parse_training_config(_training_raw(sampling))


def test_tradeoff_problems_take_radial_lines():
    from stablesweep.tradeoff.problem import make_operator

    A = make_operator({"transform": "fourier", "resolution": 32, "wavelet": "haar",
                       "sampling": {"scheme": "radial", "lines": 5}})
    np.testing.assert_array_equal(np.asarray(A.mask), radial_mask((32, 32), 5))
    assert A.m == int(radial_mask((32, 32), 5).sum())
