"""The stability section: worst-case amplification at equal budgets, per cell and trial,
with zero-filling as the baseline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from stablesweep.sweep.store.variables import NOISE_LEVEL

from .common import (
    CONTRADICTED,
    DEMONSTRATED,
    NOT_AT_SCALE,
    NOT_RUN,
    Section,
    copy_figure,
    fmt,
    open_store,
    table,
)

__all__ = ["stability_section"]


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
    levels = np.asarray(ds[NOISE_LEVEL].values, dtype=float)
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
                    "amp": {float(b): float(c["worst_case_amplification"].sel({NOISE_LEVEL: b}))
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
                     f"{fmt(r['steps'])} ({r['hit_cap']}/{r['attacks']} at cap)"])
        key = (r["image"], r["trial"])
        if key not in seen_zf:
            seen_zf.add(key)
    for img, t in sorted(seen_zf, key=lambda k: (str(k[0]), k[1])):
        zf = next(r["zero_filling"] for r in records if (r["image"], r["trial"]) == (img, t))
        rows.append(["zero-filling A*y (baseline)", img or "—", t, zf, zf,
                     *[1.0] * len(levels), 1.0, 0.0, 1.0, "— (linear: ‖A*e‖ = ‖e‖)"])
    return table(["network", "image", "trial", "error ‖φ(y) − x‖/‖x‖", "zero-filling error",
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


def stability_section(results: Path, figs: Path) -> Section:
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
        store = open_store(results / name / "sweep.zarr")
        if store is None or "worst_case_amplification" not in store:
            body += [f"`{name}`: not computed (run `bash scripts/results.sh`).", ""]
            continue
        store = store.load()
        records = _cells(store)
        levels = [float(b) for b in store[NOISE_LEVEL].values]
        bad = sorted({r["network"] for r in records if not _reconstructs(r)})
        capped = sum(int(r["hit_cap"]) for r in records)
        attacks = sum(int(r["attacks"]) for r in records)
        off = [f"{r['network']} {r['image'] or ''} trial {r['trial']} "
               f"({fmt(r['amp'][levels[0]] / r['sigma'])})".replace("  ", " ")
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
            copied = copy_figure(png, figs, f"{name}-{png.name}")
            if copied:
                figures.append((copied, f"{name}: worst-case amplification of every network "
                                        "against the budget ε (stars: Jacobian σ_max)"))
        for png in sorted((results / name / "figures").glob("stability_panel__*.png"))[:2]:
            copied = copy_figure(png, figs, f"{name}-{png.name}")
            if copied:
                figures.append((copied, f"{name}: perturbed inputs x + A*e (top) and the "
                                        "reconstructions φ(y + e) (middle) per budget, "
                                        "differences below"))
        for png in sorted((results / name / "figures").glob("attack_convergence*.png"))[:1]:
            copied = copy_figure(png, figs, f"{name}-{png.name}")
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
