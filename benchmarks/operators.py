"""Operator cost, measured side by side in one run (one thread, complex128).

Prints, for 256² and 512²:

* ``A+A*`` time ÷ (one FFT + one inverse FFT + one DWT + one inverse DWT) — the
  price of composing the pieces (restriction, zero filling, dispatch); target ≤ 1.3;
* our full Haar DWT ÷ ``pywt.wavedec2`` + ``pywt.coeffs_to_array`` on the same data;
  target ≤ 1.0.

Run: ``.venv/bin/python benchmarks/operators.py [--repeat R]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pywt
import torch
from _timing import side_by_side

from stablesweep import transforms as T
from stablesweep._malloc import tune_malloc
from stablesweep.operators import SamplingOperator
from stablesweep.sampling import budgets, multilevel_mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--wavelet", default="haar")
    ap.add_argument("--glibc-defaults", action="store_true",
                    help="keep glibc's adaptive malloc thresholds (see stablesweep._malloc)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tuned = False if args.glibc_defaults else tune_malloc()
    print(f"malloc: {'fixed glibc thresholds' if tuned else 'defaults'}")
    rng = np.random.default_rng(0)
    print(f"{'size':>6} {'A+A* [ms]':>10} {'pieces [ms]':>12} {'ratio':>6} (≤1.3) "
          f"{'our DWT [ms]':>13} {'pywt [ms]':>10} {'ratio':>6} (≤1.0)")
    for n in (256, 512):
        shape = (n, n)
        m = int(0.25 * n * n)
        mask = multilevel_mask(shape, "fourier", budgets(shape, "fourier", m, "uniform"), rng)
        A = SamplingOperator("fourier", mask, args.wavelet)
        z = torch.randn(shape, dtype=torch.complex128)
        y = A(z)
        number = 20 if n == 256 else 5

        def apply_both(A=A, z=z):
            A.adjoint(A(z))

        def pieces(z=z):
            T.idft(T.dft(T.idwt(T.dwt(z, args.wavelet), args.wavelet), 2), 2)

        xz = z.numpy()

        def ours_dwt(z=z):
            T.dwt(z, args.wavelet)

        def pywt_dwt(xz=xz):
            pywt.coeffs_to_array(pywt.wavedec2(xz, args.wavelet, mode="periodization"))

        t_a, t_p, t_o, t_w = side_by_side(
            [apply_both, pieces, ours_dwt, pywt_dwt], args.repeat, number
        )
        assert y.shape[-1] == m
        print(f"{n:>5}² {1e3 * t_a:>10.2f} {1e3 * t_p:>12.2f} {t_a / t_p:>6.2f}        "
              f"{1e3 * t_o:>13.2f} {1e3 * t_w:>10.2f} {t_o / t_w:>6.2f}")


if __name__ == "__main__":
    main()
