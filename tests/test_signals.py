"""Tests for stablesweep.signals: test images, phantoms, image files and noise."""

import numpy as np
import pytest
import torch
from PIL import Image

from stablesweep.signals import (
    TEST_IMAGES,
    add_noise,
    ellipse_phantom,
    ellipse_phantoms,
    load_images,
    test_image,
)

# --------------------------------------------------------------------------- test images


@pytest.mark.parametrize("name", TEST_IMAGES)
@pytest.mark.parametrize("n", [32, 128])
def test_test_image_shape_range_dtype(name, n):
    x = test_image(name, n)
    assert x.shape == (n, n) and x.dtype == torch.float64
    assert x.min() == 0.0 and x.max() == 1.0
    assert x.std() > 0.05  # an actual image, not a constant


def test_test_image_box_average():
    import pywt.data

    full = pywt.data.camera().astype(np.float64)
    box = full.reshape(64, 8, 64, 8).mean(axis=(1, 3))
    box = (box - box.min()) / (box.max() - box.min())
    np.testing.assert_allclose(test_image("camera", 64).numpy(), box, atol=1e-12)


def test_shepp_logan_is_scikit_image_phantom_resized():
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    x = test_image("shepp-logan", 128).numpy()
    ref = resize(shepp_logan_phantom(), (128, 128), anti_aliasing=True)
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    # an independent resize (scikit-image's): the same picture up to interpolation error
    assert np.mean(np.abs(x - ref)) < 0.02
    assert np.corrcoef(x.ravel(), ref.ravel())[0, 1] > 0.98


def test_test_image_errors():
    with pytest.raises(
        ValueError,
        match="unknown test image 'lena'; expected one of: camera, ascent, aero, shepp-logan",
    ):
        test_image("lena", 64)
    with pytest.raises(ValueError, match="resolution 48 is not a power of two"):
        test_image("camera", 48)


# --------------------------------------------------------------------------- phantoms


def test_ellipse_phantom_reproducible_and_in_range():
    a = ellipse_phantom(64, np.random.default_rng(11))
    b = ellipse_phantom(64, 11)
    c = ellipse_phantom(64, 12)
    assert a.shape == (64, 64) and a.dtype == torch.float64
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() == 1.0
    assert a[0, 0] == 0 and a[32, 32] > 0  # background outside, object inside


def test_ellipse_phantom_details_only_add_small_features():
    plain = ellipse_phantom(64, 5, n_ellipses=6)
    detailed = ellipse_phantom(64, 5, n_ellipses=6, details=True)
    changed = (plain != detailed).double().mean()
    assert 0 < changed < 0.05
    assert (plain - detailed).abs().max() <= 0.1 + 1e-12  # low contrast
    assert detailed.min() >= 0 and detailed.max() <= 1


def test_ellipse_phantom_1d_is_piecewise_constant():
    x = ellipse_phantom(128, 3, n_ellipses=4, d=1)
    assert x.shape == (128,) and x.min() >= 0 and x.max() == 1.0
    jumps = torch.count_nonzero(torch.diff(x))
    assert 0 < jumps <= 2 * (1 + 4)  # each interval adds at most two jumps


def test_ellipse_phantoms_batch_draws_sequentially():
    batch = ellipse_phantoms(3, 32, 9, n_ellipses=(2, 4))
    rng = np.random.default_rng(9)
    singles = [ellipse_phantom(32, rng, n_ellipses=(2, 4)) for _ in range(3)]
    assert batch.shape == (3, 32, 32)
    assert torch.equal(batch, torch.stack(singles))
    assert not torch.equal(batch[0], batch[1])


def test_ellipse_phantom_errors():
    with pytest.raises(ValueError, match="resolution 100 is not a power of two"):
        ellipse_phantom(100, 0)
    with pytest.raises(ValueError, match="n_ellipses"):
        ellipse_phantom(32, 0, n_ellipses=(5, 2))
    with pytest.raises(ValueError, match="d 3 is not supported"):
        ellipse_phantom(32, 0, d=3)
    with pytest.raises(TypeError, match="rng must be"):
        ellipse_phantom(32, None)


# --------------------------------------------------------------------------- files


def test_load_images_png_and_npy_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "a.png")
    arr = rng.uniform(-3, 5, (16, 16))
    np.save(tmp_path / "b.npy", arr)
    out = load_images([tmp_path / "a.png", str(tmp_path / "b.npy")], 16)
    assert out.shape == (2, 16, 16) and out.dtype == torch.float64
    g = grey.astype(np.float64)
    np.testing.assert_allclose(out[0].numpy(), (g - g.min()) / (g.max() - g.min()), atol=1e-12)
    np.testing.assert_allclose(
        out[1].numpy(), (arr - arr.min()) / (arr.max() - arr.min()), atol=1e-12
    )
    # a single path is a stack of one; shrinking by 2 averages 2x2 boxes
    half = load_images(tmp_path / "b.npy", 8)[0].numpy()
    box = arr.reshape(8, 2, 8, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(half, (box - box.min()) / (box.max() - box.min()), atol=1e-12)


def test_load_images_rgb_crop_and_non_integer_resize(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)  # crop to the centre 40x40
    Image.fromarray(rgb).save(tmp_path / "c.png")
    np.save(tmp_path / "c.npy", rgb)
    out = load_images([tmp_path / "c.png", tmp_path / "c.npy"], 32)  # 40 -> 32: not integer
    assert out.shape == (2, 32, 32)
    assert out.min() == 0.0 and out.max() == 1.0
    torch.testing.assert_close(out[0], out[1])
    # luminance at native size
    lum = rgb[:, 5:45].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    Image.fromarray(rgb[:, 5:37]).save(tmp_path / "d.png")
    got = load_images(tmp_path / "d.png", 32)[0].numpy()
    ref = lum[4:36, :32]
    np.testing.assert_allclose(got, (ref - ref.min()) / (ref.max() - ref.min()), atol=1e-12)


def test_load_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image file '.*missing.png' does not exist"):
        load_images([tmp_path / "missing.png"], 16)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(
        ValueError,
        match=r"unsupported image extension '\.txt' .*expected one of: "
        r"\.png",
    ):
        load_images([tmp_path / "notes.txt"], 16)
    np.save(tmp_path / "cube.npy", np.zeros((4, 4, 4, 4)))
    with pytest.raises(ValueError, match=r"has shape \(4, 4, 4, 4\); expected \(h, w\)"):
        load_images([tmp_path / "cube.npy"], 4)
    with pytest.raises(ValueError, match="paths is empty"):
        load_images([], 16)


# --------------------------------------------------------------------------- noise


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("level", [0.01, 0.3, 2.0])
def test_add_noise_exact_relative_norm(dtype, level):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(3, 4, 50, generator=g, dtype=dtype)
    z = add_noise(y, level, np.random.default_rng(1))
    assert z.shape == y.shape and z.dtype == dtype
    ratio = torch.linalg.vector_norm(z - y, dim=-1) / torch.linalg.vector_norm(y, dim=-1)
    assert torch.max(torch.abs(ratio - level)) < 1e-12
    if dtype.is_complex:
        e = z - y
        assert e.imag.abs().sum() > 0 and e.real.abs().sum() > 0
    assert torch.equal(add_noise(y, level, 1), z)  # reproducible from an int seed
    assert not torch.equal(add_noise(y, level, 2), z)


def test_add_noise_level_zero_is_a_copy_and_zero_samples_stay_zero():
    y = torch.randn(2, 10, dtype=torch.float64)
    z = add_noise(y, 0, 0)
    assert torch.equal(z, y) and z is not y and z.data_ptr() != y.data_ptr()
    y[1] = 0
    z = add_noise(y, 0.5, 0)
    assert torch.all(z[1] == 0)
    assert add_noise(torch.ones(8), 0.1, 0).shape == (8,)


def test_add_noise_errors():
    with pytest.raises(ValueError, match="relative_level -0.1 is negative"):
        add_noise(torch.ones(4), -0.1, 0)
    with pytest.raises(ValueError, match="relative_level 'a' is not a real number"):
        add_noise(torch.ones(4), "a", 0)
