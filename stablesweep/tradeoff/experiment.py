r"""The kernel (accuracy–stability) trade-off experiment: measurements and the run.

For a reconstruction map φ and a test pair :math:`(x, x' = x + \delta)` with
:math:`\|B\delta\| = \kappa\|\delta\|` (:mod:`stablesweep.tradeoff.pairs`;
:math:`B = P_\Omega U` the image-domain forward map, ``A.measure``), let
:math:`y = Bx`, :math:`y' = Bx'` and

.. math::

    \eta = \max(\|\varphi(y) - x\|, \|\varphi(y') - x'\|).

By the triangle inequality
:math:`\|\delta\| \le \|x' - \varphi(y')\| + \|\varphi(y') - \varphi(y)\| + \|\varphi(y) - x\|`,
so along the perturbation :math:`e = y' - y = B\delta`

.. math::

    \frac{\|\varphi(y + e) - \varphi(y)\|}{\|e\|} \;\ge\;
    \frac{\|\delta\| - 2\eta}{\|B\delta\|} \qquad(\text{the kernel lower bound}),

informative when :math:`\|\delta\| > 2\eta` (otherwise it is recorded as NaN). The same
argument applied to :math:`P(\cdot)` for any orthogonal projection :math:`P` (here the
restriction to a window around the detail, :math:`\|Pv\| \le \|v\|`) gives the *local*
kernel bound

.. math::

    \frac{\|\varphi(y + e) - \varphi(y)\|}{\|e\|} \;\ge\;
    \frac{\|P\delta\| - \|P(\varphi(y) - x)\| - \|P(\varphi(y') - x')\|}{\|B\delta\|},

which does not charge the map for its errors far from the detail. A map
accurate on both images (:math:`\eta \ll \|\delta\|`) has amplification close to
:math:`1/\kappa` or more: accuracy on near-kernel details forces instability.

Per network and pair (:func:`measure_network`), all ratios of Euclidean norms (complex
outputs included in full):

============================  ===========================================================
``error_x``                   :math:`\|\varphi(y) - x\| / \|x\|`
``error_x_prime``             :math:`\|\varphi(y') - x'\| / \|x'\|`
``detail_error``              :math:`\|(\varphi(y') - \varphi(y)) - \delta\| / \|\delta\|`
                              (0: the detail is recovered; 1: it is not seen at all)
``amplification``             :math:`\|\varphi(y') - \varphi(y)\| / \|B\delta\|`
``kernel_bound``              :math:`(\|\delta\| - 2\eta)/\|B\delta\|`, NaN where
                              :math:`\|\delta\| \le 2\eta`
``eta_over_delta``            :math:`\eta / \|\delta\|` (the bound applies below 1/2)
``local_kernel_bound``        :math:`(\|P\delta\| - \|P(\varphi(y)-x)\| -
                              \|P(\varphi(y')-x')\|)/\|B\delta\|`, NaN where not
                              positive; :math:`P` the indicator of a disk of radius
                              (detail radius + ``detail.window``) around the detail
``worst_amplification``       :math:`\max_{\|e\| \le \|B\delta\|} \|\varphi(y+e) -
                              \varphi(y)\| / \|B\delta\|` at :math:`y = Bx`: the worst
                              case at the *matched budget* (the budget of
                              ``amplification``), approximated by
                              :func:`stablesweep.attacks.worst_case_noise` per pair
                              (``objective="change"``, ``level`` = ‖Bδ‖/‖y‖, starts:
                              :math:`B\delta` itself, the Jacobian's top singular
                              vector, a random draw); :math:`e = B\delta` is a candidate,
                              so it is ≥ ``amplification`` by construction
``jacobian_sigma``            σ_max of the Jacobian of :math:`e \mapsto \varphi(y+e)` at
                              :math:`y = Bx` (:func:`stablesweep.attacks.jacobian_sigma_max`)
``attack_steps``              ascent steps the attack ran (the stopping rule's count where
                              the attack has one, else ``attack.steps``)
============================  ===========================================================

Seeds
    The trained U-Nets are trained once per training seed (``training.seeds``;
    :mod:`stablesweep.tradeoff.models`: shipped model files are used where their
    training hash matches). The dataset's variables have dims ``(network, seed,
    pair)``; the untrained networks (FIRENET, FISTA) do not depend on the training
    seed: they are measured once, at the first seed, and are NaN at the others
    (``trained`` tells which networks were trained). Test pairs and attack draws come
    from the config's ``seed`` and are the same for every network and seed.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TradeoffConfig
from .pairs import KernelProjector, TestPairs, make_pairs
from .training import seed_streams

__all__ = ["OUTPUT_FILES", "TradeoffResult", "build_networks", "kernel_bound",
           "measure_network", "run_experiment", "to_dataset"]

#: files :func:`run_experiment` writes into its output folder (networks it had to train
#: go to ``models/<network>-seed<seed>.pt`` there as well)
OUTPUT_FILES = ("tradeoff.nc", "tradeoff.csv", "tradeoff.md", "tradeoff.png")

#: per (network, pair) variables: name -> long_name
NETWORK_VARS = {
    "error_x": "relative error on x, ||phi(Ax) - x|| / ||x||",
    "error_x_prime": "relative error on x' = x + delta, ||phi(Ax') - x'|| / ||x'||",
    "detail_error": "detail recovery error, ||(phi(Ax') - phi(Ax)) - delta|| / ||delta||",
    "amplification": "measured amplification along e = A delta, "
                     "||phi(Ax') - phi(Ax)|| / ||A delta||",
    "kernel_bound": "kernel lower bound (||delta|| - 2 eta) / ||A delta|| "
                    "(NaN where ||delta|| <= 2 eta)",
    "eta_over_delta": "eta / ||delta||, eta = max of the two absolute errors "
                      "(the bound applies below 0.5)",
    "local_kernel_bound": "local kernel lower bound (||P delta|| - ||P(phi(Ax) - x)|| - "
                          "||P(phi(Ax') - x')||) / ||A delta||, P = window around the detail "
                          "(NaN where not positive)",
    "worst_amplification": "worst-case amplification at the matched budget, "
                           "max over ||e|| <= ||A delta|| of ||phi(y+e) - phi(y)|| / "
                           "||A delta||, y = Ax (attack started from A delta among others)",
    "jacobian_sigma": "largest singular value of the Jacobian of e -> phi(Ax + e)",
    "attack_steps": "ascent steps run by the worst-case attack (per start)",
}
#: per pair variables
PAIR_VARS = {
    "visibility": "visibility ratio ||A delta|| / ||delta|| (kappa)",
    "detail_norm": "relative detail size ||delta|| / ||x||",
    "inverse_visibility": "||delta|| / ||A delta||, the amplification an exact "
                          "reconstruction of both images needs",
}


def kernel_bound(delta_norm: np.ndarray, eta: np.ndarray, e_norm: np.ndarray) -> np.ndarray:
    r"""Kernel lower bound :math:`(\|\delta\| - 2\eta)/\|B\delta\|` (NaN where it does not apply).

    Parameters
    ----------
    delta_norm, eta, e_norm : array_like
        :math:`\|\delta\|`, :math:`\eta = \max(\|\varphi(Bx)-x\|, \|\varphi(Bx')-x'\|)`,
        :math:`\|B\delta\|` (broadcast together).

    Returns
    -------
    numpy.ndarray
        The bound where :math:`\|\delta\| > 2\eta`, NaN elsewhere.
    """
    delta_norm, eta, e_norm = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                     for v in (delta_norm, eta, e_norm)))
    gap = delta_norm - 2.0 * eta
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, gap / e_norm, np.nan)


def _norm(v: torch.Tensor) -> np.ndarray:
    return torch.linalg.vector_norm(v.flatten(1), dim=1).detach().cpu().numpy()


def measure_network(net: Callable[[torch.Tensor], torch.Tensor], A: Any, pairs: TestPairs,
                    *, attack: dict[str, Any] | None = None,
                    generator: torch.Generator | None = None,
                    window: float = 3.0) -> dict[str, np.ndarray]:
    """The metrics of one network on the test pairs (see the module docstring).

    Parameters
    ----------
    net : callable
        ``net(y) -> image``, batched.
    A : SamplingOperator
    pairs : TestPairs
    attack : dict, optional
        ``steps``, ``restarts``, ``jacobian_iters``, ``tol``, ``patience``, ``step_size``
        (see :func:`matched_budget_worst_case`); without it the worst-case variables are
        NaN.
    generator : torch.Generator, optional
        Random starts of the attack (required with ``attack``).
    window : float
        Pixels added to the detail radius for the local bound's window.

    Returns
    -------
    dict
        :data:`NETWORK_VARS` -> float64 array of shape ``(len(pairs),)``.
    """
    x, xp, delta = pairs.x, pairs.x_prime, pairs.delta
    y = A.measure(x.to(A.dtype))
    yp = A.measure(xp.to(A.dtype))
    with torch.no_grad():
        out, outp = net(y), net(yp)
    err, errp = _norm(out - x), _norm(outp - xp)
    d_norm, e_norm = _norm(delta), _norm(yp - y)
    change = _norm(outp - out)
    eta = np.maximum(err, errp)
    res = {
        "error_x": err / _norm(x),
        "error_x_prime": errp / _norm(xp),
        "detail_error": _norm((outp - out) - delta) / d_norm,
        "amplification": change / e_norm,
        "kernel_bound": kernel_bound(d_norm, eta, e_norm),
        "eta_over_delta": eta / d_norm,
        "local_kernel_bound": np.full(len(pairs), np.nan),
        "worst_amplification": np.full(len(pairs), np.nan),
        "jacobian_sigma": np.full(len(pairs), np.nan),
        "attack_steps": np.full(len(pairs), np.nan),
    }
    if pairs.info:
        from .pairs import detail_windows

        P = detail_windows(int(x.shape[-1]), pairs.info, window)
        gap = _norm(P * delta) - _norm(P * (out - x)) - _norm(P * (outp - xp))
        with np.errstate(divide="ignore", invalid="ignore"):
            res["local_kernel_bound"] = np.where(gap > 0, gap / e_norm, np.nan)
    if attack is not None:
        if generator is None:
            raise ValueError("an attack needs a torch.Generator")
        worst, sigma, steps_run = matched_budget_worst_case(net, A, x, y, yp - y,
                                                            attack, generator)
        res["worst_amplification"] = worst / e_norm
        res["jacobian_sigma"] = sigma
        res["attack_steps"] = steps_run
    return res


def matched_budget_worst_case(net: Callable[[torch.Tensor], torch.Tensor], A: Any,
                              x: torch.Tensor, y: torch.Tensor, e: torch.Tensor,
                              attack: dict[str, Any], generator: torch.Generator,
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Worst-case change :math:`\max_{\|e'\| \le \|e_i\|} \|\varphi(y_i+e') - \varphi(y_i)\|`
    per image, each at its own budget :math:`\rho_i = \|e_i\|` (here :math:`e_i = B\delta_i`).

    One call of :func:`stablesweep.attacks.worst_case_noise` for the batch with the
    absolute budgets ``radius`` = :math:`\rho_i`. Starts: ``e_i`` itself (``directions``:
    both signs evaluated, the better ascended; also ``warm_start``, so :math:`e_i` is
    evaluated as given and the result is at least
    :math:`\|\varphi(y_i+e_i) - \varphi(y_i)\|`), the better sign of the Jacobian's top
    singular vector (``init="jacobian"``, ``jacobian_iters``) and ``restarts`` random
    draws (the first replaced by the Jacobian's). ``steps`` is the cap of the stopping
    rule (``tol``, ``patience``), ``step_size`` the normalized step.

    Returns
    -------
    change, jacobian_sigma, steps_run : numpy.ndarray, shape ``(b,)``
    """
    from stablesweep.attacks import worst_case_noise

    kw: dict[str, Any] = {"steps": int(attack["steps"]), "restarts": int(attack["restarts"]),
                          "jacobian_iters": int(attack["jacobian_iters"]),
                          "step_size": float(attack.get("step_size", 1.0)),
                          "objective": "change", "init": "jacobian"}
    for key in ("tol", "patience"):
        if attack.get(key) is not None:
            kw[key] = attack[key]
    b = int(x.shape[0])
    y, e = y.detach().reshape(b, -1), e.detach().reshape(b, -1)
    rho = torch.linalg.vector_norm(e, dim=1)
    wc = worst_case_noise(net, A, x, y, radius=rho, generator=generator, warm_start=e,
                          directions=e, **kw)
    return (np.asarray(wc.change, dtype=np.float64).reshape(-1),
            np.asarray(wc.jacobian_sigma, dtype=np.float64).reshape(-1),
            np.asarray(wc.steps_run, dtype=np.float64).reshape(-1))


def build_networks(cfg: TradeoffConfig, A: Any) -> dict[str, Callable[[torch.Tensor],
                                                                     torch.Tensor]]:
    """The untrained (classical) networks of the config, in table order."""
    from stablesweep.networks import build_network

    nets: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for kind, params in cfg.networks.items():
        if kind == "firenet":
            nets[kind] = build_network("firenet", A, n=int(params.get("n", 10)),
                                       p=int(params.get("p", 20)),
                                       lam=float(params.get("lam", 1e-3)))
        elif kind == "fista":
            nets[kind] = build_network("fista", A, depth=int(params.get("depth", 200)),
                                       lam=float(params.get("lam", 1e-3)))
    return nets


@dataclass
class TradeoffResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    dataset : xarray.Dataset
        The measurements (see :func:`to_dataset`).
    models : dict
        ``(network, seed)`` -> model-file contents (trained or loaded networks).
    seconds : dict
        Wall time per stage (``training`` — obtaining the networks: loading shipped
        files or training —, ``measurement``, ``total``).
    trained : list
        The ``(network, seed)`` that had to be trained (empty with shipped models).
    """

    dataset: Any
    models: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    trained: list[tuple[str, int]] = field(default_factory=list)


def _provenance(cfg: TradeoffConfig) -> dict[str, str | int]:
    from stablesweep import __version__
    from stablesweep.sweep.store.provenance import git_commit, library_versions

    return {
        "Conventions": "CF-1.10",
        "title": f"stablesweep kernel trade-off: {cfg.name}",
        "experiment": cfg.name,
        "config": cfg.text,
        "config_hash": cfg.hash,
        "config_source": str(cfg.source),
        "seed": cfg.seed,
        "mask_seed": int(cfg.problem["sampling"].get("seed", -1)),
        "stablesweep_version": str(__version__),
        "git_commit": git_commit(),
        "versions": json.dumps({"python": sys.version.split()[0], **library_versions()}),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
    }


def to_dataset(cfg: TradeoffConfig, A: Any, pairs: TestPairs,
               metrics: dict[str, dict[int, dict[str, np.ndarray]]],
               models: dict[tuple[str, int], dict[str, Any]] | None = None,
               seconds: dict[str, float] | None = None,
               model_sources: dict[str, Any] | None = None) -> Any:
    """Assemble the labelled :class:`xarray.Dataset` (dims ``network``, ``seed``, ``pair``).

    ``metrics[label][seed]`` holds :data:`NETWORK_VARS` for one network and training
    seed; a network measured at fewer seeds (the untrained ones: only the first) is NaN
    at the others. Every variable has ``units`` ("1": all are ratios of norms, or counts)
    and ``long_name``; attrs hold the provenance (config text and hash, seeds, versions,
    git commit, where each trained network came from), the operator (m, N) and the
    trained networks' training summaries.
    """
    import xarray as xr

    labels = list(metrics)
    seeds = [int(s) for s in cfg.seeds]
    n_pairs = len(pairs)
    data_vars: dict[str, Any] = {}
    for name, long_name in NETWORK_VARS.items():
        arr = np.full((len(labels), len(seeds), n_pairs), np.nan)
        for i, k in enumerate(labels):
            for j, sd in enumerate(seeds):
                if sd in metrics[k]:
                    arr[i, j] = metrics[k][sd][name]
        data_vars[name] = (("network", "seed", "pair"), arr,
                           {"units": "1", "long_name": long_name})
    d_norm, e_norm = _norm(pairs.delta), _norm(A.measure(pairs.delta.to(A.dtype)))
    pair_vals = {"visibility": e_norm / d_norm, "detail_norm": d_norm / _norm(pairs.x),
                 "inverse_visibility": d_norm / e_norm}
    for name, long_name in PAIR_VARS.items():
        data_vars[name] = (("pair",), pair_vals[name].astype(np.float64),
                           {"units": "1", "long_name": long_name})
    val = np.array([[float(models[k, sd]["val_rel_error"]) if models and (k, sd) in models
                     else np.nan for sd in seeds] for k in labels])
    data_vars["validation_error"] = (("network", "seed"), val, {
        "units": "1", "long_name": "mean relative validation error of a trained network "
        "(NaN: not trained)"})
    trained = np.array([any((k, sd) in (models or {}) for sd in seeds) for k in labels],
                       dtype=np.int8)
    data_vars["trained"] = (("network",), trained, {
        "units": "1", "long_name": "1: a trained network (one per training seed); 0: "
        "untrained, measured once (at the first seed, NaN at the others)"})
    coords = {
        "network": ("network", np.array(labels, dtype=str), {"long_name": "network"}),
        "seed": ("seed", np.array(seeds, dtype=np.int32),
                 {"long_name": "training seed of the trained networks", "units": "1"}),
        "pair": ("pair", np.arange(n_pairs, dtype=np.int32),
                 {"long_name": "test pair index", "units": "1"}),
    }
    ds = xr.Dataset(data_vars, coords=coords)
    attrs: dict[str, Any] = _provenance(cfg)
    attrs.update({
        "m": int(A.m), "N": int(A.N), "transform": str(A.transform),
        "kappa": float(cfg.detail["kappa"]), "detail_kind": str(cfg.detail["kind"]),
        "attack": json.dumps(cfg.attack) if cfg.attack else "none",
        "attack_budget": "||e|| <= ||A delta|| per pair (the budget of the amplification "
                         "along A delta)" if cfg.attack else "none",
        "training": json.dumps({f"{k}/{sd}": {
            "epoch": int(v["epoch"]), "val_rel_error": float(v["val_rel_error"]),
            "train_seconds": float(sum(h["seconds"] for h in v["history"]))}
            for (k, sd), v in (models or {}).items()}),
        "model_sources": json.dumps(model_sources or {}),
        "seconds": json.dumps({k: round(float(v), 2) for k, v in (seconds or {}).items()}),
    })
    if cfg.attack:
        attrs["attack_starts"] = ("A delta (ascended), the Jacobian's top singular vector "
                                  "(ascended), a random draw (evaluated)")
    ds.attrs.update(attrs)
    return ds


def run_experiment(cfg: TradeoffConfig, out_dir: str | Path | None = None, *,
                   models_dir: str | Path | None = None,
                   log: Callable[[str], None] | None = None) -> TradeoffResult:
    """Obtain the trained networks, measure and (with ``out_dir``) write every output.

    Parameters
    ----------
    cfg : TradeoffConfig
    out_dir : path-like, optional
        Folder for :data:`OUTPUT_FILES` (created; existing files are replaced — the CLI
        checks for them first); networks that had to be trained are written to
        ``out_dir/models/``. ``None`` writes nothing.
    models_dir : path-like, optional
        Folder of model files to use where they match (default: the config's
        ``models``; see :func:`stablesweep.tradeoff.models.obtain_models`).
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    TradeoffResult
    """
    from stablesweep.training.data import torch_seed

    from .models import obtain_models
    from .problem import make_operator
    from .report import write_outputs

    say = log or (lambda _m: None)
    t0 = time.perf_counter()
    A = make_operator(cfg.problem)
    say(f"[tradeoff] {cfg.name}: {A!r}; detail {cfg.detail['kind']}, "
        f"kappa = {cfg.detail['kappa']}, {cfg.pairs} pairs, training seeds {cfg.seeds}")
    streams = seed_streams(cfg.seed)
    save_dir = Path(out_dir) / "models" if out_dir is not None else None
    trained_nets, models, sources = obtain_models(cfg, A, models_dir=models_dir,
                                                  save_dir=save_dir, log=say)
    trained = [tuple(k.split("/")) for k, v in sources.items() if v["source"] == "trained"]
    t1 = time.perf_counter()
    pairs = make_pairs(cfg.pairs, A, cfg.detail, streams["pairs"])
    proj = KernelProjector(A)
    say(f"[tradeoff] visibility of the test details: "
        f"{float(proj.visibility(pairs.delta).min()):.6f}..."
        f"{float(proj.visibility(pairs.delta).max()):.6f}")
    classical = build_networks(cfg, A)
    runs: list[tuple[str, int, Callable[[torch.Tensor], torch.Tensor]]] = []
    for kind in cfg.networks:
        if kind in classical:
            runs.append((kind, cfg.seeds[0], classical[kind]))
        else:
            runs.extend((kind, sd, trained_nets[kind, sd]) for sd in cfg.seeds)
    attack_ss = streams["attack"].spawn(len(runs))
    metrics: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for (label, sd, net), ss in zip(runs, attack_ss, strict=True):
        ts = time.perf_counter()
        gen = torch.Generator().manual_seed(torch_seed(ss))
        metrics.setdefault(label, {})[sd] = measure_network(
            net, A, pairs, attack=cfg.attack, generator=gen,
            window=float(cfg.detail.get("window", 3)))
        say(f"[tradeoff] measured {label}" + (f" seed {sd}" if label not in classical else "")
            + f" in {time.perf_counter() - ts:.1f} s")
    t2 = time.perf_counter()
    seconds = {"training": t1 - t0, "measurement": t2 - t1, "total": t2 - t0}
    ds = to_dataset(cfg, A, pairs, metrics, models, seconds, sources)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_outputs(ds, out)
    return TradeoffResult(dataset=ds, models=models, seconds=seconds,
                          trained=[(k, int(s)) for k, s in trained])
