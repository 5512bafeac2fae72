"""``python -m stablesweep.results_page``: write docs/results.md (see the package)."""

import sys

from . import main

sys.exit(main())
