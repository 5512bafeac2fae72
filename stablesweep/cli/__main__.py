"""``python -m stablesweep.cli``: the ``stablesweep`` command."""

from stablesweep.cli import console

if __name__ == "__main__":  # pragma: no cover
    console()
