"""The ``stablesweep train`` subcommand (wired into :mod:`stablesweep.cli`)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_train_parser", "run_train"]


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train`` to the CLI's subparsers; returns the new parser.

    ``stablesweep train CONFIG [--profile NAME] [--models-dir DIR | --out DIR] [--restart]
    [--stop-after N] [--device DEV] [--threads N] [--no-progress]``
    """
    p = subparsers.add_parser(
        "train",
        help="train a U-Net or learned primal-dual network (resumes an interrupted run)",
        description="Train the network of a training config (config/training/*.yaml) on "
        "seeded random-ellipse phantoms. Writes <models-dir>/<name>/state.pt every epoch "
        "and model.pt at the end; rerunning resumes from state.pt.",
    )
    p.add_argument("config", help="training config (YAML)")
    p.add_argument("--profile", default=None,
                   help="merge the named entry of the config's `profiles` (e.g. paper)")
    p.add_argument("--models-dir", default="results/models",
                   help="models folder; the run writes to <models-dir>/<name>/ "
                   "(default: results/models)")
    p.add_argument("--out", default=None, help="write to this folder instead")
    p.add_argument("--restart", action="store_true",
                   help="ignore an existing state.pt and start from epoch 0")
    p.add_argument("--stop-after", type=int, default=None, metavar="EPOCH",
                   help="stop after this epoch (resume later by running again)")
    p.add_argument("--device", default=None,
                   help="override training.device: auto, cpu, cuda, cuda:<index>")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch CPU threads (default 1; 0 keeps PyTorch's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    """Run ``stablesweep train`` from parsed arguments; returns the exit status."""
    import torch

    from .config import TrainingConfigError
    from .trainer import train

    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        result = train(
            args.config,
            models_dir=args.models_dir,
            out_dir=args.out,
            profile=args.profile,
            resume=not args.restart,
            stop_after=args.stop_after,
            device=args.device,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    except (FileNotFoundError, TrainingConfigError, ValueError) as err:
        print(f"stablesweep train: error: {err}", file=sys.stderr)
        return 1
    if result.model_path is None:
        print(f"stopped after epoch {result.epoch}; run again to resume ({result.state_path})")
    else:
        print(f"model: {result.model_path}")
    return 0
