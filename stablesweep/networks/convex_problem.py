r"""The convex problems the iterative networks solve (in wavelet coefficients z):

- ``"sqrt-lasso"``: :math:`\min_z \lambda\|z\|_{1,w} + \|Az - y\|_2`
  (primal–dual, FIRENET);
- ``"lasso"``: :math:`\min_z \lambda\|z\|_{1,w} + \tfrac12\|Az - y\|_2^2` (FISTA, ISTA);
- ``"bp"``: :math:`\min_z \|z\|_{1,w}` s.t. :math:`\|Az - y\|_2 \le \eta`
  (Chambolle–Pock on basis pursuit, NESTA).

:class:`OwnProblem` holds one of them; the solvers (:mod:`.convex_solvers`) and the
minimiser (:mod:`.minimiser`) both read it, so neither imports the other for it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import torch

__all__ = ["KINDS", "OwnProblem", "is_real"]

#: the problem kinds
KINDS = ("sqrt-lasso", "lasso", "bp")


def is_real(v: object) -> bool:
    """Whether ``v`` is a real number (a bool is not)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# --------------------------------------------------------------------------- the problem


@dataclass(frozen=True)
class OwnProblem:
    r"""A convex problem of :data:`KINDS` (see the module docstring).

    Attributes
    ----------
    kind : str
        ``"sqrt-lasso"``, ``"lasso"`` or ``"bp"``.
    lam : float or None
        :math:`\lambda > 0` (``None`` for ``"bp"``).
    weights : torch.Tensor or None
        Weights :math:`w \ge 0` of the :math:`\ell^1_w` norm, shape ``A.shape`` (real);
        ``None`` means all ones.
    eta : float or None
        Constraint radius :math:`\eta \ge 0` of ``"bp"`` (``None`` otherwise).
    network : str
        Name of the network the problem was read from (``""`` if built by hand).
    """

    kind: str
    lam: float | None = None
    weights: torch.Tensor | None = field(default=None, compare=False, repr=False)
    eta: float | None = None
    network: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind = {self.kind!r} is not allowed; expected one of {KINDS}")
        if self.kind == "bp":
            if self.lam is not None:
                raise ValueError(f"lam = {self.lam!r} is not allowed for kind 'bp'; expected None")
            if not is_real(self.eta) or not self.eta >= 0 or not math.isfinite(self.eta):
                raise ValueError(
                    f"eta = {self.eta!r} is not allowed; expected a finite real >= 0 for kind 'bp'"
                )
        else:
            if not is_real(self.lam) or not self.lam > 0 or not math.isfinite(self.lam):
                raise ValueError(
                    f"lam = {self.lam!r} is not allowed; expected a finite real > 0 for kind "
                    f"{self.kind!r}"
                )
            if self.eta is not None:
                raise ValueError(
                    f"eta = {self.eta!r} is not allowed for kind {self.kind!r}; expected None"
                )
        if self.weights is not None:
            w = self.weights
            if not isinstance(w, torch.Tensor) or w.is_complex():
                raise ValueError("weights must be a real torch.Tensor (or None for all ones)")
            if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
                raise ValueError("weights must be finite and non-negative")
