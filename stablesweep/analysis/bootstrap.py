"""Uncertainty and reportability of the rate fits: bootstrap over trials and flags.

A fit of `stablesweep.analysis.fits` to the mean error over trials gets percentile
intervals from refits to resampled trials (`bootstrap_fit`): each resample draws the
trials with replacement, averages them depth by depth (NaN-skipping,
`mean_over_trials`) and refits. `fit_flag` says why a fit's numbers should not be
reported (too few points, degenerate parameters, a floor above the data, a collapsed
interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fits import _TINY, MODELS, Fit, _check_model, fit_model

__all__ = [
    "Bootstrap",
    "bootstrap_fit",
    "fit_flag",
    "mean_over_trials",
    "MIN_POINTS",
    "FLAG_TOO_FEW",
    "FLAG_DEGENERATE",
    "FLAG_FLOOR",
    "FLAG_COLLAPSED",
    "FLAG_FLOOR_ALL",
]


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap over trials of one model's fit.

    Attributes
    ----------
    fit : Fit
        Fit to the mean error over all trials.
    samples : dict[str, numpy.ndarray]
        Parameter values of each resample, shape (n_boot,) (NaN where a resample
        could not be fitted).
    level : float
        Confidence level of `lower` / `upper`.
    lower, upper : dict[str, float]
        Percentile interval bounds, the (1 − level)/2 and (1 + level)/2 quantiles.
    """

    fit: Fit
    samples: dict[str, np.ndarray]
    level: float
    lower: dict[str, float] = field(init=False)
    upper: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        q = 50.0 * (1.0 - self.level), 50.0 * (1.0 + self.level)
        lower, upper = {}, {}
        for name, values in self.samples.items():
            finite = values[np.isfinite(values)]
            lower[name], upper[name] = (
                (float(np.percentile(finite, q[0])), float(np.percentile(finite, q[1])))
                if finite.size
                else (np.nan, np.nan)
            )
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @property
    def model(self) -> str:
        return self.fit.model


def mean_over_trials(err_trials: np.ndarray) -> np.ndarray:
    """NaN-skipping mean over axis 0 without warnings (NaN where no trial is finite)."""
    finite = np.isfinite(err_trials)
    count = finite.sum(axis=0)
    total = np.where(finite, err_trials, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def bootstrap_fit(
    n: np.ndarray,
    err_trials: np.ndarray,
    model: str,
    n_boot: int = 200,
    rng: np.random.Generator | int | None = None,
    *,
    weights: np.ndarray | None = None,
    level: float = 0.95,
    fit: Fit | None = None,
    floor: float | None = None,
) -> Bootstrap:
    """Percentile bootstrap of a model's parameters, resampling trials.

    Parameters
    ----------
    n : numpy.ndarray, shape (k,)
        Depths.
    err_trials : numpy.ndarray, shape (n_trials, k)
        Error of each trial (row) at each depth; NaN where not recorded.
    model : {"power_law", "exponential"}
        Model to fit.
    n_boot : int
        Number of resamples (≥ 1).
    rng : numpy.random.Generator or int
        Source of the resampling (an int seeds a new generator).
    weights : numpy.ndarray, shape (k,), optional
        Passed to the fit.
    level : float
        Confidence level in (0, 1); 0.95 gives the 2.5 / 97.5 percentiles.
    fit : Fit, optional
        Fit to the mean over all trials, if already computed.
    floor : float, optional
        Fixed floor ε of every refit (see `fit_model`); None fits it.

    Returns
    -------
    Bootstrap
        Point fit, resampled parameters and the percentile intervals.

    Notes
    -----
    Each resample draws n_trials rows with replacement, averages them depth by depth
    (NaN-skipping) and refits, warm-started from the point fit. Trials, not depths, are
    the independent units: the errors of one trial at different depths are correlated.
    With few trials (≲ 10) percentile intervals are too narrow — the resamples see only
    the spread of the trials at hand — so read them as a lower bound on the uncertainty.
    """
    _check_model(model)
    err_trials = np.asarray(err_trials, dtype=float)
    if err_trials.ndim != 2 or err_trials.shape[1] != np.shape(n)[0]:
        raise ValueError(
            f"err_trials has shape {err_trials.shape}; expected (n_trials, {np.shape(n)[0]})"
        )
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot = {n_boot!r}; expected an integer >= 1")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level!r}; expected 0 < level < 1")
    rng = np.random.default_rng(rng)
    if fit is None:
        fit = fit_model(model, n, mean_over_trials(err_trials), weights, floor=floor)
    names = MODELS[model]
    samples = {name: np.full(n_boot, np.nan) for name in names}
    if fit.ok:
        n_trials = err_trials.shape[0]
        for b in range(n_boot):
            rows = rng.integers(0, n_trials, size=n_trials)
            refit = fit_model(
                model, n, mean_over_trials(err_trials[rows]), weights, start=fit.params,
                floor=floor,
            )
            for name in names:
                samples[name][b] = refit.params[name]
    return Bootstrap(fit, samples, level)


#: Fewest points a fit needs before its numbers are reported (`fit_flag`).
MIN_POINTS = 4
#: Largest power-law rate γ / decades spanned by the exponential over the data that are
#: not called degenerate (`fit_flag`).
MAX_GAMMA = 10.0
MAX_DECADES = 40.0
#: A free floor ε above FLOOR_MARGIN · (smallest fitted error) is "above the data".
FLOOR_MARGIN = 1.25

FLAG_TOO_FEW = f"too few points (k < {MIN_POINTS})"
FLAG_DEGENERATE = "degenerate parameters"
FLAG_FLOOR = "floor above the data"
FLAG_COLLAPSED = "bootstrap interval collapsed"
FLAG_FLOOR_ALL = "model floor above every measured error"


def fit_flag(
    fit: Fit,
    n: np.ndarray,
    err: np.ndarray,
    boot: Bootstrap | None = None,
    *,
    floor_fitted: bool = True,
) -> str:
    """Why a fit's numbers must not be reported ("" when they may be).

    Parameters
    ----------
    fit : Fit
        The fit to the data (n, err).
    n, err : numpy.ndarray, shape (k,)
        The fitted data (the mean error over trials at each depth).
    boot : Bootstrap, optional
        Its bootstrap; None (no bootstrap run) skips the interval check.
    floor_fitted : bool
        Whether ε was a free parameter (the floor checks apply only then).

    Returns
    -------
    str
        "" when the fit is reportable, else the reasons joined by "; ", each one of

        - ``"too few points (k < 4)"``: fewer than `MIN_POINTS` usable points;
        - ``"degenerate parameters"``: a parameter is not finite, C ≤ 0, γ > `MAX_GAMMA`,
          or the exponential falls by more than `MAX_DECADES` decades over the fitted
          depths (c·(n_max − n_min)·log10(e) > 40: a step, not a rate);
        - ``"model floor above every measured error"``: ε > max err (free floor only);
        - ``"floor above the data"``: ε > 1.25 · min err, the model cannot reach
          errors that were measured (free floor only; not repeated when the previous
          reason holds);
        - ``"bootstrap interval collapsed"``: the rate's interval is not finite or
          has zero width (≤ 1e-9 of the rate), e.g. when every resample sees the same
          single trial.

    Notes
    -----
    Flagged fits keep their numbers in the product; readers (figures, report) show the
    flag instead of the numbers.
    """
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    keep = np.isfinite(n) & np.isfinite(err) & (err > 0)
    if fit.model == "power_law":
        keep &= n > 0
    n, err = n[keep], err[keep]
    reasons = []
    if fit.n_points < MIN_POINTS or n.size < MIN_POINTS:
        reasons.append(FLAG_TOO_FEW)
    rate_name = MODELS[fit.model][2]
    eps, C, rate = (fit.params[name] for name in MODELS[fit.model])
    degenerate = not fit.ok or not C > 0
    if not degenerate:
        if fit.model == "power_law":
            degenerate = rate > MAX_GAMMA
        elif n.size:
            degenerate = rate * float(n.max() - n.min()) * np.log10(np.e) > MAX_DECADES
    if degenerate:
        reasons.append(FLAG_DEGENERATE)
    if floor_fitted and fit.ok and err.size:
        if eps > err.max():
            reasons.append(FLAG_FLOOR_ALL)
        elif eps > FLOOR_MARGIN * err.min():
            reasons.append(FLAG_FLOOR)
    if boot is not None and fit.ok:
        low, high = boot.lower[rate_name], boot.upper[rate_name]
        if not (np.isfinite(low) and np.isfinite(high)) or high - low <= 1e-9 * max(
            abs(rate), _TINY
        ):
            reasons.append(FLAG_COLLAPSED)
    return "; ".join(reasons)
