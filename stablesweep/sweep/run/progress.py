"""Progress of a sweep: a tqdm bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _hms(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # nan / inf
        return "?"
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Cells done / total, rate and ETA.

    Parameters
    ----------
    total : int
        Cells to compute in this run.
    already : int
        Cells finished by earlier runs (shown, not counted in the rate).
    stream : file, default sys.stderr
    interval : float
        Seconds between plain lines (when ``stream`` is not a terminal).
    enabled : bool
        False prints nothing.
    """

    def __init__(self, total: int, already: int = 0, stream: TextIO | None = None,
                 interval: float = 10.0, enabled: bool = True):
        self.total, self.already = total, already
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.enabled = interval, enabled
        self.done = self.failed = 0
        self.start = self.last = time.monotonic()
        self.bar = None
        if enabled and total and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="cell", file=self.stream, dynamic_ncols=True,
                            desc="sweep", smoothing=0.1)

    def update(self, cells: int = 1, failed: int = 0) -> None:
        """``cells`` more cells are done, ``failed`` of them with a failed trial."""
        self.done += cells
        self.failed += int(failed)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(cells)
            if failed:
                self.bar.set_postfix(failed=self.failed)
            return
        now = time.monotonic()
        if now - self.last >= self.interval or self.done == self.total:
            self.last = now
            self.line()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        text = (f"[stablesweep] {self.done}/{self.total} cells "
                f"({100 * self.done / max(self.total, 1):.0f}%"
                + (f", {self.failed} failed" if self.failed else "")
                + f"), {rate:.2f} cells/s, elapsed {_hms(elapsed)}, ETA {_hms(eta)}")
        if self.enabled and self.bar is None:
            print(text, file=self.stream, flush=True)
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
