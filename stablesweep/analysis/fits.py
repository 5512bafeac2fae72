"""Convergence-rate fits of error against depth.

Two models for the error of the n-th network of a family (n = depth, in operator
applications), both with an accuracy floor ε:

    power law     err(n) ≈ ε + C / n^γ          (ε ≥ 0, C ≥ 0, γ ≥ 0)
    exponential   err(n) ≈ ε + C · e^{−c n}      (ε ≥ 0, C ≥ 0, c ≥ 0)

Errors span decades, so both are fitted to log-errors: the residuals are
r_i = √w_i (log model(n_i) − log err_i). The fit is initialised robustly — on a
grid of the shape parameter (γ or c) the model is linear in (ε, C), which are found
by non-negative weighted least squares on the relative residuals
(ε + C g(n_i)) / err_i − 1 ≈ log-residuals — and then refined by
`scipy.optimize.least_squares` in log space with bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

__all__ = [
    "MODELS",
    "Fit",
    "evaluate",
    "fit_exponential",
    "fit_model",
    "fit_power_law",
    "select_model",
]

#: Parameter names of each model, in order.
MODELS: dict[str, tuple[str, str, str]] = {
    "power_law": ("eps", "C", "gamma"),
    "exponential": ("eps", "C", "c"),
}

_TINY = 1e-300  # floor inside logarithms: a model value of 0 would give −inf
_N_PARAMS = 3
_GRID_SIZE = 80


def _shape(model: str, t: np.ndarray, theta: np.ndarray | float) -> np.ndarray:
    """Shape function g(t; θ) of the model in the scaled variable t (see `_scaled`)."""
    if model == "power_law":
        return t ** (-theta)
    return np.exp(-theta * t)


def _shape_dtheta(model: str, t: np.ndarray, theta: float) -> np.ndarray:
    """Derivative ∂g/∂θ of `_shape`."""
    g = _shape(model, t, theta)
    if model == "power_law":
        return -np.log(t) * g
    return -t * g


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of: {', '.join(MODELS)}")


def evaluate(model: str, n: np.ndarray | float, params: Mapping[str, float]) -> np.ndarray:
    """Evaluate a fitted model at depths `n`.

    Parameters
    ----------
    model : {"power_law", "exponential"}
        Model name (a key of `MODELS`).
    n : array_like
        Depths, any shape; n > 0 for the power law.
    params : mapping
        ``{"eps", "C", "gamma"}`` (power law) or ``{"eps", "C", "c"}`` (exponential).

    Returns
    -------
    numpy.ndarray
        ε + C n^{−γ} or ε + C e^{−c n}, same shape as `n`.
    """
    _check_model(model)
    n = np.asarray(n, dtype=float)
    eps, C, theta = (params[name] for name in MODELS[model])
    return eps + C * _shape(model, n, theta)


@dataclass(frozen=True)
class Fit:
    """Result of fitting one model to error-versus-depth data.

    Attributes
    ----------
    model : str
        ``"power_law"`` or ``"exponential"``.
    params : dict[str, float]
        Fitted parameters, keys from `MODELS` (NaN when the fit was impossible).
    rss : float
        Weighted residual sum of squares in log space, Σ w_i (log model_i − log err_i)².
    n_points : int
        Number of data points used (positive, finite errors).
    n_params : int
        Number of free parameters k: 3, or 2 when the floor ε was fixed (``floor=``).
    aic : float
        Akaike information criterion n log(RSS/n) + 2k (k free parameters), with the
        small-sample correction 2k(k+1)/(n−k−1) when n > k + 1.
    bic : float
        Bayesian information criterion n log(RSS/n) + k log n.
    """

    model: str
    params: dict[str, float]
    rss: float
    n_points: int
    n_params: int = _N_PARAMS
    aic: float = field(init=False)
    bic: float = field(init=False)

    def __post_init__(self) -> None:
        n, k = self.n_points, self.n_params
        if n < k or not np.isfinite(self.rss):
            aic = bic = np.nan
        else:
            loglik_term = n * np.log(max(self.rss / n, _TINY))
            aic = loglik_term + 2 * k + (2 * k * (k + 1) / (n - k - 1) if n > k + 1 else 0.0)
            bic = loglik_term + k * np.log(n)
        object.__setattr__(self, "aic", float(aic))
        object.__setattr__(self, "bic", float(bic))

    @property
    def ok(self) -> bool:
        """Whether the fit produced finite parameters."""
        return bool(np.all(np.isfinite(list(self.params.values()))))

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        """Model value at depths `n` (see `evaluate`)."""
        return evaluate(self.model, n, self.params)


def _failed(model: str, n_points: int, n_params: int = _N_PARAMS) -> Fit:
    return Fit(model, dict.fromkeys(MODELS[model], np.nan), np.nan, n_points, n_params)


def _clean(
    n: np.ndarray, err: np.ndarray, weights: np.ndarray | None, model: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate inputs and keep the points usable in log space."""
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    if n.ndim != 1 or n.shape != err.shape:
        raise ValueError(
            f"n has shape {n.shape} but err has shape {err.shape}; expected equal 1-D shapes"
        )
    w = np.ones_like(n) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != n.shape:
        raise ValueError(f"weights has shape {w.shape}; expected {n.shape} (the shape of n)")
    if np.any(w[np.isfinite(w)] < 0):
        raise ValueError("weights has negative entries; expected weights >= 0")
    keep = np.isfinite(n) & np.isfinite(err) & (err > 0) & np.isfinite(w) & (w > 0)
    if model == "power_law":
        keep &= n > 0
    n, err, w = n[keep], err[keep], w[keep]
    return n, err, w / w.mean() if w.size else w


def _scaled(model: str, n: np.ndarray) -> tuple[np.ndarray, float]:
    """Scaled depth t and reference n0, so that g(t) = 1 at the first point.

    Power law: t = n / n0, C = C' n0^γ.  Exponential: t = n − n0, C = C' e^{c n0}.
    """
    n0 = float(n.min())
    return (n / n0, n0) if model == "power_law" else (n - n0, n0)


def _unscale(model: str, eps: float, c_scaled: float, theta: float, n0: float) -> dict:
    with np.errstate(over="ignore"):
        factor = n0**theta if model == "power_law" else np.exp(theta * n0)
    return dict(zip(MODELS[model], (eps, c_scaled * factor, theta), strict=True))


def _theta_grid(model: str, t: np.ndarray) -> np.ndarray:
    if model == "power_law":
        return np.geomspace(0.02, 5.0, _GRID_SIZE)
    span = max(float(t.max()), _TINY)
    steps = np.diff(np.unique(t))
    step = float(steps.min()) if steps.size else span
    return np.geomspace(1e-2 / span, 50.0 / step, _GRID_SIZE)


def _linear_nonneg(g: np.ndarray, err: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Non-negative weighted LS for (ε, C) on each row of `g` (grid × points).

    Minimises Σ w_i ((ε + C g_i)/err_i − 1)² over ε, C ≥ 0, for every grid row at once:
    the unconstrained 2 × 2 normal equations, falling back to the better one-parameter
    fit when a component comes out negative.
    """
    a1 = 1.0 / err  # column of ε
    a2 = g / err  # columns of C, one row per grid value
    s11 = np.sum(w * a1 * a1)
    s12 = np.sum(w * a1 * a2, axis=-1)
    s22 = np.sum(w * a2 * a2, axis=-1)
    b1 = np.sum(w * a1)
    b2 = np.sum(w * a2, axis=-1)
    det = s11 * s22 - s12**2
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = (s22 * b1 - s12 * b2) / det
        C = (s11 * b2 - s12 * b1) / det
    eps_only = b1 / s11
    with np.errstate(divide="ignore", invalid="ignore"):
        C_only = np.where(s22 > 0, b2 / s22, 0.0)
    bad = ~(np.isfinite(eps) & np.isfinite(C) & (eps >= 0) & (C >= 0))

    rss_eps_only = np.sum(w * (eps_only * a1 - 1.0) ** 2)
    rss_C_only = np.sum(w * (C_only[:, None] * a2 - 1.0) ** 2, axis=-1)
    prefer_eps = rss_eps_only <= rss_C_only
    eps = np.where(bad, np.where(prefer_eps, eps_only, 0.0), eps)
    C = np.where(bad, np.where(prefer_eps, 0.0, C_only), C)
    return eps, C


def _log_residuals(x, model, t, log_err, sw):
    eps, C, theta = x
    value = eps + C * _shape(model, t, theta)
    return sw * (np.log(np.maximum(value, _TINY)) - log_err)


def _log_jacobian(x, model, t, log_err, sw):
    eps, C, theta = x
    g = _shape(model, t, theta)
    value = np.maximum(eps + C * g, _TINY)
    return (sw / value)[:, None] * np.stack(
        [np.ones_like(t), g, C * _shape_dtheta(model, t, theta)], axis=1
    )


def _refine(model, t, err, w, x0):
    """Bounded least squares in log space from x0 = (ε, C', θ) in scaled variables."""
    log_err, sw = np.log(err), np.sqrt(w)
    x0 = np.clip(np.asarray(x0, dtype=float), 0.0, None)
    result = least_squares(
        _log_residuals,
        x0,
        jac=_log_jacobian,
        bounds=(0.0, np.inf),
        method="trf",
        x_scale="jac",
        args=(model, t, log_err, sw),
    )
    return result.x, float(2.0 * result.cost)


def fit_model(
    model: str,
    n: np.ndarray,
    err: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    start: Mapping[str, float] | None = None,
    floor: float | None = None,
) -> Fit:
    """Fit `model` to (n, err) in log space.

    Parameters
    ----------
    model : {"power_law", "exponential"}
        Which model.
    n : numpy.ndarray, shape (k,)
        Depths (operator applications); n > 0 for the power law.
    err : numpy.ndarray, shape (k,)
        Errors; points with err ≤ 0 or non-finite are dropped.
    weights : numpy.ndarray, shape (k,), optional
        Non-negative weights w_i of the squared log-residuals (normalised to mean 1).
    start : mapping, optional
        Starting parameters; when given the grid initialisation is skipped
        (used by `bootstrap_fit` to warm-start each resample).
    floor : float, optional
        Fix the floor ε at this value (≥ 0) instead of fitting it: only C and the rate
        are free (k = 2), e.g. ``floor=0`` for the optimisation error ‖φ_n(y) − x̂‖, which
        tends to 0. With ε = 0 the fit is the exact weighted linear regression
        log err = log C − γ log n (power law) or log err = log C − c n (exponential),
        the rate constrained to ≥ 0.

    Returns
    -------
    Fit
        Parameters NaN when fewer usable points than free parameters remain.
    """
    _check_model(model)
    if floor is not None:
        if not (np.isfinite(floor) and floor >= 0):
            raise ValueError(f"floor = {floor!r}; expected None or a finite number >= 0")
        return _fit_fixed_floor(model, n, err, weights, float(floor), start)
    n, err, w = _clean(n, err, weights, model)
    if n.size < _N_PARAMS:
        return _failed(model, int(n.size))
    t, n0 = _scaled(model, n)
    if start is not None:
        eps, C, theta = (float(start[name]) for name in MODELS[model])
        g0 = _shape(model, n0, theta)
        x0 = (eps, C * g0, theta)
    else:
        thetas = _theta_grid(model, t)
        g = _shape(model, t[None, :], thetas[:, None])
        eps, C = _linear_nonneg(g, err, w)
        values = np.maximum(eps[:, None] + C[:, None] * g, _TINY)
        rss = np.sum(w * (np.log(values) - np.log(err)) ** 2, axis=1)
        best = int(np.nanargmin(rss))
        x0 = (eps[best], C[best], thetas[best])
    if not np.all(np.isfinite(x0)):
        return _failed(model, int(n.size))
    x, rss = _refine(model, t, err, w, x0)
    return Fit(model, _unscale(model, x[0], x[1], x[2], n0), rss, int(n.size))


def _fixed_residuals(x, model, t, log_err, sw, eps):
    return _log_residuals((eps, x[0], x[1]), model, t, log_err, sw)


def _fixed_jacobian(x, model, t, log_err, sw, eps):
    return _log_jacobian((eps, x[0], x[1]), model, t, log_err, sw)[:, 1:]


def _fit_fixed_floor(
    model: str,
    n: np.ndarray,
    err: np.ndarray,
    weights: np.ndarray | None,
    eps: float,
    start: Mapping[str, float] | None,
) -> Fit:
    """`fit_model` with ε fixed: the 2-parameter fit of C and θ (see `fit_model`)."""
    k = _N_PARAMS - 1
    n, err, w = _clean(n, err, weights, model)
    if n.size < k:
        return _failed(model, int(n.size), k)
    t, n0 = _scaled(model, n)
    if eps == 0.0 and start is None:
        # log err = log C' + log g(t; θ), linear in (log C', θ): weighted least squares.
        u = np.log(t) if model == "power_law" else t
        design = np.stack([np.ones_like(u), -u], axis=1)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], sw * np.log(err), rcond=None)
        log_c, theta = float(coef[0]), float(coef[1])
        if theta < 0:  # rate bounded below by 0: the best constant
            theta, log_c = 0.0, float(np.sum(w * np.log(err)) / np.sum(w))
        x0 = (np.exp(log_c), theta)
    elif start is not None:
        C, theta = float(start["C"]), float(start[MODELS[model][2]])
        x0 = (C * _shape(model, n0, theta), theta)
    else:
        thetas = _theta_grid(model, t)
        g = _shape(model, t[None, :], thetas[:, None])
        a2 = g / err
        C = np.maximum(np.sum(w * a2 * (1.0 - eps / err), axis=1) / np.sum(w * a2 * a2, axis=1),
                       0.0)
        values = np.maximum(eps + C[:, None] * g, _TINY)
        rss = np.sum(w * (np.log(values) - np.log(err)) ** 2, axis=1)
        best = int(np.nanargmin(rss))
        x0 = (C[best], thetas[best])
    if not np.all(np.isfinite(x0)):
        return _failed(model, int(n.size), k)
    result = least_squares(
        _fixed_residuals, np.clip(np.asarray(x0, dtype=float), 0.0, None),
        jac=_fixed_jacobian, bounds=(0.0, np.inf), method="trf", x_scale="jac",
        args=(model, t, np.log(err), np.sqrt(w), eps),
    )
    x, rss = result.x, float(2.0 * result.cost)
    return Fit(model, _unscale(model, eps, x[0], x[1], n0), rss, int(n.size), k)


def fit_power_law(n: np.ndarray, err: np.ndarray, weights: np.ndarray | None = None) -> Fit:
    """Fit err(n) ≈ ε + C / n^γ with ε ≥ 0, C ≥ 0, γ ≥ 0 in log space.

    Parameters
    ----------
    n : numpy.ndarray, shape (k,)
        Depths n > 0 (points with n ≤ 0 are dropped).
    err : numpy.ndarray, shape (k,)
        Errors (positive; others dropped).
    weights : numpy.ndarray, shape (k,), optional
        Weights of the squared log-residuals.

    Returns
    -------
    Fit
        ``params = {"eps": ε, "C": C, "gamma": γ}``.

    Notes
    -----
    Minimises Σ_i w_i (log(ε + C n_i^{−γ}) − log err_i)². Initialisation: for γ on a
    geometric grid in [0.02, 5] the model is linear in (ε, C); the non-negative weighted
    least-squares solution of (ε + C n_i^{−γ})/err_i ≈ 1 is computed in closed form and
    the grid point with the smallest log-RSS starts a bounded trust-region refinement
    (`scipy.optimize.least_squares`, method "trf").
    """
    return fit_model("power_law", n, err, weights)


def fit_exponential(n: np.ndarray, err: np.ndarray, weights: np.ndarray | None = None) -> Fit:
    """Fit err(n) ≈ ε + C · e^{−c n} with ε ≥ 0, C ≥ 0, c ≥ 0 in log space.

    Parameters
    ----------
    n, err, weights
        Depths, errors and weights of the squared log-residuals, as in `fit_power_law`.

    Returns
    -------
    Fit
        ``params = {"eps": ε, "C": C, "c": c}``.

    Notes
    -----
    As `fit_power_law`, with the grid over c geometric in [0.01/span, 50/step] (span and
    step: range and smallest spacing of n). Internally C' = C e^{−c n_0} (n_0 = min n) is
    fitted, which keeps the problem well scaled when the data start at large depth.
    """
    return fit_model("exponential", n, err, weights)


def select_model(fits: Mapping[str, Fit] | list[Fit], criterion: str = "aic") -> Fit:
    """Choose the fit of best quality.

    Parameters
    ----------
    fits : mapping of name to Fit, or list of Fit
        Candidate fits to the same data.
    criterion : {"aic", "bic", "rss"}
        Smaller is better; failed fits (NaN) are never chosen. Ties go to the first.

    Returns
    -------
    Fit
        The selected fit (the first one when all failed).

    Notes
    -----
    Both models have three parameters, so on the same points AIC and BIC rank as the
    log-residual sum of squares does; the criteria matter for candidate sets of
    different size.
    """
    candidates = list(fits.values()) if isinstance(fits, Mapping) else list(fits)
    if not candidates:
        raise ValueError("fits is empty; expected at least one Fit")
    if criterion not in ("aic", "bic", "rss"):
        raise ValueError(f"unknown criterion {criterion!r}; expected one of: aic, bic, rss")
    scores = np.array([getattr(f, criterion) for f in candidates], dtype=float)
    scores[~np.isfinite(scores)] = np.inf
    return candidates[int(np.argmin(scores))]
