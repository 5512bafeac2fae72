r"""The measurements of one frontier network (one workflow job per model).

For a network φ (a trained model or a reference) at its visibility κ, on the test pairs
:math:`(x_i, x'_i = x_i + \delta_i)`, :math:`\|A\delta_i\| = \kappa\|\delta_i\|`
(:func:`stablesweep.tradeoff.pairs.make_pairs`, the same images for every network and
κ):

- the pair metrics of :func:`stablesweep.tradeoff.experiment.measure_network`: clean
  errors, detail recovery error :math:`D_i = \|(\varphi(y'_i)-\varphi(y_i))-\delta_i\|/
  \|\delta_i\|`, amplification along :math:`A\delta_i`, the converged worst case at the
  matched budget :math:`\|e\| \le \|A\delta_i\|`, the kernel lower bound
  :math:`(\|\delta_i\| - 2\eta_i)/\|A\delta_i\|` and σ_max of the Jacobian;
- PSNR and SSIM of :math:`\varphi(Ax_i)` against :math:`x_i`;
- the *recovery bound* :math:`(1 - D_i)\,\|\delta_i\|/\|A\delta_i\| = (1 - D_i)/\kappa`:
  by the triangle inequality :math:`\|\varphi(y'_i)-\varphi(y_i)\| \ge (1-D_i)\|\delta_i\|`,
  so the amplification along :math:`A\delta_i` — and the worst case at that budget — is
  at least this. It is the frontier's curve: recovering the detail (:math:`D \to 0`)
  forces amplification :math:`1/\kappa`;
- the robustness protocol of Genzel et al. (TPAMI 2022): for each budget
  :math:`\eta` of ``robustness.budgets``, the worst-case relative error
  :math:`\max_{\|e\|\le\eta\|y_i\|}\|\varphi(y_i+e)-x_i\|/\|x_i\|` on the images
  :math:`x_i` (:func:`stablesweep.attacks.worst_case_noise`, ``objective="error"``,
  normalized ascent with the stopping rule, started from the Jacobian's top singular
  vector and the previous budget's maximiser), with PSNR and SSIM at the maximiser.

Seeds
    The attacks draw from ``SeedSequence([seed, crc32(id)])`` (the config's ``seed``
    and the model id), so a model's numbers do not depend on which other models run,
    nor in which order or process.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import FrontierConfig, ModelSpec

__all__ = ["PAIR_EXTRA", "ROBUST_VARS", "ZeroFilling", "build_reference", "measure_model",
           "provenance"]

#: per-pair variables added to :data:`stablesweep.tradeoff.experiment.NETWORK_VARS`
PAIR_EXTRA = {
    "psnr_x": ("dB", "PSNR of phi(Ax) against x (data range of x)"),
    "ssim_x": ("1", "SSIM of phi(Ax) against x (7x7 window)"),
    "visibility": ("1", "||A delta|| / ||delta|| of the pair (kappa)"),
    "recovery_bound": ("1", "(1 - detail_error) ||delta|| / ||A delta||: the amplification "
                            "along A delta is at least this (NaN where detail_error > 1)"),
}
#: per (budget, image) variables of the robustness protocol
ROBUST_VARS = {
    "robust_error": ("1", "worst-case relative error max_{||e|| <= eta ||y||} "
                          "||phi(y + e) - x|| / ||x||"),
    "robust_psnr": ("dB", "PSNR at the worst-case perturbation"),
    "robust_ssim": ("1", "SSIM at the worst-case perturbation"),
    "robust_steps": ("1", "ascent steps the worst-case attack ran"),
    "robust_hit_cap": ("1", "1 where the attack reached its step cap without meeting the "
                            "stopping rule"),
}


class ZeroFilling(torch.nn.Module):
    r"""Zero-filling :math:`y \mapsto \operatorname{Re} B^* y` (the image of the adjoint)."""

    def __init__(self, A: Any):
        super().__init__()
        self.A = A

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        out = self.A.measure_adjoint(y)
        return out.real if out.is_complex() else out


def build_reference(cfg: FrontierConfig, name: str, A: Any) -> torch.nn.Module:
    """A reference network of the config (``references``) on operator ``A``."""
    from stablesweep.networks import build_network

    params = cfg.references[name]
    if name == "zero-filling":
        return ZeroFilling(A)
    if name == "firenet":
        return build_network("firenet", A, n=int(params.get("n", 10)),
                             p=int(params.get("p", 20)), lam=float(params.get("lam", 1e-3)))
    return build_network(name, A, depth=int(params.get("depth", 200)),
                         lam=float(params.get("lam", 1e-3)))


def attack_generator(cfg: FrontierConfig, spec: ModelSpec) -> torch.Generator:
    """The attacks' generator of one model (see the module docstring)."""
    from stablesweep.training.data import torch_seed

    ss = np.random.SeedSequence([int(cfg.seed), zlib.crc32(spec.id.encode())])
    return torch.Generator().manual_seed(torch_seed(ss))


def _quality(out: torch.Tensor, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    from stablesweep.sweep.run.quality import image_quality

    vals = [image_quality(o, xi) for o, xi in zip(out, x, strict=True)]
    return (np.array([v[0] for v in vals], dtype=np.float64),
            np.array([v[1] for v in vals], dtype=np.float64))


def robustness(net: Callable[[torch.Tensor], torch.Tensor], A: Any, x: torch.Tensor,
               budgets: list[float], settings: dict[str, Any],
               generator: torch.Generator) -> dict[str, np.ndarray]:
    """Worst-case relative error (and PSNR, SSIM, steps, cap) per budget and image.

    Budgets in increasing order share the Jacobian's top singular vector (computed
    once) and each starts also from the previous budget's maximiser (``warm_start``),
    so the worst case found cannot fall as the budget grows.

    Returns
    -------
    dict
        :data:`ROBUST_VARS` -> float64 array ``(len(budgets), len(x))``.
    """
    from stablesweep.attacks import jacobian_sigma_max, worst_case_noise

    y = A.measure(x.to(A.dtype))
    b = int(x.shape[0])
    out = {k: np.full((len(budgets), b), np.nan) for k in ROBUST_VARS}
    x_norm = torch.linalg.vector_norm(x.flatten(1), dim=1).numpy()
    jac = jacobian_sigma_max(net, y, iters=int(settings["jacobian_iters"]),
                             generator=generator)
    order = np.argsort(budgets, kind="stable")
    prev: torch.Tensor | None = None
    for i in order:
        eta = float(budgets[i])
        wc = worst_case_noise(net, A, x, y, budget=eta, steps=int(settings["steps"]),
                              restarts=int(settings["restarts"]), generator=generator,
                              step_size=float(settings.get("step_size", 1.0)),
                              objective="error", init="jacobian", jacobian=jac,
                              jacobian_iters=int(settings["jacobian_iters"]),
                              tol=float(settings["tol"]), patience=int(settings["patience"]),
                              warm_start=prev)
        if eta > 0:
            prev = wc.e.detach()
        out["robust_error"][i] = np.asarray(wc.error, dtype=np.float64).reshape(-1) / x_norm
        psnr, ssim = _quality(wc.reconstruction.detach(), x)
        out["robust_psnr"][i], out["robust_ssim"][i] = psnr, ssim
        out["robust_steps"][i] = np.asarray(wc.steps_run, dtype=np.float64).reshape(-1)
        out["robust_hit_cap"][i] = np.asarray(wc.hit_cap, dtype=np.float64).reshape(-1)
    return out


def measure_model(cfg: FrontierConfig, spec: ModelSpec, *,
                  model_path: str | Path | None = None,
                  log: Callable[[str], None] | None = None) -> Any:
    """Every measurement of one network (see the module docstring) as an xarray Dataset.

    Parameters
    ----------
    cfg : FrontierConfig
    spec : ModelSpec
        A trained model (``model_path`` required) or a reference.
    model_path : path-like, optional
        The trained model's file (:func:`stablesweep.frontier.models.obtain_model`).
    log : callable, optional

    Returns
    -------
    xarray.Dataset
        Dims ``pair`` and ``budget`` (coordinate: the relative budgets η); attrs: the
        model's spec, id, training hash, config hash, timings and provenance.
    """
    import xarray as xr

    from stablesweep.tradeoff.experiment import NETWORK_VARS, measure_network
    from stablesweep.tradeoff.pairs import make_pairs
    from stablesweep.tradeoff.problem import make_operator
    from stablesweep.tradeoff.training import seed_streams

    say = log or (lambda _m: None)
    t0 = time.perf_counter()
    A = make_operator(cfg.problem)
    if spec.trained:
        if model_path is None:
            raise ValueError(f"model {spec.id}: a trained model needs its model file")
        from .models import load_model, training_hash

        net = load_model(A, spec, model_path)
        identity = training_hash(cfg, spec)
    else:
        net = build_reference(cfg, spec.arch, A)
        identity = ""
    kappa = spec.kappa if spec.trained else cfg.kappa
    pairs = make_pairs(cfg.pairs, A, cfg.detail_at(kappa), seed_streams(cfg.seed)["pairs"])
    gen = attack_generator(cfg, spec)
    res = measure_network(net, A, pairs, attack=cfg.attack, generator=gen,
                          window=float(cfg.detail.get("window", 3)))
    t1 = time.perf_counter()
    with torch.no_grad():
        clean = net(A.measure(pairs.x.to(A.dtype)))
    res["psnr_x"], res["ssim_x"] = _quality(clean, pairs.x)
    d_norm = torch.linalg.vector_norm(pairs.delta.flatten(1), dim=1).numpy()
    e_norm = torch.linalg.vector_norm(A.measure(pairs.delta.to(A.dtype)), dim=1).numpy()
    res["visibility"] = e_norm / d_norm
    one_minus = 1.0 - res["detail_error"]
    res["recovery_bound"] = np.where(one_minus >= 0, one_minus * d_norm / e_norm, np.nan)
    say(f"[frontier] {spec.id}: pair metrics in {t1 - t0:.1f} s")
    rob = robustness(net, A, pairs.x, cfg.budgets, cfg.robustness, gen)
    t2 = time.perf_counter()
    say(f"[frontier] {spec.id}: robustness at {len(cfg.budgets)} budgets in {t2 - t1:.1f} s")
    data_vars: dict[str, Any] = {}
    for name, long_name in NETWORK_VARS.items():
        data_vars[name] = (("pair",), np.asarray(res[name], dtype=np.float64),
                           {"units": "1", "long_name": long_name})
    for name, (units, long_name) in PAIR_EXTRA.items():
        data_vars[name] = (("pair",), np.asarray(res[name], dtype=np.float64),
                           {"units": units, "long_name": long_name})
    for name, (units, long_name) in ROBUST_VARS.items():
        data_vars[name] = (("budget", "pair"), rob[name], {"units": units,
                                                           "long_name": long_name})
    coords = {"pair": ("pair", np.arange(len(pairs), dtype=np.int32),
                       {"long_name": "test pair (image) index"}),
              "budget": ("budget", np.asarray(cfg.budgets, dtype=np.float64),
                         {"long_name": "relative noise budget eta: ||e|| <= eta ||y||",
                          "units": "1"})}
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update(_attrs(cfg, spec, A, identity, {"pairs": t1 - t0, "robustness": t2 - t1}))
    return ds


def provenance(cfg: FrontierConfig, A: Any) -> dict[str, Any]:
    """The attrs every frontier file carries: config (text, hash), operator size,
    attack settings, versions, git commit, creation time."""
    from stablesweep import __version__
    from stablesweep.sweep.store.provenance import git_commit, library_versions

    return {
        "config_hash": cfg.hash, "config": cfg.text, "experiment": cfg.name,
        "m": int(A.m), "N": int(A.N),
        "attack": json.dumps(cfg.attack), "robustness": json.dumps(cfg.robustness),
        "stablesweep_version": str(__version__), "git_commit": git_commit(),
        "versions": json.dumps({"python": sys.version.split()[0], **library_versions()}),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _attrs(cfg: FrontierConfig, spec: ModelSpec, A: Any, identity: str,
           seconds: dict[str, float]) -> dict[str, Any]:
    return {
        "model": spec.id, "arch": spec.arch, "trained": int(spec.trained),
        "detail_weight": float(spec.detail_weight), "noise": float(spec.noise),
        "kappa": float(spec.kappa if spec.trained else cfg.kappa), "seed": int(spec.seed),
        "training_hash": identity,
        "seconds": json.dumps({k: round(float(v), 2) for k, v in seconds.items()}),
        **provenance(cfg, A),
    }
