"""The validated config object shared by the training and trade-off configs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .values import digest

__all__ = ["LoadedConfig"]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with defaults filled in.

    Attributes
    ----------
    data : dict
        The normalised config.
    text : str
        YAML of ``data`` (stored as provenance, e.g. in a model file).
    source : str or None
        The YAML file it came from.
    """

    data: dict[str, Any]
    text: str
    source: str | None = None

    @property
    def name(self) -> str:
        """``name``: the output folder's name."""
        return str(self.data["name"])

    @property
    def seed(self) -> int:
        """``seed``: the global seed."""
        return int(self.data["seed"])

    @property
    def hash(self) -> str:
        """SHA-256 of the normalised config (sorted JSON), first 16 hex digits."""
        return digest(self.data)
