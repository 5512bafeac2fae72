"""Training of the trained reconstruction networks (U-Net, learned primal–dual).

- :func:`train` — train (or resume training) the network of a training config;
  ``results/models/<name>/model.pt`` holds the result.
- :func:`load_training_config` / :class:`TrainingConfig` — the YAML config
  (``config/training/*.yaml``).
- :func:`make_operator`, :func:`make_datasets` — the training operator and data.

The files a training writes (``model.pt``, ``state.pt``) are read and written by
:mod:`stablesweep.modelfile` (a layer below both the networks and the training:
``load_mask``, ``load_model_file``, ``MaskMismatchError``, ...). Build a trained
network with ``build_network("unet", A, checkpoint=PATH)`` (or ``"learned-pd"``); the
network classes live in :mod:`stablesweep.networks.unet` and
:mod:`stablesweep.networks.learned_pd`.
"""


from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that importing
#: the package (e.g. for the CLI's parsers) does not import PyTorch.
_EXPORTS = {
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
    "TrainResult",
    "TrainingConfig",
    "TrainingConfigError",
    "load_training_config",
    "make_datasets",
    "make_mask",
    "make_operator",
    "train",
]
