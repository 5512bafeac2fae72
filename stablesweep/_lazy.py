"""Lazy package exports (PEP 562): import a submodule on first use of its names.

Used by the packages whose submodules import PyTorch or Dask, so that importing the
package (e.g. to build the CLI's parsers) stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` serving ``exports`` (public name -> relative submodule)."""

    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(exports[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
