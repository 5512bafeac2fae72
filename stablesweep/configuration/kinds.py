"""Config kinds: what each config the package reads looks like, and how its owner
declares its validation.

Every config kind is one :class:`ConfigKind`, declared by the module that owns the
config (``stablesweep.sweep.config``, ``stablesweep.training.config``,
``stablesweep.tradeoff.config``, ``stablesweep.barrier.config``): its
:class:`KindSignature` from :data:`SIGNATURES`, optionally a JSON schema file, and the
semantic checks that run after the schema. :meth:`ConfigKind.problems` runs them all
and returns every problem at once; :meth:`ConfigKind.read` reads a file (or text, or a
mapping) and recognises a config of another kind given by mistake.

The signatures live here, below every owner, so that each loader can tell "this is a
K-digits config; run it with ``stablesweep barrier``" without importing the others.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stablesweep.yaml_loader import load_yaml

from .errors import ConfigError
from .schema import load_schema, schema_problems
from .values import non_finite, shown

__all__ = ["SIGNATURES", "Check", "ConfigKind", "KindSignature", "read_source",
           "recognise"]

#: A semantic check: the parsed config to a list of messages, each starting with the key
#: path. It receives, as keyword arguments, those options given to
#: :meth:`ConfigKind.problems` that its signature names (e.g. ``check_files``).
Check = Callable[..., Iterable[str]]


def _run(check: Check, data: Mapping[str, Any], options: Mapping[str, Any]) -> list[str]:
    """``check(data, **options)`` with only the options ``check`` names."""
    params = inspect.signature(check).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    return list(check(data, **options))


@dataclass(frozen=True)
class KindSignature:
    """How to recognise a config kind and how to run it.

    Attributes
    ----------
    name : str
        Short name (``sweep``, ``training``, ``tradeoff``, ``k-digits``).
    title : str
        What it is, for messages (``a K-digits barrier config``).
    command : str
        The command that runs it; ``{path}`` stands for the file.
    markers : frozenset of str
        Top-level keys that only this kind has.
    """

    name: str
    title: str
    command: str
    markers: frozenset[str]


#: Every config kind the package reads.
SIGNATURES: dict[str, KindSignature] = {
    s.name: s for s in (
        KindSignature("sweep", "an experiment (sweep) config", "stablesweep run {path}",
                      frozenset({"trials", "examples", "minimiser"})),
        KindSignature("training", "a training config", "stablesweep train {path}",
                      frozenset({"network", "data", "profiles"})),
        KindSignature("tradeoff", "a kernel trade-off config",
                      "stablesweep tradeoff {path}", frozenset({"detail", "pairs"})),
        KindSignature("frontier", "an accuracy-stability frontier config",
                      "stablesweep frontier run {path}",
                      frozenset({"architectures", "robustness", "visibility"})),
        KindSignature("k-digits", "a K-digits barrier config",
                      "stablesweep barrier --config {path}",
                      frozenset({"grid", "lista", "firenet"})),
    )
}


def recognise(data: Any, expected: str, path: str | None = None) -> str | None:
    """A message when ``data`` is plainly a config of another kind than ``expected``.

    ``data`` is of another kind when it has none of ``expected``'s marker keys and some
    of another kind's (the one with the most). The message names that kind and the
    command that runs it; ``None`` when ``data`` may well be of the expected kind.
    """
    if not isinstance(data, Mapping):
        return None
    keys = set(map(str, data))
    if keys & SIGNATURES[expected].markers:
        return None
    scores = [(len(keys & s.markers), s) for s in SIGNATURES.values() if s.name != expected]
    best, sig = max(scores, key=lambda t: t[0])
    if best == 0:
        return None
    command = sig.command.format(path=path or "CONFIG")
    return (f"config: this is {sig.title} (keys {', '.join(sorted(keys & sig.markers))}), "
            f"not {SIGNATURES[expected].title}; run it with `{command}`")


def read_source(source: str | Path | Mapping[str, Any], *,
                error: Callable[..., ConfigError] = ConfigError
                ) -> tuple[str, Any, str | None]:
    """Read a config: a file path, YAML text (anything with a newline) or a mapping.

    Parameters
    ----------
    source : path, str or mapping
        What to read. A mapping is copied (a plain, detached copy).
    error : callable
        Builds the error raised (``error(problems, source)``; a :class:`ConfigError`).

    Returns
    -------
    text : str
        The YAML text (of the copy, for a mapping).
    data : object
        The parsed YAML (any type: checking it is the caller's business).
    where : str or None
        The file path, or ``None``.

    Raises
    ------
    ConfigError
        The path is a directory or does not exist, or the text is not valid YAML (a
        repeated key included, see :func:`stablesweep.yaml_loader.load_yaml`).
    """
    if isinstance(source, Mapping):
        data = json.loads(json.dumps(source))  # a plain, detached copy
        return yaml.safe_dump(data, sort_keys=False), data, None
    where = None
    if isinstance(source, Path) or "\n" not in str(source):
        path = Path(source)
        if path.is_dir():
            raise error([f"config file {str(path)!r} is a directory; expected a YAML file "
                         f"(such as {str(path / '<name>.yaml')!r})"])
        if not path.is_file():
            raise error([f"config file {str(path)!r} does not exist"])
        where = str(path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise error([f"cannot read {where!r} ({type(err).__name__}: {err}); expected a "
                         "YAML text file"], where) from None
    else:
        text = str(source)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise error([f"not valid YAML: {err}"], where) from None
    return text, data, where


@dataclass(frozen=True)
class ConfigKind:
    """One config kind's validation, as its owner declares it.

    Attributes
    ----------
    signature : KindSignature
        The kind (an entry of :data:`SIGNATURES`).
    error : type
        The :class:`ConfigError` (sub)class raised for this kind.
    schema : pathlib.Path or mapping, optional
        A JSON schema (a ``.json`` file or the schema itself) applied first
        (:func:`schema_problems`).
    checks : tuple of callables
        Semantic checks, run on whatever parts of the config are well-formed:
        ``check(data, **options) -> messages`` (see :data:`Check`).
    whole_checks : tuple of callables
        Checks that need a config with no problem so far (e.g. building the grid);
        they run, in order, only while no problem has been found.
    """

    signature: KindSignature
    error: type[ConfigError] = ConfigError
    schema: Path | Mapping[str, Any] | None = None
    checks: tuple[Check, ...] = field(default=())
    whole_checks: tuple[Check, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.signature.name

    def read(self, source: str | Path | Mapping[str, Any]) -> tuple[str, Any, str | None]:
        """:func:`read_source`, then refuse a config of another kind (one message naming
        the kind and its command)."""
        text, data, where = read_source(source, error=self.error)
        wrong = recognise(data, self.name, where)
        if wrong is not None:
            raise self.error([wrong], where)
        return text, data, where

    def problems(self, data: Any, **options: Any) -> list[str]:
        """Every problem with a parsed config: schema, non-finite numbers, then the
        checks (``options`` are passed to each check). Repeated messages are dropped."""
        if data is None:
            return ["config: empty (no keys); expected a YAML mapping of keys"]
        if not isinstance(data, Mapping):
            return [f"config: {shown(data)} is not a mapping; "
                    "expected a YAML mapping of keys"]
        out: list[str] = []
        if self.schema is not None:
            schema = (load_schema(self.schema) if isinstance(self.schema, Path)
                      else self.schema)
            out += schema_problems(data, schema)
        out += non_finite(data)
        for check in self.checks:
            out += _run(check, data, options)
        for check in self.whole_checks:
            if out:
                break
            out += _run(check, data, options)
        return list(dict.fromkeys(out))

    def raise_problems(self, problems: Iterable[str], source: str | None = None) -> None:
        """Raise :attr:`error` listing ``problems``, if there are any."""
        problems = list(problems)
        if problems:
            raise self.error(problems, source)
