"""Side-by-side timing shared by the benchmark scripts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def side_by_side(fns: Sequence[Callable[[], object]], repeat: int, number: int = 1) -> list[float]:
    """Best-of-``repeat`` mean time per call of each function, timed interleaved.

    Each function runs once untimed (warm-up); then in every repeat each one runs
    ``number`` times in turn, so a burst of load on the machine hits both sides of a
    ratio alike.
    """
    for fn in fns:
        fn()
    best = [np.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / number)
    return best
