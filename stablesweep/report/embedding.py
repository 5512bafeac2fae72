"""Figures embedded in the report: palette PNGs scaled to fit the size budget."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path


def _png_variants(path: Path, widths: Sequence[int], colors: Sequence[int]) -> list[bytes]:
    """The PNG at each (width, palette size): RGB on white, resized, palette-quantised."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            base = Image.new("RGB", im.size, (255, 255, 255))
            base.paste(im, mask=im.split()[-1])
            im = base
        else:
            im = im.convert("RGB")
        out = []
        for width, ncol in zip(widths, colors, strict=True):
            w = min(width, im.width)
            small = im if w == im.width else im.resize(
                (w, max(1, round(im.height * w / im.width))), Image.Resampling.LANCZOS)
            q = small.quantize(colors=ncol, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
            buf = io.BytesIO()
            q.save(buf, format="PNG", optimize=True)
            out.append(buf.getvalue())
    return out


#: Embedding levels tried in order until the report fits its budget: (width px, colours).
_LEVELS = [(1100, 128), (900, 96), (760, 96), (640, 64), (580, 64), (540, 64), (500, 48),
           (460, 48), (380, 32), (320, 24), (260, 16)]


def _choose_embeddings(pngs: Sequence[Path], budget: int | None) -> tuple[list[bytes], int]:
    """PNG bytes of each figure at the largest level whose base64 total fits `budget`."""
    if not pngs:
        return [], 0
    if budget is None:
        return [p.read_bytes() for p in pngs], -1
    tried: dict[int, list[bytes]] = {}

    def fits(level: int) -> bool:
        width, ncol = _LEVELS[level]
        tried[level] = [_png_variants(p, [width], [ncol])[0] for p in pngs]
        return sum(4 * ((len(b) + 2) // 3) for b in tried[level]) <= budget

    # sizes fall with the level: bisect for the first (largest) level that fits
    lo, hi = 0, len(_LEVELS) - 1
    if fits(lo):
        return tried[lo], lo
    if not fits(hi):
        return tried[hi], hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return tried[hi], hi
