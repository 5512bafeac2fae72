"""What the report shows, in which order: its sections, figure kinds and tables."""

from __future__ import annotations

from dataclasses import dataclass, field

from stablesweep.sweep.store.variables import ATTACK_DEPTH, NETWORK, NOISE_LEVEL


@dataclass(frozen=True)
class FigureKind:
    """One figure type of the report: file-stem prefix, heading, what it shows."""

    kind: str
    heading: str
    shows: str  # the paragraph under the heading
    settings: str  # which config block its caption quotes: "networks", "attack", ...
    short: str = ""  # what one figure shows, for its caption


@dataclass(frozen=True)
class TableSpec:
    """One table of the report: candidate variables of ``fits.nc`` and how to group."""

    key: str
    heading: str
    about: str
    variables: tuple[str, ...]
    group: tuple[str, ...] = (NETWORK,)


@dataclass
class Section:
    key: str
    heading: str
    about: str
    items: list = field(default_factory=list)  # FigureKind | TableSpec, in order


_RATE_VARS = (
    "selected_model", "gamma", "gamma_ci", "exp_rate", "exp_rate_ci", "eps", "eps_ci", "C",
    "C_ci", "eps_theory_rel", "eps_theory", "recovery_floor", "n_points",
    "opt_model", "opt_gamma", "opt_gamma_low", "opt_gamma_high", "opt_C", "opt_c",
    "opt_c_low", "opt_c_high", "stalled", "stall_depth",
    "gap_gamma", "gap_gamma_low", "gap_gamma_high", "gap_bound_ratio", "gap_bound_ratio_final",
    "opt_gamma_tail", "error_bound_C_theory", "error_bound_C_theory_half", "error_bound_eps",
)
_WORST_VARS = (
    "wc_rel_error", "wc_random_rel_error", "wc_ratio", "wc_amplification", "wc_change_rel",
    "wc_jacobian_sigma_max",
)
_TRADEOFF_VARS = (
    "tradeoff_max_amplification", "tradeoff_clean_rel_error", "tradeoff_clean_abs_error",
    "tradeoff_clean_error",
)
_STABILITY_VARS = ("max_amplification", "clean_rel_error", "clean_abs_error", "clean_error")

#: Variables a flag covers: ``fit_flag`` the fits of the error, ``opt_fit_flag`` the fits
#: of the optimisation error (every ``opt_*`` variable).
_FIT_FLAG_VARS = frozenset({
    "selected_model", "gamma", "gamma_ci", "exp_rate", "exp_rate_ci", "eps", "eps_ci", "C",
    "C_ci", "log_rss", "aic", "bic",
})


def _flag_for(var: str) -> str | None:
    if var.startswith("opt_") and var != "opt_fit_flag":
        return "opt_fit_flag"
    if var in _FIT_FLAG_VARS:
        return "fit_flag"
    return None


#: The report's sections, in the order of the questions.
FIGURE_SECTIONS: list[Section] = [
    Section("accuracy", "Accuracy against depth",
            "How close does each network get to the signal, and how fast does the error "
            "fall with depth n (the number of layers or iterations)?", [
                TableSpec("accuracy", "Accuracy at full depth",
                          "Relative error at each network's full depth, and the PSNR and "
                          "SSIM of |φ(y)| against |x| (scikit-image), mean over trials.",
                          ("full_depth_rel_error", "psnr_mean", "ssim_mean")),
                FigureKind("error_vs_depth", "Error against depth",
                           "Relative error ‖φ_n(y) − x‖/‖x‖ of each network truncated at "
                           "depth n (mean over trials), with the fitted rate curves and the "
                           "theory floor ε on the same relative axis.", "networks",
                           short="relative error ‖φ_n(y) − x‖/‖x‖ against depth n, fitted rates, "
                                 "theory floor"),
                FigureKind("opt_error_vs_depth", "Optimisation error against depth",
                           "Optimisation error ‖φ_n(y) − x̂‖/‖x‖ against depth n, x̂ the "
                           "minimiser of each network's own convex problem, with fitted "
                           "rates. No theorem bounds its rate where x̂ is not a sharp "
                           "minimiser (natural images): the theorems bound the objective gap "
                           "below.", "networks",
                           short="optimisation error ‖φ_n(y) − x̂‖/‖x‖ against depth n, fitted "
                                 "rates"),
                FigureKind("objective_gap_vs_depth", "Objective gap against depth",
                           "Objective gap f(φ_n(y)) − f(x̂) of each network in its own convex "
                           "problem against depth n (the quantity the O(1/n) theorems "
                           "bound), the theorem's bound dashed, and their ratio (≤ 1: the "
                           "bound holds).", "networks",
                           short="objective gap f(φ_n(y)) − f(x̂) against depth n, with the "
                                 "theorem's bound"),
                TableSpec("rates", "Convergence rates",
                          "Fits of ε + C/n^γ (power law) and ε + C·e^(−c n) (exponential) "
                          "to the error against depth; opt_* to the optimisation error; gap_* "
                          "the rate of the objective gap on log-spaced depths N/4..N and its "
                          "ratio to the theorem's bound (≤ 1: holds); error_bound_C_theory "
                          "the smallest C of ‖φ_n − x‖/‖x‖ ≤ ε + C/n (all depths, and n ≤ "
                          "N/2). Flagged fits are not to be trusted.", _RATE_VARS),
            ]),
    Section("stability", "Stability",
            "How much can a small perturbation of the measurements change the output? "
            "Networks are compared at equal budgets ε = ‖e‖/‖y‖ first.", [
                FigureKind("worst_case_amplification", "Worst-case amplification at equal "
                           "budgets", "Worst-case amplification ‖φ(y+e*) − φ(y)‖/‖e*‖ of "
                           "every network on one axis against the budget ε = ‖e‖/‖y‖.",
                           "attack",
                           short="worst-case amplification of every network against the budget ε "
                                 "= ‖e‖/‖y‖"),
                FigureKind("worst_case", "Worst case against random noise",
                           "Error of the worst perturbation e* found within the budget "
                           "‖e‖ ≤ ε‖y‖ next to random noise of the same norm, per network.",
                           "attack",
                           short="worst-case and random-noise error against the budget ε = "
                                 "‖e‖/‖y‖"),
                TableSpec("worst_case", "Worst-case attack at equal budgets",
                          "Per budget ε: worst-case and random-noise relative errors, their "
                          "ratio, the amplification and σ_max of the Jacobian.", _WORST_VARS,
                          group=(NETWORK, NOISE_LEVEL)),
                FigureKind("amplification", "Amplification along each network's attack path",
                           "Amplification ‖φ(y+Ar) − φ(y)‖/‖Ar‖ along each network's own "
                           "momentum-ascent path; the paths reach different sizes ‖Ar‖, so "
                           "compare networks in the equal-budget figures above.", "attack",
                           short="amplification ‖φ(y+Ar) − φ(y)‖/‖Ar‖ along each network's own "
                                 "attack path"),
                FigureKind("stability_panel", "Stability test examples",
                           "One attacked example: the image x and the clean reconstruction "
                           "φ(y) in the first column; then the perturbed input (x + r for "
                           "the momentum attack, x + A*e for the worst-case one at each "
                           "budget ε) above its reconstruction, with the difference "
                           "|φ(y + ·) − φ(y)| below; one grey scale with a colour bar.",
                           "example",
                           short="x and φ(y); perturbed inputs above their reconstructions; "
                                 "differences below"),
                FigureKind("attack_convergence", "Attack convergence",
                           "Best objective value found so far against the ascent step (max "
                           "over starts). An ascent stops when its best objective grew by "
                           "less than tol (relative) over `patience` steps, and is drawn "
                           "flat from there; one that reaches the step cap instead is "
                           "counted in worst_case_hit_cap (not converged).",
                           "attack", short="best attack objective so far against the ascent "
                                           "step (flat after the stopping rule)"),
                TableSpec("stability", "Largest amplification per cell",
                          "Largest amplification the momentum attack found and the clean "
                          "error at the attacked depth.", _STABILITY_VARS,
                          group=(NETWORK, ATTACK_DEPTH)),
                TableSpec("tradeoff", "Accuracy–stability trade-off",
                          "Per network and attacked depth: the largest amplification over "
                          "all cells against the clean error.", _TRADEOFF_VARS,
                          group=(NETWORK, ATTACK_DEPTH)),
            ]),
    Section("sampling", "Sampling and noise",
            "Which sampling budgets recover the signal, and how does the error grow with "
            "measurement noise?", [
                FigureKind("phase_transition", "Phase transition",
                           "Recovery probability (fraction of trials with relative error "
                           "below the threshold) over sampling rate × sparsity, per "
                           "sampling scheme.", "recovery",
                           short="recovery probability over sampling rate × sparsity"),
                TableSpec("recovery", "Recovery probability",
                          "Fraction of trials recovered at the recovery depth.",
                          ("recovery_probability", "recovery_trials", "recovery_depth")),
                FigureKind("error_vs_noise", "Error against noise",
                           "Relative error at full depth against the relative measurement "
                           "noise ‖e‖/‖Ax‖ (the swept axis), with the fitted noise slope.",
                           "noise",
                           short="relative error at full depth against the relative noise "
                                 "‖e‖/‖Ax‖"),
                TableSpec("noise", "Noise sensitivity",
                          "Least-squares slope C₃ of the error against the noise.",
                          ("noise_slope", "noise_slope_se", "noise_intercept",
                           "noise_slope_points", "noise_slope_depth")),
            ]),
]
