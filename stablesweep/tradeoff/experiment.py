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
``worst_amplification``       worst-case change / ‖e‖ over :math:`\|e\| \le
                              \text{level}\cdot\|y\|` at :math:`y = Bx`
                              (:func:`stablesweep.attacks.worst_case_noise`,
                              ``objective="change"``, ``init="jacobian"``)
``jacobian_sigma``            σ_max of the Jacobian of :math:`e \mapsto \varphi(y+e)` at
                              :math:`y = Bx` (:func:`stablesweep.attacks.jacobian_sigma_max`)
============================  ===========================================================
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
from .training import seed_streams, train_unet

__all__ = ["OUTPUT_FILES", "TradeoffResult", "build_networks", "kernel_bound",
           "measure_network", "run_experiment", "to_dataset"]

#: files :func:`run_experiment` writes into its output folder (``model-plain.pt`` too
#: when the config has ``networks.unet-plain``)
OUTPUT_FILES = ("tradeoff.nc", "tradeoff.csv", "tradeoff.md", "tradeoff.png", "model.pt")

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
    "worst_amplification": "worst-case amplification ||phi(y+e) - phi(y)|| / ||e|| at "
                           "||e|| <= level ||y||, y = Ax",
    "jacobian_sigma": "largest singular value of the Jacobian of e -> phi(Ax + e)",
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
        ``level``, ``steps``, ``restarts``, ``jacobian_iters``; without it the worst-case
        variables are NaN.
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
    }
    if pairs.info:
        from .pairs import detail_windows

        P = detail_windows(int(x.shape[-1]), pairs.info, window)
        gap = _norm(P * delta) - _norm(P * (out - x)) - _norm(P * (outp - xp))
        with np.errstate(divide="ignore", invalid="ignore"):
            res["local_kernel_bound"] = np.where(gap > 0, gap / e_norm, np.nan)
    if attack is not None:
        from stablesweep.attacks import worst_case_noise

        if generator is None:
            raise ValueError("an attack needs a torch.Generator")
        wc = worst_case_noise(net, A, x, y, level=float(attack["level"]),
                              steps=int(attack["steps"]), restarts=int(attack["restarts"]),
                              generator=generator, objective="change", init="jacobian",
                              jacobian_iters=int(attack["jacobian_iters"]))
        res["worst_amplification"] = np.asarray(wc.amplification, dtype=np.float64)
        res["jacobian_sigma"] = np.asarray(wc.jacobian_sigma, dtype=np.float64)
    return res


def build_networks(cfg: TradeoffConfig, A: Any, trained: dict[str, torch.nn.Module]
                   ) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The measured networks in table order: the trained U-Nets and the classical ones."""
    from stablesweep.networks import build_network

    nets: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for kind, params in cfg.networks.items():
        if kind in trained:
            nets[kind] = trained[kind]
        elif kind == "firenet":
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
        Network label -> model-file contents (trained networks).
    seconds : dict
        Wall time per stage (``training``, ``measurement``, ``total``).
    """

    dataset: Any
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _provenance(cfg: TradeoffConfig) -> dict[str, str | int]:
    from stablesweep import __version__
    from stablesweep.sweep.provenance import git_commit, library_versions

    return {
        "Conventions": "CF-1.10",
        "title": f"stablesweep kernel trade-off: {cfg.name}",
        "experiment": cfg.name,
        "config": cfg.text,
        "config_hash": cfg.hash,
        "config_source": str(cfg.source),
        "seed": cfg.seed,
        "mask_seed": int(cfg.problem["sampling"]["seed"]),
        "stablesweep_version": str(__version__),
        "git_commit": git_commit(),
        "versions": json.dumps({"python": sys.version.split()[0], **library_versions()}),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
    }


def to_dataset(cfg: TradeoffConfig, A: Any, pairs: TestPairs,
               metrics: dict[str, dict[str, np.ndarray]],
               models: dict[str, dict[str, Any]] | None = None,
               seconds: dict[str, float] | None = None) -> Any:
    """Assemble the labelled :class:`xarray.Dataset` (dims ``network``, ``pair``).

    Every variable has ``units`` ("1": all are ratios of norms) and ``long_name``;
    attrs hold the provenance (config text and hash, seeds, versions, git commit),
    the operator (m, N) and the trained networks' validation errors.
    """
    import xarray as xr

    labels = list(metrics)
    data_vars: dict[str, Any] = {}
    for name, long_name in NETWORK_VARS.items():
        arr = np.stack([metrics[k][name] for k in labels]).astype(np.float64)
        data_vars[name] = (("network", "pair"), arr,
                           {"units": "1", "long_name": long_name})
    d_norm, e_norm = _norm(pairs.delta), _norm(A.measure(pairs.delta.to(A.dtype)))
    pair_vals = {"visibility": e_norm / d_norm, "detail_norm": d_norm / _norm(pairs.x),
                 "inverse_visibility": d_norm / e_norm}
    for name, long_name in PAIR_VARS.items():
        data_vars[name] = (("pair",), pair_vals[name].astype(np.float64),
                           {"units": "1", "long_name": long_name})
    val = np.array([float(models[k]["val_rel_error"]) if models and k in models else np.nan
                    for k in labels])
    data_vars["validation_error"] = (("network",), val, {
        "units": "1", "long_name": "mean relative validation error of a trained network "
        "(NaN: not trained)"})
    coords = {
        "network": ("network", np.array(labels, dtype=str), {"long_name": "network"}),
        "pair": ("pair", np.arange(len(pairs), dtype=np.int32),
                 {"long_name": "test pair index", "units": "1"}),
    }
    ds = xr.Dataset(data_vars, coords=coords)
    attrs: dict[str, Any] = _provenance(cfg)
    attrs.update({
        "m": int(A.m), "N": int(A.N), "transform": str(A.transform),
        "kappa": float(cfg.detail["kappa"]), "detail_kind": str(cfg.detail["kind"]),
        "attack": json.dumps(cfg.attack) if cfg.attack else "none",
        "training": json.dumps({k: {"epoch": int(v["epoch"]),
                                    "val_rel_error": float(v["val_rel_error"]),
                                    "train_seconds": float(sum(h["seconds"]
                                                               for h in v["history"]))}
                                for k, v in (models or {}).items()}),
        "seconds": json.dumps({k: round(float(v), 2) for k, v in (seconds or {}).items()}),
    })
    ds.attrs.update(attrs)
    return ds


def run_experiment(cfg: TradeoffConfig, out_dir: str | Path | None = None, *,
                   log: Callable[[str], None] | None = None) -> TradeoffResult:
    """Train, measure and (with ``out_dir``) write every output of the experiment.

    Parameters
    ----------
    cfg : TradeoffConfig
    out_dir : path-like, optional
        Folder for :data:`OUTPUT_FILES` (created; existing files are replaced — the CLI
        checks for them first). ``None`` writes nothing.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    TradeoffResult
    """
    from stablesweep.modelfile import save_atomic
    from stablesweep.training.data import torch_seed

    from .problem import make_operator
    from .report import write_outputs

    say = log or (lambda _m: None)
    t0 = time.perf_counter()
    A = make_operator(cfg.problem)
    say(f"[tradeoff] {cfg.name}: {A!r}; detail {cfg.detail['kind']}, "
        f"kappa = {cfg.detail['kappa']}, {cfg.pairs} pairs")
    streams = seed_streams(cfg.seed)
    trained: dict[str, torch.nn.Module] = {}
    models: dict[str, dict[str, Any]] = {}
    for kind, details in (("unet", True), ("unet-plain", False)):
        if kind in cfg.networks:
            trained[kind], models[kind] = train_unet(A, cfg, details=details, log=say)
    t1 = time.perf_counter()
    pairs = make_pairs(cfg.pairs, A, cfg.detail, streams["pairs"])
    proj = KernelProjector(A)
    say(f"[tradeoff] visibility of the test details: "
        f"{float(proj.visibility(pairs.delta).min()):.6f}..."
        f"{float(proj.visibility(pairs.delta).max()):.6f}")
    nets = build_networks(cfg, A, trained)
    attack_ss = streams["attack"].spawn(len(nets))
    metrics: dict[str, dict[str, np.ndarray]] = {}
    for (label, net), ss in zip(nets.items(), attack_ss, strict=True):
        ts = time.perf_counter()
        gen = torch.Generator().manual_seed(torch_seed(ss))
        metrics[label] = measure_network(net, A, pairs, attack=cfg.attack, generator=gen,
                                         window=float(cfg.detail.get("window", 3)))
        say(f"[tradeoff] measured {label} in {time.perf_counter() - ts:.1f} s")
    t2 = time.perf_counter()
    seconds = {"training": t1 - t0, "measurement": t2 - t1, "total": t2 - t0}
    ds = to_dataset(cfg, A, pairs, metrics, models, seconds)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for kind, model in models.items():
            save_atomic(model, out / ("model.pt" if kind == "unet" else f"model-{kind[5:]}.pt"))
        write_outputs(ds, out)
    return TradeoffResult(dataset=ds, models=models, seconds=seconds)
