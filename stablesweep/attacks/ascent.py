r"""The batched projected ascent of :func:`~.worst_case.worst_case_noise`.

:class:`AscentState` holds, for all starts of one call at once (rows ``s·b + i``: start
s, image i), the worst case kept so far and each start's bookkeeping, and runs their
projected ascent (normalized gradient or Adam) until each start's stopping rule or the
cap; :func:`on_sphere` and :func:`fmax` are the two row-wise helpers it shares with the
attack.
"""

from __future__ import annotations

import math

import torch

from ._common import half_sq_norms, norms, project_ball

__all__ = ["ADAM_EPS", "AscentState", "fmax", "on_sphere"]

#: Adam's ε, relative to the root-mean-square entry of each start's first gradient (so
#: that the iteration does not depend on the scale of the objective).
ADAM_EPS = 1e-8


def fmax(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum that never picks a NaN of ``b`` (NaN never counts as worst)."""
    return torch.where(b > a, b, a)


def on_sphere(e: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Each row of ``e`` (b, m) scaled to norm ``radius`` (zero rows stay zero)."""
    n = norms(e, 1)
    return e * (radius / torch.where(n > 0, n, 1.0)).unsqueeze(-1)


class AscentState:
    """The kept worst case and per-start bookkeeping of one :func:`worst_case_noise` call.

    Rows are (start, image) pairs, row ``s·b + i``.
    """

    def __init__(self, *, b, n_starts, steps, yf, xf, clean, target, objective, d, rdtype,
                 net):
        self.b, self.n_starts, self.steps = b, n_starts, steps
        self.yf, self.xf, self.clean, self.target = yf, xf, clean, target
        self.objective, self.d, self.net = objective, d, net
        dev = yf.device
        rows = n_starts * b
        self.best_obj = torch.full((b,), -math.inf, dtype=rdtype, device=dev)
        self.e_best = torch.zeros_like(yf)
        self.out_best = clean.clone()
        self.start_best = torch.full((n_starts, b), -math.inf, dtype=rdtype, device=dev)
        self.hist = torch.full((steps + 1, rows), -math.inf, dtype=rdtype, device=dev)
        self.row_steps = torch.zeros(rows, dtype=torch.long, device=dev)
        self.row_hit_cap = torch.zeros(rows, dtype=torch.bool, device=dev)
        self.non_finite = 0

    # -------------------------------------------------------------- evaluation
    def evaluate(self, e: torch.Tensor, img: torch.Tensor, want_grad: bool):
        """Rows ``e`` (n, m) for images ``img`` (n,): φ(y + e), ½‖φ − t‖², norms."""
        e = e.detach().requires_grad_(want_grad)
        with torch.set_grad_enabled(want_grad):
            out = self.net(self.yf[img] + e)
            half_sq = half_sq_norms(out - self.target[img], self.d)
        with torch.no_grad():
            obj = torch.sqrt(2.0 * half_sq.detach())
            # the objective's own norm is reused, so "error" runs are unchanged
            err = obj if self.objective == "error" else norms(out.detach() - self.xf[img],
                                                               self.d)
            chg = obj if self.objective == "change" else norms(out.detach() - self.clean[img],
                                                                self.d)
        return e, out, half_sq, obj, err, chg

    def keep(self, e: torch.Tensor, out: torch.Tensor, obj: torch.Tensor,
             rows: torch.Tensor) -> None:
        """Make the best of the evaluated rows each image's kept candidate where larger."""
        with torch.no_grad():
            n_slots = int(rows.max()) // self.b + 1
            full = torch.full((n_slots * self.b,), -math.inf, dtype=obj.dtype,
                              device=obj.device)
            full[rows] = torch.where(torch.isnan(obj), -math.inf, obj)
            vals, slot = full.reshape(n_slots, self.b).max(dim=0)
            better = vals > self.best_obj
            if not bool(better.any()):
                return
            pos = torch.full((n_slots * self.b,), -1, dtype=torch.long, device=obj.device)
            pos[rows] = torch.arange(rows.numel(), device=obj.device)
            idx = pos[slot * self.b + torch.arange(self.b, device=obj.device)]
            self.best_obj = torch.where(better, vals, self.best_obj)
            self.e_best[better] = e.detach()[idx[better]]
            self.out_best[better] = out.detach()[idx[better]]

    def evaluate_candidates(self, cands: torch.Tensor, group: int):
        """Candidates (c, b, m) without gradient, ``group`` at a time; kept where worst."""
        c = cands.shape[0]
        objs, errs, chgs = [], [], []
        img = torch.arange(self.b, device=cands.device)
        for c0 in range(0, c, group):
            part = cands[c0:c0 + group]
            n = part.shape[0]
            rows = torch.arange(n * self.b, device=cands.device)
            e, out, _, obj, err, chg = self.evaluate(part.reshape(n * self.b, -1),
                                                     img.repeat(n), False)
            self.keep(e, out, obj, rows)
            objs.append(obj.reshape(n, self.b))
            errs.append(err.reshape(n, self.b))
            chgs.append(chg.reshape(n, self.b))
            del out
        return torch.cat(objs), torch.cat(errs), torch.cat(chgs)

    # -------------------------------------------------------------- ascent
    def ascend(self, starts: range, e0: torch.Tensor, radius: torch.Tensor, *, method: str,
               step_size: float, lr: float, betas: tuple[float, float], tol: float,
               patience: int) -> None:
        """Run the starts ``starts`` (all images) from ``e0[starts]`` until they stop."""
        b, dev = self.b, e0.device
        rows = torch.cat([torch.arange(s * b, (s + 1) * b, device=dev) for s in starts])
        img = rows % b
        e = e0.reshape(-1, e0.shape[-1])[rows].clone()  # iterates of the running rows
        rad = radius[img]
        traj = torch.full((rows.numel(),), -math.inf, dtype=self.hist.dtype, device=dev)
        # rows of an empty ball have nothing to search: met at step 0
        done0 = rad == 0
        if method == "adam":
            n_real = e.numel() // e.shape[0] * (2 if e.is_complex() else 1)
            m1 = torch.zeros((rows.numel(), n_real), dtype=self.hist.dtype, device=dev)
            m2 = torch.zeros_like(m1)
            eps = torch.zeros(rows.numel(), dtype=self.hist.dtype, device=dev)
        for j in range(self.steps + 1):
            want_grad = j < self.steps
            e_var, out, half_sq, obj, _, _ = self.evaluate(e, img, want_grad)
            with torch.no_grad():
                self.keep(e_var, out, obj, rows)
                traj = fmax(traj, obj)
                self.hist[j, rows] = traj
                met = done0 if j == 0 else torch.zeros_like(traj, dtype=torch.bool)
                if tol > 0 and j >= patience:
                    met = met | (traj <= self.hist[j - patience, rows] * (1.0 + tol))
                if j == self.steps:
                    self.row_hit_cap[rows[~met]] = True
                    met = torch.ones_like(met)
                self.row_steps[rows[met]] = j
                go = ~met
            if not bool(go.any()):
                break
            (grad,) = torch.autograd.grad(half_sq[go].sum(), e_var)
            with torch.no_grad():
                grad, e = grad[go], e[go]
                rows, img, rad, traj = rows[go], img[go], rad[go], traj[go]
                flat_g = _real_rows(grad)
                finite = torch.isfinite(flat_g).all(dim=-1)
                if not bool(finite.all()):  # no ascent direction: this start stays
                    flat_g = torch.where(finite.unsqueeze(-1), flat_g, 0.0)
                    self.non_finite += int((~finite).sum())
                if method == "adam":
                    m1, m2, eps = m1[go], m2[go], eps[go]
                    if j == 0:
                        rms = torch.linalg.vector_norm(flat_g, dim=-1) / math.sqrt(n_real)
                        eps = ADAM_EPS * torch.where(rms > 0, rms, 1.0)
                    t = j + 1
                    m1.mul_(betas[0]).add_(flat_g, alpha=1.0 - betas[0])
                    m2.mul_(betas[1]).addcmul_(flat_g, flat_g, value=1.0 - betas[1])
                    step = (m1 / (1.0 - betas[0] ** t)) / (
                        torch.sqrt(m2 / (1.0 - betas[1] ** t)) + eps.unsqueeze(-1))
                    step = step * (lr * rad / math.sqrt(n_real)).unsqueeze(-1)
                else:
                    gn = torch.linalg.vector_norm(flat_g, dim=-1)
                    step = flat_g * (step_size * rad / torch.where(gn > 0, gn, 1.0)
                                     ).unsqueeze(-1)
                e = project_ball(e + _like_rows(step, e), rad, 1)
            del out, half_sq, grad, e_var

    def history(self) -> torch.Tensor:
        """Per-start best objective against the step, flat after the start stopped:
        shape (steps + 1, n_starts, b)."""
        j = torch.arange(self.steps + 1, device=self.hist.device).unsqueeze(-1)
        idx = torch.minimum(j, self.row_steps.unsqueeze(0))
        return self.hist.gather(0, idx).reshape(self.steps + 1, self.n_starts, self.b)


def _real_rows(t: torch.Tensor) -> torch.Tensor:
    """Rows of ``t`` (n, m) as real vectors (complex entries as (Re, Im) pairs)."""
    return torch.view_as_real(t).reshape(t.shape[0], -1) if t.is_complex() else t


def _like_rows(r: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_real_rows` for rows shaped like ``like``."""
    if like.is_complex():
        return torch.view_as_complex(r.reshape(*like.shape, 2).contiguous())
    return r.reshape(like.shape)
