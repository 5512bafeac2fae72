"""``python -m stablesweep``: the ``stablesweep`` command (same arguments, exit codes)."""

from stablesweep.cli import console

if __name__ == "__main__":  # pragma: no cover
    console()
