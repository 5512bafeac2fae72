"""The results page: the papers' claims, measured, with figures and a verdict each.

``python -m stablesweep.results_page [--results results] [-o docs/results.md]`` reads
what ``scripts/results.sh`` computed —

- ``results/rates``, ``results/rates-128``: sweep store and ``fits.nc`` (distance to each
  network's own minimiser against depth),
- ``results/stability``, ``results/trained-vs-stable``: worst-case attacks at equal
  budgets ε = ‖e‖/‖y‖,
- ``results/tradeoff``: the kernel trade-off (``stablesweep tradeoff``),
- ``results/k-digits``: Table 1 (``stablesweep barrier``),

and writes one Markdown page with small PNG copies of the figures next to it
(``docs/results/``). Every number on the page is read from those files and every verdict
is computed from them by the rule printed next to it: *demonstrated*, *not at this
scale* or *contradicted*. A section whose inputs are missing says which command makes
them; nothing is filled in by hand.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["Section", "build_page", "main"]

DEMONSTRATED, NOT_AT_SCALE, CONTRADICTED, NOT_RUN = (
    "demonstrated", "not at this scale", "contradicted", "not run")

#: Largest side of a figure copied onto the page (pixels).
THUMB_SIDE = 1100


@dataclass
class Section:
    """One claim: its heading, the Markdown body and the verdict."""

    title: str
    claim: str
    verdict: str
    body: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file, caption)


# --------------------------------------------------------------------------- helpers


def _fmt(v: object, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "—"
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e4):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def _load(path: Path) -> xr.Dataset | None:
    return xr.load_dataset(path) if path.is_file() else None


def _store(path: Path) -> xr.Dataset | None:
    if not (path / "zarr.json").is_file():
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_zarr(path, chunks=None)


def _copy_figure(src: Path, dest_dir: Path, name: str) -> str | None:
    """A downscaled PNG copy of ``src`` in ``dest_dir``; its name, or None if absent."""
    if not src.is_file():
        return None
    from PIL import Image

    dest_dir.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        scale = THUMB_SIDE / max(im.size)
        if scale < 1:
            im = im.resize((round(im.width * scale), round(im.height * scale)),
                           Image.Resampling.LANCZOS)
        im.save(dest_dir / name, optimize=True)
    return name


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
    return f"{_fmt(g[key])} [{_fmt(g[key + '_low'])}, {_fmt(g[key + '_high'])}]"


def _slopes(g: xr.Dataset, key: str) -> str:
    if key not in g:
        return "—"
    return " / ".join(_fmt(v, 2) for v in np.asarray(g[key].values, dtype=float))


#: A network whose gap has an O(1/n^q) theorem (bound stored in ``gap_bound``): q.
GAP_THEOREM = {"primal-dual": 1.0, "fista": 2.0, "ista": 1.0}


def _rates_section(results: Path, figs: Path) -> Section:
    claim = ("The ergodic primal–dual network's objective gap f(φ_n(y)) − f(x̂) in its own "
             "problem falls like C/n, with C Chambolle–Pock's constant (FISTA's like "
             "C/n²); the error to x obeys ‖φ_n(y) − x‖ ≤ ε + C/n with the theory's floor ε; "
             "FIRENET converges exponentially (e^{−1} per restart) down to its accuracy "
             "floor.")
    gap_rows, err_rows, figures, found = [], [], [], []
    theorem_checks, error_checks, firenet_notes = [], [], []
    for name in ("rates", "rates-128"):
        fits = _load(results / name / "fits.nc")
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
                    bound = (f"{_fmt(ratio)} (at N: {_fmt(g['gap_bound_ratio_final'])})"
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
                    _fmt(g["full_depth_rel_error"]) if "full_depth_rel_error" in g else "—",
                    _fmt(g["error_floor"]) if "error_floor" in g else "—",
                    _fmt(g["error_bound_eps"]) if "error_bound_eps" in g else "—",
                    f"{_fmt(c_eps)} / {_fmt(c_eps_half)}",
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
                copied = _copy_figure(png, figs, f"{pattern.split('_vs')[0]}-{stem}")
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
        _table(["size", "image", "network", "rate γ of the objective gap [trial range]",
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
        text = "; ".join(f"{r} {i} {n}: γ in [{_fmt(lo)}, {_fmt(hi)}], gap ÷ bound ≤ "
                         f"{_fmt(ratio)}" for r, i, n, lo, hi, ratio in theorem_checks)
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
        _table(["size", "image", "network", "error at depth N", "recovery floor ‖x̂ − x‖/‖x‖",
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

        text = "; ".join(f"{r} {i} {n}: error {_fmt(e)} against floor {_fmt(f)} — "
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


#: A network whose clean error is above this fraction of zero-filling's is flagged.
ZERO_FILLING_MARGIN = 0.9


def _cells(store: xr.Dataset) -> list[dict[str, object]]:
    """One record per (network, image, trial) of a worst-case store: paired numbers.

    Every entry of a record comes from the same cell and trial: the clean error of the
    attacked network, zero-filling's error on the same measurements, the amplification
    at every budget, σ_max of the Jacobian with its residual, the attack's steps and
    whether it hit its cap.
    """
    ds = store
    if "attack_depth" in ds.dims:
        ds = ds.isel(attack_depth=0)
    images = [str(v) for v in ds["image"].values] if "image" in ds.dims else [None]
    levels = np.asarray(ds["noise_level"].values, dtype=float)
    out = []
    for net in ds["network"].values:
        for img in images:
            g = ds.sel(network=net, **({"image": img} if img is not None else {}))
            for t in g["trial"].values:
                c = g.sel(trial=t)

                def val(name: str, c: xr.Dataset = c) -> float:
                    return float(c[name].values) if name in c else math.nan

                status = str(c["attack_status"].values) if "attack_status" in c else "ok"
                if status != "ok":
                    continue
                out.append({
                    "network": str(net), "image": img, "trial": int(t),
                    "error": val("attack_clean_error") / val("signal_norm"),
                    "zero_filling": val("zero_filling_error"),
                    "amp": {float(b): float(c["worst_case_amplification"].sel(noise_level=b))
                            for b in levels},
                    "sigma": val("jacobian_sigma_max"), "residual": val("jacobian_residual"),
                    "steps": (float(c["worst_case_steps"].max()) if "worst_case_steps" in c
                              else math.nan),
                    "hit_cap": (int(np.nansum(c["worst_case_hit_cap"].values))
                                if "worst_case_hit_cap" in c else 0),
                    "attacks": int(len(levels)),
                })
    return out


def _reconstructs(rec: dict[str, object]) -> bool:
    return float(rec["error"]) < ZERO_FILLING_MARGIN * float(rec["zero_filling"])


def _stability_table(records: list[dict[str, object]], levels: list[float]) -> str:
    rows = []
    seen_zf = set()
    for r in records:
        flag = "" if _reconstructs(r) else " ⚠ not below zero-filling"
        amps = [r["amp"].get(b, math.nan) for b in levels]
        ratio = amps[0] / r["sigma"] if r["sigma"] else math.nan
        rows.append([r["network"] + flag, r["image"] or "—", r["trial"], r["error"],
                     r["zero_filling"], *amps, r["sigma"], r["residual"], ratio,
                     f"{_fmt(r['steps'])} ({r['hit_cap']}/{r['attacks']} at cap)"])
        key = (r["image"], r["trial"])
        if key not in seen_zf:
            seen_zf.add(key)
    for img, t in sorted(seen_zf, key=lambda k: (str(k[0]), k[1])):
        zf = next(r["zero_filling"] for r in records if (r["image"], r["trial"]) == (img, t))
        rows.append(["zero-filling A*y (baseline)", img or "—", t, zf, zf,
                     *[1.0] * len(levels), 1.0, 0.0, 1.0, "— (linear: ‖A*e‖ = ‖e‖)"])
    return _table(["network", "image", "trial", "error ‖φ(y) − x‖/‖x‖", "zero-filling error",
                   *[f"amplification at ε = {b:g}" for b in levels], "Jacobian σ_max",
                   "σ_max residual", f"amplification at ε = {levels[0]:g} ÷ σ_max",
                   "attack steps (max)"], rows)


def _attack_settings(store: xr.Dataset) -> str:
    import yaml

    try:
        params = yaml.safe_load(store.attrs["config"])["attack"].get("params", {})
    except (KeyError, TypeError, AttributeError, yaml.YAMLError):
        return ""
    import inspect

    from stablesweep.attacks.worst_case import DEFAULTS, PROTOCOLS, worst_case_noise

    sig = inspect.signature(worst_case_noise).parameters
    preset = PROTOCOLS.get(str(params.get("protocol")), {})

    def get(k: str) -> object:
        for source in (params, preset, DEFAULTS):
            if source.get(k) is not None:
                return source[k]
        return sig[k].default if k in sig else None

    restarts = int(get("restarts") or 1)
    jac = get("init") == "jacobian"
    ascended = (["the Jacobian's top singular vector (the better sign)"] if jac else []) + (
        [f"{restarts - 1 if jac else restarts} random"] if restarts - (1 if jac else 0) else [])
    return (f"attack: {get('method')} projected ascent on ‖φ(y + e) − φ(y)‖, at most "
            f"{get('steps')} steps per start, stopped when the best objective grew by less "
            f"than {get('tol')} (relative) over {get('patience')} steps; ascended from "
            f"{' and '.join(ascended)}; a random draw of norm ε‖y‖ and the smaller budget's "
            "e* are evaluated as candidates; the worst of all is kept")


def _stability_section(results: Path, figs: Path) -> Section:
    claim = ("Trained networks that are accurate are unstable — a tiny perturbation of the "
             "measurements changes their output a lot — while FIRENET is stable "
             "(the talk's central claim).")
    body, figures = [], []
    verdict = NOT_RUN
    verdicts = []
    for name, about in (("trained-vs-stable",
                         "a U-Net and a learned primal–dual network (shipped in `models/`, "
                         "trained on ellipse phantoms with small details, mask shared) against "
                         "FIRENET (p = 20) and FISTA at depth 200; ellipse phantoms with "
                         "details, 64², 2 trials"),
                        ("stability", "FIRENET (p = 20), FISTA and NESTA at depth 200 and "
                         "the ergodic primal–dual network at depth 400 (at 200 its average is "
                         "still above zero-filling's error on camera) on camera and "
                         "Shepp–Logan, 64², Haar, Fourier sampling at rate 0.25 with the "
                         "theory's multilevel budgets (the lowest frequencies, the zero "
                         "frequency included, are sampled completely), 2 trials (masks)")):
        store = _store(results / name / "sweep.zarr")
        if store is None or "worst_case_amplification" not in store:
            body += [f"`{name}`: not computed (run `bash scripts/results.sh`).", ""]
            continue
        store = store.load()
        records = _cells(store)
        levels = [float(b) for b in store["noise_level"].values]
        bad = sorted({r["network"] for r in records if not _reconstructs(r)})
        capped = sum(int(r["hit_cap"]) for r in records)
        attacks = sum(int(r["attacks"]) for r in records)
        off = [f"{r['network']} {r['image'] or ''} trial {r['trial']} "
               f"({_fmt(r['amp'][levels[0]] / r['sigma'])})".replace("  ", " ")
               for r in records if r["sigma"] and not
               0.98 <= r["amp"][levels[0]] / r["sigma"] <= 1.01]
        sigma_note = (f"At ε = {levels[0]:g} the amplification is σ_max within [0.98, 1.01] "
                      "in every other row (the network is linear at that scale and the attack "
                      "found the top singular direction); not in "
                      + "; ".join(off) + ": below 1, the network's support changes within "
                      "that budget (σ_max holds in a smaller neighbourhood); above 1, a "
                      "non-smooth network (ReLU kinks) amplifies more within the budget than "
                      "its Jacobian at y." if off else
                      f"At ε = {levels[0]:g} the amplification is σ_max within [0.98, 1.01] in "
                      "every row: the networks are linear at that scale and the attack found "
                      "the top singular direction.")
        body += [f"**`{name}`** — {about}. Worst case at each budget ε = ‖e‖/‖y‖ (the same "
                 f"for every network; {_attack_settings(store)}); amplification = change/‖e‖. "
                 "Every row is one cell and trial: its numbers are paired (same image, same "
                 "measurements). σ_max by Lanczos bidiagonalisation of the Jacobian, with its "
                 "residual ‖JᵀJv − σ²v‖/σ². A network whose clean error is not below "
                 f"{ZERO_FILLING_MARGIN:g}× zero-filling's is flagged ⚠: it reconstructs "
                 "nothing, and its stability means nothing.", "",
                 _stability_table(records, levels), "",
                 sigma_note, "",
                 f"Attacks that hit their step cap: {capped} of {attacks}."
                 + (f" Flagged (no better than zero-filling): {', '.join(bad)}." if bad
                    else " Every network's clean error is below zero-filling's."), ""]
        per_net: dict[str, dict[float, float]] = {}
        for r in records:
            cur = per_net.setdefault(r["network"], {})
            for b, a in r["amp"].items():
                cur[b] = max(cur.get(b, -math.inf), a)
        trained = [n for n in per_net if n in ("unet", "learned-pd")]
        if trained and "firenet" in per_net:
            shown = [b for b in levels if b >= 1e-3] or levels
            above = [all(per_net[t][b] > per_net["firenet"][b] for t in trained) for b in shown]
            below = [all(per_net[t][b] < per_net["firenet"][b] for t in trained) for b in shown]
            v = DEMONSTRATED if all(above) else CONTRADICTED if all(below) else NOT_AT_SCALE
            err = {n: max(r["error"] for r in records if r["network"] == n) for n in per_net}
            more_accurate = all(err[t] < err["firenet"] for t in trained)
            body += [f"Rule: demonstrated when every trained network's worst amplification "
                     f"(over cells) exceeds FIRENET's at every budget ε ≥ 10⁻³, contradicted "
                     f"when it is below at every such budget. Here: **{v}**. The trained "
                     f"networks are {'more' if more_accurate else 'not all more'} accurate "
                     "than FIRENET on this test set. Genzel et al. (TPAMI 2022) likewise found "
                     "trained networks no less stable than classical solvers at these "
                     "budgets; where instability is forced is the kernel experiment below.",
                     ""]
            verdicts.append(v)
        for png in sorted((results / name / "figures").glob("worst_case_amplification*.png")):
            copied = _copy_figure(png, figs, f"{name}-{png.name}")
            if copied:
                figures.append((copied, f"{name}: worst-case amplification of every network "
                                        "against the budget ε (stars: Jacobian σ_max)"))
        for png in sorted((results / name / "figures").glob("stability_panel__*.png"))[:2]:
            copied = _copy_figure(png, figs, f"{name}-{png.name}")
            if copied:
                figures.append((copied, f"{name}: perturbed inputs x + A*e (top) and the "
                                        "reconstructions φ(y + e) (middle) per budget, "
                                        "differences below"))
        for png in sorted((results / name / "figures").glob("attack_convergence*.png"))[:1]:
            copied = _copy_figure(png, figs, f"{name}-{png.name}")
            if copied:
                figures.append((copied, f"{name}: the attack's best objective against its "
                                        f"step (runs stop by the rule; {capped} of {attacks} "
                                        "hit the cap)"))
    if verdicts:
        verdict = verdicts[0]
    if body:
        body += ["*What changed (issue 22).* `stability` sampled uniformly at random at rate "
                 "0.25, which gave the lowest band one sample, so every network returned "
                 "about zero-filling's error (0.70 against zero-filling's 0.47–0.96) and NESTA "
                 "returned A*y itself (σ_max exactly 1); it now uses the theory's multilevel "
                 "sampling, Haar, camera and Shepp–Logan, and NESTA continues its smoothing to "
                 "a target relative to the data. The tables set the maximum amplification over "
                 "trials against the *mean* σ_max over trials (NESTA: 5.39 against 3.15); every "
                 "row is now one trial. σ_max came from 50 power iterations (0.3–1.5% low where "
                 "σ₂ ≈ σ₁); it is now Lanczos with its residual. The attacks stopped after 10 "
                 "steps while still rising; they now run to the stopping rule. The verdict rule "
                 "is unchanged (trained against FIRENET at every budget ≥ 10⁻³); it was *not at "
                 "this scale* before."]
    return Section("Stability at equal perturbation budgets", claim, verdict, body, figures)


def _tradeoff_section(results: Path, figs: Path) -> Section:
    claim = ("A map that recovers two images whose difference δ is nearly invisible to A "
             "(‖Aδ‖ ≪ ‖δ‖) must amplify: ‖φ(Ax′) − φ(Ax)‖/‖Aδ‖ ≥ (‖δ‖ − 2η)/‖Aδ‖ with η its "
             "error on both. A network trained on such details pays with instability; "
             "FIRENET does not recover them and stays stable.")
    folder = results / "tradeoff"
    md = folder / "tradeoff.md"
    if not md.is_file():
        return Section("The kernel trade-off", claim, NOT_RUN, [
            "Not computed: `stablesweep tradeoff config/tradeoff/kernel-32.yaml -o "
            "results/tradeoff` (part of `bash scripts/results.sh`)."])
    text = md.read_text(encoding="utf-8").strip()
    # its own title becomes a sub-heading of this section (one top-level heading a page)
    body = ["#" * 3 + text[1:] if text.startswith("# ") else text]
    verdict = NOT_AT_SCALE
    ds = _load(folder / "tradeoff.nc")
    if ds is not None and "tradeoff_shown" in ds.attrs:
        # the rule and its outcome are in tradeoff.md (stablesweep.tradeoff.report)
        verdict = DEMONSTRATED if str(ds.attrs["tradeoff_shown"]) == "yes" else NOT_AT_SCALE
        body += ["", "Rule for this page: demonstrated when the detail-trained U-Net recovers "
                     "the details better than every other network and, for every training "
                     "seed, its worst-case amplification at the matched budget ‖e‖ ≤ ‖Aδ‖ "
                     "exceeds each other network's; the kernel bound (the triangle "
                     "inequality) is a check of the measurement, not evidence.",
                 "", "*What changed (issue 22).* The table used to set the amplification "
                     "along Aδ (at ‖e‖ = ‖Aδ‖) next to a worst case at ε = 0.01‖y‖ — different "
                     "budgets — from a 10-step attack that did not start from Aδ, for one "
                     "training seed, and counted the bound holding as evidence. The verdict "
                     "(demonstrated) stands; it now rests on the matched-budget worst case "
                     "over three seeds."]
    elif ds is None:
        body += ["", "`tradeoff.nc` is missing: rerun `stablesweep tradeoff` to get the "
                     "verdict."]
    png = _copy_figure(folder / "tradeoff.png", figs, "tradeoff.png")
    figures = [(png, "amplification along Aδ against the kernel lower bound, per pair")] \
        if png else []
    return Section("The kernel trade-off", claim, verdict, body, figures)


def _kdigits_section(results: Path) -> Section:
    claim = ("No method — trained (LISTA) or constructed (FIRENET) — computes minimisers to "
             "K digits from inputs accurate to 2^−n, however large n: the minimisers of "
             "problems within 2^−n are ≈ 3·10^−K apart (Table 1 of the paper).")
    path = results / "k-digits" / "summary.json"
    if not path.is_file():
        return Section("Table 1: K digits", claim, NOT_RUN, [
            "Not computed: `stablesweep barrier --config config/experiments/k-digits.yaml "
            "--out results/k-digits`."])
    rows = json.loads(path.read_text())["rows"]
    table = _table(["K", "n", "‖A_j − A_j′‖", "‖x_j − x_j′‖", "LISTA error", "FIRENET error",
                    "10^−K"],
                   [[r["K"], r["n"], r["matrix_distance"], r["minimiser_distance"],
                     r["lista_error"], r["firenet_error"], r["ten_to_minus_K"]] for r in rows])
    none = all(not r["lista_k_digits"] and not r["firenet_k_digits"] for r in rows)

    def near(v: float, paper: float) -> bool:
        return abs(v - paper) <= 0.05 * paper

    agree = all(near(r["lista_error"], 3.0 * r["ten_to_minus_K"])
                and near(r["firenet_error"], 1.5 * r["ten_to_minus_K"]) for r in rows)
    return Section("Table 1: K digits", claim, DEMONSTRATED if none else CONTRADICTED, [
        table, "",
        "Rule: demonstrated when neither method reaches error < 10^−K in any row. The paper "
        "reports LISTA 3.0·10^−K and FIRENET 1.5·10^−K; every measured row is "
        + ("within 5% of those values." if agree else "NOT within 5% of those values.")])


# --------------------------------------------------------------------------- the page


def build_page(results: Path, out: Path, *, minutes: float | None = None) -> Path:
    """Write the results page ``out`` (Markdown) and its figures in ``out.parent/results``.

    Parameters
    ----------
    results : Path
        The results folder (``results/``) with the experiments' outputs.
    out : Path
        The Markdown file to write (``docs/results.md``).
    minutes : float, optional
        Wall time of the whole regeneration, printed on the page.
    """
    figs = out.parent / out.stem
    if figs.exists():
        shutil.rmtree(figs)
    sections = [_rates_section(results, figs), _stability_section(results, figs),
                _tradeoff_section(results, figs), _kdigits_section(results)]
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="minutes")
    from stablesweep import __version__
    from stablesweep.sweep.store.provenance import git_commit

    lines = [
        "# Results: the papers' claims, measured",
        "",
        "Regenerate everything on this page with one command (no training: the trained "
        "networks ship in `models/`):",
        "",
        "```bash",
        "bash scripts/results.sh",
        "```",
        "",
        f"Generated {now} by stablesweep {__version__} (commit {git_commit()})"
        + (f" in {minutes:.0f} minutes on this machine" if minutes is not None else "") + ". "
        "Every number is read from the experiments' outputs under `results/`; each verdict "
        "follows the rule stated with it.",
        "",
        "| claim | verdict |",
        "|---|---|",
        *[f"| [{s.title}](#{_anchor(s.title)}) | **{s.verdict}** |" for s in sections],
        "",
    ]
    for s in sections:
        lines += [f"## {s.title}", "", f"*Claim.* {s.claim}", "", f"**Verdict: {s.verdict}.**",
                  "", *s.body, ""]
        for name, caption in s.figures:
            lines += [f"![{caption}]({figs.name}/{name})", "", f"*{caption}.*", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def _anchor(title: str) -> str:
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.strip().replace(" ", "-")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stablesweep.results_page",
                                description="Write docs/results.md from the results folder.")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("-o", "--output", default="docs/results.md", help="Markdown file")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall time of the regeneration, printed on the page")
    args = p.parse_args(argv)
    results = Path(args.results)
    if not results.is_dir():
        print(f"results_page: --results {str(results)!r} is not a folder; run "
              "`bash scripts/results.sh` first", file=sys.stderr)
        return 2
    out = build_page(results, Path(args.output), minutes=args.minutes)
    print(f"[stablesweep] results page -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
