"""The layering of the package: written down, enforced, and true of the docs.

- ``lint-imports`` keeps the contracts of ``[tool.importlinter]`` in pyproject.toml: no
  layer imports one above it (imports inside functions count), no import cycles, and
  no module of the library imports Snakemake.
- The map in docs/design.md §6 names the same layers, in the same order.
- Lazy package exports (:mod:`stablesweep._lazy`) point only into their own package,
  so no import hides from the contract in a string, and every one of them resolves.
- With Snakemake unimportable, every module imports and the ``stablesweep`` command
  runs (``--help``, a dry run of the default experiment).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import stablesweep

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env(*path: str) -> dict[str, str]:
    """The test's environment with ``path`` and then this checkout first on the path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([*path, str(ROOT), *filter(None, [
        os.environ.get("PYTHONPATH")])])
    return env


def _contract(contract_id: str) -> dict:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == contract_id)


def _layers() -> list[set[str]]:
    """The layers of the contract, top first; each a set of top-level module names."""
    return [{name.strip() for name in re.split(r"[|:]", layer)}
            for layer in _contract("layers")["layers"]]


def test_import_contracts_are_kept():
    lint = BIN / "lint-imports"
    assert lint.is_file(), f"{lint} missing: install the test extra (import-linter)"
    proc = subprocess.run([str(lint), "--no-cache", "--no-logo"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for contract in PYPROJECT["tool"]["importlinter"]["contracts"]:
        assert f"{contract['name']} KEPT" in proc.stdout, proc.stdout


def test_layer_contract_covers_the_whole_package():
    """Every top-level module has exactly one layer; the contract is exhaustive and
    counts lazy imports and ``TYPE_CHECKING`` ones (no circle hides there)."""
    cfg = PYPROJECT["tool"]["importlinter"]
    assert cfg["exclude_type_checking_imports"] is False
    contract = _contract("layers")
    assert contract["containers"] == ["stablesweep"] and contract["exhaustive"] is True
    assert cfg["root_package"] == "stablesweep"
    named = [m for layer in _layers() for m in layer]
    assert len(named) == len(set(named)), "a module is in two layers"
    modules = {m.name for m in pkgutil.iter_modules(stablesweep.__path__)}
    assert set(named) == modules
    # the bottom of the house as the issue states it: measurement model -> networks ->
    # attacks / training -> sweep -> analysis / figures / report -> CLI
    order = [next(i for i, layer in enumerate(_layers()) if m in layer)
             for m in ("cli", "report", "figures", "analysis", "sweep", "attacks",
                       "networks", "modelfile", "operators", "transforms")]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert _layers()[order[5]] == {"attacks", "training"}
    assert _contract("no-snakemake")["forbidden_modules"] == ["snakemake"]
    assert cfg["include_external_packages"] is True


def _design_map() -> list[tuple[str, str]]:
    """(layer, module) per row of the table in docs/design.md §6."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## 6. Map of the package", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("layer", "---"):
            continue
        rooms = re.findall(r"`([^`]+)`", cells[1])
        rows += [(cells[0], room.rstrip("/").removesuffix(".py")) for room in rooms]
    return rows


def test_design_map_lists_the_layers_of_the_contract_in_order():
    rows = _design_map()
    assert rows[0] == ("workflow", "Snakefile") and rows[1] == ("workflow", "workflow")
    groups: list[tuple[str, set[str]]] = []
    for layer, module in rows[2:]:
        if groups and groups[-1][0] == layer:
            groups[-1][1].add(module)
        else:
            assert layer not in [g for g, _ in groups], f"layer {layer!r} split in the map"
            groups.append((layer, {module}))
    assert [mods for _, mods in groups] == _layers()


def _lazy_packages() -> list[str]:
    out = []
    for info in pkgutil.walk_packages(stablesweep.__path__, "stablesweep."):
        if info.ispkg and hasattr(importlib.import_module(info.name), "_EXPORTS"):
            out.append(info.name)
    return out


def test_lazy_exports_stay_in_their_package_and_resolve():
    packages = _lazy_packages()
    assert "stablesweep.training" in packages and "stablesweep.sweep" in packages
    for name in packages:
        pkg = importlib.import_module(name)
        for export, target in pkg._EXPORTS.items():
            assert re.fullmatch(r"\.[a-z_][a-z0-9_]*", target), (name, export, target)
            assert getattr(pkg, export) is getattr(
                importlib.import_module(target, name), export)
            assert export in pkg.__all__, (name, export)


def test_training_package_holds_no_model_file_or_network_class():
    """The model file lives below networks and training; the trained networks in networks."""
    import torch

    from stablesweep import modelfile, training
    from stablesweep.networks import NETWORKS

    assert not (ROOT / "stablesweep" / "training" / "checkpoint.py").exists()
    for export in training._EXPORTS:
        assert not hasattr(modelfile, export), f"{export} belongs to stablesweep.modelfile"
    for info in pkgutil.iter_modules(training.__path__, "stablesweep.training."):
        mod = importlib.import_module(info.name)
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == mod.__name__:
                assert not issubclass(obj, torch.nn.Module), f"{obj} belongs in networks/"
    assert NETWORKS["unet"].__module__.startswith("stablesweep.networks.")
    assert NETWORKS["learned-pd"].__module__.startswith("stablesweep.networks.")


def test_shipped_model_files_load_through_the_model_file_module():
    """Model files written before the move (the shipped models/*/model.pt) still read.

    (``state.pt`` files are not shipped: git ignores them; test_training round-trips
    them.)
    """
    from stablesweep.modelfile import load_mask, load_model_file

    models = sorted((ROOT / "models").glob("*/model.pt"))
    assert len(models) >= 2
    for path in models:
        data = load_model_file(path)
        assert data["network"] in ("unet", "learned-pd")
        mask = load_mask(path)
        assert mask.dtype == bool and mask.shape == tuple(data["operator"]["shape"])


def test_snakemake_is_the_workflow_extra_only():
    """Snakemake is no dependency of the library; the `workflow` extra (which
    scripts/bootstrap.sh always installs, and the test extra pulls in) brings it."""
    project = PYPROJECT["project"]
    name = re.compile(r"^\s*([A-Za-z0-9_.-]+)")
    assert "snakemake" not in [name.match(d).group(1).lower() for d in project["dependencies"]]
    extras = project["optional-dependencies"]
    assert [name.match(d).group(1) for d in extras["workflow"]] == ["snakemake"]
    assert "stablesweep[workflow]" in extras["test"]
    assert any(d.startswith("import-linter") for d in extras["test"])


BLOCKER = '''
import sys


class _NoSnakemake:
    """Meta-path finder: Snakemake is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "snakemake" or name.startswith("snakemake."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, _NoSnakemake())
'''


@pytest.fixture(scope="module")
def no_snakemake(tmp_path_factory) -> dict[str, str]:
    """An environment whose interpreters cannot import Snakemake (a sitecustomize)."""
    site = tmp_path_factory.mktemp("no-snakemake")
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = _env(str(site))
    proc = subprocess.run([sys.executable, "-c", "import snakemake"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "blocked" in proc.stderr, proc.stderr
    return env


def test_every_module_imports_without_snakemake(no_snakemake):
    script = textwrap.dedent("""
        import importlib, pkgutil, sys
        import stablesweep
        names = [m.name for m in pkgutil.walk_packages(stablesweep.__path__, "stablesweep.")]
        for name in names:
            importlib.import_module(name)
        assert not any(m.split(".")[0] == "snakemake" for m in sys.modules)
        print(len(names), "modules")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=no_snakemake,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[0]) > 50


def test_command_runs_without_snakemake(no_snakemake, tmp_path):
    cmd = BIN / "stablesweep"
    assert cmd.is_file(), f"{cmd} missing: install the package"
    proc = subprocess.run([str(cmd), "--help"], cwd=ROOT, env=no_snakemake,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "run (or resume) a sweep" in proc.stdout
    out = tmp_path / "sweep.zarr"
    proc = subprocess.run([str(cmd), "run", "config/experiments/quick.yaml", "--dry-run",
                           "--out", str(out)], cwd=ROOT, env=no_snakemake,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run: nothing computed or written" in proc.stdout + proc.stderr
    assert not out.exists()
