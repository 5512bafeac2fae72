"""Tests for stablesweep.levels: level geometry, weights, sparse sampling, best approximation."""

import numpy as np
import pytest
import pywt
import torch

from stablesweep.levels import (
    as_generator,
    best_approx_error,
    image_geometry,
    level_boundaries,
    level_index,
    level_sizes,
    sample_sparse_in_levels,
    sparsity_weights,
    weight_map,
)

SHAPES_LEVELS = [
    ((2,), None),
    ((16,), None),
    ((16,), 2),
    ((64,), 1),
    ((2, 2), None),
    ((8, 8), None),
    ((16, 16), 3),
    ((32, 32), 1),
]


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(
    ("shape", "levels", "expected"),
    [
        ((8,), None, [2, 4, 8]),  # 1-D full: M_k = 2^k
        ((16,), None, [2, 4, 8, 16]),
        ((16,), 2, [8, 16]),  # level 1 = cA_2 + cD_2 = 4 + 4
        ((16,), 1, [16]),
        ((8, 8), None, [4, 16, 64]),  # 2-D full: M_k = 4^k
        ((16, 16), 2, [64, 256]),  # level 1 = 8x8 coarse block
        ((2, 2), None, [4]),
    ],
)
def test_level_boundaries_hand_cases(shape, levels, expected):
    assert level_boundaries(shape, levels) == expected


@pytest.mark.parametrize(("shape", "levels"), SHAPES_LEVELS)
def test_level_sizes_partition_N_and_match_level_index(shape, levels):
    sizes = level_sizes(shape, levels)
    N = int(np.prod(shape))
    assert sum(sizes) == N and all(sz > 0 for sz in sizes)
    idx = level_index(shape, levels)
    assert idx.shape == shape
    assert idx.min() == 1 and idx.max() == len(sizes)
    assert np.bincount(idx.ravel())[1:].tolist() == sizes


def test_level_sizes_full_1d_are_2_then_powers():
    assert level_sizes((32,)) == [2, 2, 4, 8, 16]
    assert level_sizes((8, 8)) == [4, 12, 48]


@pytest.mark.parametrize(("shape", "levels"), [s for s in SHAPES_LEVELS if s[0][0] >= 8])
def test_level_index_matches_pywavelets_layout(shape, levels):
    # Oracle: fill each coefficient block of a PyWavelets decomposition with its level
    # and lay it out with coeffs_to_array.
    L = levels or int(np.log2(shape[0]))
    x = np.zeros(shape)
    if len(shape) == 1:
        coeffs = pywt.wavedec(x, "haar", mode="periodization", level=L)
        # [cA_L, cD_L, ..., cD_1] -> levels [1, 1, 2, ..., L]
        filled = [np.ones_like(coeffs[0])] + [
            np.full_like(c, j + 1) if j else np.ones_like(c) for j, c in enumerate(coeffs[1:])
        ]
    else:
        coeffs = pywt.wavedec2(x, "haar", mode="periodization", level=L)
        filled = [np.ones_like(coeffs[0])] + [
            tuple(np.full_like(c, j + 1) if j else np.ones_like(c) for c in block)
            for j, block in enumerate(coeffs[1:])
        ]
    arr, _ = pywt.coeffs_to_array(filled)
    np.testing.assert_array_equal(level_index(shape, levels), arr)


def test_level_index_2d_is_max_rule():
    idx = level_index((8, 8))
    assert idx[0, 0] == idx[1, 1] == 1
    assert idx[0, 2] == idx[3, 1] == idx[2, 2] == 2
    assert idx[7, 0] == idx[4, 4] == 3


# --------------------------------------------------------------------------- weights


def test_sparsity_weights_values():
    # s = 1 + 2 + 1 = 4: w = sqrt(4/1), sqrt(4/2), sqrt(4/1)
    np.testing.assert_allclose(sparsity_weights([1, 2, 1]), [2.0, np.sqrt(2.0), 2.0])
    # s_k = 0 gets the weight of s_k = 1, i.e. sqrt(s) = sqrt(9) = 3
    np.testing.assert_allclose(sparsity_weights([0, 4, 5]), [3.0, 1.5, np.sqrt(9 / 5)])


def test_sparsity_weights_errors():
    with pytest.raises(ValueError, match=r"s \[0, 0\] is all zero"):
        sparsity_weights([0, 0])
    with pytest.raises(ValueError, match=r"s\[2\] = -1 \(level 2\) is negative"):
        sparsity_weights([1, -1])
    with pytest.raises(ValueError, match=r"s\[1\] = 1.5 \(level 1\) is not an integer"):
        sparsity_weights([1.5, 1])


@pytest.mark.parametrize(("shape", "s"), [((16,), [1, 1, 2, 3]), ((8, 8), [2, 3, 0])])
def test_weight_map_spreads_level_weights(shape, s):
    wmap = weight_map(shape, s)
    assert wmap.shape == shape and wmap.dtype == torch.float64
    w = sparsity_weights(s)
    idx = level_index(shape)
    for k in range(1, len(s) + 1):
        assert torch.all(wmap[torch.from_numpy(idx == k)] == w[k - 1])
    assert weight_map(shape, s, dtype=torch.float32).dtype == torch.float32


# --------------------------------------------------------------------------- sparse sampling


@pytest.mark.parametrize(
    ("shape", "s", "levels"),
    [((16,), [2, 1, 3, 5], None), ((16, 16), [4, 0, 7, 20], None), ((16, 16), [10, 30], 2)],
)
@pytest.mark.parametrize("complex_", [False, True])
def test_sample_sparse_in_levels_counts_and_reproducibility(shape, s, levels, complex_):
    z = sample_sparse_in_levels(shape, s, np.random.default_rng(3), complex=complex_, levels=levels)
    assert z.shape == shape
    assert z.dtype == (torch.complex128 if complex_ else torch.float64)
    idx = level_index(shape, levels)
    nz = (z != 0).numpy()
    assert [int(nz[idx == k].sum()) for k in range(1, len(s) + 1)] == list(s)
    # an int seed is the same as default_rng(seed); the same seed gives the same array
    z2 = sample_sparse_in_levels(shape, s, 3, complex=complex_, levels=levels)
    assert torch.equal(z, z2)
    z3 = sample_sparse_in_levels(shape, s, 4, complex=complex_, levels=levels)
    assert not torch.equal(z, z3)
    assert best_approx_error(z, s, d=len(shape)) == 0


def test_sample_sparse_in_levels_full_level_and_errors():
    z = sample_sparse_in_levels((8,), [2, 2, 4], 0)
    assert torch.count_nonzero(z) == 8
    with pytest.raises(ValueError, match=r"s\[2\] = 3 is larger than level 2, which has 2"):
        sample_sparse_in_levels((8,), [1, 3, 1], 0)
    with pytest.raises(ValueError, match="s has 2 entries but there are 3 levels"):
        sample_sparse_in_levels((8,), [1, 1], 0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        sample_sparse_in_levels((8,), [1, 1, 1], None)


def test_as_generator_passes_generators_through():
    g = np.random.default_rng(0)
    assert as_generator(g) is g
    assert as_generator(5).integers(1 << 30) == np.random.default_rng(5).integers(1 << 30)


# --------------------------------------------------------------------------- best approximation


def _brute_sigma(z: np.ndarray, s, idx: np.ndarray, w) -> np.ndarray:
    """Direct computation: per batch element and level, sort magnitudes, drop the s_k largest."""
    batch = z.shape[: z.ndim - idx.ndim]
    zf = np.abs(z).reshape(int(np.prod(batch)), -1)
    out = np.zeros(zf.shape[0])
    for b in range(zf.shape[0]):
        for k, sk in enumerate(s, start=1):
            vals = np.sort(zf[b][idx.ravel() == k])[::-1]
            out[b] += w[k - 1] * vals[sk:].sum()
    return out.reshape(batch)


@pytest.mark.parametrize(
    ("zshape", "s", "d"),
    [
        ((5, 16), [1, 1, 2, 3], None),  # batch of 1-D, d inferred (16 != 5)
        ((16,), [2, 0, 1, 4], None),
        ((2, 3, 16, 16), [1, 3, 5, 10], None),  # 2-D full decomposition, d inferred
        ((16, 16), [8, 20], 2),  # partial decomposition: 2 levels
        ((4, 32), [6, 3, 9], None),  # 1-D partial decomposition
    ],
)
@pytest.mark.parametrize("complex_", [False, True])
def test_best_approx_error_matches_brute_force(zshape, s, d, complex_):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(zshape, generator=g, dtype=torch.float64)
    if complex_:
        z = torch.complex(z, torch.randn(zshape, generator=g, dtype=torch.float64))
    got = best_approx_error(z, s, d=d)
    dd = d or (2 if len(zshape) > 1 and zshape[-1] == zshape[-2] else 1)
    shape = zshape[len(zshape) - dd :]
    idx = level_index(shape, len(s))
    expected = _brute_sigma(z.numpy(), s, idx, sparsity_weights(s))
    assert got.shape == zshape[: len(zshape) - dd]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    # explicit weights
    w = [0.5, 1.0, 2.0, 3.0][: len(s)]
    np.testing.assert_allclose(
        best_approx_error(z, s, weights=w, d=d).numpy(),
        _brute_sigma(z.numpy(), s, idx, w),
        rtol=1e-12,
    )


def test_best_approx_error_zero_for_sparse_and_norm_for_s_zero_level():
    z = sample_sparse_in_levels((8, 8), [2, 5, 9], 1)
    assert best_approx_error(z, [2, 5, 9]).item() == 0.0
    assert best_approx_error(z, [3, 12, 48]).item() == 0.0
    # dropping one level's allowance gives that level's weighted l1 norm
    w = sparsity_weights([2, 0, 9])
    level2 = z[torch.from_numpy(level_index((8, 8)) == 2)].abs().sum()
    torch.testing.assert_close(best_approx_error(z, [2, 0, 9]), w[1] * level2)


def test_best_approx_error_is_differentiable():
    z = torch.randn(16, dtype=torch.float64, requires_grad=True)
    best_approx_error(z, [1, 1, 1, 1]).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_best_approx_error_errors():
    with pytest.raises(ValueError, match=r"d is ambiguous for z of shape \(16, 16\) with 2"):
        best_approx_error(torch.zeros(16, 16), [1, 1])
    with pytest.raises(ValueError, match="s has 5 entries but an array of shape"):
        best_approx_error(torch.zeros(16), [1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"weights has shape \(2,\); expected \(3,\)"):
        best_approx_error(torch.zeros(8), [1, 1, 1], weights=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"s\[1\] = 3 is larger than level 1"):
        best_approx_error(torch.zeros(8), [3, 1, 1])
    with pytest.raises(ValueError, match="d 3 is not supported; expected 1 or 2"):
        best_approx_error(torch.zeros(8, 8, 8), [1, 1, 1], d=3)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((48, 48), "resolution 48 is not a power of two"),
        ((12,), "resolution 12 is not a power of two"),
        ((8, 16), r"shape \(8, 16\) is not square"),
        ((8, 8, 8), r"shape \(8, 8, 8\) has 3 dimensions; expected 1 or 2"),
        ((1,), "resolution 1 is too small"),
        ((8.0,), "resolution 8.0 is not an integer"),
    ],
)
def test_shape_errors(shape, match):
    with pytest.raises(ValueError, match=match):
        level_boundaries(shape)
    with pytest.raises(ValueError, match=match):
        image_geometry(shape)


@pytest.mark.parametrize("levels", [0, 5, -1, 2.0])
def test_levels_out_of_range(levels):
    with pytest.raises(
        ValueError,
        match=rf"levels {levels!r} out of range for resolution 16; "
        r"expected an integer in 1\.\.4",
    ):
        level_index((16, 16), levels)


def test_s_validation_messages():
    with pytest.raises(ValueError, match="s has 4 entries but there are 3 levels"):
        weight_map((8, 8), [1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"s\[3\] = -2 \(level 3\) is negative"):
        weight_map((8, 8), [1, 1, -2])
    with pytest.raises(ValueError, match=r"s\[2\] = 13 is larger than level 2, which has 12"):
        weight_map((8, 8), [1, 13, 1])
    with pytest.raises(ValueError, match="is not a 1-D sequence"):
        weight_map((8, 8), 3)
