"""Reading and checking an experiment config, and what it means.

- :mod:`.load` — :func:`load_config`, :class:`SweepConfig` from YAML (JSON schema
  ``config.schema.json`` here, then the semantic checks, through the shared config
  layer :mod:`stablesweep.configuration`); its module docstring is the config reference;
- :mod:`.axes` (problem axes), :mod:`.specs` (:class:`SweepConfig` and its specs),
  :mod:`.problem_checks`, :mod:`.network_checks` (networks, and attacks against the
  attack registry), :mod:`.model_files`, :mod:`.network_info` (registry
  introspection), :mod:`.examples`, :mod:`.preflight` (memory, network builds);
- :mod:`.grid` — cells and the seeds derived from their coordinates;
- :mod:`.problem` — drawing a grid point's problem (mask, signal, measurements);
- :mod:`.networks` — building a network entry at a grid point.
"""

from .load import (
    AXES,
    AXIS_NAMES,
    MINIMISER_DEFAULTS,
    OWN_DEPTH,
    PATTERN_AXES,
    SKIP_RESOURCE_CHECK,
    SWEEP,
    AttackSpec,
    ConfigError,
    ExampleSpec,
    NetworkSpec,
    SweepConfig,
    canonical_json,
    cell_memory_bytes,
    config_hash,
    is_algorithmic,
    load_config,
    minimiser_settings,
    network_signature,
    pattern_label,
    read_operator_record,
    resolve_factory,
    schema,
    sparsity_parameter,
    validate,
)

__all__ = [
    "AXES",
    "AXIS_NAMES",
    "AttackSpec",
    "ConfigError",
    "ExampleSpec",
    "MINIMISER_DEFAULTS",
    "NetworkSpec",
    "OWN_DEPTH",
    "PATTERN_AXES",
    "SKIP_RESOURCE_CHECK",
    "SWEEP",
    "SweepConfig",
    "canonical_json",
    "cell_memory_bytes",
    "config_hash",
    "is_algorithmic",
    "load_config",
    "minimiser_settings",
    "network_signature",
    "pattern_label",
    "read_operator_record",
    "resolve_factory",
    "schema",
    "sparsity_parameter",
    "validate",
]
