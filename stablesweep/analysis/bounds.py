r"""Convergence verdicts on the quantities the theorems bound.

The ergodic O(1/n) theorem of the primal–dual network bounds the **objective gap**
:math:`f(\phi_n(y)) - f(\hat z)` of its own problem [1]_ (FISTA's theorem bounds it by
:math:`O(1/n^2)` [2]_), and the talk's accuracy bound is on the **error to x**,

.. math::

    \|\phi_n(y) - x\|/\|x\| \;\le\; \text{floor} + C/n,

with the floor the minimiser's recovery error :math:`\|\hat x - x\|/\|x\|`. Neither
bounds the distance :math:`\|\phi_n(y) - \hat x\|` to the minimiser (which falls
more slowly where the minimiser is not sharp); it is fitted too, labelled as what it
is. :func:`convergence_bounds` computes per cell:

``gap_gamma``, ``gap_gamma_low``, ``gap_gamma_high``
    the rate γ of the gap, a least-squares line through :math:`(\log n, \log g_n)` on
    the **fit window**: log-spaced depths (8 per octave) from :math:`N/4` to :math:`N`,
    :math:`N` the network's largest depth (the burn-in rule: the first three quarters of
    the depths are left out; the octave slopes show what that leaves out). γ is fitted to
    the mean gap over trials; ``_low``/``_high`` are the smallest and largest γ of the
    single trials (the trials are independent masks: the range says how much the rate
    depends on the mask; model error is what the octave slopes show).
``gap_slopes`` (``octave``)
    local slopes :math:`-\Delta\log g/\Delta\log n` over the octaves
    :math:`[N/16, N/8], [N/8, N/4], [N/4, N/2], [N/2, N]` (coordinate: the octave's
    upper depth as a fraction of N) — a power law has equal slopes; an exponential ones
    that grow.
``gap_bound_ratio``, ``gap_bound_ratio_final``
    :math:`\max_{n,t} g_n/B_n` over every depth and trial (≤ 1: the theorem's bound
    :math:`B_n` holds; ``gap_bound`` in the store) and the mean ratio at depth N
    (how tight it is).
``opt_gamma_tail`` (+ ``_low``, ``_high``), ``opt_slopes``
    the same fit for the distance :math:`\|\phi_n(y) - \hat x\|/\|x\|`.
``error_bound_C``, ``error_bound_C_half``, ``error_floor``
    the smallest C with :math:`e_n \le \text{floor}_t + C/n` at every depth and trial
    (:math:`C = \max_{n,t} n\,(e_n - \text{floor}_t)^+`), the same over the depths
    :math:`n \le N/2` only, and the mean floor. The bound holds "with one C" when the
    C of the first half already holds for the second (``error_bound_C`` ≤
    1.01·``error_bound_C_half``): the early depths predict the late ones.
``error_bound_C_theory``, ``error_bound_C_theory_half``, ``error_bound_eps``
    the same with the theory's floor :math:`\varepsilon = \sigma_{s,M}(z)_{\ell^1_w}/
    (\sqrt s\sqrt r\,\|x\|)` of the trial in place of the recovery floor — the bound
    as the talk states it.

Gaps below what the minimiser's certificate resolves (:math:`g_n \le 10\,c\,f^*`, c the
certified relative gap) are left out of the fits (they measure the certificate, not the
network); ``gap_resolved`` is the fraction of the fit window left in.

References
----------
.. [1] A. Chambolle, T. Pock, "On the ergodic convergence rates of a first-order
   primal-dual algorithm", Math. Program. 159 (2016), 253–287.
.. [2] A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for
   linear inverse problems", SIAM J. Imaging Sci. 2 (2009), 183–202.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import DEPTH, TRIAL, cell_dims, valid

__all__ = ["OCTAVES", "convergence_bounds", "fit_window", "octave_slopes", "tail_rate"]

#: Upper ends of the octaves of ``*_slopes``, as fractions of the largest depth N.
OCTAVES = (1 / 8, 1 / 4, 1 / 2, 1.0)

#: Points per octave of the fit window.
PER_OCTAVE = 8

#: The fit window starts at N / WINDOW_START_DIVISOR (burn-in: the rest is left out).
WINDOW_START_DIVISOR = 4


def fit_window(depths: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Indices of log-spaced depths in ``[N/4, N]`` (8 per octave) among ``depths``.

    ``N`` is the largest depth with a finite value; each grid point takes the nearest
    stored depth with a finite value (duplicates dropped).
    """
    n = np.asarray(depths, dtype=float)
    ok = np.flatnonzero(finite & (n > 0))
    if ok.size == 0:
        return ok
    top = n[ok].max()
    octaves = np.log2(WINDOW_START_DIVISOR)
    grid = top / 2.0 ** (octaves - np.arange(int(octaves * PER_OCTAVE) + 1) / PER_OCTAVE)
    cand = ok[n[ok] >= top / WINDOW_START_DIVISOR * (1 - 1e-9)]
    if cand.size == 0:
        return cand
    picks = cand[np.abs(np.log(n[cand])[None, :] - np.log(grid)[:, None]).argmin(axis=1)]
    return np.unique(picks)


def tail_rate(n: np.ndarray, g: np.ndarray) -> float:
    """γ of :math:`g \\approx C n^{-γ}` by least squares on the log-spaced fit window."""
    n, g = np.asarray(n, dtype=float), np.asarray(g, dtype=float)
    finite = np.isfinite(g) & (g > 0)
    idx = fit_window(n, finite)
    if idx.size < 3 or n[idx].max() / n[idx].min() < 2:
        return np.nan
    slope = np.polyfit(np.log(n[idx]), np.log(g[idx]), 1)[0]
    return float(-slope)


def octave_slopes(n: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Local slopes :math:`-\\Delta\\log g/\\Delta\\log n` over the octaves of :data:`OCTAVES`."""
    n, g = np.asarray(n, dtype=float), np.asarray(g, dtype=float)
    finite = np.isfinite(g) & (g > 0)
    out = np.full(len(OCTAVES), np.nan)
    if not finite.any():
        return out
    top = n[finite].max()
    nf, gf = n[finite], g[finite]

    def at(depth: float) -> tuple[float, float]:
        j = int(np.abs(np.log(nf) - np.log(depth)).argmin())
        return nf[j], gf[j]

    for k, hi in enumerate(OCTAVES):
        (a, ga), (b, gb) = at(top * hi / 2), at(top * hi)
        if b > a:
            out[k] = -(np.log(gb) - np.log(ga)) / (np.log(b) - np.log(a))
    return out


def _smallest_c(n: np.ndarray, err: np.ndarray, floor: np.ndarray, upto: float) -> float:
    """max over trials and depths ≤ upto of n (err − floor)^+ (NaN without data)."""
    keep = n <= upto
    excess = (err[:, keep] - floor[:, None]) * n[keep][None, :]
    excess = excess[np.isfinite(excess)]
    return float(max(excess.max(), 0.0)) if excess.size else np.nan


def _trial_mean(a: np.ndarray) -> np.ndarray:
    """Mean over trials (axis 0) where every trial is finite, else NaN."""
    ok = np.isfinite(a).all(axis=0)
    return np.where(ok, np.where(np.isfinite(a), a, 0.0).mean(axis=0), np.nan)


def _per_cell(n: np.ndarray, gap: np.ndarray | None, bound: np.ndarray | None,
              resolve: np.ndarray | None, opt: np.ndarray | None, err: np.ndarray | None,
              floor: np.ndarray | None, eps: np.ndarray | None) -> dict[str, object]:
    """Every output of one cell from its (trial, depth) arrays."""
    out: dict[str, object] = {}
    if gap is not None:
        g = np.where(gap > (resolve[:, None] if resolve is not None else 0.0), gap, np.nan)
        mean = _trial_mean(g)
        per_trial = [tail_rate(n, row) for row in g]
        out["gap_gamma"] = tail_rate(n, mean)
        out["gap_gamma_low"] = np.nanmin(per_trial) if np.isfinite(per_trial).any() else np.nan
        out["gap_gamma_high"] = np.nanmax(per_trial) if np.isfinite(per_trial).any() else np.nan
        out["gap_slopes"] = octave_slopes(n, mean)
        win = fit_window(n, np.isfinite(gap).all(axis=0))
        out["gap_resolved"] = (float(np.isfinite(mean[win]).mean()) if win.size else np.nan)
        if bound is not None and np.isfinite(bound).any():
            ratio = gap / bound
            out["gap_bound_ratio"] = float(np.nanmax(ratio))
            last = np.flatnonzero(np.isfinite(ratio).all(axis=0))
            out["gap_bound_ratio_final"] = (float(ratio[:, last[-1]].mean()) if last.size
                                            else np.nan)
    if opt is not None:
        mean = _trial_mean(opt)
        per_trial = [tail_rate(n, row) for row in opt]
        out["opt_gamma_tail"] = tail_rate(n, mean)
        out["opt_gamma_tail_low"] = (np.nanmin(per_trial) if np.isfinite(per_trial).any()
                                     else np.nan)
        out["opt_gamma_tail_high"] = (np.nanmax(per_trial) if np.isfinite(per_trial).any()
                                      else np.nan)
        out["opt_slopes"] = octave_slopes(n, mean)
    if err is not None and floor is not None and np.isfinite(floor).any():
        finite = np.isfinite(err).any(axis=0)
        top = n[finite].max() if finite.any() else np.nan
        out["error_bound_C"] = _smallest_c(n, err, floor, np.inf)
        out["error_bound_C_half"] = _smallest_c(n, err, floor, top / 2)
        out["error_floor"] = float(np.nanmean(floor))
    if err is not None and eps is not None and np.isfinite(eps).any():
        finite = np.isfinite(err).any(axis=0)
        top = n[finite].max() if finite.any() else np.nan
        out["error_bound_C_theory"] = _smallest_c(n, err, eps, np.inf)
        out["error_bound_C_theory_half"] = _smallest_c(n, err, eps, top / 2)
        out["error_bound_eps"] = float(np.nanmean(eps))
    return out


_ATTRS = {
    "gap_gamma": ("rate γ of the objective gap f(phi_n) - f(x_hat) (log-log least squares "
                  "on log-spaced depths N/4..N, mean over trials)", "1"),
    "gap_gamma_low": ("smallest per-trial rate of the objective gap", "1"),
    "gap_gamma_high": ("largest per-trial rate of the objective gap", "1"),
    "gap_slopes": ("local slope of the mean objective gap per octave of depth", "1"),
    "gap_resolved": ("fraction of the fit window where the gap exceeds 10x the "
                     "minimiser's certificate", "1"),
    "gap_bound_ratio": ("largest ratio of the objective gap to the theorem's bound over "
                        "depths and trials (<= 1: the bound holds)", "1"),
    "gap_bound_ratio_final": ("mean ratio of the objective gap to the theorem's bound at "
                              "the largest depth (its tightness)", "1"),
    "opt_gamma_tail": ("rate γ of the distance ||phi_n - x_hat|| / ||x|| (same fit rule as "
                       "gap_gamma)", "1"),
    "opt_gamma_tail_low": ("smallest per-trial rate of the distance to x_hat", "1"),
    "opt_gamma_tail_high": ("largest per-trial rate of the distance to x_hat", "1"),
    "opt_slopes": ("local slope of the mean distance to x_hat per octave of depth", "1"),
    "error_bound_C": ("smallest C with ||phi_n - x|| / ||x|| <= floor + C/n at every depth "
                      "and trial (floor: the trial's recovery error)", "1"),
    "error_bound_C_half": ("the same smallest C over the depths n <= N/2 only", "1"),
    "error_floor": ("mean recovery floor ||x_hat - x|| / ||x|| over trials", "1"),
    "error_bound_C_theory": ("smallest C with ||phi_n - x|| / ||x|| <= eps + C/n at every "
                             "depth and trial (eps: the theory's floor sigma_{s,M} / "
                             "(sqrt(s) sqrt(r) ||x||) of the trial)", "1"),
    "error_bound_C_theory_half": ("the same smallest C over the depths n <= N/2 only", "1"),
    "error_bound_eps": ("mean theory floor sigma_{s,M} / (sqrt(s) sqrt(r) ||x||) over trials",
                   "1"),
}


def convergence_bounds(ds: xr.Dataset) -> xr.Dataset:
    """Per cell: the gap's rate and its theorem's bound, the error bound's C (see module).

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep dataset with ``objective_gap`` (trial, depth) — the ``minimiser`` option
        — and optionally ``gap_bound``, ``opt_error``, ``rel_error``,
        ``recovery_error``, ``minimiser_objective``, ``minimiser_certificate``.

    Returns
    -------
    xarray.Dataset
        The variables of the module docstring over the cell dimensions (network and the
        swept problem axes), ``gap_slopes``/``opt_slopes`` also over ``octave``.
    """
    gap = valid(ds, "objective_gap")
    cells = cell_dims(gap)
    order = [*cells, TRIAL, DEPTH]

    def arr(name: str) -> np.ndarray | None:
        if name not in ds:
            return None
        da = valid(ds, name)
        if DEPTH not in da.dims:
            da = da.expand_dims({DEPTH: gap[DEPTH]})
        return da.broadcast_like(gap).transpose(*order).values

    def trial_arr(name: str) -> np.ndarray | None:
        if name not in ds:
            return None
        da = valid(ds, name).broadcast_like(gap.isel({DEPTH: 0}, drop=True))
        return da.transpose(*cells, TRIAL).values

    gaps, bounds = gap.transpose(*order).values, arr("gap_bound")
    opts, errs = arr("opt_error"), arr("rel_error")
    floors = trial_arr("recovery_error")
    sig, xn = trial_arr("sigma_theory"), trial_arr("signal_norm")
    eps = sig / np.where(xn > 0, xn, np.nan) if sig is not None and xn is not None else None
    fstar, cert = trial_arr("minimiser_objective"), trial_arr("minimiser_certificate")
    resolve = (10 * np.abs(fstar) * np.nan_to_num(cert, nan=0.0)
               if fstar is not None and cert is not None else None)
    n = gap[DEPTH].values.astype(float)
    shape = gaps.shape[:-2]
    results: dict[str, np.ndarray] = {}
    for index in np.ndindex(*shape):
        one = _per_cell(
            n, gaps[index],
            None if bounds is None else bounds[index],
            None if resolve is None else resolve[index],
            None if opts is None else opts[index],
            None if errs is None else errs[index],
            None if floors is None else floors[index],
            None if eps is None else eps[index])
        for key, value in one.items():
            value = np.asarray(value, dtype=float)
            if key not in results:
                results[key] = np.full(shape + value.shape, np.nan)
            results[key][index] = value
    coords = {d: gap[d] for d in cells}
    out = xr.Dataset(coords=coords)
    for key, value in results.items():
        dims = (*cells, "octave") if key.endswith("_slopes") else tuple(cells)
        long_name, units = _ATTRS[key]
        out[key] = (dims, value, {"long_name": long_name, "units": units})
    if "octave" in out.dims:
        out = out.assign_coords(octave=("octave", np.asarray(OCTAVES), {
            "long_name": "upper end of the octave [N x/2, N x] as a fraction x of the "
                         "largest depth N", "units": "1"}))
    return out
