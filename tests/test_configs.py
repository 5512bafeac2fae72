"""Every shipped experiment config validates (files made by the workflow aside)."""

from pathlib import Path

import pytest
import yaml

from stablesweep.sweep.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted(p for p in (ROOT / "config" / "experiments").glob("*.yaml")
                if p.stem != "k-digits")


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_experiment_config_validates(path):
    cfg = load_config(path, check_files=False)
    assert cfg.experiment == path.stem


def test_default_workflow_config_lists_existing_experiments():
    experiments = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"]
    assert experiments == ["quick"]
    for name in experiments:
        assert (ROOT / "config" / "experiments" / f"{name}.yaml").exists()
