"""Networks for tests of the failure routes (importable: pytest puts tests/ on sys.path,
and the sweep's spawned Dask workers inherit it)."""

from __future__ import annotations

import torch


class FixedSizeNet(torch.nn.Module):
    """A network built for ``m`` measurements: the zero-filled reconstruction A* y.

    Like a trained network used with another sampling pattern, it refuses measurements
    of any other length — a real, per-trial error that config validation cannot see (it
    probes networks on a fully sampled operator).
    """

    def __init__(self, A, m: int):
        super().__init__()
        self.A, self.m = A, int(m)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[-1] != self.m:
            raise ValueError(f"this network takes {self.m} measurements; got {y.shape[-1]}")
        return self.A.measure_adjoint(y)


def fixed_size_net(A, depth: int, m: int) -> FixedSizeNet:
    return FixedSizeNet(A, m)
