r"""The K-digits experiment: trained LISTA networks and FIRENET on inexact input.

For every :math:`(K, n)` of the grid (:mod:`stablesweep.barrier.problem`):

1. train a LISTA network (``layers`` layers) on ``train`` samples :math:`(y_i, x_i^{(j)})`
   of the problem with head index :math:`j` (validation ``validation`` samples) — the
   training data are exact for :math:`A_j`, which is within :math:`2^{-n}` of
   :math:`A_{j'}`;
2. test it on ``test`` unseen samples of the problem with the other index :math:`j'`
   (the same measurements :math:`y`, since :math:`\|a\|` does not depend on the index,
   but the minimiser :math:`x^{(j')}`), and report the mean distance
   :math:`\|\Psi(y) - x^{(j')}\|_2` to the true minimiser;
3. run FIRENET (``p`` inner iterations, ``n`` restarts, :math:`\delta`) on the matrix
   it is given, :math:`A_j`, with :math:`L_A = \|A_j\|_2`, and report the same distance.

Next to them the table lists :math:`10^{-K}`, :math:`\|A_j - A_{j'}\|_2` and
:math:`2^{-n}`, the distance between the two minimisers, and the distances to the
minimiser of the problem each method was given (:math:`x^{(j)}`). Neither method can
have :math:`K` correct digits on both problems: the inputs agree to :math:`2^{-n}` while
the minimisers are :math:`\approx 3\cdot 10^{-K}` apart.

LISTA
    :math:`x_{k+1} = S_{\theta_k}\bigl(x_k + W_k (y - \tilde A x_k)\bigr)`, :math:`x_0 = 0`,
    on the rescaled problem :math:`\tilde A = A_j/\|A_j\|`, :math:`\tilde x = \|A_j\| x`
    (so that all weights are of order one whatever :math:`K`), with learned
    :math:`W_k \in \mathbb R^{N\times m}` (initialised to :math:`\tilde A^\top`, i.e.
    ISTA with unit step) and thresholds :math:`\theta_k \ge 0`; the output is
    :math:`x_L/\|A_j\|`. Trained in float64 with Adam on the mean squared error of
    :math:`\tilde x`, cosine-annealed learning rate.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .problem import BarrierProblem

__all__ = [
    "DEFAULTS",
    "QUICK",
    "LISTA",
    "BarrierConfig",
    "load_barrier_config",
    "parse_barrier_config",
    "run_experiment",
    "train_lista",
    "write_table",
]

#: the default (full) run: about 5–10 minutes on one CPU core (9 networks x 1600 Adam steps)
DEFAULTS: dict[str, Any] = {
    "experiment": "k-digits",
    "seed": 0,
    "problem": {"N1": 2, "N2": 20, "delta": "1/6", "lam": 1.0, "sparsity": 5, "j": 1,
                "dct": True},
    "grid": {"K": [1, 3, 6], "n": [10, 20, 30]},
    "lista": {"layers": 10, "train": 8000, "validation": 100, "test": 100, "epochs": 100,
              "batch_size": 500, "lr": 1e-3, "theta": 1e-3},
    "firenet": {"p": 50, "n": 30, "delta": 1e-6},
}
#: overrides of ``--quick`` (tests, smoke runs): a few seconds
QUICK: dict[str, Any] = {
    "grid": {"K": [1, 3], "n": [10, 30]},
    "lista": {"train": 400, "validation": 50, "test": 20, "epochs": 30, "batch_size": 100},
    "firenet": {"n": 10},
}


# --------------------------------------------------------------------------- config


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(base))
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k),
                                                                             Mapping) else v
    return out


def _number(path: str, v: Any) -> float:
    """A real number, or a fraction string such as ``"1/6"``."""
    if isinstance(v, str):
        try:
            return float(Fraction(v.strip()))
        except (ValueError, ZeroDivisionError):
            pass
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{path}: {v!r} is not a number; expected a real number or a "
                         "fraction such as '1/6'")
    return float(v)


@dataclass(frozen=True)
class BarrierConfig:
    """A validated K-digits experiment config (see :data:`DEFAULTS` for the keys)."""

    data: dict[str, Any]

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def Ks(self) -> list[int]:
        return [int(k) for k in self.data["grid"]["K"]]

    @property
    def ns(self) -> list[int]:
        return [int(k) for k in self.data["grid"]["n"]]

    @property
    def lista(self) -> dict[str, Any]:
        return self.data["lista"]

    @property
    def firenet(self) -> dict[str, Any]:
        return self.data["firenet"]

    def problem(self, K: int, n: int, j: int | None = None) -> BarrierProblem:
        p = self.data["problem"]
        return BarrierProblem(K, n, int(p["j"]) if j is None else j, int(p["N1"]),
                              int(p["N2"]), _number("problem.delta", p["delta"]),
                              _number("problem.lam", p["lam"]), bool(p["dct"]))

    @property
    def hash(self) -> str:
        blob = json.dumps(self.data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def model_key(self, K: int, n: int) -> str:
        """Hash of what one trained LISTA depends on (seed, problem, LISTA settings)."""
        blob = json.dumps({"seed": self.seed, "problem": self.data["problem"],
                           "lista": self.lista, "K": K, "n": n}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def parse_barrier_config(raw: Mapping[str, Any] | None = None, quick: bool = False
                         ) -> BarrierConfig:
    """Defaults, then ``--quick`` overrides, then ``raw``; validated.

    Raises
    ------
    ValueError
        Unknown keys or bad values (all problems listed, each naming the key).
    """
    data = _merge(DEFAULTS, QUICK) if quick else json.loads(json.dumps(DEFAULTS))
    raw = dict(raw or {})
    problems = [f"{k}: unknown key; allowed: {', '.join(DEFAULTS)}" for k in raw
                if k not in DEFAULTS]
    for section in ("problem", "grid", "lista", "firenet"):
        sub = raw.get(section)
        if sub is not None and not isinstance(sub, Mapping):
            problems.append(f"{section}: {sub!r}; expected a mapping")
        elif sub:
            problems += [f"{section}.{k}: unknown key; allowed: {', '.join(DEFAULTS[section])}"
                         for k in sub if k not in DEFAULTS[section]]
    if problems:
        raise ValueError("invalid k-digits config:\n" + "\n".join(f"  - {p}" for p in problems))
    data = _merge(data, {k: v for k, v in raw.items() if k in DEFAULTS})
    for key in ("K", "n"):
        vals = data["grid"][key]
        if not (isinstance(vals, list) and vals and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals)):
            problems.append(f"grid.{key}: {vals!r}; expected a non-empty list of integers >= 1")
    ints = [("lista", "layers", 1), ("lista", "train", 1), ("lista", "validation", 1),
            ("lista", "test", 1), ("lista", "epochs", 1), ("lista", "batch_size", 1),
            ("firenet", "p", 1), ("firenet", "n", 1), ("problem", "sparsity", 0),
            ("seed", None, 0)]
    for sec, key, low in ints:
        v = data[sec] if key is None else data[sec][key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            name = sec if key is None else f"{sec}.{key}"
            problems.append(f"{name}: {v!r}; expected an integer >= {low}")
    for sec, key in (("lista", "lr"), ("lista", "theta"), ("firenet", "delta"),
                     ("problem", "delta"), ("problem", "lam")):
        try:
            if _number(f"{sec}.{key}", data[sec][key]) < 0:
                problems.append(f"{sec}.{key}: {data[sec][key]!r}; expected a number >= 0")
        except ValueError as err:
            problems.append(str(err))
    if problems:
        raise ValueError("invalid k-digits config:\n" + "\n".join(f"  - {p}" for p in problems))
    cfg = BarrierConfig(data)
    try:  # the problem's own checks (N1, N2, j, delta, lam)
        cfg.problem(cfg.Ks[0], cfg.ns[0])
    except ValueError as err:
        raise ValueError(f"invalid k-digits config: problem: {err}") from err
    return cfg


def load_barrier_config(path: str | os.PathLike | None, quick: bool = False) -> BarrierConfig:
    """Read ``config/experiments/k-digits.yaml`` (or use the defaults for ``None``)."""
    import yaml

    from stablesweep.yaml_loader import load_yaml

    raw: Mapping[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"k-digits config '{p}' does not exist")
        try:
            raw = load_yaml(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"k-digits config '{p}': not valid YAML: {err}") from None
        if not isinstance(raw, Mapping):
            raise ValueError(f"k-digits config '{p}': top level is {type(raw).__name__}; "
                             "expected a mapping")
    return parse_barrier_config(raw, quick=quick)


# --------------------------------------------------------------------------- LISTA


class LISTA(nn.Module):
    r"""LISTA on a dense matrix, in rescaled variables (see the module docstring).

    Parameters
    ----------
    matrix : torch.Tensor, shape (m, N), float64
        :math:`A_j`.
    layers : int
        Number of layers :math:`L`.
    theta : float
        Initial thresholds (in the rescaled variables).

    Notes
    -----
    ``forward(y)`` maps ``(b, m)`` to ``(b, N)`` (original units); ``forward_scaled``
    returns :math:`\tilde x`.
    """

    def __init__(self, matrix: torch.Tensor, layers: int = 10, theta: float = 1e-3):
        super().__init__()
        matrix = torch.as_tensor(matrix, dtype=torch.float64)
        self.scale = float(torch.linalg.matrix_norm(matrix, ord=2))
        A = matrix / self.scale
        self.register_buffer("A", A)
        self.W = nn.Parameter(A.T.unsqueeze(0).repeat(layers, 1, 1).clone())
        self.theta = nn.Parameter(torch.full((layers,), float(theta), dtype=torch.float64))

    @property
    def layers(self) -> int:
        return int(self.W.shape[0])

    def forward_scaled(self, y: torch.Tensor) -> torch.Tensor:
        x = y.new_zeros(*y.shape[:-1], self.A.shape[1])
        for k in range(self.layers):
            u = x + (y - x @ self.A.T) @ self.W[k].T
            t = torch.clamp(self.theta[k], min=0.0)
            x = u - torch.clamp(u, -t, t)
        return x

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.forward_scaled(y) / self.scale


def _seeds(seed: int, K: int, n: int) -> dict[str, np.random.SeedSequence]:
    names = ("train", "validation", "test", "init", "shuffle")
    kids = np.random.SeedSequence(seed, spawn_key=(int(K), int(n))).spawn(len(names))
    return dict(zip(names, kids, strict=True))


def _torch_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint64)[0]) & ((1 << 63) - 1)


@dataclass
class ListaResult:
    """A trained LISTA network and its training record."""

    net: LISTA
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    loaded: bool = False


def train_lista(
    problem: BarrierProblem,
    cfg: BarrierConfig,
    *,
    path: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ListaResult:
    """Train (or load from ``path`` when it matches) the LISTA network of one problem.

    Parameters
    ----------
    problem : BarrierProblem
        The training problem (index :math:`j`).
    cfg : BarrierConfig
    path : pathlib.Path, optional
        Model file: reused when its key matches (:meth:`BarrierConfig.model_key`),
        written (atomically) after training otherwise.
    progress : callable, optional
        Called with the number of optimizer steps done since the last call.

    Returns
    -------
    ListaResult
    """
    from stablesweep.training.checkpoint import save_atomic

    key = cfg.model_key(problem.K, problem.n)
    lc = cfg.lista
    seeds = _seeds(cfg.seed, problem.K, problem.n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_torch_seed(seeds["init"]))
        net = LISTA(torch.from_numpy(problem.matrix), int(lc["layers"]),
                    _number("lista.theta", lc["theta"]))
    if path is not None and path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("key") == key:
            net.load_state_dict(stored["state_dict"])
            return ListaResult(net, list(stored["history"]), float(stored["seconds"]), True)
    t0 = time.perf_counter()
    sparsity = int(cfg.data["problem"]["sparsity"])
    y, x = problem.sample(int(lc["train"]), np.random.default_rng(seeds["train"]), sparsity)
    yv, xv = problem.sample(int(lc["validation"]), np.random.default_rng(seeds["validation"]),
                            sparsity)
    y, x, yv, xv = (torch.from_numpy(a) for a in (y, x, yv, xv))
    x_s, xv_s = x * net.scale, xv * net.scale
    epochs, bs = int(lc["epochs"]), int(lc["batch_size"])
    opt = torch.optim.Adam(net.parameters(), lr=_number("lista.lr", lc["lr"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(_torch_seed(seeds["shuffle"]))
    history: list[dict[str, float]] = []
    best = (math.inf, None)
    n_train = y.shape[0]
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n_train, generator=gen)
        total = 0.0
        for start in range(0, n_train, bs):
            idx = perm[start:start + bs]
            opt.zero_grad(set_to_none=True)
            loss = (net.forward_scaled(y[idx]) - x_s[idx]).square().sum(-1).mean()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            if progress is not None:
                progress(1)
        sched.step()
        with torch.no_grad():
            val = float((net.forward_scaled(yv) - xv_s).square().sum(-1).mean())
        if val < best[0]:
            best = (val, {k: v.clone() for k, v in net.state_dict().items()})
        if epoch == 1 or epoch == epochs or epoch % max(1, epochs // 10) == 0:
            history.append({"epoch": epoch, "train_loss": total / n_train, "val_loss": val})
    if best[1] is not None:
        net.load_state_dict(best[1])
    seconds = time.perf_counter() - t0
    if path is not None:
        save_atomic({"key": key, "state_dict": net.state_dict(), "history": history,
                     "seconds": seconds, "K": problem.K, "n": problem.n, "j": problem.j},
                    path)
    return ListaResult(net, history, seconds, False)


# --------------------------------------------------------------------------- the experiment


def _firenet(problem: BarrierProblem, cfg: BarrierConfig, y: torch.Tensor) -> np.ndarray:
    from stablesweep.networks import build_network

    A = problem.operator()
    L = A.norm()
    fc = cfg.firenet
    lam = _number("problem.lam", cfg.data["problem"]["lam"])
    net = build_network("firenet", A, n=int(fc["n"]), p=int(fc["p"]), lam=lam,
                        delta=_number("firenet.delta", fc["delta"]), tau=1.0 / L,
                        sigma=1.0 / L, L_A=L)
    with torch.no_grad():
        return net(y).numpy()


def run_experiment(
    cfg: BarrierConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Run the K-digits experiment and write the table.

    Parameters
    ----------
    cfg : BarrierConfig
    out : path-like
        Output folder: ``table.csv``, ``table.md``, ``table.html``, ``summary.json`` and
        ``models/lista-K<K>-n<n>.pt`` (reused by a rerun with the same settings).
    progress : bool
        tqdm progress bar over all LISTA optimizer steps.
    log : callable or None
        One line per grid point.

    Returns
    -------
    list of dict
        One row per :math:`(K, n)` (the CSV columns, see :data:`COLUMNS`).
    """
    say = log or (lambda _m: None)
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    lc = cfg.lista
    steps = math.ceil(int(lc["train"]) / int(lc["batch_size"])) * int(lc["epochs"])
    grid = [(K, n) for K in cfg.Ks for n in cfg.ns]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps * len(grid), desc="k-digits LISTA", unit="step",
                   dynamic_ncols=True)
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    sparsity = int(cfg.data["problem"]["sparsity"])
    try:
        for K, n in grid:
            P = cfg.problem(K, n)
            Q = P.other()
            res = train_lista(P, cfg, path=out / "models" / f"lista-K{K}-n{n}.pt",
                              progress=(lambda k: bar.update(k)) if bar is not None else None)
            if res.loaded and bar is not None:
                bar.update(steps)
            tails = P.sample_tails(int(lc["test"]),
                                   np.random.default_rng(_seeds(cfg.seed, K, n)["test"]),
                                   sparsity)
            y = torch.from_numpy(Q.measurements(tails))
            assert np.allclose(y.numpy(), P.measurements(tails), rtol=0, atol=1e-12)
            x_true, x_given = Q.minimisers(tails), P.minimisers(tails)
            with torch.no_grad():
                lista_out = res.net(y).numpy()
            t0 = time.perf_counter()
            fire_out = _firenet(P, cfg, y)
            fire_s = time.perf_counter() - t0

            def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                return np.linalg.norm(a - b, axis=1)

            row = {
                "K": K, "n": n, "j": P.j, "j_other": Q.j,
                "ten_to_minus_K": 10.0 ** (-K),
                "two_to_minus_n": 2.0 ** (-n),
                "matrix_distance": float(np.linalg.norm(P.matrix - Q.matrix, 2)),
                "minimiser_distance": float(np.linalg.norm(x_true[0] - x_given[0])),
                "lista_error": float(dist(lista_out, x_true).mean()),
                "lista_error_max": float(dist(lista_out, x_true).max()),
                "lista_error_own": float(dist(lista_out, x_given).mean()),
                "firenet_error": float(dist(fire_out, x_true).mean()),
                "firenet_error_max": float(dist(fire_out, x_true).max()),
                "firenet_error_own": float(dist(fire_out, x_given).mean()),
                "lista_train_seconds": res.seconds,
                "firenet_seconds": fire_s,
            }
            row["lista_k_digits"] = bool(row["lista_error_max"] < 10.0 ** (-K))
            row["firenet_k_digits"] = bool(row["firenet_error_max"] < 10.0 ** (-K))
            rows.append(row)
            say(f"[k-digits] K={K} n={n}: LISTA {row['lista_error']:.3e} "
                f"(own problem {row['lista_error_own']:.3e}), FIRENET "
                f"{row['firenet_error']:.3e}, 10^-K = {10.0 ** (-K):.0e}, "
                f"||A_j - A_j'|| = {row['matrix_distance']:.2e}"
                + (" (loaded)" if res.loaded else f", trained in {res.seconds:.1f} s"))
    finally:
        if bar is not None:
            bar.close()
    write_table(rows, out)
    summary = {"config": cfg.data, "config_hash": cfg.hash, "rows": rows,
               "seconds": time.perf_counter() - t_all}
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "summary.json")
    return rows


# --------------------------------------------------------------------------- the table

#: CSV columns, in order
COLUMNS = (
    "K", "n", "j", "j_other", "ten_to_minus_K", "two_to_minus_n", "matrix_distance",
    "minimiser_distance", "lista_error", "lista_error_max", "lista_error_own",
    "firenet_error", "firenet_error_max", "firenet_error_own", "lista_k_digits",
    "firenet_k_digits", "lista_train_seconds", "firenet_seconds",
)

_HEAD = (
    ("K", "K"),
    ("n", "n"),
    ("‖A_j − A_j'‖ (≤ 2^−n)", "matrix_distance"),
    ("‖x_j − x_j'‖", "minimiser_distance"),
    ("LISTA: ‖Ψ(y) − x_j'‖", "lista_error"),
    ("FIRENET: ‖Φ(y) − x_j'‖", "firenet_error"),
    ("10^−K", "ten_to_minus_K"),
    ("LISTA on its own problem ‖Ψ(y) − x_j‖", "lista_error_own"),
    ("FIRENET on its own problem ‖Φ(y) − x_j‖", "firenet_error_own"),
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3e}"
    return str(v)


def write_table(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike) -> dict[str, Path]:
    """Write ``table.csv`` (all columns), ``table.md`` and ``table.html`` (report snippet).

    Returns the paths by format.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "table.csv", "md": out / "table.md", "html": out / "table.html"}
    with open(paths["csv"], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in COLUMNS})
    caption = ("Distance to the true minimiser x_j' of problem (A_j', y) for networks that "
               "are given (A_j, y) with ‖A_j − A_j'‖ ≤ 2^−n (mean over the test samples). "
               "Neither a trained LISTA network nor FIRENET gets K digits (error < 10^−K): "
               "the minimisers are ≈ 3·10^−K apart while the inputs agree to 2^−n.")
    md = ["| " + " | ".join(h for h, _ in _HEAD) + " |",
          "|" + "|".join("---:" for _ in _HEAD) + "|"]
    md += ["| " + " | ".join(_fmt(r[k]) for _, k in _HEAD) + " |" for r in rows]
    paths["md"].write_text("\n".join(md) + "\n\n" + caption + "\n")
    cells = "".join(f"<th>{html.escape(h)}</th>" for h, _ in _HEAD)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r[k]))}</td>" for _, k in _HEAD) + "</tr>"
        for r in rows
    )
    paths["html"].write_text(
        f'<table class="k-digits">\n<caption>{html.escape(caption)}</caption>\n'
        f"<thead><tr>{cells}</tr></thead>\n<tbody>{body}</tbody>\n</table>\n"
    )
    return paths
