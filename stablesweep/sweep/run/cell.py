"""The cell: a pure function from a cell's coordinates to its measurements.

:func:`run_cell` takes a :class:`CellTask` (everything the cell needs, small and
picklable) and returns a :class:`CellResult` of numpy arrays; it touches no global
state, so the numbers depend only on the task (not on the worker, the worker count or
the order of execution). Per trial it

1. draws the problem (:func:`~stablesweep.sweep.config.problem.draw_problem`): the mask
   (:func:`stablesweep.sampling.budgets` + :func:`~stablesweep.sampling.multilevel_mask`,
   or the fixed mask of a model file, ``sampling.mask_from``),
   the signal (sparse-in-levels coefficients z with x = W^{-1} z, or a test image /
   ellipse phantom x, with details when ``details``, and z = W x) and the noisy
   measurements
   ``y = A z + e``, ``‖e‖ = noise·‖A z‖`` (:func:`stablesweep.signals.add_noise`),
   each from its own seed (see :mod:`stablesweep.sweep.config.grid`);
2. (forward cells) runs the network once, ``net.iterates(y)``, and records the relative
   error ``‖x̂_n − x‖/‖x‖`` and the residual ``‖A x̂_n − y‖`` (``A.measure`` of the
   image) at every depth n in ``net.iterate_depths``, the wall time and a status;
3. (with an attack) attacks the network truncated at the cell's attacked depth, or
   records the attack as ``"skipped"`` (NaN metrics, the reason as message) where the
   network is not attacked at this entry of the attack-depth axis.

The cell's arrays come from the store schema (:func:`allocate`,
:mod:`~stablesweep.sweep.store.variables`). Networks are built by
:func:`~stablesweep.sweep.config.networks.build_network`, which passes the point's
sparsity pattern as ``s`` where the config's rule says so; PSNR and SSIM are
:mod:`~stablesweep.sweep.run.quality`'s, the ``minimiser`` option
:mod:`~stablesweep.sweep.run.minimiser`'s, and the attack is its kind's ``run``
(:data:`stablesweep.attacks.registry.ATTACKS`).

A trial that raises is recorded with status ``"error"`` and the message; a non-finite
output gives ``"diverged"``; the other trials go on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stablesweep.attacks.kind import AttackTrial
from stablesweep.attacks.registry import attack_kind

from ..config.grid import stream_seed, torch_seed
from ..config.networks import build_network
from ..config.problem import Problem, draw_problem
from ..config.specs import AttackSpec, NetworkSpec
from ..store.variables import (
    ATTACK,
    ATTACK_STATUS,
    DEPTH,
    DIVERGED,
    ERROR,
    OK,
    SKIPPED,
    STATUS,
    STR,
    TRIAL,
    variable_groups,
)
from ..store.writer import CellResult
from .minimiser import minimiser_metrics
from .quality import image_quality

__all__ = ["CellTask", "allocate", "run_cell"]


@dataclass(frozen=True)
class CellTask:
    """Everything one cell needs (sent to a worker).

    Attributes
    ----------
    key : str
        The cell's name (for messages).
    point : dict
        All problem parameters of the grid point.
    seed, trials : int
        Global seed and number of trials.
    network : NetworkSpec
        The network entry.
    depths : tuple of int
        The store's depth coordinate (union of all networks' iterate depths).
    forward : bool
        Record the un-attacked metrics.
    attack : AttackSpec or None
        The attack section (None: no attack in this cell).
    attack_depth : int or None
        Depth of the truncated network to attack (None with ``attack``: skipped).
    attack_skip : str
        Why the attack is skipped (the trials' ``attack_message``).
    examples : tuple of (int, int)
        ``(example index, trial)`` pairs whose images this cell keeps.
    image_shape : (int, int)
        ``(row, col)`` size of the store's example images (padding with NaN).
    mask : numpy.ndarray of bool, optional
        The fixed mask of ``point["mask_from"]`` (read by the client, so that workers
        need not see the file); ``None``: read it from the file when needed.
    minimiser : mapping, optional
        Settings (``tol``, ``max_iter``) of :func:`stablesweep.networks.solve_minimiser`
        when the config's ``minimiser`` section is on: the forward pass also records
        the optimisation and recovery errors; ``None``: it does not.
    """

    key: str
    point: Mapping[str, Any]
    seed: int
    trials: int
    network: NetworkSpec
    depths: tuple[int, ...]
    forward: bool = True
    attack: AttackSpec | None = None
    attack_depth: int | None = None
    examples: tuple[tuple[int, int], ...] = ()
    image_shape: tuple[int, int] = (1, 1)
    attack_skip: str = ""
    mask: np.ndarray | None = None
    minimiser: Mapping[str, Any] | None = None

    @property
    def skips_attack(self) -> bool:
        return self.attack is not None and self.attack_depth is None

    @property
    def trivial(self) -> bool:
        """Nothing to compute: no forward pass and a skipped attack."""
        return not self.forward and self.skips_attack


# --------------------------------------------------------------------------- the cell


def run_cell(task: CellTask) -> CellResult:
    """Run one cell: every trial of one grid point x network (x attack depth).

    Parameters
    ----------
    task : CellTask

    Returns
    -------
    CellResult
        ``values`` holds, per trial (leading axis), every variable of the groups the
        cell computes (:func:`allocate`; the rows of
        :func:`~stablesweep.sweep.store.variables.variable_groups`): with ``task.forward``
        the ``forward`` and ``problem`` groups (and ``minimiser`` with
        ``task.minimiser``), with an attack the kind's group and ``attack`` (NaN,
        status ``skipped``, where the network is not attacked at this entry of the
        attack-depth axis).
    """
    res = CellResult()
    v = res.values = allocate(task)
    attack = task.attack
    if task.skips_attack:  # NaN metrics, status "skipped" and the reason
        v[ATTACK_STATUS][:] = SKIPPED
        v["attack_message"][:] = task.attack_skip
        attack = None
    example_trials = {t for _, t in task.examples}

    for t in range(task.trials if not task.trivial else 0):
        try:
            prob = draw_problem(task.point, task.seed, t, task.mask)
        except Exception as err:
            keys = ("message", "attack_message") if attack is not None else ("message",)
            for key in keys:
                if key in v:
                    v[key][t] = f"drawing the problem failed: {_describe(err)}"
            continue
        example = None
        if t in example_trials:
            example = {"example_truth": _pad(prob.x, task.image_shape)}
        if task.forward:
            _forward(task, prob, t, v, example)
        if attack is not None:
            _attack(task, prob, t, v, example)
        for k, trial in task.examples:  # an example may be listed more than once
            if trial == t:
                res.examples[k] = example
    for name, value in v.items():
        if value.dtype == object:  # the strings of the STR variables
            v[name] = value.astype(str)
    return res


def _groups(task: CellTask) -> list[str]:
    """The variable groups (:func:`~stablesweep.sweep.store.variables.variable_groups`) whose
    values the cell computes."""
    groups = []
    if task.forward:
        groups += ["forward", "problem"] + (["minimiser"] if task.minimiser is not None
                                             else [])
    if task.attack is not None:
        groups += [task.attack.kind, ATTACK]
    return groups


def allocate(task: CellTask) -> dict[str, np.ndarray]:
    """The cell's arrays, from the store schema: NaN for numbers, ``""`` for strings
    and ``"error"`` for the statuses (until a trial or attack ends otherwise).

    Shapes are the rows' dims: ``trial`` (the trials), ``depth`` (the store's depth
    axis) and the attack kind's axes (:meth:`~stablesweep.attacks.kind.AttackKind.sizes`).
    """
    sizes = {TRIAL: task.trials, DEPTH: len(task.depths)}
    if task.attack is not None:
        sizes.update(attack_kind(task.attack.kind).sizes(task.attack))
    table = variable_groups()
    out = {}
    for group in _groups(task):
        for row in table[group]:
            shape = tuple(sizes[d] for d in row.dims)
            if row.dtype is STR:
                fill = ERROR if row.name in (STATUS, ATTACK_STATUS) else ""
                out[row.name] = np.full(shape, fill, dtype=object)
            else:
                out[row.name] = np.full(shape, np.nan)
    return out


def _forward(task: CellTask, prob: Problem, t: int, v: dict, example: dict | None) -> None:
    x_norm = float(torch.linalg.vector_norm(prob.x))
    v["sigma_theory"][t] = prob.sigma_theory
    v["signal_norm"][t] = x_norm
    v["noise_norm"][t] = prob.noise_norm
    with torch.no_grad():  # the baseline every network must beat: zero-filling A*y
        zf = prob.A.measure_adjoint(prob.y)
        v["zero_filling_error"][t] = float(torch.linalg.vector_norm(zf - prob.x)) / x_norm
    try:
        net = build_network(task.network, prob.A, point=task.point)
        start = time.perf_counter()
        with torch.no_grad():
            its = net.iterates(prob.y)
        v["wall_time"][t] = time.perf_counter() - start
        idx = _depth_index(task.depths, net.iterate_depths)
        d = prob.A.d
        flat_dims = tuple(range(-d, 0))
        err = torch.linalg.vector_norm(its - prob.x, dim=flat_dims) / x_norm
        res = torch.linalg.vector_norm(prob.A.measure(its) - prob.y, dim=-1)
        v["rel_error"][t, idx] = err.numpy()
        v["residual"][t, idx] = res.numpy()
        v["psnr"][t], v["ssim"][t] = image_quality(its[-1], prob.x)
        if task.minimiser is not None:
            try:
                minimiser_metrics(task.minimiser, prob, net, its, idx, t, v)
            except Exception as err:  # the forward results stand; say why these are NaN
                v["message"][t] = f"minimiser: {_describe(err)}"
        if example is not None and task.attack is None:
            example["example_output"] = _pad(its[-1], task.image_shape)
        bad = ~np.isfinite(err.numpy())
        if bad.any():
            first = int(np.asarray(net.iterate_depths)[bad][0])
            v["status"][t] = DIVERGED
            v["message"][t] = f"non-finite output from depth {first} on"
        else:
            v["status"][t] = OK
    except Exception as err:
        v["message"][t] = _describe(err)


def _attack(task: CellTask, prob: Problem, t: int, v: dict, example: dict | None) -> None:
    """Attack trial ``t`` with the task's attack kind; store what it returns."""
    spec = task.attack
    extra = {"network": task.network.label, "attack_depth": task.attack_depth}
    gen = torch.Generator().manual_seed(
        torch_seed(stream_seed(task.seed, t, "attack", task.point, extra))
    )
    try:
        net = build_network(task.network, prob.A, depth=task.attack_depth, point=task.point)
        start = time.perf_counter()
        outcome = attack_kind(spec.kind).run(AttackTrial(
            net, prob.A, prob.x, prob.y, spec, gen, keep=example is not None))
        for name, value in outcome.values.items():
            v[name][t] = value
        v["attack_clean_error"][t] = outcome.clean_error
        if example is not None:
            for name, images in outcome.images.items():
                example[name] = (_pad(images, task.image_shape) if name == "example_output"
                                 else np.stack([_pad(im, task.image_shape) for im in images]))
        v["attack_wall_time"][t] = time.perf_counter() - start
        if np.all(np.isfinite(outcome.final)):
            v[ATTACK_STATUS][t] = OK
        else:
            v[ATTACK_STATUS][t] = DIVERGED
            v["attack_message"][t] = "non-finite attack metrics"
    except Exception as err:
        v["attack_message"][t] = _describe(err)


def _depth_index(depths: Sequence[int], iterate_depths: Sequence[int]) -> np.ndarray:
    pos = {int(k): i for i, k in enumerate(depths)}
    missing = [int(k) for k in iterate_depths if int(k) not in pos]
    if missing:
        raise ValueError(f"iterate depths {missing[:5]} are not on the store's depth axis "
                         "(the network's iterate_depths differ from those probed at creation)")
    return np.array([pos[int(k)] for k in iterate_depths], dtype=np.int64)


def _pad(image: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """``|image|`` as a (row, col) float array padded with NaN (1-D images: one row)."""
    a = image.detach().abs().to(torch.float64).cpu().numpy()
    a = a.reshape(1, -1) if a.ndim == 1 else a
    out = np.full(shape, np.nan)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def _describe(err: BaseException) -> str:
    """``Type: message`` plus the innermost frame, for the store's message variable."""
    tb = traceback.extract_tb(err.__traceback__)
    where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(err).__name__}: {err}{where}"
