"""The config layer: one way to load, check and report every config the package reads.

Each config kind (experiment sweep, training, kernel trade-off, K-digits barrier) is a
:class:`ConfigKind` declared by its owner: it reads YAML with
:func:`~stablesweep.yaml_loader.load_yaml` (a repeated key is an error), applies its
JSON schema (a ``config.schema.json`` beside the owner's module; the barrier's is a
mapping in its module), runs the semantic checks the owner declares, and raises
one :class:`ConfigError` listing every problem, each with key path, value and what is
allowed. A config of another kind given by mistake is recognised and named, with the
command that runs it.

- :mod:`~stablesweep.configuration.errors` — :class:`ConfigError`;
- :mod:`~stablesweep.configuration.kinds` — :class:`ConfigKind`, the kind signatures,
  reading a config file;
- :mod:`~stablesweep.configuration.loaded` — :class:`LoadedConfig`, the validated
  config object (data, YAML text, source, hash) the training and trade-off configs
  extend;
- :mod:`~stablesweep.configuration.schema` — JSON schema messages;
- :mod:`~stablesweep.configuration.values` — the small shared value checks and
  :func:`merge`.

This package imports nothing of stablesweep but :mod:`stablesweep.yaml_loader`, so every
layer may use it.
"""

from .errors import ConfigError
from .kinds import SIGNATURES, Check, ConfigKind, KindSignature, read_source, recognise
from .loaded import LoadedConfig
from .schema import load_schema, schema_problems
from .values import (
    check_choice,
    check_folder_name,
    check_int,
    check_mapping,
    check_range,
    check_real,
    digest,
    is_int,
    is_real,
    key_path,
    merge,
    non_finite,
    short,
    shown,
    unknown_keys,
)

__all__ = [
    "SIGNATURES",
    "Check",
    "ConfigError",
    "ConfigKind",
    "KindSignature",
    "LoadedConfig",
    "check_choice",
    "check_folder_name",
    "check_int",
    "check_mapping",
    "check_range",
    "check_real",
    "digest",
    "is_int",
    "is_real",
    "key_path",
    "load_schema",
    "merge",
    "non_finite",
    "read_source",
    "recognise",
    "schema_problems",
    "short",
    "shown",
    "unknown_keys",
]
