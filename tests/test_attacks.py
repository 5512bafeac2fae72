"""Tests of stablesweep.attacks with linear and smooth stand-in networks.

Networks here are plain torch modules (the attacks' only interface is ``net(y)``):
``AdjointNet`` φ(y) = W^{-1} A* y, ``MatrixNet`` φ(y) = B y with a dense B, and
``SmoothNet`` a smooth non-linear map for finite-difference checks. Registered networks
are tested in test_attacks_networks.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stablesweep.attacks import (
    RECORDED_METRICS,
    AttackResult,
    WorstCaseResult,
    attack_mode,
    attack_objective,
    jacobian_sigma_max,
    momentum_attack,
    worst_case_noise,
)
from stablesweep.operators import SamplingOperator

torch.set_num_threads(1)


# --------------------------------------------------------------------------- fixtures


def make_problem(transform="fourier", n=8, d=2, m=24, batch=(2,), seed=0):
    """Small operator with a random mask, real images x and clean measurements y = P U x."""
    rng = np.random.default_rng(seed)
    shape = (n,) * d
    mask = np.zeros(n**d, dtype=bool)
    mask[rng.choice(n**d, size=m, replace=False)] = True
    A = SamplingOperator(transform, mask.reshape(shape))
    x = torch.from_numpy(rng.standard_normal((*batch, *shape)))
    y = A.measure(x.to(A.dtype))
    return A, x, y


class AdjointNet(torch.nn.Module):
    """φ(y) = W^{-1} A* y (the zero-filled reconstruction U* P* y)."""

    def __init__(self, A):
        super().__init__()
        self.A = A

    def forward(self, y):
        return self.A.to_image(self.A.adjoint(y))


class MatrixNet(torch.nn.Module):
    """φ(y) = B y with a dense matrix B of shape (N, m)."""

    def __init__(self, B, shape):
        super().__init__()
        self.B = B
        self.shape = tuple(shape)

    def forward(self, y):
        return (y.to(self.B.dtype) @ self.B.T).reshape(*y.shape[:-1], *self.shape)


class SmoothNet(torch.nn.Module):
    """Smooth non-linear φ(y) = W^{-1}(z + c z |z|² / (1 + |z|²)), z = A* y; c a parameter.

    Grows linearly, so gradient ascent does not blow up in finite time.
    """

    def __init__(self, A, c=0.3):
        super().__init__()
        self.A = A
        self.c = torch.nn.Parameter(torch.tensor(c, dtype=torch.float64))
        self.checkpointing = False
        self.seen_checkpointing: list[bool] = []
        self.calls = 0

    def forward(self, y):
        self.seen_checkpointing.append(self.checkpointing)
        self.calls += 1
        z = self.A.adjoint(y)
        sq = z.real.square() + z.imag.square() if z.is_complex() else z.square()
        return self.A.to_image(z + self.c * z * sq / (1 + sq))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def dense_measure(A):
    """The image-domain measurement matrix M = P_Ω U (m × N) as a dense tensor."""
    N = math.prod(A.shape)
    eye = torch.eye(N, dtype=torch.complex128).reshape(N, *A.shape)
    return A.measure(eye).reshape(N, A.m).T.contiguous()


def power_iteration_sigma_max(K, iters=5000, tol=1e-15, seed=0):
    """Largest singular value of K by power iteration on K* K (independent reference)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(K.shape[1], dtype=K.dtype, generator=g)
    v = v / torch.linalg.vector_norm(v)
    est = 0.0
    for _ in range(iters):
        w = K.conj().T @ (K @ v)
        new = float(torch.linalg.vector_norm(w))
        v = w / new
        if abs(new - est) <= tol * new:
            break
        est = new
    return math.sqrt(new)


ATTACK = dict(lam=0.0, eta=0.5, tau=0.1, steps=5)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, r"steps must be an integer >= 1; got 0"),
        ({"steps": 2.5}, r"steps must be an integer >= 1; got 2.5"),
        ({"eta": 0.0}, r"eta must be a finite number in \(0, inf\]; got 0.0"),
        ({"eta": -1.0}, r"eta must be .*got -1.0"),
        ({"eta": float("nan")}, r"eta must be .*got nan"),
        ({"gamma": 1.0}, r"gamma must be a finite number in \[0, 1\); got 1.0"),
        ({"gamma": -0.1}, r"gamma must be .*got -0.1"),
        ({"lam": -1.0}, r"lam must be a finite number in \[0, inf\]; got -1.0"),
        ({"tau": -1.0}, r"tau must be .*got -1.0"),
        ({"tau": 0.0}, r"tau must be > 0 when ref='pred'"),
        ({"ref": "truth"}, r"ref must be one of 'pred', 'true'; got 'truth'"),
        ({"max_pert_norm": 0.0}, r"max_pert_norm must be .*got 0.0"),
        ({"max_output_change": -2.0}, r"max_output_change must be .*got -2.0"),
        ({"max_norm": 0.0}, r"max_norm must be a finite number in \(0, inf\]; got 0.0"),
        ({"max_norm": float("inf")}, r"max_norm must be .*got inf"),
        ({"max_norm": "1"}, r"max_norm must be .*got '1'"),
        ({"record_at": 0}, r"record_at must be an integer >= 1; got 0"),
        ({"record_at": [0, 9]}, r"record_at must contain integer steps in \[0, steps=5\]"),
        ({"record_at": []}, r"record_at must .*not be empty"),
        ({"keep_perturbations_at": [1, 2], "record_at": 2}, r"\[1\], which are not recorded"),
        ({"keep_perturbations_at": "some"}, r"keep_perturbations_at must be None, 'all'"),
    ],
)
def test_momentum_attack_validation(kwargs, match):
    A, x, y = make_problem()
    net = SmoothNet(A)
    with pytest.raises(ValueError, match=match):
        momentum_attack(net, A, x, y, **{**ATTACK, **kwargs}, generator=gen())
    assert net.calls == 0, "validation must happen before any network evaluation"


def test_momentum_attack_type_errors():
    A, x, y = make_problem()
    net = SmoothNet(A)
    with pytest.raises(TypeError, match="generator must be a torch.Generator.*got int"):
        momentum_attack(net, A, x, y, **ATTACK, generator=0)
    with pytest.raises(TypeError, match="record_at must be an int"):
        momentum_attack(net, A, x, y, **ATTACK, record_at=1.5, generator=gen())
    with pytest.raises(TypeError, match="x must be a torch.Tensor; got ndarray"):
        momentum_attack(net, A, x.numpy(), y, **ATTACK, generator=gen())
    assert net.calls == 0


@pytest.mark.parametrize(
    ("which", "match"),
    [
        ("x_shape", r"x has shape \(2, 4, 4\); expected \(\.\.\., 8, 8\) to match .*A.shape"),
        ("y_shape", r"y has shape \(2, 23\); expected \(\.\.\., 24\) .*A.m = 24"),
        ("batch", r"x and y have different batch shapes: .*\(3,\).*\(2,\)"),
    ],
)
def test_shape_mismatch(which, match):
    A, x, y = make_problem()
    if which == "x_shape":
        x = x[..., :4, :4]
    elif which == "y_shape":
        y = y[..., :-1]
    else:
        x = torch.cat([x, x[:1]])
    net = SmoothNet(A)
    with pytest.raises(ValueError, match=match):
        momentum_attack(net, A, x, y, **ATTACK, generator=gen())
    with pytest.raises(ValueError, match=match):
        worst_case_noise(net, A, x, y, budget=0.1, steps=2, restarts=1, generator=gen())
    assert net.calls == 0


def test_network_output_shape_is_checked():
    A, x, y = make_problem()
    with pytest.raises(ValueError, match=r"net\(y\) returned \(2, 64\); expected .*\(2, 8, 8\)"):
        momentum_attack(lambda v: v @ torch.ones(24, 64, dtype=v.dtype), A, x, y, **ATTACK,
                        generator=gen())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": -0.1}, r"budget must be a finite number in \[0, inf\]; got -0.1"),
        ({"restarts": 0}, r"restarts must be an integer >= 1; got 0"),
        ({"steps": 0}, r"steps must be an integer >= 1; got 0"),
        ({"step_size": 0.0}, r"step_size must be .*got 0.0"),
        ({"objective": "loss"}, r"objective must be one of \('error', 'change'\); got 'loss'"),
        ({"init": "zeros"}, r"init must be one of \('random', 'jacobian'\); got 'zeros'"),
        ({"jacobian_iters": 0}, r"jacobian_iters must be an integer >= 1; got 0"),
    ],
)
def test_worst_case_validation(kwargs, match):
    A, x, y = make_problem()
    net = SmoothNet(A)
    settings = {"budget": 0.1, "steps": 2, "restarts": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        worst_case_noise(net, A, x, y, **settings, generator=gen())
    assert net.calls == 0


# --------------------------------------------------------------------------- gradient


def test_complex_gradient_is_ascent_direction():
    """Autograd's gradient of real Q at complex r is ∂Q/∂Re r + i ∂Q/∂Im r."""
    A, x, y = make_problem(batch=(1,))
    net = SmoothNet(A)
    g = gen(3)
    r = 0.3 * torch.randn(1, *A.shape, dtype=torch.complex128, generator=g)
    with torch.no_grad():
        reference = net(y)
    lam = 0.7
    r_var = r.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(attack_objective(net, A, y, r_var, reference, lam=lam).sum(),
                                  r_var)

    def Q(rr):
        with torch.no_grad():
            return float(attack_objective(net, A, y, rr, reference, lam=lam).sum())

    h = 1e-6
    for k in [0, 5, 17, 40, 63]:
        e = torch.zeros_like(r)
        e.view(-1)[k] = 1.0
        d_re = (Q(r + h * e) - Q(r - h * e)) / (2 * h)
        d_im = (Q(r + 1j * h * e) - Q(r - 1j * h * e)) / (2 * h)
        gk = grad.view(-1)[k]
        assert d_re == pytest.approx(float(gk.real), rel=1e-6, abs=1e-8)
        assert d_im == pytest.approx(float(gk.imag), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_first_step_is_eta_times_gradient(transform):
    """End to end: r_1 − r_0 = η ∇Q(r_0), checked against finite differences of Q."""
    A, x, y = make_problem(transform, batch=(2,))
    net = SmoothNet(A)
    eta, lam = 0.37, 0.2
    res = momentum_attack(net, A, x, y, lam=lam, eta=eta, tau=0.2, steps=1, ref="true",
                          keep_perturbations_at="all", generator=gen(1))
    r0, r1 = res.perturbations[0], res.perturbations[1]
    assert r0.is_complex() == (transform == "fourier")
    grad = (r1 - r0) / eta

    def Q(rr):
        with torch.no_grad():
            return attack_objective(net, A, y, rr, x, lam=lam)

    h = 1e-6
    g = gen(7)
    for _ in range(3):
        direction = torch.randn(r0.shape, dtype=r0.dtype, generator=g)
        fd = (Q(r0 + h * direction) - Q(r0 - h * direction)) / (2 * h)
        # d/dt Q(r + t d) = Re <∇Q, d>
        analytic = (grad.conj() * direction).real.sum(dim=(-2, -1))
        torch.testing.assert_close(fd, analytic, rtol=1e-6, atol=1e-8)


def test_momentum_recursion_matches_reference_implementation():
    """For φ = B y, ∇Q(r) = (BM)*(BM) r − λ r (ref="pred"); replay the heavy-ball recursion."""
    A, x, y = make_problem(n=8, d=1, m=5, batch=(2,))
    g = gen(5)
    B = torch.randn(8, 5, dtype=torch.complex128, generator=g)
    net = MatrixNet(B, A.shape)
    M = dense_measure(A)
    K = B @ M
    lam, eta, gamma = 0.3, 0.05, 0.8
    res = momentum_attack(net, A, x, y, lam=lam, eta=eta, gamma=gamma, tau=0.5, steps=6,
                          keep_perturbations_at="all", generator=gen(2))
    r = res.perturbations[0].clone()
    v = torch.zeros_like(r)
    for j in range(1, 7):
        grad = (r @ K.T) @ K.conj() - lam * r
        v = gamma * v + eta * grad
        r = r + v
        torch.testing.assert_close(res.perturbations[j], r, rtol=1e-12, atol=1e-12)
    q = 0.5 * torch.linalg.vector_norm(r @ K.T, dim=-1) ** 2 - 0.5 * lam * (
        torch.linalg.vector_norm(r, dim=-1) ** 2)
    np.testing.assert_allclose(res.objective[-1], q.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- linear networks


@pytest.mark.parametrize(("transform", "d"), [("fourier", 2), ("walsh", 1), ("walsh", 2)])
def test_adjoint_network_never_amplifies_beyond_operator_norm(transform, d):
    """φ = W^{-1} A*: ‖φ(y + Ar) − φ(y)‖ / ‖Ar‖ ≤ ‖A‖ = 1, attained (σ_max(U*P*PU) = 1)."""
    n = 8 if d == 2 else 16
    A, x, y = make_problem(transform, n=n, d=d, m=10, batch=(3,))
    res = momentum_attack(AdjointNet(A), A, x, y, lam=0.1, eta=1.0, tau=1.0, steps=30,
                          generator=gen())
    norm_A = A.norm()
    assert norm_A == pytest.approx(1.0, abs=1e-8)
    assert np.all(res.amplification <= norm_A + 1e-10)
    np.testing.assert_allclose(res.amplification[-1], 1.0, rtol=1e-10)


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_amplification_converges_to_largest_singular_value(transform):
    """φ = B y (dense random B): amplification → σ_max(B M), M = P_Ω U (power iteration)."""
    A, x, y = make_problem(transform, n=16, d=1, m=6, batch=(2,))
    g = gen(11)
    dtype = torch.complex128 if transform == "fourier" else torch.float64
    B = torch.randn(16, 6, dtype=dtype, generator=g)
    net = MatrixNet(B, A.shape)
    sigma = power_iteration_sigma_max(B.to(torch.complex128) @ dense_measure(A))
    np.testing.assert_allclose(sigma, np.linalg.svd(B.numpy())[1][0], rtol=1e-10)  # M M* = I
    res = momentum_attack(net, A, x, y, lam=0.0, eta=0.5 / sigma**2, tau=1.0, steps=400,
                          max_pert_norm=1e60, generator=gen())
    assert np.all(res.amplification <= sigma * (1 + 1e-12))
    np.testing.assert_allclose(res.amplification[-1], sigma, rtol=1e-8)


# --------------------------------------------------------------------------- early stopping


def test_max_pert_norm_keeps_last_iterate_within_bound():
    A, x, y = make_problem(batch=(3,))
    net = SmoothNet(A)
    kw = dict(lam=0.0, eta=0.5, tau=0.05, steps=25, keep_perturbations_at="all")
    free = momentum_attack(net, A, x, y, **kw, generator=gen(4))
    bound = float(np.median(free.r_norm[-1])) * 0.6
    res = momentum_attack(net, A, x, y, **kw, max_pert_norm=bound, generator=gen(4))
    final_norm = torch.linalg.vector_norm(res.r, dim=(-2, -1)).numpy()
    assert np.all(final_norm <= bound)
    assert np.all(res.hit_bound) and np.all(res.stopped_at < 25)
    assert np.all(res.stop_reason == "max_pert_norm")
    assert np.all(free.stop_reason == "steps") and not free.hit_bound.any()
    for i, j in enumerate(res.stopped_at):
        # the kept iterate is the unconstrained one at stopped_at, the next one is beyond
        torch.testing.assert_close(res.r[i], free.perturbations[j, i], rtol=1e-10, atol=1e-12)
        assert free.r_norm[j + 1, i] > bound >= free.r_norm[j, i]
        # records after stopping repeat the final values
        assert np.all(res.r_norm[j:, i] == res.r_norm[j, i])
        np.testing.assert_allclose(res.r_norm[: j + 1, i], free.r_norm[: j + 1, i], rtol=1e-10)
        torch.testing.assert_close(res.perturbations[-1, i], res.r[i])


def test_max_output_change_and_early_exit():
    A, x, y = make_problem(batch=(2,))
    net = SmoothNet(A)
    res = momentum_attack(net, A, x, y, lam=0.0, eta=0.5, tau=0.01, steps=200,
                          max_output_change=0.5, generator=gen(4))
    assert np.all(res.stop_reason == "max_output_change") and np.all(res.stopped_at > 0)
    assert np.all(res.output_change <= 0.5)
    change = torch.linalg.vector_norm(res.reconstructions[-1] - res.clean_reconstruction,
                                      dim=(-2, -1))
    assert torch.all(change <= 0.5)
    # every image stopped early, so the attack ended early: 1 (φ(y)) + stopped_at + 2
    assert net.calls <= 1 + int(res.stopped_at.max()) + 2 < 200
    assert res.record_steps.size == 201 and not np.isnan(res.r_norm).any()


def test_start_beyond_bound_stops_at_zero():
    A, x, y = make_problem(batch=(2,))
    res = momentum_attack(SmoothNet(A), A, x, y, **{**ATTACK, "tau": 1.0}, max_pert_norm=1e-3,
                          keep_perturbations_at="all", generator=gen())
    assert np.all(res.stopped_at == 0) and np.all(res.stop_reason == "max_pert_norm")
    torch.testing.assert_close(res.r, res.perturbations[0])


class GainNet(torch.nn.Module):
    """φ(y) = ‖y‖ W^{-1} A* y: the gain of each image grows with its ‖y‖."""

    def __init__(self, A):
        super().__init__()
        self.A = A

    def forward(self, y):
        scale = torch.linalg.vector_norm(y, dim=-1).reshape(-1, *[1] * len(self.A.shape))
        return scale * self.A.measure_adjoint(y)


def test_bound_per_image_in_batch():
    """Images that hit the bound are frozen while the others continue."""
    A, x, y = make_problem(batch=(2,))
    y = torch.stack([y[0], 5 * y[1]])  # the second image has 5 times the gain
    x = torch.stack([x[0], 5 * x[1]])
    res = momentum_attack(GainNet(A), A, x, y, lam=0.0, eta=0.1, tau=0.001, steps=40,
                          max_output_change=5.0, generator=gen())
    assert np.all(res.stop_reason == "max_output_change")
    assert res.stopped_at[1] < res.stopped_at[0] < 40
    assert np.all(res.output_change <= 5.0)
    j = res.stopped_at[1]
    assert res.output_change[j + 1, 0] > res.output_change[j, 0]  # image 0 went on


class NanGradNet(torch.nn.Module):
    """Finite outputs; NaN gradient for images with ‖y‖ < c: sqrt(u²) at u = 0 gives
    inf · 0 = NaN, and u = t·[t < 0] with t = c − ‖y‖ passes it on (NaN · 0 = NaN)."""

    def __init__(self, A, c):
        super().__init__()
        self.A, self.c = A, c

    def forward(self, y):
        t = self.c - torch.linalg.vector_norm(y, dim=-1)
        kink = torch.sqrt((t * (t < 0)) ** 2)
        return self.A.measure_adjoint(y) + kink.reshape(-1, *[1] * len(self.A.shape))


def test_non_finite_gradient_stops_that_image_only():
    A, x, y = make_problem(batch=(2,))
    y = torch.stack([y[0], 3 * y[1] * y[0].norm() / y[1].norm()])
    net = NanGradNet(A, c=2 * float(y[0].norm()))
    with pytest.warns(RuntimeWarning, match="1 of 2 image.*non-finite"):
        res = momentum_attack(net, A, x, y, **ATTACK, keep_perturbations_at="all",
                              generator=gen())
    np.testing.assert_array_equal(res.stop_reason, ["non-finite", "steps"])
    np.testing.assert_array_equal(res.stopped_at, [0, 5])
    assert torch.isfinite(res.r).all() and np.isfinite(res.r_norm).all()
    torch.testing.assert_close(res.r[0], res.perturbations[0, 0])
    with pytest.warns(RuntimeWarning, match="ascent step.*skipped"):
        w = worst_case_noise(net, A, x, y, budget=0.1, steps=3, restarts=1, generator=gen())
    assert np.isfinite(w.error).all() and torch.isfinite(w.e).all()


# --------------------------------------------------------------------------- ref, seeds, records


def test_ref_true_and_pred_differ_as_they_should():
    A, x, y = make_problem(batch=(2,))
    net = SmoothNet(A)
    y_noisy = y + 0.3 * torch.randn(y.shape, dtype=y.dtype, generator=gen(9))
    kw = dict(lam=0.2, eta=0.3, tau=1e-8, steps=1, keep_perturbations_at="all")
    pred = momentum_attack(net, A, x, y_noisy, **kw, ref="pred", generator=gen())
    true = momentum_attack(net, A, x, y_noisy, **kw, ref="true", generator=gen())
    torch.testing.assert_close(pred.perturbations[0], true.perturbations[0])  # same r_0
    # step 0: the same iterate; Q measures the change for "pred", the error for "true"
    np.testing.assert_allclose(pred.error[0], true.error[0])
    r0_sq = np.linalg.norm(pred.perturbations[0].numpy().reshape(2, -1), axis=1) ** 2
    np.testing.assert_allclose(pred.objective[0], 0.5 * pred.output_change[0] ** 2 - 0.1 * r0_sq)
    np.testing.assert_allclose(true.objective[0], 0.5 * true.error[0] ** 2 - 0.1 * r0_sq)
    np.testing.assert_allclose(true.objective[0], 0.5 * true.clean_error**2, rtol=1e-6)
    assert np.all(pred.objective[0] < 1e-12)
    # with r_0 ≈ 0, "pred" sits at a stationary point, "true" climbs the clean error
    assert np.all(pred.r_norm[1] < 1e-6) and np.all(true.r_norm[1] > 1e-2)


def test_same_seed_same_result_other_seed_differs():
    A, x, y = make_problem(batch=(2,))
    net = SmoothNet(A)
    a = momentum_attack(net, A, x, y, **ATTACK, generator=gen(5))
    b = momentum_attack(net, A, x, y, **ATTACK, generator=gen(5))
    c = momentum_attack(net, A, x, y, **ATTACK, generator=gen(6))
    assert torch.equal(a.r, b.r)
    for name in RECORDED_METRICS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.r, c.r)
    w1 = worst_case_noise(net, A, x, y, budget=0.1, steps=3, restarts=2, generator=gen(5))
    w2 = worst_case_noise(net, A, x, y, budget=0.1, steps=3, restarts=2, generator=gen(5))
    assert torch.equal(w1.e, w2.e)
    np.testing.assert_array_equal(w1.restart_errors, w2.restart_errors)


def test_record_schedule_and_shapes():
    A, x, y = make_problem(batch=(2, 3))
    net = SmoothNet(A)
    res = momentum_attack(net, A, x, y, **{**ATTACK, "steps": 10}, record_at=4, generator=gen())
    assert isinstance(res, AttackResult)
    np.testing.assert_array_equal(res.record_steps, [0, 4, 8, 10])
    for name in RECORDED_METRICS:
        assert getattr(res, name).shape == (4, 2, 3)
    assert res.r.shape == (2, 3, 8, 8) and res.r.dtype == torch.complex128
    np.testing.assert_array_equal(res.kept_steps, [4, 8, 10])  # default: 3 spread, ending last
    assert res.perturbations.shape == res.reconstructions.shape == (3, 2, 3, 8, 8)
    assert res.stopped_at.shape == res.stop_reason.shape == res.clean_error.shape == (2, 3)
    assert np.all(res.stopped_at == 10) and np.all(res.stop_reason == "steps")
    torch.testing.assert_close(res.perturbations[-1], res.r)

    res = momentum_attack(net, A, x, y, **{**ATTACK, "steps": 10}, record_at=[7, 2, 2],
                          keep_perturbations_at=(), generator=gen())
    np.testing.assert_array_equal(res.record_steps, [2, 7, 10])
    assert res.perturbations.shape == (0, 2, 3, 8, 8)

    res = momentum_attack(net, A, x[0, 0], y[0, 0], **ATTACK, generator=gen())  # one image
    assert res.r_norm.shape == (6,) and res.r.shape == (8, 8) and res.stopped_at.shape == ()
    np.testing.assert_array_equal(res.kept_steps, [2, 4, 5])


def test_recorded_metrics_are_consistent():
    A, x, y = make_problem(batch=(2,))
    net = SmoothNet(A)
    res = momentum_attack(net, A, x, y, **ATTACK, keep_perturbations_at="all", generator=gen())
    for j in range(res.n_records):
        r = res.perturbations[j]
        Ar = A.measure(r)
        with torch.no_grad():
            out = net(y + Ar)
        norm = lambda t, k: torch.linalg.vector_norm(t, dim=tuple(range(-k, 0))).numpy()  # noqa: E731
        np.testing.assert_allclose(res.r_norm[j], norm(r, 2), rtol=1e-12)
        np.testing.assert_allclose(res.Ar_norm[j], norm(Ar, 1), rtol=1e-12)
        np.testing.assert_allclose(res.output_change[j], norm(out - res.clean_reconstruction, 2),
                                   rtol=1e-10)
        np.testing.assert_allclose(res.error[j], norm(out - x, 2), rtol=1e-10)
        torch.testing.assert_close(res.reconstructions[j], out)
    np.testing.assert_allclose(res.amplification, res.output_change / res.Ar_norm)


def test_to_dict_is_numpy():
    A, x, y = make_problem(batch=(2,))
    res = momentum_attack(SmoothNet(A), A, x, y, **ATTACK, generator=gen())
    d = res.to_dict()
    assert d["params"]["ref"] == "pred" and d["params"]["steps"] == 5
    for key in ("r", "perturbations", "reconstructions", "clean_reconstruction",
                *RECORDED_METRICS, "record_steps", "stopped_at", "stop_reason", "hit_bound"):
        assert isinstance(d[key], np.ndarray), key
    assert np.iscomplexobj(d["r"])
    small = res.to_dict(tensors=False)
    assert "r" not in small and "perturbations" not in small and "amplification" in small
    assert set(res.final()) == set(RECORDED_METRICS)

    w = worst_case_noise(SmoothNet(A), A, x, y, budget=0.1, steps=2, restarts=2, generator=gen())
    assert isinstance(w, WorstCaseResult)
    d = w.to_dict()
    assert isinstance(d["e"], np.ndarray) and d["restart_errors"].shape == (2, 2)
    assert "e" not in w.to_dict(tensors=False)


# --------------------------------------------------------------------------- network handling


def test_checkpointing_switched_on_and_restored():
    A, x, y = make_problem(batch=(2,))
    net = SmoothNet(A)
    momentum_attack(net, A, x, y, **ATTACK, generator=gen())
    worst_case_noise(net, A, x, y, budget=0.1, steps=2, restarts=1, generator=gen())
    assert net.seen_checkpointing and all(net.seen_checkpointing)
    assert net.checkpointing is False and net.c.requires_grad


def test_network_state_restored_after_error():
    A, x, y = make_problem(batch=(2,))
    net = SmoothNet(A)

    class Boom(RuntimeError):
        pass

    def failing(v):
        assert net.checkpointing and not net.c.requires_grad
        raise Boom

    net.forward = failing
    with pytest.raises(Boom):
        momentum_attack(net, A, x, y, **ATTACK, generator=gen())
    assert net.checkpointing is False and net.c.requires_grad
    with attack_mode(lambda v: v):  # a plain callable is used as it is
        pass


def test_plain_function_and_module_without_checkpointing():
    A, x, y = make_problem(transform="walsh", n=16, d=1, m=6, batch=(2,))
    res = momentum_attack(lambda v: A.measure_adjoint(v), A, x, y, **ATTACK, generator=gen())
    assert res.r.dtype == torch.float64
    res = momentum_attack(AdjointNet(A), A, x, y, **ATTACK, complex_perturbation=True,
                          generator=gen())
    assert res.r.dtype == torch.complex128


# --------------------------------------------------------------------------- worst-case noise


@pytest.mark.parametrize("transform", ["fourier", "walsh"])
def test_worst_case_constraint_and_random_comparison(transform):
    A, x, y = make_problem(transform, batch=(3,))
    net = SmoothNet(A)
    level = 0.2
    res = worst_case_noise(net, A, x, y, budget=level, steps=10, restarts=3, generator=gen())
    assert res.e.shape == y.shape and res.e.dtype == y.dtype
    radius = level * torch.linalg.vector_norm(y, dim=-1).numpy()
    np.testing.assert_allclose(res.radius, radius, rtol=1e-15)
    assert np.all(torch.linalg.vector_norm(res.e, dim=-1).numpy() <= radius * (1 + 1e-12))
    assert np.all(res.error >= res.random_errors.max(axis=0))
    assert np.all(res.error >= res.random_error)
    assert np.all(res.error > res.random_error + 0.1 * radius)  # the ascent finds worse noise
    np.testing.assert_allclose(res.error, res.restart_errors.max(axis=0))
    with torch.no_grad():
        out = net(y + res.e)
    np.testing.assert_allclose(res.error, torch.linalg.vector_norm(out - x, dim=(-2, -1)),
                               rtol=1e-12)


def test_worst_case_linear_reaches_largest_singular_value():
    """φ = B y and x = φ(y): the worst error over ‖e‖ ≤ ρ is ρ σ_max(B)."""
    A, _, y = make_problem(n=16, d=1, m=6, batch=(2,))
    B = torch.randn(16, 6, dtype=torch.complex128, generator=gen(3))
    net = MatrixNet(B, A.shape)
    with torch.no_grad():
        x = net(y)
    sigma = power_iteration_sigma_max(B)
    res = worst_case_noise(net, A, x, y, budget=0.05, steps=50, restarts=2, generator=gen(),
                           tol=0)  # fixed 50 steps: the stopping rule would end at ~1e-4
    np.testing.assert_allclose(res.error, res.radius * sigma, rtol=1e-8)
    assert np.all(res.random_error < res.error)


def test_worst_case_zero_level_is_clean_error():
    A, x, y = make_problem(batch=(2,))
    res = worst_case_noise(SmoothNet(A), A, x, y, budget=0.0, steps=3, restarts=2,
                           generator=gen())
    assert torch.all(res.e == 0)
    np.testing.assert_allclose(res.error, res.clean_error)
    np.testing.assert_allclose(res.random_error, res.clean_error)


# ------------------------------------------------------------------ worst case: new outputs


def complex_matrix_with_singular_values(rows, cols, sigmas, seed):
    """``U diag(σ) V^H`` with random unitary U, V: the exact SVD is known."""
    rng = np.random.default_rng(seed)

    def unitary(n):
        q, _ = np.linalg.qr(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
        return q

    k = len(sigmas)
    return (unitary(rows)[:, :k] * np.asarray(sigmas)) @ unitary(cols)[:, :k].conj().T


@pytest.mark.parametrize("init", ["random", "jacobian"])
def test_worst_case_change_objective_finds_top_singular_value(init):
    """φ(y) = M y: max ‖φ(y+e) − φ(y)‖ over ‖e‖ ≤ ρ is σ₁ρ (exact SVD, σ₂/σ₁ = 0.8).

    x is far from φ(y), so the "error" objective's maximiser is not the change's one.
    """
    A, x, y = make_problem(n=16, d=1, m=6, batch=(2,))
    sig = [3.0, 2.4, 1.5, 1.0, 0.5, 0.2]
    M = torch.from_numpy(complex_matrix_with_singular_values(16, 6, sig, seed=4))
    net = MatrixNet(M, A.shape)
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=30, restarts=2, generator=gen(),
                           objective="change", init=init)
    rho = res.radius
    np.testing.assert_allclose(res.change, sig[0] * rho, rtol=1e-2)
    assert np.all(res.change <= sig[0] * rho * (1 + 1e-9))  # never beyond the exact maximum
    np.testing.assert_allclose(res.e_norm, rho, rtol=1e-9)
    np.testing.assert_allclose(res.amplification, res.change / res.e_norm, rtol=1e-12)
    # both reported at the kept e*, whatever the objective
    with torch.no_grad():
        out = net(y + res.e)
        clean = net(y)
    np.testing.assert_allclose(res.change, torch.linalg.vector_norm(out - clean, dim=-1),
                               rtol=1e-10)
    np.testing.assert_allclose(res.error, torch.linalg.vector_norm(out - x, dim=-1),
                               rtol=1e-10)
    # the random starts are far from the worst direction
    assert np.all(res.random_change < 0.9 * res.change)
    assert np.all(res.random_changes.max(axis=0) <= res.change)
    # trace: best change so far, non-decreasing, ending at the kept value
    assert res.trace.shape == (31, 2)
    assert np.all(np.diff(res.trace, axis=0) >= 0)
    np.testing.assert_allclose(res.trace[-1], res.change, rtol=1e-10)
    if init == "jacobian":
        np.testing.assert_allclose(res.jacobian_sigma, sig[0], rtol=1e-4)
        # the start ±ρ v₁ is already the maximiser
        np.testing.assert_allclose(res.trace[0], sig[0] * rho, rtol=1e-4)
    else:
        assert np.all(np.isnan(res.jacobian_sigma))
        assert np.all(res.trace[0] < 0.95 * res.trace[-1])  # the ascent did the work


def test_worst_case_trace_is_max_over_restarts():
    A, x, y = make_problem(batch=(2,))
    one = worst_case_noise(SmoothNet(A), A, x, y, budget=0.2, steps=4, restarts=1,
                           generator=gen(7))
    two = worst_case_noise(SmoothNet(A), A, x, y, budget=0.2, steps=4, restarts=2,
                           generator=gen(7))
    # the first restart is the same draw; the second can only raise the trace
    assert np.all(two.trace >= one.trace)
    np.testing.assert_allclose(two.trace[-1], two.error, rtol=1e-10)
    np.testing.assert_allclose(two.trace[-1], two.restart_errors.max(axis=0), rtol=1e-10)
    assert np.all(np.diff(two.trace, axis=0) >= 0)
    d = two.to_dict(tensors=False)
    for name in ("change", "amplification", "e_norm", "random_change", "trace"):
        assert isinstance(d[name], np.ndarray)
    assert two.params["objective"] == "error" and two.params["init"] == "random"


class AmplifiedAdjoint(torch.nn.Module):
    """The issue's φ(y) = (I + 6uu^H) A^H y: one image direction u amplified 7×."""

    def __init__(self, A, u):
        super().__init__()
        self.A, self.u = A, u

    def forward(self, y):
        z = self.A.measure_adjoint(y)
        ip = (self.u.conj() * z).sum(dim=(-2, -1), keepdim=True)
        return z + 6.0 * self.u * ip


def test_worst_case_error_finds_the_amplified_direction():
    """Error objective with init="jacobian" on φ(y) = (I + 6uu^H)A^H y at level 0.1.

    u = A^H a/‖A^H a‖ lies in the range of A^H (A = P_Ω U has orthonormal rows), so the
    unit measurement w = A u/‖A u‖ gives φ(y + ρ e^{iθ} w) − x = c + ρ e^{iθ} B w with
    c = φ(y) − x, B w = 7u. Maximising over the phase θ, the amplified direction reaches
    exactly E_amp² = ‖c‖² + ρ²‖Bw‖² + 2ρ|⟨Bw, c⟩|; the attack must get within 1% of it
    (and can never exceed ‖c‖ + 7ρ).
    """
    from stablesweep.sampling import band_sizes, multilevel_mask

    shape = (16, 16)
    caps = band_sizes(shape, "fourier").ravel()
    budget = np.maximum(caps // 3, 1)
    budget[:4] = caps[:4]  # the coarsest levels fully sampled
    A = SamplingOperator("fourier", multilevel_mask(shape, "fourier", budget, 0))
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.standard_normal(A.m) + 1j * rng.standard_normal(A.m))
    u = A.measure_adjoint(a)
    u = u / torch.linalg.vector_norm(u)
    net = AmplifiedAdjoint(A, u)
    x = torch.from_numpy(rng.standard_normal((2, *shape)))
    y = A.measure(x.to(A.dtype))
    level = 0.1
    res = worst_case_noise(net, A, x, y, budget=level, steps=30, restarts=2, generator=gen(),
                           init="jacobian")
    rho = torch.from_numpy(res.radius)
    w = A.measure(u)
    w = w / torch.linalg.vector_norm(w)
    with torch.no_grad():
        c = net(y) - x
        Bw = net(y + w) - net(y)
    nc = torch.linalg.vector_norm(c, dim=(-2, -1))
    nb = torch.linalg.vector_norm(Bw, dim=(-2, -1))
    np.testing.assert_allclose(nb, 7.0, rtol=1e-10)  # the direction is amplified 7×
    e_amp = torch.sqrt(nc**2 + rho**2 * nb**2 + 2 * rho * (Bw.conj() * c).sum((-2, -1)).abs())
    e_amp = e_amp.numpy()
    assert np.all(e_amp > 1.05 * res.random_error)  # the test can tell the two apart
    assert np.all(res.error >= 0.99 * e_amp)
    assert np.all(res.error <= (nc + 7 * rho).numpy() * (1 + 1e-9))
    np.testing.assert_allclose(res.jacobian_sigma, 7.0, rtol=1e-4)
    np.testing.assert_allclose(res.amplification, res.change / res.e_norm, rtol=1e-12)
    # a Jacobian computed once (and shared by several budgets) gives the same attack
    g = gen()
    jac = jacobian_sigma_max(net, y.reshape(2, -1), generator=g)
    again = worst_case_noise(net, A, x, y, budget=level, steps=30, restarts=2, generator=g,
                             init="jacobian", jacobian=jac)
    np.testing.assert_array_equal(again.error, res.error)
    np.testing.assert_array_equal(again.trace, res.trace)
    with pytest.raises(ValueError, match="jacobian is for"):
        worst_case_noise(net, A, x[0], y[0], budget=level, steps=1, restarts=1, generator=gen(),
                         init="jacobian", jacobian=jac)


# ----------------------------------------------------------------- momentum: cap on ‖r‖


def test_momentum_cap_is_never_exceeded():
    A, x, y = make_problem(n=16, d=1, m=6, batch=(3,))
    B = torch.randn(16, 6, dtype=torch.complex128, generator=gen(3))
    net = MatrixNet(B, A.shape)  # linear and unbounded: without a cap r grows geometrically
    cap = 0.05
    res = momentum_attack(net, A, x, y, lam=0.0, eta=1.0, tau=0.5, steps=25,
                          keep_perturbations_at="all", max_norm=cap, generator=gen())
    limit = cap * torch.linalg.vector_norm(x, dim=-1).numpy()
    assert np.all(res.r_norm <= limit * (1 + 1e-12))
    norms_kept = torch.linalg.vector_norm(res.perturbations, dim=-1).numpy()
    assert np.all(norms_kept <= limit * (1 + 1e-12))
    np.testing.assert_allclose(res.r_norm[-1], limit, rtol=1e-9)  # it runs on the sphere
    assert np.all(res.stop_reason == "steps")
    assert res.params["max_norm"] == cap
    free = momentum_attack(net, A, x, y, lam=0.0, eta=1.0, tau=0.5, steps=25, generator=gen())
    assert np.all(free.r_norm[-1] > 10 * limit)  # the cap is what held it
    # on the ball the ascent still finds the top direction: amplification → σ_max(BM)
    K = B @ dense_measure(A)
    np.testing.assert_allclose(res.amplification[-1], power_iteration_sigma_max(K), rtol=1e-3)


def test_momentum_velocity_is_the_projected_step():
    """Reference replay of the projected heavy ball: v ← P(r + γv + η∇) − r."""
    A, x, y = make_problem(n=8, d=1, m=5, batch=(2,))
    B = torch.randn(8, 5, dtype=torch.complex128, generator=gen(5))
    net = MatrixNet(B, A.shape)
    K = B @ dense_measure(A)
    cap, eta, gamma = 0.02, 0.3, 0.8
    res = momentum_attack(net, A, x, y, lam=0.0, eta=eta, gamma=gamma, tau=0.5, steps=6,
                          keep_perturbations_at="all", max_norm=cap, generator=gen(2))
    radius = cap * torch.linalg.vector_norm(x, dim=-1)
    r = res.perturbations[0].clone()
    assert torch.all(torch.linalg.vector_norm(r, dim=-1) <= radius * (1 + 1e-12))
    v = torch.zeros_like(r)
    for j in range(1, 7):
        grad = (r @ K.T) @ K.conj()
        t = r + gamma * v + eta * grad
        n = torch.linalg.vector_norm(t, dim=-1)
        r_new = t * torch.where(n > radius, radius / n, torch.ones_like(n)).unsqueeze(-1)
        v, r = r_new - r, r_new
        torch.testing.assert_close(res.perturbations[j], r, rtol=1e-12, atol=1e-12)


def test_momentum_without_cap_is_bit_identical():
    A, x, y = make_problem(batch=(2,))
    kw = dict(lam=0.1, eta=0.5, tau=0.1, steps=6, keep_perturbations_at="all")
    a = momentum_attack(SmoothNet(A), A, x, y, **kw, generator=gen(9))
    b = momentum_attack(SmoothNet(A), A, x, y, **kw, max_norm=None, generator=gen(9))
    assert torch.equal(a.perturbations, b.perturbations) and torch.equal(a.r, b.r)
    for name in RECORDED_METRICS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True)
    # a cap larger than any iterate changes nothing but rounding ((r + v) − r ≈ v)
    c = momentum_attack(SmoothNet(A), A, x, y, **kw, max_norm=1e6, generator=gen(9))
    torch.testing.assert_close(a.perturbations, c.perturbations, rtol=1e-12, atol=1e-14)


def test_warm_start_is_a_candidate_so_the_maximum_grows_with_the_budget():
    A, x, y = make_problem(n=16, d=1, m=8, batch=(2,))
    net = SmoothNet(A)
    small = worst_case_noise(net, A, x, y, budget=0.05, steps=3, restarts=1, generator=gen())
    # one short ascent from another seed still keeps at least what the warm start
    # reaches: e* of the smaller budget is feasible at the larger one
    big = worst_case_noise(net, A, x, y, budget=0.1, steps=1, restarts=1, generator=gen(9),
                           warm_start=small.e)
    assert np.all(big.error >= small.error)
    assert np.all(big.trace[-1] == big.error)  # the trace includes the warm candidates
    assert np.all(big.e_norm <= big.radius * (1 + 1e-12))
    with pytest.raises(ValueError, match="warm_start has"):
        worst_case_noise(net, A, x, y, budget=0.1, steps=1, restarts=1, generator=gen(),
                         warm_start=small.e[0])
