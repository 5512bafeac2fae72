"""Result containers of the attacks, with conversion to numpy for the sweep engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._common import to_numpy

__all__ = ["AttackResult", "WorstCaseResult", "RECORDED_METRICS", "STOP_REASONS"]

#: Values of :attr:`AttackResult.stop_reason`.
STOP_REASONS: tuple[str, ...] = ("steps", "max_pert_norm", "max_output_change", "non-finite")

#: Names of the per-record metrics of :class:`AttackResult`, each of shape
#: ``(n_records, *batch)``, with their units and meaning.
RECORDED_METRICS: dict[str, str] = {
    "r_norm": "‖r‖, norm of the image-domain perturbation",
    "Ar_norm": "‖A r‖, norm of the perturbation in measurement space (A r = P_Ω U r)",
    "output_change": "‖φ(y + A r) − φ(y)‖",
    "error": "‖φ(y + A r) − x‖",
    "amplification": "‖φ(y + A r) − φ(y)‖ / ‖A r‖ (nan where A r = 0)",
    "objective": "Q(r) = ½‖φ(y + A r) − ref‖² − (λ/2)‖r‖²",
}


@dataclass(frozen=True)
class AttackResult:
    r"""Outcome of :func:`~stablesweep.attacks.momentum_attack`.

    ``batch`` below is the leading batch shape of ``x`` (``()`` for a single image),
    ``shape`` the operator's image shape.

    Attributes
    ----------
    record_steps : numpy.ndarray of int, shape (n_records,)
        Step indices j of the records (row i of every metric describes the iterate
        after ``record_steps[i]`` ascent steps; step 0 is the random start r_0).
    r_norm, Ar_norm, output_change, error, amplification, objective : numpy.ndarray
        Shape ``(n_records, *batch)``, float64; see :data:`RECORDED_METRICS`. Row i
        holds the values of the image's *kept* iterate at step ``record_steps[i]``:
        once an image has stopped (see ``stopped_at``) its rows repeat the values of
        its final iterate.
    r : torch.Tensor, shape (*batch, *shape)
        Final perturbation of each image, ``r_{stopped_at}``.
    kept_steps : numpy.ndarray of int, shape (n_kept,)
        Recorded steps at which perturbations and reconstructions were kept.
    perturbations : torch.Tensor, shape (n_kept, *batch, *shape)
        ``r_j`` at the kept steps (the r_1, r_2, r_3, … of a stability figure).
    reconstructions : torch.Tensor, shape (n_kept, *batch, *shape)
        ``φ(y + A r_j)`` at the kept steps.
    clean_reconstruction : torch.Tensor, shape (*batch, *shape)
        ``φ(y)``.
    clean_error : numpy.ndarray, shape batch
        ``‖φ(y) − x‖``.
    stopped_at : numpy.ndarray of int, shape batch
        Index j of each image's final iterate: ``steps`` when no bound was hit;
        otherwise the last iterate within the bounds (the first iterate beyond a bound
        is discarded), or 0 when the random start r_0 itself exceeds a bound.
    stop_reason : numpy.ndarray of str, shape batch
        One of :data:`STOP_REASONS`: ``"steps"``, ``"max_pert_norm"``,
        ``"max_output_change"`` or ``"non-finite"`` (φ, Q or ∇Q not finite; the last
        finite iterate is kept).
    params : dict
        The attack's settings (lam, eta, gamma, tau, steps, ref, bounds, …).
    """

    record_steps: np.ndarray
    r_norm: np.ndarray
    Ar_norm: np.ndarray
    output_change: np.ndarray
    error: np.ndarray
    amplification: np.ndarray
    objective: np.ndarray
    r: torch.Tensor
    kept_steps: np.ndarray
    perturbations: torch.Tensor
    reconstructions: torch.Tensor
    clean_reconstruction: torch.Tensor
    clean_error: np.ndarray
    stopped_at: np.ndarray
    stop_reason: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def hit_bound(self) -> np.ndarray:
        """Whether each image stopped at ``max_pert_norm`` or ``max_output_change``."""
        return np.isin(self.stop_reason, ("max_pert_norm", "max_output_change"))

    @property
    def n_records(self) -> int:
        """Number of recorded steps."""
        return int(self.record_steps.shape[0])

    def metrics(self) -> dict[str, np.ndarray]:
        """The per-record metrics, ``{name: array (n_records, *batch)}``."""
        return {name: getattr(self, name) for name in RECORDED_METRICS}

    def final(self) -> dict[str, np.ndarray]:
        """Metrics of each image's final iterate, ``{name: array batch}`` (last record row).

        The last record is always ``steps``, so this is the state at ``stopped_at``.
        """
        return {name: values[-1] for name, values in self.metrics().items()}

    def to_dict(self, *, tensors: bool = True) -> dict[str, Any]:
        """Everything as numpy arrays (complex arrays where the perturbation is complex).

        Parameters
        ----------
        tensors : bool, default True
            Include the image-sized arrays ``r``, ``perturbations``, ``reconstructions``
            and ``clean_reconstruction``; ``False`` keeps only the small ones
            (metrics, steps, stopping information), which is what a sweep stores per cell.

        Returns
        -------
        dict
            Keys are the attribute names (and ``hit_bound``); ``params`` maps to a
            plain dict.
        """
        out: dict[str, Any] = {
            "record_steps": self.record_steps,
            **self.metrics(),
            "kept_steps": self.kept_steps,
            "clean_error": self.clean_error,
            "stopped_at": self.stopped_at,
            "stop_reason": self.stop_reason,
            "hit_bound": self.hit_bound,
            "params": dict(self.params),
        }
        if tensors:
            for name in ("r", "perturbations", "reconstructions", "clean_reconstruction"):
                out[name] = to_numpy(getattr(self, name))
        return out


@dataclass(frozen=True)
class WorstCaseResult:
    r"""Outcome of :func:`~stablesweep.attacks.worst_case_noise`.

    Attributes
    ----------
    error : numpy.ndarray, shape batch
        ``‖φ(y + e*) − x‖`` at the kept noise e* (with ``objective="error"`` the worst
        error found over all restarts and iterates).
    e : torch.Tensor, shape (*batch, m)
        The kept measurement-space noise e* (largest objective found);
        ``‖e*‖ ≤ budget·‖y‖``.
    reconstruction : torch.Tensor, shape (*batch, *shape)
        ``φ(y + e*)``.
    restart_errors : numpy.ndarray, shape (restarts, *batch)
        Largest objective found by each restart (the error with ``objective="error"``,
        the change with ``"change"``), its start candidates included; the first
        ``restarts`` rows of ``start_objectives``.
    random_errors : numpy.ndarray, shape (restarts, *batch)
        Error ``‖φ(y + e_0) − x‖`` at each restart's random start e_0 (uniformly
        distributed on the sphere ``‖e‖ = budget·‖y‖``): random noise of the same norm.
    random_error : numpy.ndarray, shape batch
        Mean of ``random_errors`` over the restarts.
    clean_error : numpy.ndarray, shape batch
        ``‖φ(y) − x‖``.
    radius : numpy.ndarray, shape batch
        ``budget·‖y‖``, the radius of the noise ball.
    change : numpy.ndarray, shape batch
        ``‖φ(y + e*) − φ(y)‖``.
    amplification : numpy.ndarray, shape batch
        ``change / ‖e*‖`` (NaN where e* = 0).
    e_norm : numpy.ndarray, shape batch
        ``‖e*‖``.
    random_changes : numpy.ndarray, shape (restarts, *batch)
        ``‖φ(y + e_0) − φ(y)‖`` at each restart's random start.
    random_change : numpy.ndarray, shape batch
        Mean of ``random_changes`` over the restarts.
    trace : numpy.ndarray, shape (steps + 1, *batch)
        ``trace[j]``: the largest objective value (a norm, not its square) found up to
        ascent step j, maximised over all starts and the candidates evaluated before
        the ascent (warm start, ±ρv₁, ±ρd/‖d‖); non-decreasing in j, ``trace[-1]`` is
        the objective at e*. ``steps`` is the cap: a start that stopped earlier keeps
        its last value (flat end), so traces of one setting are comparable.
    jacobian_sigma : numpy.ndarray, shape batch
        σ_max of the Jacobian at y from :func:`jacobian_sigma_max` (``init="jacobian"``;
        NaN otherwise).
    params : dict
        The settings (budget, steps, restarts, step_size, objective, init, method, lr,
        betas, tol, patience, protocol, directions (their number), start_batch).
    steps_run : numpy.ndarray of int, shape batch
        Ascent steps actually run (the most over the image's starts).
    hit_cap : numpy.ndarray of bool, shape batch
        Whether some start of the image reached the cap ``steps`` without meeting the
        stopping rule (always, with ``tol = 0``): more steps might find more.
    start_objectives : numpy.ndarray, shape (n_starts, *batch)
        Largest objective found by each start (its start candidates included), in the
        order of ``start_names``: the restarts, then the given directions.
    start_names : tuple of str
        ``"jacobian"`` (the first restart with ``init="jacobian"``), ``"random i"``,
        ``"direction i"``.
    start_steps : numpy.ndarray of int, shape (n_starts, *batch)
        Ascent steps run by each start.
    """

    error: np.ndarray
    e: torch.Tensor
    reconstruction: torch.Tensor
    restart_errors: np.ndarray
    random_errors: np.ndarray
    random_error: np.ndarray
    clean_error: np.ndarray
    radius: np.ndarray
    change: np.ndarray
    amplification: np.ndarray
    e_norm: np.ndarray
    random_changes: np.ndarray
    random_change: np.ndarray
    trace: np.ndarray
    jacobian_sigma: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    steps_run: np.ndarray = field(default_factory=lambda: np.zeros((), dtype=np.int64))
    hit_cap: np.ndarray = field(default_factory=lambda: np.zeros((), dtype=bool))
    start_objectives: np.ndarray = field(default_factory=lambda: np.zeros((0,)))
    start_names: tuple[str, ...] = ()
    start_steps: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))

    def to_dict(self, *, tensors: bool = True) -> dict[str, Any]:
        """Everything as numpy arrays; ``tensors=False`` drops ``e`` and ``reconstruction``."""
        out: dict[str, Any] = {
            "error": self.error,
            "restart_errors": self.restart_errors,
            "random_errors": self.random_errors,
            "random_error": self.random_error,
            "clean_error": self.clean_error,
            "radius": self.radius,
            "change": self.change,
            "amplification": self.amplification,
            "e_norm": self.e_norm,
            "random_changes": self.random_changes,
            "random_change": self.random_change,
            "trace": self.trace,
            "jacobian_sigma": self.jacobian_sigma,
            "steps_run": self.steps_run,
            "hit_cap": self.hit_cap,
            "start_objectives": self.start_objectives,
            "start_names": np.asarray(self.start_names, dtype=str),
            "start_steps": self.start_steps,
            "params": dict(self.params),
        }
        if tensors:
            out["e"] = to_numpy(self.e)
            out["reconstruction"] = to_numpy(self.reconstruction)
        return out
