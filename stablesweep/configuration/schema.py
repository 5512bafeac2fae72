"""JSON schema validation with readable messages (key path, value, what is allowed)."""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from .values import key_path, shown

__all__ = ["load_schema", "schema_problems"]


@cache
def load_schema(path: str | Path) -> dict:
    """A JSON schema file (``.json``), read once per path."""
    return json.loads(Path(path).read_text())


def schema_problems(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every way ``data`` breaks ``schema`` (JSON Schema draft 2020-12), one message each.

    Messages are sorted by key path; each names the path, the value and what the schema
    allows (for ``anyOf`` / ``oneOf``, the branch whose type fits the value best).
    """
    validator = jsonschema.Draft202012Validator(schema)
    out: list[str] = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        out.extend(_messages(err, schema))
    return out


def _type_name(t: Any) -> str:
    names = {"integer": "an integer", "number": "a number", "string": "a string",
             "boolean": "true or false", "array": "a list", "object": "a mapping",
             "null": "null"}
    if isinstance(t, list):
        return " or ".join(names.get(x, x) for x in t)
    return names.get(t, str(t))


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _messages(err: jsonschema.ValidationError, root: Mapping) -> list[str]:
    """Readable messages for one schema error (descending into anyOf branches)."""
    if err.validator in ("anyOf", "oneOf") and err.context:
        branch = _best_branch(err, root)
        if isinstance(branch, str):
            return [branch]
        return [m for sub in branch for m in _messages(sub, root)]
    path = key_path(err.absolute_path)
    v, schema_ = err.instance, err.schema
    kind = err.validator
    if kind == "enum":
        allowed = ", ".join(str(x) for x in err.validator_value)
        return [f"{path}: unknown value {shown(v)}; expected one of: {allowed}"]
    if kind == "type":
        return [f"{path}: {shown(v)} is not {_type_name(err.validator_value)}"]
    if kind in _BOUNDS:
        bounds = [f"{op} {schema_[k]}" for k, op in _BOUNDS.items() if k in schema_]
        return [f"{path}: {shown(v)} is out of range; expected {' and '.join(bounds)}"]
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [f"{path}: missing required key {missing!r}"]
    if kind == "additionalProperties":
        allowed = sorted(schema_.get("properties", {}))
        extra = sorted(set(v) - set(allowed))
        listed = ", ".join(allowed) or "none"
        return [f"{path}: unknown key {k!r}; allowed keys: {listed}" for k in extra]
    if kind == "pattern":
        what = schema_.get("description", f"the pattern {err.validator_value}")
        return [f"{path}: {shown(v)} is not valid; expected {what}"]
    if kind == "minItems":
        return [f"{path}: {shown(v)} has too few entries; expected at least "
                f"{err.validator_value}"]
    if kind == "maxItems":
        return [f"{path}: {len(v)} entries; expected at most {err.validator_value}"]
    if kind == "uniqueItems":
        return [f"{path}: {shown(v)} has repeated entries; expected distinct values"]
    return [f"{path}: {err.message}"]


def _best_branch(err: jsonschema.ValidationError, root: Mapping) -> list | str:
    """The sub-errors of the anyOf branch that best fits the instance, or a message
    saying what is allowed when no branch's type fits.

    A branch fits when its declared type (``type``, or the values of an ``enum``)
    matches the instance's; among those, the one with the fewest errors wins.
    """
    branches: dict[int, list] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [branches.get(i, []) for i, sub in enumerate(err.validator_value)
               if _type_fits(_resolve(sub, root), err.instance)]
    if fitting:
        return min(fitting, key=len)
    allowed = []
    for sub_schema in err.validator_value:
        sub = _resolve(sub_schema, root)
        if "enum" in sub:
            allowed.append("one of: " + ", ".join(map(str, sub["enum"])))
        elif sub.get("type") == "array":
            allowed.append("a list of those")
        elif "type" in sub:
            allowed.append(_type_name(sub["type"]))
    return (f"{key_path(err.absolute_path)}: {shown(err.instance)} is not valid; expected "
            + " or ".join(allowed))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Integral):
        return "integer"
    if isinstance(value, numbers.Real):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _type_fits(sub: Mapping, value: Any) -> bool:
    kind = _json_type(value)
    if "enum" in sub:
        return kind not in ("array", "object")
    declared = sub.get("type")
    if declared is None:
        return True
    declared = declared if isinstance(declared, list) else [declared]
    return kind in declared or (kind == "integer" and "number" in declared)


def _resolve(sub: Mapping, root: Mapping) -> Mapping:
    ref = sub.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(root["$defs"][ref.split("/")[-1]], root)
    return sub
