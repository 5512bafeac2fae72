"""The README documents what a user finds in a store and the experiments that ship."""

from __future__ import annotations

import re
from pathlib import Path

from stablesweep.sweep.store.variables import variable, variable_groups

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _variables_section() -> str:
    start = README.index("## What the results hold")
    return README[start:README.index("\n## ", start + 1)]


def test_every_store_variable_is_in_the_readme_table():
    section = _variables_section()
    documented = set(re.findall(r"`([a-z_]+)`", section))
    missing = [row.name for rows in variable_groups().values() for row in rows
               if row.name not in documented]
    assert not missing, f"store variables missing from README 'What the results hold': {missing}"


def _table_rows() -> list[tuple[list[str], str, str]]:
    """``(variables, over, units)`` of each row of the README's variable table."""
    rows = []
    for line in _variables_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows.append((re.findall(r"`([a-z_]+)`", cells[0]), cells[1], cells[2]))
    return rows


def test_the_readme_table_gives_each_variable_its_schema_dims_and_units():
    """The 'over' and 'units' columns say what the schema says (example images are over
    ``example`` too, their group's cell dim)."""
    rows = _table_rows()
    assert len(rows) > 10
    for names, over, units in rows:
        schema = [variable(name) for name in names]
        dims = {d for row in schema for d in row.dims}
        listed = set(re.findall(r"[a-z_]+", over))
        assert dims <= listed <= dims | {"example"}, (names, over, dims)
        shown = [u.strip() for u in units.split(",")]
        if len(shown) == 1:
            shown *= len(schema)
        assert shown == [row.units or "—" for row in schema], (names, units)


def test_every_shipped_experiment_is_listed():
    start = README.index("## Experiments")
    section = README[start:README.index("\n## ", start + 1)]
    shipped = sorted(p.stem for p in (REPO / "config" / "experiments").glob("*.yaml"))
    missing = [name for name in shipped if f"`{name}`" not in section]
    assert not missing, f"experiments missing from the README table: {missing}"


def test_the_readme_example_config_is_valid():
    import yaml

    from stablesweep.sweep import load_config

    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)
    sweeps = [b for b in blocks if yaml.safe_load(b).get("networks")]
    assert sweeps, "the README shows an example experiment config"
    for block in sweeps:
        cfg = load_config(yaml.safe_load(block), check_files=False)
        assert cfg.minimiser is not None and cfg.attack.kind == "worst-case"


def _modules_with_examples() -> list[str]:
    root = Path(__file__).resolve().parents[1]
    names = []
    for path in sorted((root / "stablesweep").rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            rel = path.relative_to(root).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            names.append(".".join(parts))
    return names


def test_every_docstring_example_runs():
    """The examples in docstrings are run (none is skipped): a broken one fails here."""
    import doctest
    import importlib

    modules = _modules_with_examples()
    assert "stablesweep.networks" in modules and "stablesweep.networks.minimiser" in modules
    for name in modules:
        module = importlib.import_module(name)
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        result = doctest.testmod(module, optionflags=flags)
        assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples fail"
        text = Path(module.__file__).read_text(encoding="utf-8")
        assert "doctest: +SKIP" not in text, f"{name} skips an example"
