r"""The model file: how a trained network is saved, read back and tied to its operator.

A room of its own below :mod:`stablesweep.networks` (which builds a trained network
from a model file) and :mod:`stablesweep.training` (which writes one); it imports
neither, only PyTorch and NumPy.

A trained network is tied to the operator it was trained with: the measurement
transform, the image shape, the wavelet and, above all, the sampling mask Ω. The
*model file* (``results/models/<name>/model.pt``) therefore stores, next to the weights,

* ``network`` — the registry name (``"unet"``, ``"learned-pd"``) and ``arch``, the
  constructor parameters that rebuild the architecture;
* ``operator`` — ``transform``, ``shape``, ``wavelet``, ``levels`` and ``mask`` (a bool
  tensor in the transform's natural index order, as from
  :func:`stablesweep.sampling.multilevel_mask`);
* ``config`` / ``config_text`` — the full training config (dict and YAML), its hash,
  the data seed, the epoch of the kept weights, the loss history;
* provenance (:func:`provenance`) — the package and PyTorch versions that wrote it.

:func:`load_mask` reads the mask back so that a sweep can measure with exactly the
operator the network was trained for (``sampling: {mask_from: PATH}``), and
:func:`check_operator` compares an operator with the stored one when a network is
built from a checkpoint.

The *training state* (``results/models/<name>/state.pt``, written by
:func:`stablesweep.training.train`) holds everything needed to resume an interrupted
training bit for bit: model and optimizer state, the state of the shuffling generator
and of PyTorch's global generator, the epoch and the history. It stores the same
``operator`` record, so :func:`load_mask` reads either file.

Every file is written atomically (:func:`save_atomic`: a temporary file in the same
folder, flushed and synced, then :func:`os.replace`), so an interruption leaves either
the old file or the new one, never a truncated one. Files are read with
``torch.load(weights_only=True)``: they hold only tensors, numbers, strings, lists and
dicts (no pickled classes), so files written when this module lived at
``stablesweep.training.checkpoint`` read unchanged.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "MODEL_FORMAT",
    "STATE_FORMAT",
    "MaskMismatchError",
    "check_operator",
    "load_mask",
    "load_model_file",
    "load_operator_record",
    "load_state_file",
    "operator_record",
    "provenance",
    "save_atomic",
]

MODEL_FORMAT = "stablesweep-model/1"
STATE_FORMAT = "stablesweep-training-state/1"


class MaskMismatchError(ValueError):
    """A trained network was built against an operator it was not trained for."""


def provenance() -> dict[str, str]:
    """What wrote a model file: the stablesweep and PyTorch versions.

    Returns
    -------
    dict
        ``version`` (the installed stablesweep version, ``"unknown"`` in a source tree
        without package metadata) and ``torch_version``.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("stablesweep")
    except PackageNotFoundError:  # pragma: no cover - source tree without metadata
        package = "unknown"
    return {"version": package, "torch_version": str(torch.__version__)}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    r"""Save ``obj`` with :func:`torch.save` so that ``path`` is never half written.

    Parameters
    ----------
    obj : object
        Anything :func:`torch.save` accepts (here: dicts of tensors and plain values).
    path : path-like
        Destination; its folder is created when missing.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    Writes to a temporary file in the destination folder, flushes and ``fsync``\ s it,
    then renames it over ``path`` with :func:`os.replace` (atomic on POSIX and Windows
    within one file system).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _load(path: str | os.PathLike, fmt: str, what: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} '{path}' does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt file, not a torch file, unsafe pickle, ...
        raise ValueError(f"cannot read {what} '{path}': {type(err).__name__}: {err}") from err
    if not isinstance(data, Mapping) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"'{path}' is not a {what}: format {found!r}; expected {fmt!r}")
    return dict(data)


def load_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a model file written by :func:`stablesweep.training.train`.

    Parameters
    ----------
    path : path-like
        ``results/models/<name>/model.pt``.

    Returns
    -------
    dict
        Keys ``format``, ``network``, ``arch``, ``state_dict``, ``operator``,
        ``config``, ``config_text``, ``config_hash``, ``data_seed``, ``epoch``,
        ``val_loss``, ``history``, ``train_dtype``, ``version``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a stablesweep model file.
    """
    return _load(path, MODEL_FORMAT, "model file")


def load_state_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training-state file (``state.pt``); see :func:`load_model_file`."""
    return _load(path, STATE_FORMAT, "training-state file")


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """The sampling mask a network was trained with.

    Parameters
    ----------
    path : path-like
        A model file (``model.pt``) or a training-state file (``state.pt``).

    Returns
    -------
    numpy.ndarray of bool, shape ``(n,)`` or ``(n, n)``
        In the transform's natural index order: ``SamplingOperator(transform, mask,
        wavelet)`` with the stored ``transform`` and ``wavelet`` (see
        :func:`load_operator_record`) rebuilds the training operator.
    """
    rec = load_operator_record(path)
    return rec["mask"].numpy().astype(bool)


def load_operator_record(path: str | os.PathLike) -> dict[str, Any]:
    """The stored operator description: ``transform``, ``shape``, ``wavelet``, ``levels``, ``mask``.

    Parameters
    ----------
    path : path-like
        A model file or a training-state file.

    Returns
    -------
    dict
        ``mask`` is a bool :class:`torch.Tensor`; ``shape`` a tuple of int.
    """
    path = Path(path)
    try:
        data = load_model_file(path)
    except ValueError:
        data = load_state_file(path)
    rec = dict(data["operator"])
    rec["shape"] = tuple(int(s) for s in rec["shape"])
    return rec


def operator_record(A: Any) -> dict[str, Any]:
    """Describe a :class:`~stablesweep.operators.SamplingOperator` for a model file.

    Parameters
    ----------
    A : SamplingOperator
        Needs ``transform``, ``shape``, ``wavelet``, ``levels`` and ``mask``.

    Returns
    -------
    dict
        ``transform`` (str), ``shape`` (list of int), ``wavelet`` (str), ``levels``
        (int), ``m`` (int), ``mask`` (bool tensor, CPU).
    """
    missing = [a for a in ("transform", "shape", "wavelet", "levels", "mask") if not hasattr(A, a)]
    if missing:
        raise TypeError(
            f"operator {A!r} lacks {', '.join(missing)}; trained networks need a "
            "SamplingOperator (transform, shape, wavelet, levels, mask)"
        )
    return {
        "transform": str(A.transform),
        "shape": [int(s) for s in A.shape],
        "wavelet": str(A.wavelet),
        "levels": int(A.levels),
        "m": int(A.m),
        "mask": torch.as_tensor(A.mask).detach().cpu().to(torch.bool).clone(),
    }


def check_operator(
    A: Any,
    record: Mapping[str, Any],
    *,
    source: str,
    allow_mask_mismatch: bool = False,
    check_wavelet: bool = True,
) -> list[str]:
    """Compare an operator with the one a network was trained with.

    Parameters
    ----------
    A : operator
        The operator the network is being built against.
    record : mapping
        The stored description (:func:`operator_record`).
    source : str
        Where the record comes from (named in the error).
    allow_mask_mismatch : bool
        Return the differences instead of raising.
    check_wavelet : bool
        Whether the wavelet and its levels matter (they do for networks that work on
        wavelet coefficients, not for the U-Net, which sees ``A^*y`` as an image).

    Returns
    -------
    list of str
        The differences (empty when the operators agree).

    Raises
    ------
    MaskMismatchError
        When they differ and ``allow_mask_mismatch`` is false. The message names each
        difference and how to fix it.
    """
    problems: list[str] = []
    shape = tuple(int(s) for s in record["shape"])
    a_shape = tuple(int(s) for s in getattr(A, "shape", ()))
    if a_shape != shape:
        problems.append(f"image shape {a_shape} differs from the trained {shape}")
    transform = getattr(A, "transform", None)
    if transform != record["transform"]:
        problems.append(f"transform {transform!r} differs from the trained {record['transform']!r}")
    if check_wavelet:
        wavelet = getattr(A, "wavelet", None)
        if wavelet != record["wavelet"]:
            problems.append(f"wavelet {wavelet!r} differs from the trained {record['wavelet']!r}")
        levels = getattr(A, "levels", None)
        if levels is not None and int(levels) != int(record["levels"]):
            problems.append(f"wavelet levels {levels} differ from the trained {record['levels']}")
    mask = getattr(A, "mask", None)
    trained = torch.as_tensor(record["mask"]).to(torch.bool)
    if mask is None:
        problems.append("the operator has no sampling mask to compare with the trained one")
    else:
        mask = torch.as_tensor(mask).detach().cpu().to(torch.bool)
        if tuple(mask.shape) != tuple(trained.shape):
            pass  # reported as a shape difference
        elif not torch.equal(mask, trained):
            n_diff = int((mask ^ trained).sum())
            problems.append(
                f"sampling mask differs from the trained one in {n_diff} entries "
                f"(m = {int(mask.sum())} here, {int(trained.sum())} trained)"
            )
    if problems and not allow_mask_mismatch:
        raise MaskMismatchError(
            f"the network in '{source}' was trained for a different operator: "
            + "; ".join(problems)
            + ". Measure with the trained mask (sweep config `sampling: {mask_from: "
            f"{source}}}`, or stablesweep.modelfile.load_mask), or pass "
            "allow_mask_mismatch=True to use the network anyway"
        )
    return problems
