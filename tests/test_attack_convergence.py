"""Convergence, starts and protocols of :func:`stablesweep.attacks.worst_case_noise`.

The stopping rule (``tol``, ``patience``, ``steps`` as a cap), user-given start
``directions``, batched starts, projected Adam (``method="adam"``) and the ``"genzel"``
preset, on linear networks φ(y) = M y with a known SVD and on a smooth non-linear map.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stablesweep.attacks import worst_case_noise
from stablesweep.attacks.worst_case import PROTOCOLS
from stablesweep.operators import SamplingOperator

torch.set_num_threads(1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def make_problem(n=16, m=6, batch=(2,), seed=0):
    """1-D Fourier operator with m samples of n, real images x, y = P U x."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=m, replace=False)] = True
    A = SamplingOperator("fourier", mask)
    x = torch.from_numpy(rng.standard_normal((*batch, n)))
    return A, x, A.measure(x.to(A.dtype))


def matrix_with_singular_values(rows, cols, sigmas, seed):
    """``U diag(σ) V^H`` with random unitary U, V; also returns the top right vector v₁."""
    rng = np.random.default_rng(seed)

    def unitary(k):
        q, _ = np.linalg.qr(rng.standard_normal((k, k)) + 1j * rng.standard_normal((k, k)))
        return q

    U, V = unitary(rows), unitary(cols)
    k = len(sigmas)
    M = (U[:, :k] * np.asarray(sigmas)) @ V[:, :k].conj().T
    return torch.from_numpy(M), torch.from_numpy(V[:, 0].copy())


class MatrixNet(torch.nn.Module):
    """φ(y) = M y, batched over leading dimensions; counts the rows it evaluates."""

    def __init__(self, M):
        super().__init__()
        self.M = M
        self.rows = 0

    def forward(self, y):
        self.rows += y.reshape(-1, y.shape[-1]).shape[0]
        return y.to(self.M.dtype) @ self.M.T


class SmoothNet(torch.nn.Module):
    """A smooth non-linear map: φ(y) = z + c z|z|²/(1 + |z|²), z = M y."""

    def __init__(self, M, c=0.5):
        super().__init__()
        self.M, self.c = M, c

    def forward(self, y):
        z = y.to(self.M.dtype) @ self.M.T
        a = z.abs() ** 2
        return z + self.c * z * a / (1 + a)


SIG = [3.0, 2.4, 1.5, 1.0, 0.5, 0.2]


def linear_problem(batch=(2,)):
    A, x, y = make_problem(batch=batch)
    M, v1 = matrix_with_singular_values(16, 6, SIG, seed=4)
    return A, x, y, MatrixNet(M), v1


# --------------------------------------------------------------------- stopping rule


def test_defaults_meet_the_stopping_rule_and_reach_sigma_max():
    A, x, y, net, _ = linear_problem()
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=500, generator=gen(),
                           objective="change")
    assert not res.hit_cap.any()
    assert np.all(res.steps_run < 500) and np.all(res.steps_run >= 5)
    np.testing.assert_allclose(res.amplification, SIG[0], rtol=1e-3)
    assert np.all(res.change <= SIG[0] * res.e_norm * (1 + 1e-12))
    # the trace keeps its shape and is flat after the stop
    assert res.trace.shape == (501, 2)
    for i, k in enumerate(res.steps_run):
        assert np.all(res.trace[k:, i] == res.trace[-1, i])
    np.testing.assert_allclose(res.trace[-1], res.change, rtol=1e-12)
    assert res.params["tol"] == 1e-3 and res.params["patience"] == 5
    # the rule itself: at the stop, growth over the last `patience` steps ≤ tol
    k = res.steps_run
    grew = res.trace[k, [0, 1]] / res.trace[k - 5, [0, 1]] - 1
    assert np.all(grew <= 1e-3)


def test_tiny_cap_is_reported():
    A, x, y, net, _ = linear_problem()
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=2, generator=gen(),
                           objective="change")
    assert res.hit_cap.all() and np.all(res.steps_run == 2)
    assert res.trace.shape == (3, 2)
    # tol = 0 switches the rule off: every start runs to the cap
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=30, restarts=2, tol=0,
                           generator=gen(), objective="change")
    assert res.hit_cap.all() and np.all(res.start_steps == 30)


def test_stopped_starts_leave_the_batch():
    """A start that stops is no longer evaluated; the attack ends when all stopped."""
    A, x, y, net, _ = linear_problem()
    net.rows = 0
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=200, restarts=3, generator=gen(),
                           objective="change")
    assert not res.hit_cap.any()
    # clean pass (2 rows), 3 random candidates (6), then each start's iterates 0..k
    assert net.rows == 2 + 6 + int((res.start_steps + 1).sum())


# --------------------------------------------------------------------- directions


@pytest.mark.parametrize("objective", ["change", "error"])
def test_given_direction_is_a_lower_bound(objective):
    A, x, y = make_problem()
    M, _ = matrix_with_singular_values(16, 6, SIG, seed=4)
    net = SmoothNet(M)
    d = torch.randn((2, 6), dtype=torch.complex128, generator=gen(8))
    level = 0.1
    res = worst_case_noise(net, A, x, y, budget=level, steps=3, generator=gen(),
                           objective=objective, directions=d)
    rho = level * torch.linalg.vector_norm(y, dim=-1, keepdim=True)
    with torch.no_grad():
        ref = x if objective == "error" else net(y)
        at_d = [torch.linalg.vector_norm(net(y + s * rho * d / torch.linalg.vector_norm(
            d, dim=-1, keepdim=True)) - ref, dim=-1).numpy() for s in (1.0, -1.0)]
    found = res.error if objective == "error" else res.change
    assert np.all(found >= np.maximum(*at_d) * (1 - 1e-12))
    assert res.start_names == ("random 0", "direction 0")
    assert res.start_objectives.shape == (2, 2)
    assert np.all(res.start_objectives[1] >= np.maximum(*at_d) * (1 - 1e-12))
    np.testing.assert_allclose(res.start_objectives.max(axis=0), found, rtol=1e-12)
    assert res.params["directions"] == 1


def test_top_singular_vector_as_direction_is_already_the_maximiser():
    A, x, y, net, v1 = linear_problem()
    dirs = torch.stack([v1.expand(2, 6), torch.ones(2, 6, dtype=torch.complex128)])
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=50, generator=gen(),
                           objective="change", directions=dirs)
    assert res.start_names == ("random 0", "direction 0", "direction 1")
    np.testing.assert_allclose(res.start_objectives[1], SIG[0] * res.radius, rtol=1e-12)
    np.testing.assert_allclose(res.trace[0], SIG[0] * res.radius, rtol=1e-12)
    # a list (as from YAML) works too
    again = worst_case_noise(net, A, x, y, budget=0.1, steps=50, generator=gen(),
                             objective="change", directions=dirs.real.tolist())
    assert again.start_objectives.shape == (3, 2)


def test_direction_checks():
    A, x, y, net, _ = linear_problem()
    d = torch.ones(2, 6, dtype=torch.complex128)
    cases = [
        (d[0], r"directions has shape \(6,\); expected y's shape \(2, 6\)"),
        (torch.ones(3, 2, 5), r"directions has shape \(3, 2, 5\)"),
        (torch.stack([d, d * torch.tensor([[0.0], [1.0]])]),
         r"directions\[1\] is zero for image 0"),
        (d * float("nan"), "directions has non-finite entries"),
        ("up", "directions must be a tensor"),
    ]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            worst_case_noise(net, A, x, y, budget=0.1, steps=2, generator=gen(), directions=bad)
    yr = y.real.contiguous()
    with pytest.raises(ValueError, match="directions is complex"):
        worst_case_noise(lambda v: A.measure_adjoint(v.to(A.dtype)).real, A, x, yr,
                         budget=0.1, steps=2, generator=gen(), directions=d)
    assert net.rows == 0


# --------------------------------------------------------------------- batching


@pytest.mark.parametrize("method", ["normalized", "adam"])
def test_batched_starts_equal_starts_one_by_one(method):
    A, x, y = make_problem(batch=(3,))
    M, _ = matrix_with_singular_values(16, 6, SIG, seed=4)
    net = SmoothNet(M)
    d = torch.randn((2, 3, 6), dtype=torch.complex128, generator=gen(8))
    kw = dict(budget=0.2, steps=40, restarts=3, objective="error", init="jacobian",
              directions=d, method=method, jacobian_iters=20)
    together = worst_case_noise(net, A, x, y, generator=gen(1), **kw)
    one_by_one = worst_case_noise(net, A, x, y, generator=gen(1), start_batch=1, **kw)
    assert together.start_names == ("jacobian", "random 1", "random 2", "direction 0",
                                    "direction 1")
    for name in ("error", "change", "trace", "start_objectives", "restart_errors",
                 "random_errors"):
        np.testing.assert_allclose(getattr(together, name), getattr(one_by_one, name),
                                   rtol=1e-10, err_msg=name)
    np.testing.assert_array_equal(together.start_steps, one_by_one.start_steps)
    np.testing.assert_array_equal(together.steps_run, one_by_one.steps_run)
    torch.testing.assert_close(together.e, one_by_one.e, rtol=1e-9, atol=1e-12)
    # the same generator gives the same attack
    again = worst_case_noise(net, A, x, y, generator=gen(1), **kw)
    assert torch.equal(again.e, together.e)


# --------------------------------------------------------------------- Adam, Genzel


def test_adam_keeps_a_monotone_best_inside_the_ball():
    A, x, y = make_problem(batch=(2,))
    M, _ = matrix_with_singular_values(16, 6, SIG, seed=4)
    net = SmoothNet(M)
    res = worst_case_noise(net, A, x, y, budget=0.1, steps=60, restarts=2, generator=gen(),
                           method="adam", lr=0.1, tol=0)
    assert np.all(np.diff(res.trace, axis=0) >= 0)
    assert np.all(res.trace[-1] > res.trace[0])  # it climbs
    assert np.all(res.e_norm <= res.radius * (1 + 1e-12))
    assert np.all(res.error >= res.random_errors.max(axis=0))
    with torch.no_grad():
        out = net(y + res.e)
    np.testing.assert_allclose(res.error, torch.linalg.vector_norm(out - x, dim=-1),
                               rtol=1e-12)
    assert res.params["method"] == "adam" and res.params["betas"] == (0.9, 0.999)


def test_adam_stalls_below_sigma_max_where_the_normalized_ascent_converges():
    """Projected Adam's fixed points satisfy e ∥ sign(∇), not e ∥ ∇ (documented)."""
    A, x, y, net, _ = linear_problem()
    kw = dict(budget=0.1, generator=gen(), objective="change")
    adam = worst_case_noise(net, A, x, y, steps=300, method="adam", tol=0, **kw)
    norm = worst_case_noise(net, A, x, y, steps=300, **kw)
    np.testing.assert_allclose(norm.amplification, SIG[0], rtol=1e-3)
    assert np.all(adam.amplification < SIG[0] * (1 - 1e-2))
    assert np.all(norm.steps_run < 50)


def test_genzel_preset_and_overrides():
    A, x, y, net, _ = linear_problem(batch=(1,))
    assert PROTOCOLS["genzel"] == {"method": "adam", "steps": 1000, "restarts": 6,
                                   "init": "jacobian", "lr": 1000.0, "tol": 0.0}
    res = worst_case_noise(net, A, x, y, budget=0.1, generator=gen(), protocol="genzel",
                           steps=20, jacobian_iters=10)
    p = res.params
    assert (p["method"], p["restarts"], p["init"], p["lr"], p["tol"]) == (
        "adam", 6, "jacobian", 1000.0, 0.0)
    assert p["steps"] == 20 and p["protocol"] == "genzel"  # explicit steps overrides
    assert res.start_names == ("jacobian", *(f"random {i}" for i in range(1, 6)))
    assert res.trace.shape == (21, 1) and res.hit_cap.all()
    assert np.all(res.start_steps == 20)
    other = worst_case_noise(net, A, x, y, budget=0.1, generator=gen(), protocol="genzel",
                             steps=5, init="random", method="normalized", tol=1e-3,
                             restarts=2)
    q = other.params
    assert (q["method"], q["init"], q["restarts"], q["tol"]) == ("normalized", "random", 2,
                                                                 1e-3)
    import inspect

    sig = inspect.signature(worst_case_noise)
    assert sig.parameters["steps"].default is None  # the cap: given, or from a protocol


# --------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": -1e-3}, r"tol must be a finite number in \[0, inf\]; got -0.001"),
        ({"patience": 0}, r"patience must be an integer >= 1; got 0"),
        ({"method": "sgd"}, r"method must be one of \('normalized', 'adam'\); got 'sgd'"),
        ({"protocol": "madry"}, r"protocol must be None or one of \('genzel',\); got 'madry'"),
        ({"method": "adam", "lr": 0.0}, r"lr must be a finite number in \(0, inf\]; got 0.0"),
        ({"lr": 0.1}, r"lr is Adam's learning rate \(method='adam'\); got lr=0.1"),
        ({"method": "adam", "betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\)"),
        ({"steps": None}, r"steps must be an integer >= 1 .*unless a protocol sets it; "
                          r"got None"),
        ({"start_batch": 0}, r"start_batch must be an integer >= 1; got 0"),
    ],
)
def test_bad_settings_raise_before_any_evaluation(kwargs, match):
    A, x, y, net, _ = linear_problem()
    settings = {"budget": 0.1, "steps": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        worst_case_noise(net, A, x, y, generator=gen(), **settings)
    assert net.rows == 0


def test_checkpointing_only_when_the_graph_does_not_fit():
    """Same attack with and without checkpointing; the setting is restored."""
    from stablesweep.networks import build_network

    rng = np.random.default_rng(0)
    mask = np.zeros((8, 8), dtype=bool)
    mask.reshape(-1)[rng.choice(64, size=28, replace=False)] = True
    A = SamplingOperator("fourier", mask)
    x = torch.from_numpy(rng.standard_normal((2, 8, 8)))
    y = A.measure(x.to(A.dtype))
    net = build_network("fista", A, depth=10)
    kw = dict(budget=0.1, steps=4, restarts=2, tol=0, generator=gen())
    free = worst_case_noise(net, A, x, y, **kw)
    ckpt = worst_case_noise(net, A, x, y, graph_memory_mib=0, **{**kw, "generator": gen()})
    assert free.params["checkpointing"] is False and ckpt.params["checkpointing"] is True
    assert net.checkpointing is False
    np.testing.assert_allclose(free.trace, ckpt.trace, rtol=1e-10)
    torch.testing.assert_close(free.e, ckpt.e, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------- absolute budgets


def test_per_image_radius_equals_one_call_per_image_at_its_level():
    """``radius`` gives each image its own budget, the same as a call at its level."""
    A, x, y, net, _ = linear_problem()
    y_norm = torch.linalg.vector_norm(y, dim=-1)
    rho = torch.tensor([0.05, 0.2], dtype=torch.float64) * y_norm
    both = worst_case_noise(net, A, x, y, radius=rho, steps=50, generator=gen(),
                            objective="change", init="jacobian")
    np.testing.assert_allclose(both.radius, rho.numpy(), rtol=1e-15)
    np.testing.assert_allclose(both.e_norm, rho.numpy(), rtol=1e-9)
    for i, lev in enumerate((0.05, 0.2)):
        one = worst_case_noise(net, A, x[i:i + 1], y[i:i + 1], budget=lev, steps=50,
                               generator=gen(), objective="change", init="jacobian")
        np.testing.assert_allclose(both.change[i], one.change[0], rtol=1e-6)
    # a scalar radius is one budget for every image
    same = worst_case_noise(net, A, x, y, radius=float(rho[0]), steps=5, generator=gen(),
                            objective="change")
    np.testing.assert_allclose(same.radius, [float(rho[0])] * 2)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of budget"),
    ({"budget": 0.1, "radius": 1.0}, "exactly one of budget"),
    ({"radius": [1.0, 2.0, 3.0]}, "radius has 3 entries; expected 1 or 2"),
    ({"radius": [-1.0, 1.0]}, "radius must be finite and >= 0"),
])
def test_budget_arguments_are_checked(kwargs, match):
    A, x, y, net, _ = linear_problem()
    with pytest.raises(ValueError, match=match):
        worst_case_noise(net, A, x, y, steps=5, generator=gen(), **kwargs)
