"""Tests for stablesweep.sampling: dyadic bands, M_F / M_B, budgets and masks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stablesweep.sampling import (
    M_B,
    M_F,
    band_multi_index,
    band_sizes,
    budgets,
    dyadic_bands,
    log_factor,
    multilevel_mask,
)

TRANSFORMS = ["fourier", "walsh"]


def _band_of_frequency(n: int, freq: int) -> int:
    """1-based Fourier band of a frequency (natural index freq mod n), 1-D."""
    return int(dyadic_bands((n,), "fourier")[freq % n]) + 1


# --------------------------------------------------------------------------- bands


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("n", [2, 4, 16, 64])
def test_1d_band_sizes(transform, n):
    r = int(math.log2(n))
    assert band_sizes((n,), transform).tolist() == [2] + [2 ** (k - 1) for k in range(2, r + 1)]


def test_fourier_1d_membership_hand_checked():
    # n = 16, r = 4: B1 = {0, 1}, B2 = {-1} u {2}, B3 = {-3, -2} u {3, 4},
    # B4 = {-7, ..., -4} u {5, ..., 8}  (8 = n/2 is stored at index 8; -8 does not occur)
    expected = {0: 1, 1: 1, -1: 2, 2: 2, -2: 3, -3: 3, 3: 3, 4: 3, -4: 4, -7: 4, 5: 4, 8: 4}
    for freq, band in expected.items():
        assert _band_of_frequency(16, freq) == band, freq
    # natural order: index i <-> frequency i (i <= 8) or i - 16
    np.testing.assert_array_equal(
        dyadic_bands((16,), "fourier") + 1, [1, 1, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2]
    )


def test_walsh_1d_membership():
    # sequency blocks [2^{k-1}, 2^k), B1 = {0, 1}
    np.testing.assert_array_equal(
        dyadic_bands((16,), "walsh") + 1, [1, 1, 2, 2, 3, 3, 3, 3] + [4] * 8
    )


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("n", [4, 16])
def test_2d_bands_are_products_and_partition(transform, n):
    r = int(math.log2(n))
    labels = dyadic_bands((n, n), transform)
    k1 = dyadic_bands((n,), transform)
    np.testing.assert_array_equal(labels, k1[:, None] * r + k1[None, :])
    sizes = band_sizes((n, n), transform)
    sizes1 = band_sizes((n,), transform)
    assert sizes.sum() == n * n and np.all(sizes > 0)
    assert set(np.unique(labels)) == set(range(r * r))
    for label in range(r * r):
        ka, kb = band_multi_index(label, r, 2)
        assert sizes[label] == sizes1[ka - 1] * sizes1[kb - 1]


def test_band_multi_index_roundtrip():
    r, d = 5, 2
    for label in range(r**d):
        k = band_multi_index(label, r, d)
        assert sum((ki - 1) * r ** (d - 1 - i) for i, ki in enumerate(k)) == label
        assert all(1 <= ki <= r for ki in k)
    assert band_multi_index(3, 4, 1) == (4,)
    assert band_multi_index(7, 3, 2) == (3, 2)  # 7 = (3-1)*3 + (2-1)
    with pytest.raises(ValueError, match=r"label 9 out of range; expected an integer in 0\.\.8"):
        band_multi_index(9, 3, 2)


# --------------------------------------------------------------------------- M_F, M_B


def test_M_F_hand_cases():
    s = [1, 2, 3]
    # 1-D, k = 2 (K = 2):  l=1: 1*2^-1 = 0.5;  l=2: 2*2^0 = 2;
    #                      l=3 > K: 3 * 2^{-2(3-2)} * 2^-1 = 3/8 = 0.375   -> 2.875
    assert M_F(s, 2) == pytest.approx(2.875)
    # 1-D, k = 1 (K = 1):  l=1: 1;  l=2: 2 * 2^-2 * 2^-1 = 0.25;
    #                      l=3: 3 * 2^-4 * 2^-2 = 3/64             -> 1.296875
    assert M_F(s, 1) == pytest.approx(1 + 0.25 + 3 / 64)
    # 2-D, k = (1, 3) (K = 3): l=1: 1 * 2^0 * 2^-2 = 0.25;  l=2: 2 * 2^-1 * 2^-1 = 0.5;
    #                          l=3: 3 * 2^-2 * 2^0 = 0.75            -> 1.5
    assert M_F(s, (1, 3)) == pytest.approx(1.5)
    # 2-D, k = (1, 1) (K = 1): l=1: 1;  l=2: 2 * 2^-2 * 2^-1 * 2^-1 = 0.125;
    #                          l=3: 3 * 2^-4 * 2^-2 * 2^-2 = 3/256    -> 1.13671875
    assert M_F(s, (1, 1)) == pytest.approx(1 + 0.125 + 3 / 256)
    assert M_F(s, (3, 1)) == M_F(s, (1, 3))


def test_M_B_hand_cases():
    s = [1, 2, 3]
    assert M_B(s, 2) == 2  # s_2 * 2^0
    # k = (1, 3): K = 3, s_3 * 2^-|1-3| * 2^0 = 3/4
    assert M_B(s, (1, 3)) == pytest.approx(0.75)
    # k = (2, 3): s_3 * 2^-1 = 1.5
    assert M_B(s, (2, 3)) == pytest.approx(1.5)
    assert M_B(s, (3, 3)) == 3


def test_M_errors():
    with pytest.raises(ValueError, match=r"k 4 out of range; expected band indices in 1\.\.3"):
        M_F([1, 2, 3], 4)
    with pytest.raises(ValueError, match=r"k \(0, 1\) out of range"):
        M_B([1, 2, 3], (0, 1))
    with pytest.raises(ValueError, match="must be finite and non-negative"):
        M_F([1, -2, 3], 1)


def test_log_factor():
    # d r^3 log(m) log^2(r s) + log(1/eps)
    expected = 2 * 4**3 * math.log(100) * math.log(4 * 10) ** 2 + math.log(1 / 0.01)
    assert log_factor(2, 4, 100, 10, 0.01) == pytest.approx(expected)
    assert log_factor(2, 4, 100, [4, 6], 0.01) == pytest.approx(expected)
    with pytest.raises(ValueError, match="eps_p 0 out of range"):
        log_factor(2, 4, 100, 10, 0)


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize(
    ("shape", "m", "s"),
    [
        ((64,), 20, [2, 2, 3, 4, 5, 6]),
        ((64,), 64, [1, 1, 1, 1, 1, 1]),
        ((32, 32), 150, [2, 4, 8, 16, 32]),
        ((32, 32), 1, [2, 4, 8, 16, 32]),
        ((16, 16), 200, [1, 2, 4, 8]),
        ((16, 16), 256, [1, 2, 4, 8]),
    ],
)
def test_theory_budgets_sum_and_caps(transform, shape, m, s):
    b = budgets(shape, transform, m, "theory", s=s)
    caps = band_sizes(shape, transform)
    assert b.dtype == np.int64 and b.shape == caps.shape
    assert b.sum() == m
    assert np.all((b >= 0) & (b <= caps))


def test_theory_budgets_denser_at_coarse_bands_for_constant_s():
    # constant s: M_F(s, k) is largest at the coarse bands, so densities decrease with k
    b = budgets((256,), "fourier", 60, "theory", s=[3] * 8)
    density = b / band_sizes((256,), "fourier")
    assert np.all(np.diff(density) <= 1e-12)
    assert density[0] == 1.0 and density[-1] < 0.2
    # 2-D: the diagonal bands (k, k) get non-increasing density too
    r = 5
    b2 = budgets((32, 32), "fourier", 200, "theory", s=[4] * r)
    dens2 = b2 / band_sizes((32, 32), "fourier")
    diag = [dens2[(k - 1) * r + (k - 1)] for k in range(1, r + 1)]
    assert all(a >= c - 1e-12 for a, c in zip(diag, diag[1:], strict=False))


def test_theory_budgets_proportional_when_no_cap_binds():
    # Walsh 1-D: M_B(s, k) = s_k. With s = [1, 1, 2, 4, 8, 16, 32] (r = 7, caps 2,2,4,...,64)
    # and m = 64 the constant is 1 and no cap binds: m_k = s_k exactly.
    s = [1, 1, 2, 4, 8, 16, 32]
    np.testing.assert_array_equal(budgets((128,), "walsh", 64, "theory", s=s), s)


def test_theory_budgets_zero_weight_bands_filled_last():
    # Walsh, s = [2, 0, 0, 1]: M_B vanishes on bands 2 and 3 (sizes 2 and 4).
    s = [2, 0, 0, 1]
    assert budgets((16,), "walsh", 10, "theory", s=s).tolist() == [2, 0, 0, 8]
    # bands 1 and 4 are full (10 samples); the other 2 go 2:4 -> 0.67, 1.33 -> [1, 1]
    assert budgets((16,), "walsh", 12, "theory", s=s).tolist() == [2, 1, 1, 8]
    assert budgets((16,), "walsh", 16, "theory", s=s).tolist() == [2, 2, 4, 8]
    # fewer samples than the positive bands can take: zero-weight bands get nothing
    assert budgets((16,), "walsh", 6, "theory", s=s)[1:3].tolist() == [0, 0]


@settings(max_examples=60, deadline=None)
@given(
    transform=st.sampled_from(TRANSFORMS),
    r=st.integers(1, 5),
    d=st.integers(1, 2),
    data=st.data(),
)
def test_theory_budgets_property(transform, r, d, data):
    n = 2**r
    N = n**d
    m = data.draw(st.integers(1, N), label="m")
    s = data.draw(st.lists(st.integers(0, 20), min_size=r, max_size=r), label="s")
    if sum(s) == 0:
        s[0] = 1
    shape = (n,) * d
    b = budgets(shape, transform, m, "theory", s=s)
    caps = band_sizes(shape, transform)
    assert b.sum() == m and np.all((b >= 0) & (b <= caps))


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize(("shape", "m"), [((64,), 23), ((32, 32), 300), ((16, 16), 1)])
def test_uniform_budgets_equal_density(transform, shape, m):
    b = budgets(shape, transform, m, "uniform")
    caps = band_sizes(shape, transform)
    N = int(np.prod(shape))
    assert b.sum() == m and np.all(b <= caps)
    assert np.all(np.abs(b - m * caps / N) < 1)


def test_explicit_budgets_flat_and_nested():
    caps = band_sizes((8, 8), "fourier")  # r = 3: [4, 4, 8, 4, 4, 8, 8, 8, 16]
    explicit = [4, 2, 1, 2, 3, 0, 1, 0, 5]
    np.testing.assert_array_equal(budgets((8, 8), "fourier", 18, explicit), explicit)
    np.testing.assert_array_equal(
        budgets((8, 8), "fourier", None, np.reshape(explicit, (3, 3))), explicit
    )
    np.testing.assert_array_equal(budgets((8, 8), "walsh", 64, caps), caps)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (((48,), "fourier", 10, "uniform"), {}, "resolution 48 is not a power of two"),
        (
            ((16,), "fouier", 10, "uniform"),
            {},
            "unknown transform 'fouier'; expected one of: fourier, walsh",
        ),
        (((16,), "fourier", 17, "uniform"), {}, r"m 17 out of range; expected 1 <= m <= N = 16"),
        (((16,), "fourier", 0, "uniform"), {}, "m 0 out of range"),
        (
            ((16,), "fourier", 10, "random"),
            {},
            "unknown scheme 'random'; expected one of: theory, uniform",
        ),
        (((16,), "fourier", 10, "theory"), {}, "scheme 'theory' needs the local sparsities s"),
        (
            ((16,), "fourier", 10, "theory"),
            {"s": [1, 2, 3, 4, 5]},
            "s has 5 entries but there are 4 levels",
        ),
        (((16,), "walsh", 10, "theory"), {"s": [0, 0, 0, 0]}, "is all zero"),
        (((16,), "fourier", 12, [2, 2, 4, 3]), {}, "budgets sum to 11 but m = 12"),
        (
            ((16,), "fourier", 11, [3, 2, 3, 3]),
            {},
            r"budget 3 for band 1 is larger than the band, which has 2 indices",
        ),
        (
            ((8, 8), "fourier", 11, [0, 0, 0, 0, 0, 0, 0, 0, 17]),
            {},
            r"budget 17 for band \(3, 3\) is larger than the band, which has 16 indices",
        ),
        (((16,), "fourier", 1, [2, -1, 0, 0]), {}, "budget -1 for band 2 is negative"),
        (((16,), "fourier", 4, [2, 2]), {}, r"budgets has shape \(2,\); expected \(4,\)"),
    ],
)
def test_budget_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        budgets(*args, **kwargs)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize(("shape", "m"), [((128,), 40), ((32, 32), 250)])
def test_mask_counts_per_band_and_seeds(transform, shape, m):
    r = int(math.log2(shape[0]))
    b = budgets(shape, transform, m, "theory", s=list(range(1, r + 1)))
    mask = multilevel_mask(shape, transform, b, np.random.default_rng(7))
    assert mask.shape == shape and mask.dtype == bool and mask.sum() == m
    labels = dyadic_bands(shape, transform)
    np.testing.assert_array_equal(np.bincount(labels[mask], minlength=len(b)), b)
    np.testing.assert_array_equal(multilevel_mask(shape, transform, b, 7), mask)
    assert not np.array_equal(multilevel_mask(shape, transform, b, 8), mask)


def test_mask_accepts_nested_budgets_and_full_bands():
    b = budgets((8, 8), "walsh", 64, "uniform")
    assert multilevel_mask((8, 8), "walsh", b.reshape(3, 3), 0).all()
    mask = multilevel_mask((16,), "fourier", [2, 0, 0, 0], 0)
    np.testing.assert_array_equal(np.flatnonzero(mask), [0, 1])  # frequencies 0 and 1


def test_mask_errors():
    with pytest.raises(ValueError, match="budget 5 for band 3 is larger than the band"):
        multilevel_mask((16,), "walsh", [1, 1, 5, 1], 0)
    with pytest.raises(ValueError, match="unknown transform 'dct'"):
        multilevel_mask((16,), "dct", [1, 1, 1, 1], 0)
    with pytest.raises(TypeError, match="rng must be"):
        multilevel_mask((16,), "walsh", [1, 1, 1, 1], "seed")
