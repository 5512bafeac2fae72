"""Trained networks (unet, learned-pd) and custom networks behave like every other network."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from stablesweep.modelfile import MaskMismatchError, load_mask
from stablesweep.networks import NETWORKS, build_network
from stablesweep.networks.custom import CustomNetwork, resolve_factory
from stablesweep.networks.learned_pd import LearnedPD
from stablesweep.networks.unet import UNet
from stablesweep.operators import SamplingOperator
from stablesweep.sampling import budgets, multilevel_mask
from stablesweep.signals import ellipse_phantoms
from stablesweep.training import make_operator, train
from stablesweep.training.config import parse_training_config

CLASSES = {"unet": UNet, "learned-pd": LearnedPD, "custom": CustomNetwork}
SMALL = {"unet": {"channels": 4, "scales": 2}, "learned-pd": {"layers": 3, "hidden": 4}}


def build(name: str, A, depth=None, **params):
    """:func:`~stablesweep.networks.build_network`: a network missing from the registry
    fails here (``ValueError: unknown network``) instead of being built another way."""
    return build_network(name, A, depth, **params)


def operator(n: int = 16, transform: str = "fourier", seed: int = 0) -> SamplingOperator:
    shape = (n, n)
    b = budgets(shape, transform, int(0.3 * n * n), "uniform")
    return SamplingOperator(transform, multilevel_mask(shape, transform, b, seed))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny trained unet and learned-pd model files (16x16, 2 epochs) sharing one mask."""
    out = tmp_path_factory.mktemp("models")
    paths = {}
    for name in ("unet", "learned-pd"):
        cfg = parse_training_config({
            "name": name, "seed": 0,
            "network": {"name": name, "params": SMALL[name]},
            "problem": {"transform": "fourier", "resolution": 16,
                        "sampling": {"scheme": "uniform", "rate": 0.3, "seed": 5}},
            "data": {"train": 8, "validation": 4},
            "training": {"epochs": 2, "batch_size": 4, "device": "cpu"},
        })
        paths[name] = train(cfg, models_dir=out, progress=False, log=None).model_path
    A = make_operator(cfg)
    return A, paths


def data(A, count=2, seed=1):
    x = ellipse_phantoms(count, A.shape[0], seed)
    return x, A.measure(x.to(A.dtype))


# --------------------------------------------------------------------------- interface


@pytest.mark.parametrize("name", ["unet", "learned-pd"])
@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_interface(name, transform):
    A = operator(transform=transform)
    net = build(name, A, **SMALL[name])
    x, y = data(A)
    out = net(y)
    assert out.shape == (2, *A.shape) and out.dtype == A.dtype
    assert net(y[0]).shape == A.shape  # unbatched
    assert net(y.reshape(1, 2, -1)).shape == (1, 2, *A.shape)  # extra batch dims
    its = net.iterates(y)
    assert its.shape == (len(net.iterate_depths), 2, *A.shape)
    torch.testing.assert_close(its[-1], out)
    assert net.iterate_depths[-1] == net.depth and net.n_layers >= net.depth
    assert all(p.dtype == torch.float64 for p in net.parameters())
    # batch elements are independent
    torch.testing.assert_close(net(y[1:]), out[1:])
    with pytest.raises(ValueError, match=r"expected \(\.\.\., m\) with m = A.m"):
        net(y[:, :-1])


def test_iterate_depths_and_truncation():
    A = operator()
    assert build("unet", A, **SMALL["unet"]).iterate_depths == [1]
    full = build("learned-pd", A, **SMALL["learned-pd"])
    assert full.iterate_depths == [1, 2, 3] and full.depth == 3
    short = build("learned-pd", A, 2, **SMALL["learned-pd"])
    short.load_state_dict(full.state_dict())
    _, y = data(A)
    torch.testing.assert_close(short(y), full.iterates(y)[1])
    with pytest.raises(ValueError, match=r"depth = 4 is not allowed for learned-pd with 3 layers"):
        build("learned-pd", A, 4, **SMALL["learned-pd"])
    with pytest.raises(ValueError, match=r"depth = 5 is not allowed for unet; expected 1"):
        build("unet", A, 5)


@pytest.mark.parametrize("name", ["unet", "learned-pd"])
def test_gradient_wrt_y_and_checkpointing(name):
    A = operator()
    net = build(name, A, **SMALL[name])
    _, y = data(A, count=1)
    grads = []
    for ckpt in (False, True):
        net.checkpointing = ckpt
        yy = y.clone().requires_grad_(True)
        torch.view_as_real(net(yy)).square().sum().backward()
        grads.append(yy.grad)
    assert torch.isfinite(torch.view_as_real(grads[0])).all()
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("name", ["unet", "learned-pd"])
def test_gradcheck_wrt_y(name):
    A = operator(n=8, transform="walsh")
    params = {"channels": 2, "scales": 2} if name == "unet" else {"layers": 2, "hidden": 2}
    net = build(name, A, **params)
    _, y = data(A, count=1)
    y = (y + 0.01 * torch.randn(y.shape, dtype=y.dtype,
                                generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: net(v), (y,), eps=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name", ["unet", "learned-pd"])
def test_build_from_checkpoint(trained, name):
    A, paths = trained
    net = build(name, A, checkpoint=str(paths[name]))
    assert not net.training and net.checkpoint_path == str(paths[name])
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert net.training_info["epoch"] >= 1 and net.training_info["data_seed"] == 0
    x, y = data(A)
    out = net(y)
    assert out.dtype == torch.complex128 and torch.isfinite(torch.view_as_real(out)).all()
    # the float32 weights, run in float64: close to the float32 network's output
    net32 = build(name, A, checkpoint=str(paths[name])).float()
    out32 = net32(y)
    assert out32.dtype == torch.complex64
    torch.testing.assert_close(out32.to(out.dtype), out, rtol=1e-4, atol=1e-4)
    # explicit architecture arguments that agree are fine, others are refused
    key, value = next(iter(SMALL[name].items()))
    build(name, A, checkpoint=str(paths[name]), **{key: value})
    with pytest.raises(ValueError, match=rf"{key}={value + 1} \(stored {value}\).*fixes the arch"):
        build(name, A, checkpoint=str(paths[name]), **{key: value + 1})


def test_checkpoint_of_another_family_is_refused(trained):
    A, paths = trained
    with pytest.raises(ValueError, match=r"holds a 'unet' network; expected 'learned-pd'"):
        build("learned-pd", A, checkpoint=str(paths["unet"]))


@pytest.mark.parametrize("name", ["unet", "learned-pd"])
def test_mask_mismatch(trained, name):
    A, paths = trained
    other = operator(seed=99)
    assert not np.array_equal(other.mask.numpy(), A.mask.numpy())
    with pytest.raises(MaskMismatchError, match=r"sampling mask differs from the trained one in "
                       r"\d+ entries.*mask_from.*allow_mask_mismatch=True"):
        build(name, other, checkpoint=str(paths[name]))
    net = build(name, other, checkpoint=str(paths[name]), allow_mask_mismatch=True)
    assert any("sampling mask differs" in p for p in net.operator_mismatch)
    same = SamplingOperator("fourier", load_mask(paths[name]))
    assert build(name, same, checkpoint=str(paths[name])).operator_mismatch == []


def test_unet_ignores_the_wavelet_learned_pd_does_not(trained):
    A, paths = trained
    db2 = SamplingOperator("fourier", A.mask, "db2")
    build("unet", db2, checkpoint=str(paths["unet"]))
    with pytest.raises(MaskMismatchError, match="wavelet 'db2' differs from the trained 'haar'"):
        build("learned-pd", db2, checkpoint=str(paths["learned-pd"]))


# --------------------------------------------------------------------------- attacks


@pytest.mark.parametrize("name", ["unet", "learned-pd"])
def test_trained_network_passes_through_the_attack(trained, name):
    from stablesweep.attacks import momentum_attack, worst_case_noise

    A, paths = trained
    net = build(name, A, checkpoint=str(paths[name]))
    x, y = data(A)
    res = momentum_attack(net, A, x, y, lam=0.01, eta=0.01, tau=1e-3, steps=4, record_at=2,
                          generator=torch.Generator().manual_seed(0))
    assert res.amplification.shape == (3, 2) and np.isfinite(res.output_change).all()
    assert res.output_change[-1].min() > 0
    assert not net.checkpointing and all(p.requires_grad for p in net.parameters())
    wc = worst_case_noise(net, A, x, y, budget=0.05, steps=2, restarts=1,
                          generator=torch.Generator().manual_seed(0))
    assert np.isfinite(np.asarray(wc.error)).all()


# --------------------------------------------------------------------------- custom networks

FACTORY_MODULE = textwrap.dedent(
    """
    import torch

    class ZeroFilled(torch.nn.Module):
        def __init__(self, A, scale):
            super().__init__()
            self.A = A
            self.scale = torch.nn.Parameter(torch.tensor(float(scale), dtype=torch.float64))

        def forward(self, y):
            return self.scale * self.A.measure_adjoint(y)

    def make(A, scale=1.0):
        return ZeroFilled(A, scale)

    def make_with_depth(A, depth=1, scale=1.0):
        net = ZeroFilled(A, scale)
        net.depth = depth
        return net

    def make_flat(A):
        return lambda y: A.measure_adjoint(y).reshape(y.shape[0], -1)

    def not_a_network(A):
        return 3
    """
)


@pytest.fixture()
def factory_module(tmp_path, monkeypatch):
    name = "stablesweep_test_factories"
    (tmp_path / f"{name}.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_custom_network_route(factory_module):
    A = operator()
    net = build("custom", A, factory=f"{factory_module}:make", scale=2.0)
    x, y = data(A)
    torch.testing.assert_close(net(y), 2.0 * A.measure_adjoint(y))
    assert net.iterates(y).shape == (1, 2, *A.shape) and net.iterate_depths == [1]
    assert net(y.reshape(1, 2, -1)).shape == (1, 2, *A.shape)
    deep = build("custom", A, 7, factory=f"{factory_module}:make_with_depth")
    assert deep.depth == 7 and deep.module.depth == 7  # depth passed on when accepted
    assert build("custom", A, 3, factory=f"{factory_module}:make").depth == 3
    from stablesweep.attacks import momentum_attack

    res = momentum_attack(net, A, x, y, lam=0.01, eta=0.01, tau=1e-3, steps=2,
                          generator=torch.Generator().manual_seed(0))
    # a linear network: the amplification is the scale (‖U* P* A r‖ = ‖A r‖)
    np.testing.assert_allclose(res.amplification[-1], 2.0, rtol=1e-10)


def test_custom_network_import_errors(factory_module):
    A = operator()
    with pytest.raises(ImportError, match=r"factory 'no_such_pkg.mod:make': cannot import module "
                       r"'no_such_pkg.mod' \(ModuleNotFoundError: No module named 'no_such_pkg'"):
        build("custom", A, factory="no_such_pkg.mod:make")
    with pytest.raises(ImportError, match=rf"factory '{factory_module}:missing': module "
                       rf"'{factory_module}' has no attribute 'missing'"):
        build("custom", A, factory=f"{factory_module}:missing")
    with pytest.raises(ValueError, match=r"factory 'nocolon' is not valid; expected "
                       r"'package.module:function'"):
        resolve_factory("nocolon")


def test_custom_network_shape_errors(factory_module):
    A = operator()
    with pytest.raises(ValueError, match=rf"custom network '{factory_module}:make_flat' returned "
                       r"shape \(2, 256\) for a probe input of shape \(2, \d+\); expected "
                       r"\(2, 16, 16\) = \(batch, \*A.shape\)"):
        build("custom", A, factory=f"{factory_module}:make_flat")
    with pytest.raises(TypeError, match=r"returned a int; expected a torch.nn.Module"):
        build("custom", A, factory=f"{factory_module}:not_a_network")


def test_registry_has_the_trained_networks():
    missing = [n for n in CLASSES if n not in NETWORKS]
    assert not missing, f"not registered in stablesweep.networks.NETWORKS: {', '.join(missing)}"
    for name, cls in CLASSES.items():
        assert NETWORKS[name] is cls
