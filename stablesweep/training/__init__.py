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


from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that importing
#: the package (e.g. for the CLI's parsers) does not import PyTorch.
_EXPORTS = {
    "MaskMismatchError": ".checkpoint",
    "load_mask": ".checkpoint",
    "load_model_file": ".checkpoint",
    "load_operator_record": ".checkpoint",
    "TrainingConfig": ".config",
    "TrainingConfigError": ".config",
    "load_training_config": ".config",
    "make_datasets": ".data",
    "make_mask": ".data",
    "make_operator": ".data",
    "TrainResult": ".trainer",
    "train": ".trainer",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


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
