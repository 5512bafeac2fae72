"""Model files an experiment config names: ``sampling.mask_from`` and trained networks'
``params.checkpoint``.

Before anything runs each file must exist (else: the ``stablesweep train`` command
that writes it), be readable as a model file, and hold a mask that fits the problem
(transform, resolution, dim) and the other files' masks.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from stablesweep.configuration import is_int

from .axes import axis_values
from .network_info import registry

__all__ = ["check_checkpoint", "check_mask_from", "read_operator_record", "train_hint"]


def check_mask_from(problem: Mapping, sampling_: Mapping, check_files: bool) -> list[str]:
    """The mask file exists and fits every transform, resolution and dim of the problem."""
    path = sampling_.get("mask_from")
    if not isinstance(path, str) or not check_files:
        return []
    rec, message = _record_or_problem("problem.sampling.mask_from", path)
    if rec is None:
        return [message]
    out = []
    shape, transform = tuple(rec["shape"]), rec["transform"]
    what = f"the {transform} mask of shape {shape} in problem.sampling.mask_from ({path!r})"
    for p, v in axis_values(problem, "transform"):
        if isinstance(v, str) and v != transform:
            out.append(f"{p}: {v!r} does not match {what}; with mask_from every transform "
                       f"must be {transform!r}")
    for p, v in axis_values(problem, "resolution"):
        if is_int(v) and v != shape[0]:
            out.append(f"{p}: {v} does not match {what}; with mask_from every resolution "
                       f"must be {shape[0]}")
    for p, v in axis_values(problem, "dim"):
        if v in (1, 2) and v != len(shape):
            out.append(f"{p}: {v} does not match {what}; with mask_from every dim must be "
                       f"{len(shape)}")
    return out


def read_operator_record(path: str | Path) -> dict[str, Any]:
    """:func:`stablesweep.modelfile.load_operator_record`, cached per file
    version (path, modification time, size); treat the result as read-only."""
    p = Path(path)
    st = p.stat()
    return _read_record(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=16)
def _read_record(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    from stablesweep.modelfile import load_operator_record

    return load_operator_record(path)


def train_hint(path: str) -> str:
    """How to make a missing model file: the training config that writes it."""
    name = Path(path).parent.name
    candidates = [(Path("config/training") / f"{name}.yaml", None)]
    base, _, profile = name.rpartition("-")
    if base:
        candidates.append((Path("config/training") / f"{base}.yaml", profile))
    models_dir = Path(path).parent.parent
    where = "" if models_dir == Path("results/models") else f" --models-dir {models_dir}"
    for config, profile in candidates:
        if config.is_file():
            return (f"`stablesweep train {config}{f' --profile {profile}' if profile else ''}"
                    f"{where}`")
    return (f"`stablesweep train <training config>{where}` (a training config with name "
            f"{name!r} writes {models_dir}/{name}/model.pt)")


def _record_or_problem(key: str, path: str) -> tuple[dict | None, str | None]:
    """The operator record of a model file, or the problem with it."""
    if Path(path).is_dir():
        model = Path(path) / "model.pt"
        hint = (f" (it holds {str(model)!r}: give that)" if model.is_file() else "")
        return None, (f"{key}: {path!r} is a directory; expected a model file written by "
                      f"`stablesweep train` (<models dir>/<name>/model.pt){hint}")
    if not Path(path).is_file():
        return None, f"{key}: {path!r} does not exist; train it first with {train_hint(path)}"
    try:
        return read_operator_record(path), None
    except Exception as err:
        return None, (f"{key}: cannot read {path!r} ({type(err).__name__}: {err}); expected "
                      "a model file written by `stablesweep train`")


def _record_differences(a: Mapping, b: Mapping) -> list[str]:
    """How two stored operators differ (transform, shape, mask)."""
    out = []
    if a["transform"] != b["transform"]:
        out.append(f"transform {a['transform']} vs {b['transform']}")
    if tuple(a["shape"]) != tuple(b["shape"]):
        out.append(f"shape {tuple(a['shape'])} vs {tuple(b['shape'])}")
    else:
        n = int((_bool_array(a["mask"]) ^ _bool_array(b["mask"])).sum())
        if n:
            out.append(f"the masks differ in {n} entries")
    return out


def _bool_array(mask: Any) -> np.ndarray:
    return (mask.numpy() if hasattr(mask, "numpy") else np.asarray(mask)).astype(bool)


def check_checkpoint(data: Mapping, path: str, label: str, name: str, params: Mapping,
                      check_files: bool) -> list[str]:
    """A trained network's model file: exists, and its mask is the one measured with."""
    ckpt = params["checkpoint"]
    key = f"{path}.params.checkpoint"
    allow = bool(params.get("allow_mask_mismatch", False))
    problem = data.get("problem") if isinstance(data.get("problem"), Mapping) else {}
    sampling_ = problem.get("sampling")
    mask_from = sampling_.get("mask_from") if isinstance(sampling_, Mapping) else None
    out = []
    if not allow and isinstance(sampling_, Mapping) and mask_from is None:
        out.append(f"{key}: {label!r} is a trained network and refuses any mask but the one "
                   "it was trained with; measure with that mask: problem.sampling: "
                   f"{{mask_from: {ckpt}}} (or set {path}.params.allow_mask_mismatch: true)")
    if not check_files:
        return out
    rec, message = _record_or_problem(key, ckpt)
    if rec is None:
        return out + [message]
    if allow:
        return out
    if isinstance(mask_from, str) and Path(mask_from).is_file():
        try:
            diffs = _record_differences(rec, read_operator_record(mask_from))
        except Exception:  # reported for problem.sampling.mask_from
            diffs = []
        if diffs:
            out.append(f"{key}: {ckpt!r} was trained with another mask than the one of "
                       f"problem.sampling.mask_from ({mask_from!r}): {'; '.join(diffs)}; "
                       "expected the same mask (train both with the same problem.sampling "
                       "block), or set allow_mask_mismatch: true")
    known, _ = registry()
    if getattr(known.get(name), "uses_wavelet", False):
        for p, w in axis_values(problem, "wavelet"):
            if isinstance(w, str) and w != rec.get("wavelet"):
                out.append(f"{p}: {w!r} differs from the wavelet {rec.get('wavelet')!r} that "
                           f"{path} ({label}) was trained with; expected {rec.get('wavelet')!r}")
    return out

