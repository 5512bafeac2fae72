"""The one error class of every config the package reads."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """An invalid config; ``problems`` lists every problem found.

    Each problem names the key path (``problem.sampling.rate[1]``), the value and what
    is allowed. The message is a head line (``invalid <kind> config <source>: N
    problems``) and one indented line per problem.

    Parameters
    ----------
    problems : sequence of str
        Every problem found, one message each.
    source : str, optional
        Where the config came from (a file path), named in the head line.
    kind : str, optional
        The config's kind (``training``, ``tradeoff``, ``k-digits``), named in the head
        line; ``None`` for an experiment (sweep) config.
    """

    #: default ``kind`` of the class (subclasses per config kind override it)
    default_kind: str | None = None

    def __init__(self, problems: Sequence[str], source: str | None = None,
                 kind: str | None = None):
        self.problems = list(problems)
        self.source = source
        self.kind = kind if kind is not None else self.default_kind
        where = f" {source}" if source else ""
        what = f"{self.kind} config" if self.kind else "config"
        n = len(self.problems)
        head = f"invalid {what}{where}: {n} problem{'s' if n != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in self.problems))

    def __reduce__(self):  # picklable across processes (Dask workers)
        return (type(self), (self.problems, self.source, self.kind))
