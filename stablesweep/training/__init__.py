"""Training of the trained reconstruction networks (U-Net, learned primal–dual).

- :func:`train` — train (or resume training) the network of a training config;
  ``results/models/<name>/model.pt`` holds the result.
- :func:`load_training_config` / :class:`TrainingConfig` — the YAML config
  (``config/training/*.yaml``).
- :func:`~stablesweep.training.checkpoint.load_mask` — the sampling mask a model was
  trained with (a sweep measures with it: ``sampling: {mask_from: PATH}``).
- :func:`make_operator`, :func:`make_datasets` — the training operator and data.

Build a trained network with ``build_network("unet", A, checkpoint=PATH)`` (or
``"learned-pd"``); see :mod:`stablesweep.networks.unet`.
"""

from .checkpoint import MaskMismatchError, load_mask, load_model_file, load_operator_record
from .config import TrainingConfig, TrainingConfigError, load_training_config
from .data import make_datasets, make_mask, make_operator
from .train import TrainResult, train

__all__ = [
    "MaskMismatchError",
    "TrainResult",
    "TrainingConfig",
    "TrainingConfigError",
    "load_mask",
    "load_model_file",
    "load_operator_record",
    "load_training_config",
    "make_datasets",
    "make_mask",
    "make_operator",
    "train",
]
