"""``python -m stablesweep.results_page``: write docs/results.md (see the package)."""

import sys

from . import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
