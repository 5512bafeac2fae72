"""Networks: generic properties over the whole registry, proximal identities, errors.

One list of cases (``CASES``, built from ``NETWORKS``) and every generic property is
parametrised over it: shapes and dtypes, batching, iterates = shallower networks,
depth independence, the no-grad fast path = the autograd path, checkpointing (same
output, same gradient, less saved memory), gradcheck on a tiny dense problem.
Convergence to the optimisation problems' minimisers is in test_networks_convergence.py,
the explicit layer form in test_networks_layers.py.
"""

import math

import numpy as np
import pytest
import torch

from stablesweep.levels import sample_sparse_in_levels
from stablesweep.networks import NETWORKS, DenseOperator, build_network
from stablesweep.networks.core import prox as P
from stablesweep.operators import SamplingOperator
from stablesweep.sampling import budgets, multilevel_mask

S16 = (1, 2, 3, 6)  # local sparsities of a 16x16 image (4 levels), s = 12

# network name -> (depth, params) for the generic tests; a registry entry without a row
# here is tested with its defaults
DEFAULTS = {
    "primal-dual": (12, {"s": S16}),
    "firenet": (12, {"p": 4, "s": S16}),
    "fista": (12, {"lam": 1e-3}),
    "ista": (12, {"lam": 1e-3}),
    "cp-bp": (12, {}),
    "nesta": (12, {"p": 5}),
}
#: the algorithmic (unrolled-solver) networks; trained ones have their own tests
ALGORITHMIC = [name for name, cls in NETWORKS.items() if getattr(cls, "algorithmic", True)]
CASES = [(name, *DEFAULTS.get(name, (None, {}))) for name in ALGORITHMIC]
# extra variants that exercise other branches (noise-aware constraints, ergodic output)
VARIANTS = CASES + [
    ("cp-bp", 12, {"eta": 0.05, "ergodic": True}),
    ("nesta", 12, {"p": 5, "eta": 0.05}),
]


def case_id(case):
    name, _, params = case
    extra = "-".join(f"{k}" for k in params if k in ("eta", "ergodic"))
    return name + (f"[{extra}]" if extra else "")


def make_problem(transform="fourier", n=16, frac=0.4, s=S16, seed=0, batch=()):
    """16x16 multilevel-sampled problem with an (s, M)-sparse z (theory budgets)."""
    shape = (n, n)
    rng = np.random.default_rng(seed)
    b = budgets(shape, transform, int(frac * n * n), "theory", s=s)
    A = SamplingOperator(transform, multilevel_mask(shape, transform, b, rng))
    cplx = transform == "fourier"
    count = max(1, math.prod(batch))
    zs = [sample_sparse_in_levels(shape, s, rng, complex=cplx) for _ in range(count)]
    z = torch.stack(zs).reshape(*batch, *shape) if batch else zs[0]
    return A, z, A(z)


@pytest.fixture(scope="module")
def fourier16():
    return make_problem("fourier", batch=(2,))


@pytest.fixture(scope="module")
def walsh16():
    return make_problem("walsh", batch=(2,), seed=1)


def tiny_operator(seed=0, m=5, N=8):
    """Complex dense operator with orthonormal rows (so every network accepts it)."""
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(N, m, dtype=torch.complex128, generator=g)
    Q, _ = torch.linalg.qr(G)
    return DenseOperator(Q.T.conj().contiguous())


# --------------------------------------------------------------------------- generic


def test_registry_lists_every_network():
    assert set(DEFAULTS) <= set(NETWORKS)
    assert [c[0] for c in CASES] == ALGORITHMIC
    assert {"primal-dual", "firenet", "fista", "ista", "cp-bp", "nesta"} <= set(ALGORITHMIC)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_shapes_dtypes_and_sizes(case, transform, fourier16, walsh16):
    # depth 12, batch of 2 16x16 problems: output (2, 16, 16) in A.dtype
    name, depth, params = case
    A, z, y = fourier16 if transform == "fourier" else walsh16
    net = build_network(name, A, depth, **params)
    out = net(y)
    assert out.shape == (2, 16, 16)
    assert out.dtype == A.dtype
    assert net.depth == depth
    assert net.n_layers >= net.depth
    its = net.iterates(y)
    assert its.shape == (len(net.iterate_depths), 2, 16, 16)
    assert net.iterate_depths[-1] == net.depth
    torch.testing.assert_close(its[-1], out, rtol=0, atol=1e-13)
    assert net.checkpointing is False


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_batch_equals_single(case, fourier16):
    # depth 12: a batch of 2 equals the two samples run alone (tolerance 1e-13)
    name, depth, params = case
    A, z, y = fourier16
    net = build_network(name, A, depth, **params)
    out = net(y)
    for i in range(2):
        torch.testing.assert_close(net(y[i]), out[i], rtol=0, atol=1e-13)
    # extra batch dimensions are fine too
    torch.testing.assert_close(net(y[None]), out[None], rtol=0, atol=1e-13)


@pytest.mark.parametrize("case", VARIANTS, ids=case_id)
def test_iterates_equal_shallower_networks(case, fourier16):
    # depth 12: iterates(y)[j] equals the network built with depth iterate_depths[j]
    name, depth, params = case
    A, z, y = fourier16
    net = build_network(name, A, depth, **params)
    its = net.iterates(y)
    depths = net.iterate_depths
    for j in sorted({0, len(depths) // 2, len(depths) - 2}):
        shallow = build_network(name, A, depths[j], **params)
        assert shallow.depth == depths[j]
        torch.testing.assert_close(its[j], shallow(y), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", VARIANTS, ids=case_id)
def test_outputs_do_not_depend_on_total_depth(case, fourier16):
    # depth 12 vs 24: the first 12 iterations' outputs agree (tolerance 1e-13)
    name, depth, params = case
    A, z, y = fourier16
    short = build_network(name, A, depth, **params)
    long = build_network(name, A, 2 * depth, **params)
    a = short.iterates(y)
    b = long.iterates(y, depths=short.iterate_depths)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("case", VARIANTS, ids=case_id)
@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_fast_path_equals_autograd_path(case, transform, fourier16, walsh16):
    # depth 12: the in-place no-grad loop and the differentiable loop agree to 1e-13
    name, depth, params = case
    A, z, y = fourier16 if transform == "fourier" else walsh16
    net = build_network(name, A, depth, **params)
    with torch.no_grad():
        fast = net.iterates(y)
    slow = net.iterates(y.clone().requires_grad_(True))
    assert slow.requires_grad
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("case", VARIANTS, ids=case_id)
def test_checkpointing_same_output_and_gradient(case, fourier16):
    # depth 12 (segments of ceil(sqrt(12)) = 4, or p for firenet): output and the
    # gradient of a real loss w.r.t. y agree with the plain backward to 1e-12
    name, depth, params = case
    A, z, y = fourier16
    x_true = A.to_image(z)
    results = []
    for ckpt in (False, True):
        net = build_network(name, A, depth, **params)
        net.checkpointing = ckpt
        yy = y.clone().requires_grad_(True)
        out = net(yy)
        loss = 0.5 * (out - x_true).abs().square().sum()
        (grad,) = torch.autograd.grad(loss, yy)
        results.append((out.detach(), grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=1e-12)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=0, atol=1e-12)


def _saved_bytes(net, y):
    """Bytes autograd keeps for the backward pass (seen by an outer saved-tensor hook)."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(y.clone().requires_grad_(True))
    return total[0]


@pytest.mark.parametrize("name", ["primal-dual", "firenet", "fista"])
def test_checkpointing_memory_grows_sublinearly(name, fourier16):
    # depth 16 -> 64 (primal-dual/fista: segments ceil(sqrt(depth)); firenet p = 4):
    # without checkpointing the saved bytes grow ~4x; with it they grow <= 2.5x and are
    # at least 3x smaller at depth 64
    A, z, y = fourier16
    params = {"p": 4} if name == "firenet" else {}
    sizes = {}
    for ckpt in (False, True):
        for depth in (16, 64):
            net = build_network(name, A, depth, **params)
            net.checkpointing = ckpt
            sizes[ckpt, depth] = _saved_bytes(net, y)
    assert sizes[False, 64] >= 3.5 * sizes[False, 16]
    if name == "firenet":  # one segment per restart: linear in n, but per restart only
        assert sizes[True, 64] <= sizes[False, 64] / 3
    else:
        assert sizes[True, 64] <= 2.5 * sizes[True, 16]
        assert sizes[True, 64] <= sizes[False, 64] / 3


@pytest.mark.parametrize("case", VARIANTS, ids=case_id)
def test_gradcheck_tiny_dense_problem(case):
    # tiny complex operator with orthonormal rows (m = 5, N = 8), depth 6; finite
    # differences (eps 1e-6) against autograd, atol 1e-5
    name, _, params = case
    params = {k: v for k, v in params.items() if k not in ("s",)}
    if name == "firenet":
        params["p"] = 3
    A = tiny_operator()
    g = torch.Generator().manual_seed(3)
    z = torch.zeros(8, dtype=torch.complex128)
    z[[1, 5]] = torch.tensor([1.0 + 0.5j, -0.7j], dtype=torch.complex128)
    y = (A(z) + 0.05 * torch.randn(5, dtype=torch.complex128, generator=g)).requires_grad_(True)
    net = build_network(name, A, 6, **params)
    assert torch.autograd.gradcheck(lambda v: net(v), (y,), eps=1e-6, atol=1e-5)


def test_gradcheck_walsh_primal_dual_and_fista():
    # 8x8 Walsh, 40% sampling, depth 5: gradcheck for the two networks of the issue
    A, z, y = make_problem("walsh", n=8, s=(1, 1, 2), seed=2)
    for name in ("primal-dual", "fista"):
        net = build_network(name, A, 5, lam=0.05)
        yy = y.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(net, (yy,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_real_measurements_for_complex_operator_are_promoted(case, fourier16):
    name, depth, params = case
    A, z, y = fourier16
    net = build_network(name, A, 3 if name != "firenet" else 4, **params)
    yr = y.real.contiguous()
    torch.testing.assert_close(net(yr), net(yr.to(torch.complex128)), rtol=0, atol=0)


def test_x0_warm_start(fourier16):
    # depth 1 from the depth-10 state: primal-dual restarted from x0 runs from there
    A, z, y = fourier16
    net = build_network("primal-dual", A, 5, s=S16)
    x0 = A.to_coefficients(net(y))
    out = net(y, x0=x0)
    assert out.shape == y.shape[:-1] + A.shape
    with pytest.raises(ValueError, match="x0 has shape"):
        net(y, x0=torch.zeros(3, 3, dtype=torch.complex128))


def test_final_state_is_named(fourier16):
    A, z, y = fourier16
    net = build_network("primal-dual", A, 4, s=S16)
    st = net.final_state(y)
    assert st._fields == ("x", "psi", "x_sum")
    torch.testing.assert_close(A.to_image(st.x_sum / 4), net(y), rtol=0, atol=1e-14)
    assert torch.linalg.vector_norm(st.psi, dim=-1).max() <= 1 + 1e-12


def test_firenet_inner_iterates(fourier16):
    # n = 3, p = 4: inner=True gives 12 iterates whose every 4th is a restart output
    A, z, y = fourier16
    net = build_network("firenet", A, n=3, p=4, s=S16)
    inner = net.iterates(y, inner=True)
    outer = net.iterates(y)
    assert inner.shape[0] == 12 and outer.shape[0] == 3
    torch.testing.assert_close(inner[3::4], outer, rtol=0, atol=1e-13)
    assert net.iterate_depths == [4, 8, 12]
    assert net.n_layers == 3 * 12 + 1


def test_layer_counts():
    A = tiny_operator()
    assert build_network("primal-dual", A, p=7).n_layers == 22
    assert build_network("firenet", A, n=3, p=5).n_layers == 46
    assert build_network("firenet", A, 15, p=5).n == 3
    assert build_network("fista", A, 9).n_layers == 10
    assert build_network("cp-bp", A, 9, eta=0.1).n_layers == 28
    assert build_network("cp-bp", A, 9).n_layers == 10


def test_zero_measurements_give_zero(fourier16):
    # y = 0 is a fixed point for every network (firenet with delta = 0 and eps0 = ||y||)
    A, _, y = fourier16
    for name in ALGORITHMIC:
        depth, params = DEFAULTS.get(name, (None, {}))
        out = build_network(name, A, depth, **params)(torch.zeros_like(y))
        assert torch.isfinite(torch.view_as_real(out)).all(), name
        assert float(out.abs().max()) == 0.0, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case", VARIANTS, ids=case_id)
def test_cuda_matches_cpu(case, fourier16):
    # depth 12 on CUDA (weights and per-sample scalars follow y's device): equal to the
    # CPU result to 1e-10, with and without gradients
    name, depth, params = case
    A, z, y = fourier16
    net = build_network(name, A, depth, **params)
    ref = net.iterates(y)
    with torch.no_grad():
        got = net.iterates(y.cuda())
    torch.testing.assert_close(got.cpu(), ref, rtol=0, atol=1e-10)
    got = net(y.cuda().requires_grad_(True))
    torch.testing.assert_close(got.detach().cpu(), ref[-1], rtol=0, atol=1e-10)


# --------------------------------------------------------------------------- prox maps


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_soft_threshold_moreau_and_inplace(dtype):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 50, dtype=dtype, generator=g)
    t = torch.rand(50, dtype=torch.float64, generator=g)
    t[:5] = 0.0
    s = P.soft_threshold(z, t)
    # Moreau: z = prox_{t|.|}(z) + P_{|u|<=t}(z)
    torch.testing.assert_close(s + P.clip_magnitude(z, t), z, rtol=0, atol=1e-14)
    # definition: max(0, |z| - t) sgn(z)
    ref = torch.clamp(z.abs() - t, min=0) * torch.sgn(z)
    torch.testing.assert_close(s, ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(P.soft_threshold_(z.clone(), t), s, rtol=0, atol=1e-15)
    # zero input: value and gradient finite
    zz = torch.zeros(4, dtype=dtype, requires_grad=True)
    out = P.soft_threshold(zz, torch.ones(4, dtype=torch.float64))
    (gr,) = torch.autograd.grad(out.abs().sum() if dtype.is_complex else out.sum(), zz)
    assert torch.isfinite(torch.view_as_real(gr) if dtype.is_complex else gr).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_ball_projection_and_shrink(dtype):
    g = torch.Generator().manual_seed(1)
    v = 3 * torch.randn(4, 20, dtype=dtype, generator=g)
    v[0] *= 1e-3  # inside the ball
    for eta in (0.5, 1.0, 2.0):
        p = P.project_ball(v, eta)
        assert (torch.linalg.vector_norm(p, dim=-1) <= eta + 1e-12).all()
        torch.testing.assert_close(p + P.shrink_ball(v, eta), v, rtol=0, atol=1e-14)
    torch.testing.assert_close(P.project_ball(v)[0], v[0], rtol=0, atol=0)
    c = torch.randn(4, 20, dtype=dtype, generator=g)
    pc = P.project_ball(v, 0.3, center=c)
    assert (torch.linalg.vector_norm(pc - c, dim=-1) <= 0.3 + 1e-12).all()
    assert torch.equal(P.shrink_ball(v, 0.0), v)


def test_huber_gradient_matches_autograd():
    # grad f_mu = clip(z/mu, w) for the smoothed weighted l1 norm (complex)
    g = torch.Generator().manual_seed(2)
    z = torch.randn(30, dtype=torch.complex128, generator=g)
    w = 0.5 + torch.rand(30, dtype=torch.float64, generator=g)
    mu = 0.7
    zz = z.clone().requires_grad_(True)
    a = zz.abs()
    f = torch.where(a <= mu * w, a**2 / (2 * mu), w * a - mu * w**2 / 2).sum()
    (gr,) = torch.autograd.grad(f, zz)
    torch.testing.assert_close(P.huber_grad(z, mu, w), gr, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- errors


def test_unknown_network_lists_the_allowed_ones():
    A = tiny_operator()
    msg = r"unknown network 'firnet'; expected one of: .*firenet"
    with pytest.raises(ValueError, match=msg):
        build_network("firnet", A, 5)


def test_unknown_parameter():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'lamb' for network 'fista'"):
        build_network("fista", tiny_operator(), 5, lamb=0.1)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("primal-dual", {"p": 5, "tau": 1.0, "sigma": 1.5}, r"tau\*sigma\*\|\|A\|\|\^2 .* <= 1"),
        ("firenet", {"n": 2, "p": 5, "tau": 2.0}, r"tau\*sigma\*\|\|A\|\|\^2"),
        ("cp-bp", {"depth": 5, "sigma": 1.01}, r"expected tau\*sigma\*\|\|A\|\|\^2 <= 1"),
        ("primal-dual", {"p": 5, "tau": -1.0}, r"tau = -1.0 is not allowed; expected a finite"),
        ("primal-dual", {"p": 5, "lam": 0.0}, r"lam = 0.0 is not allowed; expected a finite"),
        ("firenet", {"n": 2, "p": 5, "lam": -1.0}, r"lam = -1.0 is not allowed"),
        ("fista", {"depth": 5, "lam": 0}, r"lam = 0 is not allowed"),
        ("ista", {"depth": 5, "lam": float("nan")}, r"lam = nan is not allowed"),
        ("primal-dual", {"p": 0}, r"p = 0 is not allowed; expected an integer >= 1"),
        ("primal-dual", {"depth": 4, "p": 5}, r"depth = 4 and p = 5 differ"),
        ("firenet", {"n": 0, "p": 5}, r"n = 0 is not allowed; expected an integer >= 1"),
        ("firenet", {"n": 2, "p": 0}, r"p = 0 is not allowed"),
        ("firenet", {"n": 2, "p": 2.5}, r"p = 2.5 is not allowed; expected an integer"),
        ("firenet", {"depth": 10, "p": 3}, r"depth = 10 is not a multiple of p = 3"),
        ("firenet", {"depth": 10, "n": 3, "p": 5}, r"depth = 10 differs from n \* p"),
        ("firenet", {"n": 2, "p": 2, "delta": -1.0}, r"delta = -1.0 .* a finite real >= 0"),
        ("firenet", {"n": 2, "p": 2, "eps0": 0.0}, r"eps0 = 0.0 is not allowed"),
        ("fista", {"depth": 0}, r"depth = 0 is not allowed"),
        ("ista", {"depth": True}, r"depth = True is not allowed"),
        ("cp-bp", {"depth": 3, "eta": -0.1}, r"eta = -0.1 is not allowed"),
        ("nesta", {"depth": 3, "gamma": 1.5}, r"gamma = 1.5 .* expected 0 < gamma <= 1"),
        ("nesta", {"depth": 3, "p": 0}, r"p = 0 is not allowed"),
        ("primal-dual", {"p": 3, "weights": torch.ones(7)}, r"weights has shape \(7,\); .*\(8,\)"),
        ("fista", {"depth": 3, "weights": -torch.ones(8)}, r"weights must be finite and non-neg"),
        ("cp-bp", {"depth": 3, "weights": torch.ones(8), "s": (1, 2)}, r"either weights or s"),
        ("nesta", {"depth": 3, "weights": torch.zeros(8)}, r"nesta needs positive weights"),
    ],
)
def test_bad_parameters_raise_before_iterating(name, kwargs, match):
    A = tiny_operator()
    kwargs = dict(kwargs)
    depth = kwargs.pop("depth", None)
    with pytest.raises(ValueError, match=match):
        build_network(name, A, depth, **kwargs)


def test_step_size_check_uses_the_operator_norm():
    # a dense operator with ||A|| = 2: tau = sigma = 1 violates tau*sigma*||A||^2 <= 1
    A = DenseOperator(2.0 * tiny_operator().matrix)
    with pytest.raises(ValueError, match=r"= 4 is not allowed"):
        build_network("primal-dual", A, p=3)
    build_network("primal-dual", A, p=3, tau=0.5, sigma=0.5)  # fine


def test_nesta_needs_orthonormal_rows():
    A = DenseOperator(2.0 * tiny_operator().matrix)
    assert A.rows_orthonormal is False
    with pytest.raises(ValueError, match=r"orthonormal rows \(A A\^\* = I\)"):
        build_network("nesta", A, 5)

    class NoFlag:  # duck-typed operator without the attribute: randomised check
        shape, m, dtype = (8,), 5, torch.complex128

        def __init__(self, M):
            self.M = M

        def __call__(self, z):
            return z @ self.M.T

        def adjoint(self, y):
            return y @ self.M.conj()

        def to_image(self, z):
            return z

    with pytest.raises(ValueError, match=r"measured \|\|A A\^\* u - u\|\|"):
        build_network("nesta", NoFlag(A.matrix), 5)
    build_network("nesta", NoFlag(tiny_operator().matrix), 5)  # orthonormal: accepted


@pytest.mark.parametrize("name", ALGORITHMIC)
def test_measurements_of_the_wrong_length(name):
    A = tiny_operator()
    depth, params = DEFAULTS.get(name, (None, {}))
    params = {k: v for k, v in params.items() if k != "s"}
    net = build_network(name, A, depth, **params)
    msg = r"y has shape \(2, 6\); expected \(\.\.\., m\) with m = A.m = 5"
    with pytest.raises(ValueError, match=msg):
        net(torch.zeros(2, 6, dtype=torch.complex128))
    with pytest.raises(ValueError, match=r"expected integers in 1\.\.12"):
        net.iterates(torch.zeros(5, dtype=torch.complex128), depths=[0])


def test_complex_measurements_for_a_real_operator():
    A, _, y = make_problem("walsh", n=8, s=(1, 1, 2))
    net = build_network("fista", A, 3)
    with pytest.raises(ValueError, match="y is complex"):
        net(y.to(torch.complex128))


def test_operator_without_the_interface():
    with pytest.raises(TypeError, match="has no attribute 'shape'"):
        build_network("fista", object(), 3)


def test_nesta_gradient_is_finite_where_adjoint_has_zeros():
    # Walsh-Haar: A* y has exact zeros; mu0 = 0.9 max |A* y| / w must not give NaN
    # gradients there (depth 6)
    A, z, y = make_problem("walsh", n=8, s=(1, 1, 2))
    assert bool((A.adjoint(y) == 0).any())
    net = build_network("nesta", A, 6, p=3)
    yy = y.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(yy).square().sum(), yy)
    assert torch.isfinite(g).all()
