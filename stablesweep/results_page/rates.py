"""The convergence section: the objective gap against its bound, the rate γ, per cell."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from .common import (
    CONTRADICTED,
    DEMONSTRATED,
    NOT_AT_SCALE,
    NOT_RUN,
    Section,
    copy_figure,
    fmt,
    load,
    table,
)

__all__ = ["rates_section"]


def _resolution(fits: xr.Dataset, fallback: str) -> str:
    """``"64²"`` from the sweep config stored in the analysis file's attributes."""
    import yaml

    try:
        n = yaml.safe_load(fits.attrs["config"])["problem"]["resolution"]
        return f"{int(n)}²"
    except (KeyError, TypeError, ValueError, yaml.YAMLError):
        return fallback


def _flagged(fits: xr.Dataset, flag: str, sel: dict) -> str:
    if flag not in fits:
        return ""
    values = np.asarray(fits[flag].sel(sel).values).astype(str).ravel()
    return next((v for v in values if v), "")


# --------------------------------------------------------------------------- sections


def _span(g: xr.Dataset, key: str) -> str:
    """``γ [low, high]`` of a fitted rate and its range over trials."""
    if key not in g or not np.isfinite(float(g[key])):
        return "—"
    return f"{fmt(g[key])} [{fmt(g[key + '_low'])}, {fmt(g[key + '_high'])}]"


def _slopes(g: xr.Dataset, key: str) -> str:
    if key not in g:
        return "—"
    return " / ".join(fmt(v, 2) for v in np.asarray(g[key].values, dtype=float))


#: A network whose gap has an O(1/n^q) theorem (bound stored in ``gap_bound``): q.
GAP_THEOREM = {"primal-dual": 1.0, "fista": 2.0, "ista": 1.0}


def rates_section(results: Path, figs: Path) -> Section:
    claim = ("The ergodic primal–dual network's objective gap f(φ_n(y)) − f(x̂) in its own "
             "problem falls like C/n, with C Chambolle–Pock's constant (FISTA's like "
             "C/n²); the error to x obeys ‖φ_n(y) − x‖ ≤ ε + C/n with the theory's floor ε; "
             "FIRENET converges exponentially (e^{−1} per restart) down to its accuracy "
             "floor.")
    gap_rows, err_rows, figures, found = [], [], [], []
    theorem_checks, error_checks, firenet_notes = [], [], []
    for name in ("rates", "rates-128"):
        fits = load(results / name / "fits.nc")
        if fits is None or "gap_gamma" not in fits:
            continue
        found.append(name)
        res = _resolution(fits, name)
        for img in (fits["image"].values if "image" in fits.dims else [None]):
            for net in fits["network"].values:
                sel = {"network": net, **({"image": img} if img is not None else {})}
                g = fits.sel(sel)
                kind = str(net)
                is_firenet = "firenet" in kind
                flag = _flagged(fits, "opt_fit_flag", sel)
                if is_firenet:
                    gap_rate = "no gap theorem (restarts target x)"
                    bound = "—"
                else:
                    gap_rate = _span(g, "gap_gamma")
                    ratio = float(g["gap_bound_ratio"]) if "gap_bound_ratio" in g else math.nan
                    bound = (f"{fmt(ratio)} (at N: {fmt(g['gap_bound_ratio_final'])})"
                             if math.isfinite(ratio) else "no theorem")
                    if kind in GAP_THEOREM and math.isfinite(ratio):
                        theorem_checks.append((res, str(img), kind, float(g["gap_gamma_low"]),
                                               float(g["gap_gamma_high"]), ratio))
                gap_rows.append([res, str(img), kind, gap_rate, _slopes(g, "gap_slopes"),
                                 bound])
                c_eps, c_eps_half = (float(g.get("error_bound_C_theory", math.nan)),
                                     float(g.get("error_bound_C_theory_half", math.nan)))
                one_c = (c_eps <= 1.01 * c_eps_half) if math.isfinite(c_eps) else None
                floor_above = (float(g.get("error_floor", math.nan))
                               > float(g.get("error_bound_eps", math.inf)))
                error_checks.append((res, str(img), kind, one_c, floor_above))
                dist = f"flagged: {flag}" if flag else _span(g, "opt_gamma_tail")
                err_rows.append([
                    res, str(img), kind,
                    fmt(g["full_depth_rel_error"]) if "full_depth_rel_error" in g else "—",
                    fmt(g["error_floor"]) if "error_floor" in g else "—",
                    fmt(g["error_bound_eps"]) if "error_bound_eps" in g else "—",
                    f"{fmt(c_eps)} / {fmt(c_eps_half)}",
                    "yes" if one_c else ("no" if one_c is not None else "—"),
                    dist])
                if is_firenet and "full_depth_rel_error" in g:
                    firenet_notes.append((res, str(img), kind, float(g["full_depth_rel_error"]),
                                          float(g["recovery_floor"]), flag))
        for pattern, what in (("objective_gap_vs_depth__*.png",
                               "objective gap against depth, with the theorem's bound"),
                              ("opt_error_vs_depth__*.png",
                               "distance to the own minimiser against depth")):
            for png in sorted((results / name / "figures").glob(pattern)):
                stem = f"{name}-{png.stem.split('__', 1)[1]}.png"
                copied = copy_figure(png, figs, f"{pattern.split('_vs')[0]}-{stem}")
                if copied:
                    figures.append((copied, f"{name}: {what}, "
                                            f"{png.stem.split('__', 1)[1].replace('_', ', ')}"))
    if not found:
        return Section("Convergence against the minimiser", claim, NOT_RUN, [
            "Not computed: run `bash scripts/results.sh` (or the `rates` and `rates-128` "
            "experiments through the workflow)."])
    body = [
        "Experiments `rates` (64²) and `rates-128` (128²): camera and Shepp–Logan, Fourier "
        "sampling at rate 0.25 with the theory's multilevel budgets, 4 trials (masks), "
        "depth N = 400. For every trial the sweep certifies the minimiser x̂ of each "
        "network's own problem (relative primal–dual gap ≤ 10⁻⁷) and stores, per depth, "
        "the objective gap f(φ_n(y)) − f(x̂) and the theorem's bound on it "
        "(`stablesweep.networks.minimiser.gap_bound`: Chambolle–Pock's ergodic "
        "(‖ẑ‖²/2τ + 1/2σ + ‖Aẑ‖)/n, FISTA's 2L‖ẑ‖²/(n+1)²).",
        "",
        "**Fit rule** (`stablesweep.analysis.bounds`): γ is the least-squares slope of "
        "log gap against log n on log-spaced depths (8 per octave) from N/4 to N — the "
        "burn-in leaves out the first three quarters of the depths — fitted to the mean "
        "over trials; the bracket is the range of the single trials' γ (the trials are "
        "independent masks), not a confidence interval. Model error shows in the local "
        "slopes per octave (N/16–N/8, N/8–N/4, N/4–N/2, N/2–N): equal for a power law, "
        "growing for an exponential. Gaps below ten times the certificate are left out.",
        "",
        table(["size", "image", "network", "rate γ of the objective gap [trial range]",
                "local slopes per octave", "max gap ÷ theorem's bound (any depth, trial)"],
               gap_rows),
    ]
    verdict = NOT_AT_SCALE
    if theorem_checks:
        violated = [c for c in theorem_checks if c[5] > 1 + 1e-6]
        pd = [c for c in theorem_checks if c[2] == "primal-dual"]
        pd_ok = [c for c in pd if c[3] >= 0.95]
        if violated:
            verdict = CONTRADICTED
        elif pd and len(pd_ok) == len(pd):
            verdict = DEMONSTRATED
        text = "; ".join(f"{r} {i} {n}: γ in [{fmt(lo)}, {fmt(hi)}], gap ÷ bound ≤ "
                         f"{fmt(ratio)}" for r, i, n, lo, hi, ratio in theorem_checks)
        body += ["", f"**The gap theorems.** {text}. Rule: demonstrated when the gap of every "
                     "network with a theorem stays below its bound at every depth and trial "
                     "and the primal–dual network's rate is ≥ 0.95 in every trial; "
                     f"contradicted when a bound is exceeded. Here: **{verdict}**."]
    body += [
        "",
        "**The error bound** ‖φ_n(y) − x‖/‖x‖ ≤ ε + C/n. C is the smallest constant for "
        "which it holds at every depth and trial with the trial's theory floor ε = "
        "σ_{s,M}(z)/(√s√r‖x‖); it holds *with one C* when the C of the depths n ≤ N/2 "
        "already holds at the depths up to N (the early depths predict the late ones; any "
        "finite set of depths has some C). The distance to x̂ is not bounded by the "
        "theorems (where x̂ is not a sharp minimiser it falls more slowly); its rate is "
        "given with the same fit rule, for what it is.",
        "",
        table(["size", "image", "network", "error at depth N", "recovery floor ‖x̂ − x‖/‖x‖",
                "theory ε", "C: all depths / n ≤ N/2", "one C?",
                "rate of ‖φ_n(y) − x̂‖ [trial range]"], err_rows),
    ]
    holds = [c for c in error_checks if c[3]]
    fails = [f"{r} {i} {n}" for r, i, n, ok, _ in error_checks if ok is False]
    above = [f"{r} {i} {n}" for r, i, n, _, up in error_checks if up]
    body += ["", f"One C holds in {len(holds)} of {len(error_checks)} cells"
                 + (f"; not in {', '.join(fails)}" if fails else "") + "."
                 + (f" Where the recovery floor exceeds ε ({', '.join(above)}) the minimiser "
                    "itself is farther from x than ε, so no C can make the bound hold as n "
                    "grows: the sampling is below what the theory's ε assumes." if above
                    else "")]
    if firenet_notes:
        def reached(e: float, f: float) -> bool:
            return e <= 1.1 * f

        text = "; ".join(f"{r} {i} {n}: error {fmt(e)} against floor {fmt(f)} — "
                         + ("reached" if reached(e, f) else "stops above it")
                         + (", distance to x̂ stalls" if flag else "")
                         for r, i, n, e, f, flag in firenet_notes)
        body += ["", f"**Does FIRENET reach its floor?** (Rule: its error at depth N within "
                     f"10% of the recovery floor.) {text}. FIRENET's restarts target x (to "
                     "within its accuracy floor), not x̂: once there, its distance to x̂ stops "
                     "falling — detected and flagged, never fitted. Its per-restart "
                     "contraction by e^{−1} at p = 10, 20 and the stall at p = 5 are claims "
                     "tests on exactly sparse problems."]
    body += ["", "*What changed (issue 22).* The page used to test the rate of the distance "
                 "to x̂, which no theorem bounds, and fitted C/n^γ and C·e^{−cn} to every "
                 "depth 1…400 at linear spacing, so the exponential won at 128² by fitting "
                 "the plateau at n ≤ 25 (verdict then: *not at this scale*, γ 0.30–0.71). "
                 "It now tests the gap, which the theorem bounds, on the fit rule above."]
    return Section("Convergence against the minimiser", claim, verdict, body, figures)

