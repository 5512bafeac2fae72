"""glibc malloc settings for array workloads.

glibc adapts its mmap threshold: after an image-sized buffer (1 MiB at 256² complex128)
is freed, such buffers come from the heap, and when the top of the heap is freed it is
handed back to the system — so the next iteration page-faults the same memory in
again. Run to run, the same operator then costs up to 2× more (measured: A + A* at 512²
19.7 ms with glibc's defaults, 8.1 ms with the fixed thresholds below). Fixing the
thresholds keeps freed buffers for reuse.

:func:`tune_malloc` is called by the ``stablesweep`` command, the Dask workers it
starts, and the benchmarks; a library user calls it (or not) in their own process.
``STABLESWEEP_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 2**20  # buffers below this come from the heap and are reused
TRIM_THRESHOLD = 512 * 2**20  # free memory kept at the top of the heap


def tune_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds; returns whether they were set.

    A no-op (False) on other C libraries, or when ``STABLESWEEP_MALLOC_TUNING=0``.
    """
    if os.environ.get("STABLESWEEP_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
