"""The variables a sweep store holds: name, dims, dtype, units and meaning of each.

:data:`VARIABLES` is the one table the store layout, the README's variable table (tested)
and the analysis read: group -> variable -> (trailing dims after the group's cell dims,
dtype, units, long_name). A group is the set of variables one kind of cell writes
(``forward``, ``minimiser``, ``problem``, ``momentum`` or ``worst-case``, ``attack``,
``examples``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DONE_MEANINGS", "NAN_MEANINGS", "STR", "VARIABLES"]


STR = np.dtypes.StringDType()

#: group -> variable -> (trailing dims after the group's cell dims, dtype, units, long_name).
#: Norms of images and measurements are dimensionless (units "1"); strings carry no units.
VARIABLES: dict[str, dict[str, tuple[tuple[str, ...], Any, str | None, str]]] = {
    "forward": {
        "rel_error": (("trial", "depth"), float, "1",
                      "relative error ||x_hat - x|| / ||x|| of the network truncated at depth"),
        "residual": (("trial", "depth"), float, "1",
                     "measurement residual ||A x_hat - y|| of the network truncated at depth"),
        "psnr": (("trial",), float, "dB",
                 "PSNR of |phi(y)| against |x| at full depth, data range max|x| - min|x| "
                 "(skimage.metrics.peak_signal_noise_ratio)"),
        "ssim": (("trial",), float, "1",
                 "SSIM of |phi(y)| against |x| at full depth, data range max|x| - min|x| "
                 "(skimage.metrics.structural_similarity, 7x7 window)"),
        "wall_time": (("trial",), float, "s", "wall time of the forward pass (all depths)"),
        "status": (("trial",), STR, None, "trial status: ok, diverged, error ('' pending)"),
        "message": (("trial",), STR, None, "error message of a failed trial"),
    },
    "minimiser": {
        "opt_error": (("trial", "depth"), float, "1",
                      "optimisation error ||phi_n(y) - x_hat|| / ||x||, x_hat the minimiser "
                      "of the network's own convex problem"),
        "recovery_error": (("trial",), float, "1",
                           "recovery error ||x_hat - x|| / ||x|| of the network's own minimiser"),
        "minimiser_objective": (("trial",), float, "1",
                                "objective value of the network's own problem at x_hat"),
        "minimiser_certificate": (("trial",), float, "1",
                                  "relative primal-dual gap certified at x_hat (an upper "
                                  "bound on (P(x_hat) - P*) / P(x_hat))"),
        "objective": (("trial", "depth"), float, "1",
                      "objective f(phi_n(y)) of the network's own convex problem at the "
                      "output of depth n"),
        "objective_gap": (("trial", "depth"), float, "1",
                          "objective gap f(phi_n(y)) - f(x_hat) to the certified minimum "
                          "(the quantity the O(1/n) theorems bound)"),
        "gap_bound": (("trial", "depth"), float, "1",
                      "the theorem's bound on the objective gap at depth n: ergodic "
                      "primal-dual (||z_hat||^2/(2 tau) + 1/(2 sigma) + ||A z_hat||)/n, "
                      "FISTA 2L||z_hat||^2/(n+1)^2, ISTA L||z_hat||^2/(2n)"),
    },
    "problem": {
        "sigma_theory": (("trial",), float, "1",
                         "sigma_{s,M}(z)_{l1_w} / (sqrt(s) sqrt(r)), the accuracy floor eps"),
        "signal_norm": (("trial",), float, "1", "norm ||x|| of the true image"),
        "noise_norm": (("trial",), float, "1", "norm ||e|| = ||y - A z|| of the noise"),
        "zero_filling_error": (("trial",), float, "1",
                               "relative error ||A^* y - x|| / ||x|| of zero-filling (the "
                               "adjoint applied to the measurements), the baseline every "
                               "network must beat"),
    },
    "momentum": {
        "pert_norm": (("trial", "attack_step"), float, "1",
                      "norm ||r|| of the image-domain perturbation"),
        "meas_pert_norm": (("trial", "attack_step"), float, "1",
                           "norm ||A r|| of the perturbation in measurement space"),
        "output_change": (("trial", "attack_step"), float, "1",
                          "output change ||phi(y + A r) - phi(y)||"),
        "attack_error": (("trial", "attack_step"), float, "1",
                         "error ||phi(y + A r) - x|| of the perturbed reconstruction"),
        "amplification": (("trial", "attack_step"), float, "1",
                          "amplification ||phi(y + A r) - phi(y)|| / ||A r||"),
        "attack_objective": (("trial", "attack_step"), float, "1",
                             "attack objective Q(r)"),
    },
    "worst-case": {
        "worst_case_error": (("trial", "noise_level"), float, "1",
                             "error ||phi(y + e*) - x|| at the attack's perturbation e*, "
                             "||e*|| <= level ||y||"),
        "random_noise_error": (("trial", "noise_level"), float, "1",
                               "mean error ||phi(y + e) - x|| for random e, ||e|| = level ||y||"),
        "worst_case_change": (("trial", "noise_level"), float, "1",
                              "output change ||phi(y + e*) - phi(y)|| at the attack's e*"),
        "worst_case_pert_norm": (("trial", "noise_level"), float, "1",
                                 "norm ||e*|| of the attack's perturbation"),
        "worst_case_amplification": (("trial", "noise_level"), float, "1",
                                     "amplification ||phi(y + e*) - phi(y)|| / ||e*||"),
        "random_noise_change": (("trial", "noise_level"), float, "1",
                                "mean change ||phi(y + e) - phi(y)|| for random e, "
                                "||e|| = level ||y||"),
        "worst_case_steps": (("trial", "noise_level"), float, "1",
                             "ascent steps the attack ran (the most of any start) before its "
                             "stopping rule or its cap"),
        "worst_case_hit_cap": (("trial", "noise_level"), float, "1",
                               "1 where a start reached the step cap without meeting the "
                               "stopping rule (not converged), else 0"),
        "worst_case_trace": (("trial", "noise_level", "attack_iter"), float, "1",
                             "largest attack objective (error or change, a norm) found up "
                             "to ascent step j, over the restarts"),
    },
    "attack": {
        "attack_clean_error": (("trial",), float, "1",
                               "error ||phi(y) - x|| of the truncated (attacked) network"),
        "jacobian_sigma_max": (("trial",), float, "1",
                               "largest singular value of the Jacobian of e -> phi(y + e) at "
                               "e = 0 (Lanczos bidiagonalisation; worst-case attacks with "
                               "init: jacobian)"),
        "jacobian_residual": (("trial",), float, "1",
                              "relative residual ||J^T J v - sigma^2 v|| / sigma^2 of the "
                              "top singular pair (evidence that sigma_max converged)"),
        "jacobian_iterations": (("trial",), float, "1",
                                "Krylov iterations of the sigma_max computation"),
        "attack_wall_time": (("trial",), float, "s", "wall time of the attack"),
        "attack_status": (("trial",), STR, None,
                          "attack status: ok, diverged, error, skipped (not attacked at "
                          "this attack depth) ('' pending)"),
        "attack_message": (("trial",), STR, None, "error message of a failed attack"),
    },
    "examples": {
        "example_truth": (("row", "col"), float, "1", "magnitude of the true image x"),
        "example_output": (("row", "col"), float, "1",
                           "magnitude of the reconstruction phi(y) (attacked network)"),
        "example_perturbed": (("attack_record", "row", "col"), float, "1",
                              "magnitude of the perturbed image x + r_j (momentum) or of "
                              "the image-domain view A^* e of the worst-case "
                              "perturbation added to x, x + A^* e (per noise level)"),
        "example_attacked": (("attack_record", "row", "col"), float, "1",
                             "magnitude of the attacked reconstruction phi(y + A r_j) "
                             "(momentum) or phi(y + e) (worst-case, per noise level)"),
    },
}

#: What NaN means, per variable (the ``comment`` attribute), where NaN is expected.
NAN_MEANINGS: dict[str, str] = {
    "rel_error": "NaN at depths the network does not output (FIRENET: only at restart "
                 "boundaries, multiples of p) and in pending or failed trials",
    "residual": "NaN at depths the network does not output (FIRENET: only at restart "
                "boundaries) and in pending or failed trials",
    "opt_error": "NaN at depths the network does not output, and for networks without an "
                 "own convex problem (trained, custom)",
    "recovery_error": "NaN for networks without an own convex problem (trained, custom)",
    "minimiser_objective": "NaN for networks without an own convex problem",
    "minimiser_certificate": "NaN for networks without an own convex problem",
    "psnr": "NaN for 1-D signals and failed trials; inf when phi(y) = x exactly",
    "ssim": "NaN for 1-D signals, images smaller than 7x7 and failed trials",
    "jacobian_sigma_max": "NaN unless the attack starts from the Jacobian (init: jacobian)",
    "jacobian_residual": "NaN unless the attack starts from the Jacobian (init: jacobian)",
    "jacobian_iterations": "NaN unless the attack starts from the Jacobian (init: jacobian)",
    "objective": "NaN for networks without an own convex problem, and (basis pursuit) "
                 "where the output violates the constraint",
    "objective_gap": "NaN for networks without an own convex problem, and (basis pursuit) "
                     "where the output violates the constraint",
    "gap_bound": "NaN for networks without a gap theorem here (FIRENET, NESTA, CP on basis "
                 "pursuit, trained and custom networks)",
    "worst_case_trace": "NaN in pending, skipped or failed attacks",
}

DONE_MEANINGS = "0: pending, 1: done, 2: done with a failed trial"
