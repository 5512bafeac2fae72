"""Cost of a primal–dual iteration, measured side by side in one run (one thread).

256² Fourier + Haar, 25% multilevel sampling (theory budgets), complex128. Prints:

* ours: time per iteration of the ``"primal-dual"`` network (no-grad fast path, with
  the fused Numba kernels of ``stablesweep.networks.core.kernels``) ÷ the bare cost of
  ``A`` + ``A^*`` on the same data — target ≤ 1.3; for information also the same fast
  path with PyTorch operations only, and the autograd path (forward only, graph kept);
* pyproximal: ``pyproximal.optimization.primaldual.PrimalDual`` on pylops operators
  (``Restriction · FFT2D · DWT2D^H``, L1 with the same weights, ``‖· − y‖₂`` through
  ``Euclidean.precomposition``), the same number of iterations from the same start —
  target: ours ≥ 2× faster; the last primal iterates of both are compared (relative
  difference printed; they must agree to 1e-10).

All timings are best-of-``repeat`` means with the contenders interleaved within each
repeat, so a burst of load on the machine hits both sides of a ratio alike.

Run: ``.venv/bin/python benchmarks/networks.py [--iters K] [--repeat R]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import side_by_side  # noqa: E402

from stablesweep._malloc import tune_malloc  # noqa: E402
from stablesweep.levels import weight_map  # noqa: E402
from stablesweep.networks import build_network  # noqa: E402
from stablesweep.networks.core import kernels  # noqa: E402
from stablesweep.operators import SamplingOperator  # noqa: E402
from stablesweep.sampling import budgets, multilevel_mask  # noqa: E402

#: local sparsities of a 256² image (8 Haar levels) used for the weights and budgets
S256 = (4, 10, 30, 90, 250, 650, 1500, 3000)


def pyproximal_setup(A: SamplingOperator, y: torch.Tensor, lam: float, w: torch.Tensor):
    """The same square-root LASSO problem on pylops operators, and a solver closure."""
    import pylops
    import pyproximal
    from pyproximal.optimization.primaldual import PrimalDual

    n = A.shape[0]
    D = pylops.signalprocessing.DWT2D((n, n), wavelet=A.wavelet, level=A.levels,
                                      dtype="complex128")
    F = pylops.signalprocessing.FFT2D((n, n), norm="ortho", dtype="complex128")
    idx = np.flatnonzero(A.mask.numpy().reshape(-1))
    R = pylops.Restriction(n * n, idx, dtype="complex128")
    K = R @ F @ D.H
    yn = y.numpy()
    proxf = pyproximal.L1(sigma=lam * w.numpy().reshape(-1))
    proxg = pyproximal.Euclidean(sigma=1.0).precomposition(1.0, -yn)

    def solve(iters: int) -> np.ndarray:
        x0 = np.zeros(n * n, dtype=np.complex128)
        return PrimalDual(proxf, proxg, K, x0, tau=1.0, mu=1.0, theta=1.0, niter=iters,
                          gfirst=False)

    ones = np.ones(n * n, dtype=np.complex128)

    def apply_both(iters: int) -> None:
        for _ in range(iters):
            K.rmatvec(K.matvec(ones))

    return solve, apply_both


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tune_malloc()

    n, K = args.size, args.iters
    shape = (n, n)
    s = S256[-int(np.log2(n)):] if n < 256 else S256
    rng = np.random.default_rng(0)
    b = budgets(shape, "fourier", int(0.25 * n * n), "theory", s=s)
    A = SamplingOperator("fourier", multilevel_mask(shape, "fourier", b, rng))
    g = torch.Generator().manual_seed(0)
    z = A.to_coefficients(torch.randn(shape, dtype=torch.complex128, generator=g))
    y = A(z)
    net = build_network("primal-dual", A, K, s=s)
    w = weight_map(shape, s)

    def bare():  # K applications, so that every contender runs about as long
        for _ in range(K):
            A.adjoint(A(z))

    def ours():
        with torch.no_grad():
            return net(y)

    def ours_torch_ops():  # the same fast path without the fused kernels
        previous = kernels.set_enabled(False)
        try:
            with torch.no_grad():
                return net(y)
        finally:
            kernels.set_enabled(previous)

    y_grad = y.clone().requires_grad_(True)

    def ours_autograd():
        return net(y_grad)

    contenders = [bare, ours, ours_torch_ops, ours_autograd]
    names = ["A + A* (ours)", "primal-dual (ours, no grad)", "  without fused kernels",
             "primal-dual (ours, autograd)"]
    have_pyprox = True
    try:
        solve, pylops_both = pyproximal_setup(A, y, net.lam, w)
        contenders += [lambda: pylops_both(K), lambda: solve(K)]
        names += ["A + A* (pylops)", "PrimalDual (pyproximal)"]
    except ImportError as exc:  # pragma: no cover - optional bench dependencies
        have_pyprox = False
        print(f"pyproximal/pylops not available ({exc}); skipping the comparison")

    times = side_by_side(contenders, args.repeat)
    per_iter = {name: t / K for name, t in zip(names, times, strict=True)}

    print(f"{n}² Fourier + Haar, m = {A.m} ({A.m / n**2:.0%}), {K} iterations, one thread, "
          f"best of {args.repeat}")
    print(f"{'':32} {'ms / iteration':>15} {'÷ A + A* (ours)':>16}")
    base = per_iter["A + A* (ours)"]
    for name in names:
        print(f"{name:32} {1e3 * per_iter[name]:>15.3f} {per_iter[name] / base:>16.2f}")
    ratio = per_iter["primal-dual (ours, no grad)"] / base
    verdict = "ok" if ratio <= 1.3 else "MISSED"
    print(f"\niteration ÷ (A + A*) = {ratio:.2f}   (target ≤ 1.3: {verdict})")
    if have_pyprox:
        speedup = per_iter["PrimalDual (pyproximal)"] / per_iter["primal-dual (ours, no grad)"]
        x_ref = solve(K)
        x_ours = net.final_state(y).x.reshape(-1).numpy()
        rel = np.linalg.norm(x_ours - x_ref) / np.linalg.norm(x_ref)
        verdict = "ok" if speedup >= 2 else "MISSED"
        print(f"pyproximal ÷ ours = {speedup:.2f}   (target ≥ 2: {verdict})")
        print(f"last primal iterate x_{K}: relative difference ours vs pyproximal = {rel:.1e}"
              f"   ({'ok' if rel <= 1e-10 else 'MISMATCH'})")


if __name__ == "__main__":
    main()
