"""``stablesweep train``: train a U-Net or learned primal-dual network (resumable)."""

from __future__ import annotations

import argparse
import sys

from .common import add_threads_option, apply_threads, fail

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
    add_threads_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    """Run ``stablesweep train`` from parsed arguments; returns the exit status."""
    from stablesweep.training.config import TrainingConfigError
    from stablesweep.training.trainer import train

    apply_threads(args)
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
        return fail("train", str(err))
    if result.model_path is None:
        print(f"stopped after epoch {result.epoch}; run again to resume ({result.state_path})")
    else:
        print(f"model: {result.model_path}")
    return 0
