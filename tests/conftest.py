"""Shared test configuration: one PyTorch thread (2-core machines), float64 defaults."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import torch  # noqa: E402

torch.set_num_threads(1)
