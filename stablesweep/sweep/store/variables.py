"""The store schema: every variable a sweep store holds, one row each.

A row (:class:`~stablesweep.attacks.kind.Variable`) gives the variable's name, its dims
after the cell dims of its group, dtype, units, long_name, what NaN means (``comment``)
and which attack kind or config option produces it. A *group* is the set of variables
one kind of cell writes, over the same cell dims:

- ``forward`` (problem axes, network): the network's forward pass;
- ``minimiser`` (same cell dims; ``minimiser: true``): the network's own minimiser;
- ``problem`` (problem axes): the drawn problem;
- one group per attack kind (problem axes, network, attack_depth), its rows declared
  with the kind (:data:`stablesweep.attacks.registry.ATTACKS`), and ``attack`` (same
  cell dims), the rows every attack kind writes;
- ``examples`` (example): the kept images;
- ``cell`` (the cell dims): the ``checksum`` and ``done`` marker of every cell.

:func:`variable_groups` is the table, the registered attack kinds included; the store
layout allocates from it, the cell fills its arrays from it, and the README's variable
table is tested against it. Adding a variable is one row here (or in its attack kind)
and the line that computes it. The dimension names are the constants below; modules
that read a store use them rather than spelling the names again.
"""

from __future__ import annotations

import numpy as np

from stablesweep.attacks.kind import BUDGET_DIM, STR, Variable
from stablesweep.attacks.momentum_kind import STEP as ATTACK_STEP
from stablesweep.attacks.registry import ATTACKS, COMMON_VARIABLES
from stablesweep.attacks.worst_case_kind import ITER as ATTACK_ITER

__all__ = [
    "ATTACK",
    "ATTACK_DEPTH",
    "ATTACK_ITER",
    "ATTACK_RECORD",
    "ATTACK_STATUS",
    "ATTACK_STEP",
    "COL",
    "DEPTH",
    "DIVERGED",
    "DONE_MEANINGS",
    "ERROR",
    "EXAMPLE",
    "NETWORK",
    "NOISE_LEVEL",
    "OK",
    "ROW",
    "SKIPPED",
    "STATUS",
    "STR",
    "TRIAL",
    "Variable",
    "attack_groups",
    "group_of",
    "variable",
    "variable_groups",
]

#: Dimension names of the store.
TRIAL, DEPTH, NETWORK, ATTACK_DEPTH = "trial", "depth", "network", "attack_depth"
EXAMPLE, ATTACK_RECORD, ROW, COL = "example", "attack_record", "row", "col"
#: The budget ε of the worst-case attack (``attack.budget``): stored along this dim.
NOISE_LEVEL = BUDGET_DIM

#: The ``forward`` group.
FORWARD: tuple[Variable, ...] = (
    Variable('rel_error', ('trial', 'depth'), float, '1',
             "relative error ||x_hat - x|| / ||x|| of the network truncated at depth",
             "NaN at depths the network does not output (FIRENET: only at restart boundaries, "
             "multiples of p) and in pending or failed trials"),
    Variable('residual', ('trial', 'depth'), float, '1',
             "measurement residual ||A x_hat - y|| of the network truncated at depth",
             "NaN at depths the network does not output (FIRENET: only at restart boundaries) "
             "and in pending or failed trials"),
    Variable('psnr', ('trial',), float, 'dB',
             "PSNR of |phi(y)| against |x| at full depth, data range max|x| - min|x| "
             "(skimage.metrics.peak_signal_noise_ratio)",
             "NaN for 1-D signals and failed trials; inf when phi(y) = x exactly"),
    Variable('ssim', ('trial',), float, '1',
             "SSIM of |phi(y)| against |x| at full depth, data range max|x| - min|x| "
             "(skimage.metrics.structural_similarity, 7x7 window)",
             "NaN for 1-D signals, images smaller than 7x7 and failed trials"),
    Variable('wall_time', ('trial',), float, 's',
             "wall time of the forward pass (all depths)"),
    Variable('status', ('trial',), STR, None,
             "trial status: ok, diverged, error ('' pending)"),
    Variable('message', ('trial',), STR, None,
             "error message of a failed trial"),
)

#: The ``minimiser`` group.
MINIMISER: tuple[Variable, ...] = (
    Variable('opt_error', ('trial', 'depth'), float, '1',
             "optimisation error ||phi_n(y) - x_hat|| / ||x||, x_hat the minimiser of the "
             "network's own convex problem",
             "NaN at depths the network does not output, and for networks without an own "
             "convex problem (trained, custom)",
             source='minimiser: true'),
    Variable('recovery_error', ('trial',), float, '1',
             "recovery error ||x_hat - x|| / ||x|| of the network's own minimiser",
             "NaN for networks without an own convex problem (trained, custom)",
             source='minimiser: true'),
    Variable('minimiser_objective', ('trial',), float, '1',
             "objective value of the network's own problem at x_hat",
             "NaN for networks without an own convex problem",
             source='minimiser: true'),
    Variable('minimiser_certificate', ('trial',), float, '1',
             "relative primal-dual gap certified at x_hat (an upper bound on (P(x_hat) - P*) / "
             "P(x_hat))",
             "NaN for networks without an own convex problem",
             source='minimiser: true'),
    Variable('objective', ('trial', 'depth'), float, '1',
             "objective f(phi_n(y)) of the network's own convex problem at the output of depth "
             "n",
             "NaN for networks without an own convex problem, and (basis pursuit) where the "
             "output violates the constraint",
             source='minimiser: true'),
    Variable('objective_gap', ('trial', 'depth'), float, '1',
             "objective gap f(phi_n(y)) - f(x_hat) to the certified minimum (the quantity the "
             "O(1/n) theorems bound)",
             "NaN for networks without an own convex problem, and (basis pursuit) where the "
             "output violates the constraint",
             source='minimiser: true'),
    Variable('gap_bound', ('trial', 'depth'), float, '1',
             "the theorem's bound on the objective gap at depth n: ergodic primal-dual "
             "(||z_hat||^2/(2 tau) + 1/(2 sigma) + ||A z_hat||)/n, FISTA "
             "2L||z_hat||^2/(n+1)^2, ISTA L||z_hat||^2/(2n)",
             "NaN for networks without a gap theorem here (FIRENET, NESTA, CP on basis "
             "pursuit, trained and custom networks)",
             source='minimiser: true'),
)

#: The ``problem`` group.
PROBLEM: tuple[Variable, ...] = (
    Variable('sigma_theory', ('trial',), float, '1',
             "sigma_{s,M}(z)_{l1_w} / (sqrt(s) sqrt(r)), the accuracy floor eps"),
    Variable('signal_norm', ('trial',), float, '1',
             "norm ||x|| of the true image"),
    Variable('noise_norm', ('trial',), float, '1',
             "norm ||e|| = ||y - A z|| of the noise"),
    Variable('zero_filling_error', ('trial',), float, '1',
             "relative error ||A^* y - x|| / ||x|| of zero-filling (the adjoint applied to the "
             "measurements), the baseline every network must beat"),
)

#: The ``examples`` group: (row, col) images, (attack_record, row, col) where the
#: attack keeps records.
EXAMPLES: tuple[Variable, ...] = (
    Variable('example_truth', ('row', 'col'), float, '1',
             "magnitude of the true image x"),
    Variable('example_output', ('row', 'col'), float, '1',
             "magnitude of the reconstruction phi(y) (attacked network)"),
    Variable('example_perturbed', ('attack_record', 'row', 'col'), float, '1',
             "magnitude of the perturbed image x + r_j (momentum) or of the image-domain view "
             "A^* e of the worst-case perturbation added to x, x + A^* e (per noise level)"),
    Variable('example_attacked', ('attack_record', 'row', 'col'), float, '1',
             "magnitude of the attacked reconstruction phi(y + A r_j) (momentum) or phi(y + e) "
             "(worst-case, per noise level)"),
)


#: The group of the rows every attack kind writes.
ATTACK = "attack"
#: The status variables: of the forward pass (``forward``) and of the attack (``attack``).
STATUS, ATTACK_STATUS = "status", "attack_status"
#: Their values, per trial (``SKIPPED``: attack only, the network is not attacked there;
#: ``""``: pending).
OK, DIVERGED, ERROR, SKIPPED = "ok", "diverged", "error", "skipped"
#: The ``done`` marker's flag meanings.
DONE_MEANINGS = "0: pending, 1: done, 2: done with a failed trial"

#: The ``cell`` group: bookkeeping over the cell dims themselves, written with every cell.
CELL: tuple[Variable, ...] = (
    Variable("checksum", (), np.int64, "1",
             "checksum of the cell's values (BLAKE2b-64; 0: none)"),
    Variable("done", (), np.int8, "1", "cell completion marker"),
)


def variable_groups() -> dict[str, tuple[Variable, ...]]:
    """Group -> its rows, in store order: forward, minimiser, problem, one group per
    registered attack kind, attack, examples, cell."""
    groups = {"forward": FORWARD, "minimiser": MINIMISER, "problem": PROBLEM}
    groups.update({name: kind.variables for name, kind in ATTACKS.items()})
    groups[ATTACK] = COMMON_VARIABLES
    groups["examples"] = EXAMPLES
    groups["cell"] = CELL
    return groups


def attack_groups() -> tuple[str, ...]:
    """The groups an attacked cell writes: one per registered kind, then ``attack``."""
    return (*ATTACKS, ATTACK)


def variable(name: str) -> Variable:
    """The row of variable ``name``.

    Raises
    ------
    KeyError
        Naming the variable and saying where the table is.
    """
    for rows in variable_groups().values():
        for row in rows:
            if row.name == name:
                return row
    raise KeyError(f"{name!r} is not a store variable (stablesweep.sweep.store.variables)")


def group_of(name: str) -> str:
    """The group that holds variable ``name``."""
    for group, rows in variable_groups().items():
        if any(row.name == name for row in rows):
            return group
    raise KeyError(f"{name!r} is not a store variable (stablesweep.sweep.store.variables)")
