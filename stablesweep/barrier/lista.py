r"""LISTA networks of the K-digits experiment: the network and its training.

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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stablesweep.networks.core.prox import soft_threshold

from .config import BarrierConfig, parse_number
from .problem import BarrierProblem

__all__ = ["LISTA", "ListaResult", "experiment_seeds", "train_lista"]


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
            x = soft_threshold(u, torch.clamp(self.theta[k], min=0.0))
        return x

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.forward_scaled(y) / self.scale


def experiment_seeds(seed: int, K: int, n: int) -> dict[str, np.random.SeedSequence]:
    """The seeds of grid point (K, n): train, validation, test, init, shuffle."""
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
    from stablesweep.modelfile import save_atomic

    key = cfg.model_key(problem.K, problem.n)
    lc = cfg.lista
    seeds = experiment_seeds(cfg.seed, problem.K, problem.n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_torch_seed(seeds["init"]))
        net = LISTA(torch.from_numpy(problem.matrix), int(lc["layers"]),
                    parse_number("lista.theta", lc["theta"]))
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
    opt = torch.optim.Adam(net.parameters(), lr=parse_number("lista.lr", lc["lr"]))
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
