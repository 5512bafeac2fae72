"""Semantic checks of an experiment config's ``problem``: resolution, wavelet,
sampling (rates, budgets that fit the bands, ``mask_from``) and signal (kinds, test
images, sparsity patterns that fit the levels).

Each check reads whatever parts are well-formed (the JSON schema reports the rest) and
returns one message per problem, starting with the key path.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from stablesweep.configuration import is_int, is_real, shown

from .axes import axis_values
from .model_files import check_mask_from

__all__ = ["check_problem"]

#: image file extensions: a ``signal.name`` ending so is taken for a path
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".npy", ".pgm")


def check_problem(data: Mapping[str, Any], *, check_files: bool = True) -> list[str]:
    """Every problem of ``data["problem"]`` (nothing when it is not a mapping).

    ``check_files``: also check ``sampling.mask_from`` (see
    :func:`stablesweep.sweep.load_config`).
    """
    problem = data.get("problem")
    if not isinstance(problem, Mapping):
        return []
    from stablesweep import levels, sampling, transforms

    out: list[str] = []
    resolutions = [(p, v) for p, v in axis_values(problem, "resolution") if is_int(v)]
    for p, v in resolutions:
        try:
            levels.check_resolution(v)
        except ValueError as err:
            out.append(f"{p}: {err}")
    for p, v in axis_values(problem, "wavelet"):
        if isinstance(v, str):
            try:
                transforms.check_wavelet(v)
            except (ValueError, TypeError) as err:
                out.append(f"{p}: {err}")
    shapes = []
    for (_, n), (_, d) in itertools.product(resolutions, axis_values(problem, "dim")):
        if is_int(n) and n >= 2 and not n & (n - 1) and d in (1, 2):
            shapes.append((n,) * d)

    sampling_ = problem.get("sampling")
    if isinstance(sampling_, Mapping):
        out += _check_sampling(problem, sampling_, shapes, sampling)
        if "mask_from" in sampling_:
            out += check_mask_from(problem, sampling_, check_files)
    signal = problem.get("signal")
    if isinstance(signal, Mapping):
        out += _check_signal(problem, signal, shapes, levels)
    return out


def _check_sampling(problem: Mapping, sampling_: Mapping, shapes: list[tuple[int, ...]],
                    sampling: Any) -> list[str]:
    """``problem.sampling``: one way to sample, known schemes, budgets and rates that fit."""
    out = []
    has_rate, has_budgets = "rate" in sampling_, "budgets" in sampling_
    if "mask_from" in sampling_:
        others = sorted(k for k in sampling_ if k != "mask_from")
        if others:
            out.append(
                f"problem.sampling: {', '.join(others)} given together with 'mask_from'; "
                "expected either 'mask_from' alone (a trained network's fixed mask), "
                "'rate' (with 'scheme') or 'budgets'")
        return out
    if has_rate == has_budgets:
        out.append(
            f"problem.sampling: keys {sorted(sampling_)}; expected either 'rate' (with "
            "'scheme'), 'budgets' (samples per band) or 'mask_from' (a trained network's "
            "mask), not several or none"
        )
    if has_budgets and "scheme" in sampling_:
        out.append("problem.sampling.scheme: not used with 'budgets'; give 'scheme' and "
                   "'rate', or 'budgets' alone")
    if has_rate and "scheme" not in sampling_:
        out.append("problem.sampling: missing required key 'scheme' (with 'rate'); "
                   f"expected one of: {', '.join(sampling.SCHEMES)}")
    for p, v in axis_values(problem, "scheme"):
        if isinstance(v, str) and v not in sampling.SCHEMES:
            out.append(f"{p}: unknown scheme {v!r}; expected one of: "
                       f"{', '.join(sampling.SCHEMES)}")
    transforms_ = [v for _, v in axis_values(problem, "transform") if v in sampling.TRANSFORMS]
    for p, b in axis_values(problem, "budgets"):
        if not (isinstance(b, list) and all(is_int(x) for x in b)):
            continue
        for shape, t in itertools.product(shapes, transforms_):
            try:
                sampling.budgets(shape, t, None, b)
            except ValueError as err:
                out.append(f"{p}: {shown(b)} does not fit resolution {shape[0]}, dim "
                           f"{len(shape)}, transform {t}: {err}")
            else:
                if sum(b) == 0:
                    out.append(f"{p}: {shown(b)} takes no samples; expected a positive total")
    # theory budgets need a sparsity pattern of the right length
    schemes = [v for _, v in axis_values(problem, "scheme")]
    signal = problem.get("signal") if isinstance(problem.get("signal"), Mapping) else {}
    if "theory" in schemes and has_rate and "sparsity" not in signal:
        kinds = sorted({str(v) for _, v in axis_values(problem, "signal")})
        why = ("" if kinds in ([], ["sparse-in-levels"]) else
               f" (with signal kind {', '.join(kinds)} too: the theory budget follows "
               "them; or use scheme 'uniform')")
        out.append("problem.signal.sparsity: missing; scheme 'theory' needs the local "
                   f"sparsities (one non-negative integer per level){why}")
    for p, rate in axis_values(problem, "rate"):
        if is_real(rate) and rate > 0:  # non-finite rates: reported by non_finite
            for shape in shapes:
                if round(rate * math.prod(shape)) < 1:
                    out.append(f"{p}: {rate} gives no samples at resolution {shape[0]} "
                               f"(dim {len(shape)}); expected rate >= {1 / math.prod(shape):.3g}")
    return out


def _check_signal(problem: Mapping, signal: Mapping, shapes: list[tuple[int, ...]],
                  levels: Any) -> list[str]:
    """``problem.signal``: keys each kind needs, test image names, sparsity patterns."""
    from stablesweep import signals

    out = []
    kinds = [v for _, v in axis_values(problem, "signal")]
    if "details" in signal and "ellipses" not in kinds:
        out.append(f"problem.signal.details: only used by kind 'ellipses'; the signal kinds "
                   f"here are {', '.join(map(str, kinds))}")
    if "sparse-in-levels" in kinds and "sparsity" not in signal:
        out.append("problem.signal: missing key 'sparsity' (needed by kind "
                   "'sparse-in-levels'); expected one non-negative integer per level")
    if "image" in kinds:
        if "name" not in signal:
            out.append("problem.signal: missing key 'name' (needed by kind 'image'); "
                       f"expected one of: {', '.join(signals.TEST_IMAGES)}")
        if any(len(s) == 1 for s in shapes):
            out.append("problem.dim: test images are 2-D; kind 'image' needs dim 2")
    if "name" in signal and "image" not in kinds:
        out.append(f"problem.signal.name: only used by kind 'image' (a named test image); "
                   f"the signal kinds here are {', '.join(map(str, kinds))}")
    for p, name in axis_values(problem, "image"):
        if isinstance(name, str) and name not in signals.TEST_IMAGES:
            out.append(_image_name_problem(p, name, signals.TEST_IMAGES))
    for p, s in axis_values(problem, "sparsity"):
        if not (isinstance(s, list) and all(is_int(x) for x in s)):
            continue
        if sum(s) == 0:
            out.append(f"{p}: {shown(s)} is all zero; expected at least one positive entry")
            continue
        for shape in shapes:
            try:
                levels.weight_map(shape, s)
            except ValueError as err:
                out.append(f"{p}: {shown(s)} does not fit resolution {shape[0]} (dim "
                           f"{len(shape)}, {len(levels.level_sizes(shape))} levels of sizes "
                           f"{levels.level_sizes(shape)}): {err}")
    return out


def _image_name_problem(path: str, name: str, known: tuple[str, ...]) -> str:
    """The message for a ``signal.name`` that is not a test image (a path gets told that
    names, not files, are taken)."""
    allowed = ", ".join(known)
    if "/" in name or "\\" in name or name.lower().endswith(IMAGE_SUFFIXES):
        return (f"{path}: {name!r} looks like a file path, but `name` takes the name of one "
                f"of the test images: {allowed}. A sweep cannot read image files; to "
                "reconstruct your own images use stablesweep.signals.load_images(paths, "
                "resolution) from Python")
    return f"{path}: unknown test image {name!r}; expected one of: {allowed}"
