"""The frontier sections (``results/frontier/frontier-32``, issue 23): the frontier
against the bound, amplification against 1/κ, robustness at the published budgets.

Every number comes from ``frontier.nc`` (its verdict attrs, written by
:mod:`stablesweep.frontier.report`) and ``frontier.md``; the cluster estimates from
``results/frontier/estimates.txt`` (``stablesweep frontier run CONFIG --dry-run`` for
the 64² and 256² configs, written by ``scripts/results.sh``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import CONTRADICTED, DEMONSTRATED, NOT_AT_SCALE, NOT_RUN, Section, copy_figure, load

__all__ = ["FRONTIER", "frontier_sections"]

#: the frontier run the page reads
FRONTIER = "frontier-32"

_TITLES = ("The accuracy–stability frontier", "Amplification grows like 1/κ",
           "Robustness at the published budgets")
_CLAIMS = (
    "However a network is trained, recovering details that A barely sees costs stability: "
    "with detail recovery error D on a pair whose difference δ has visibility κ = ‖Aδ‖/‖δ‖, "
    "the amplification at ‖e‖ ≤ ‖Aδ‖ is at least (1 − D)/κ (triangle inequality). Training "
    "(detail weight, noise, seed) moves a network along this bound, not below it "
    "(Gottschling et al., SIAM Review 2025).",
    "For networks that recover near-kernel details, the amplification along the kernel "
    "direction grows like 1/κ: slope −1 in log–log against κ.",
    "Under the published protocol (worst case over ‖e‖ ≤ η‖y‖, η up to 8 %; Genzel et al., "
    "TPAMI 2022), trained networks are about as robust as model-based reconstructions, "
    "and training with noise makes them more robust (Gottschling et al. 2025, Fig. 3).",
)


def _sentence(md: str, label: str) -> str:
    """The paragraph starting with ``**label.**`` in frontier.md (its verdict text)."""
    for line in md.splitlines():
        if line.startswith(f"**{label}.**"):
            return line[len(label) + 5:].strip()
    return ""


def _block(md: str, heading: str) -> list[str]:
    """The lines of ``## heading`` in frontier.md, up to the next heading."""
    out, inside = [], False
    for line in md.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == heading
            continue
        if inside:
            out.append(line)
    return out


def _references(ds) -> str:
    """How the untrained references' clean errors compare with zero-filling's."""
    err = ds["error_x"].median("pair")
    names = [str(m) for m, t in zip(ds["model"].values, ds["trained"].values, strict=True)
             if not t and str(m) != "zero-filling"]
    if "zero-filling" not in set(map(str, ds["model"].values)) or not names:
        return ""
    zf = float(err.sel(model="zero-filling"))
    above = [f"{n} {float(err.sel(model=n)):.3g}" for n in names
             if float(err.sel(model=n)) >= zf]
    below = [f"{n} {float(err.sel(model=n)):.3g}" for n in names
             if float(err.sel(model=n)) < zf]
    return ("The untrained references solve ℓ¹-Haar problems with a fixed λ; against "
            f"zero-filling's median clean error {zf:.3g}, "
            + (f"{', '.join(above)} are not below it" if above else "none is above it")
            + (f" and {', '.join(below)} is barely below" if below else "")
            + " — they are not the TV baseline of the published studies, and the comparison "
              "with them says little.")


def frontier_sections(results: Path, figs: Path) -> list[Section]:
    """The three frontier sections of the page."""
    folder = results / "frontier" / FRONTIER
    md_path = folder / "frontier.md"
    ds = load(folder / "frontier.nc")
    if ds is None or not md_path.is_file():
        how = ("Not computed: `snakemake --profile workflow/profiles/default "
               f"results/frontier/{FRONTIER}/frontier.nc` (part of `bash scripts/results.sh`; "
               "the models ship in `models/frontier-32`, so nothing is trained).")
        return [Section(t, c, NOT_RUN, [how]) for t, c in zip(_TITLES, _CLAIMS, strict=True)]
    md = md_path.read_text(encoding="utf-8")
    a = ds.attrs
    seconds = json.loads(a.get("measure_seconds", "{}"))
    total = sum(sum(v.values()) for v in seconds.values())
    scale = (f"{FRONTIER}: {ds.sizes['model']} networks ({int(ds['trained'].sum())} trained), "
             f"{ds.sizes['pair']} test pairs, m/N = {a.get('m')}/{a.get('N')} (radial lines "
             f"at the published 15 % sampling rate; 32² rather than 256² so that the grid of "
             f"{int(ds['trained'].sum())} trained models fits 2 cores), measured in "
             f"{total / 60:.0f} core-minutes.")
    # 1. the frontier
    shown = str(a.get("frontier_shown", "undecided"))
    v1 = {"yes": DEMONSTRATED, "no": CONTRADICTED}.get(shown, NOT_AT_SCALE)
    body1 = [scale, "", *_block(md, "Frontier at the matched budget"), "",
             "Rule: demonstrated when some trained model recovers the details (median D ≤ "
             "0.5) and none both recovers and amplifies less than 1/(2κ), every pair obeying "
             "the bound; contradicted when a pair breaks it; not at this scale when no "
             "model recovers the details."]
    figures1 = [(n, c) for n, c in [(copy_figure(folder / "frontier.png", figs,
                                                 "frontier.png"),
                                     "detail recovery error against worst-case amplification "
                                     "at ‖Aδ‖, one point per training setting, with the bound "
                                     "(1 − D)/κ")] if n]
    # 2. 1/kappa
    kshown = str(a.get("kappa_shown", "undecided"))
    v2 = DEMONSTRATED if kshown == "yes" else NOT_AT_SCALE
    body2 = [*_block(md, "Visibility: amplification against 1/κ"), "",
             "Rule: demonstrated when, for every architecture whose models recover the "
             "details (median D ≤ 0.5) at two or more visibilities, the 95 % bootstrap "
             "interval of the slope contains −1; otherwise not at this scale (the slope "
             "over all models, recovering or not, is shown for reference)."]
    figures2 = [(n, c) for n, c in [(copy_figure(folder / "kappa.png", figs, "kappa.png"),
                                     "amplification along Aδ against 1/κ, per training "
                                     "seed, with the fitted slope")] if n]
    # 3. robustness
    rv = json.loads(a.get("robustness_verdict", "{}"))
    low, n_groups = rv.get("noise_helps_count", [0, 0])
    v3 = DEMONSTRATED if n_groups and low >= 0.75 * n_groups else NOT_AT_SCALE
    body3 = [*_block(md, "Robustness at the published budgets"), "",
             "Rule: demonstrated when training with the highest noise clearly lowers the "
             "worst-case error at the largest budget (every seed below every noiseless seed) "
             "in at least three quarters of the (architecture, detail weight) groups. The "
             "published curves are at 256² with 40 lines; ours keep their sampling rate "
             "(15 %), budgets and relative error at 32², with the "
             "converged normalized ascent rather than 1000 projected-Adam steps (which stall "
             "below the maximiser, see the stability section), on "
             f"{ds.sizes['pair']} test images rather than 50. Absolute errors are not "
             "comparable across resolutions; the comparison is of shapes: how fast the "
             "error grows with η and how training noise changes that. " + _references(ds)]
    est = results / "frontier" / "estimates.txt"
    if est.is_file():
        body3 += ["", "The same study at 64² and at the published 256² runs as cluster configs "
                  "(`config/frontier/frontier-64.yaml`, `frontier-256.yaml`; one workflow job "
                  "per model). Their `--dry-run` estimates, scaled from the 32² costs:", "",
                  "```", est.read_text(encoding="utf-8").strip(), "```"]
    figures3 = [(n, c) for n, c in [(copy_figure(folder / "robustness.png", figs,
                                                 "robustness.png"),
                                     "worst-case relative error against the budget η, per "
                                     "training setting and reference")] if n]
    return [Section(_TITLES[0], _CLAIMS[0], v1, body1, figures1),
            Section(_TITLES[1], _CLAIMS[1], v2, body2, figures2),
            Section(_TITLES[2], _CLAIMS[2], v3, body3, figures3)]
