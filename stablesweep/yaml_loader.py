"""Reading YAML configs: PyYAML's safe loader, but a repeated key is an error.

PyYAML keeps the last of two equal keys in one mapping (``trials: 2`` then
``trials: 200``), so a config can silently mean something else than it reads. Every
config the package reads (sweep, training, K-digits, trade-off, cluster) goes through
:func:`load_yaml`, which refuses that with the key and both lines. The config layer
(:mod:`stablesweep.configuration`) reads every config kind with it.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_yaml"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises on a key repeated within one mapping."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode,
                                deep: bool = False) -> dict:
    loader.flatten_mapping(node)  # resolve `<<` merge keys first, as SafeLoader does
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            line = first.get(key)
        except TypeError:  # an unhashable key: SafeLoader reports it below
            continue
        if line is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found the key {key!r} twice (first on line {line + 1}); a repeated key "
                "would silently override the first — keep one", key_node.start_mark)
        first[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _mapping_without_duplicates)


def load_yaml(text: str) -> Any:
    """Parse YAML like ``yaml.safe_load``, refusing repeated keys.

    Raises
    ------
    yaml.YAMLError
        Malformed YAML, or a key repeated within one mapping (a
        ``yaml.constructor.ConstructorError`` naming the key and both lines).
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
