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


def test_workflow_refuses_a_k_digits_config_in_one_line(tmp_path):
    """`--config experiments='[k-digits]'` fails the DAG build with one line naming the
    kind and the command that runs it."""
    import os
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    (tmp_path / "config" / "experiments").mkdir(parents=True)
    (tmp_path / "config" / "config.yaml").write_text("experiments: [k-digits]\n")
    (tmp_path / "config" / "experiments" / "k-digits.yaml").write_text(
        (ROOT / "config" / "experiments" / "k-digits.yaml").read_text())
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        [str(bin_dir / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--cores", "1", "--dry-run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("experiments: 'k-digits': config: this is a K-digits barrier config (keys "
            "firenet, grid, lista), not an experiment (sweep) config; run it with "
            "`stablesweep barrier --config config/experiments/k-digits.yaml`") in out, out


def test_every_shipped_config_loads_with_its_own_loader():
    from stablesweep.barrier import load_barrier_config
    from stablesweep.tradeoff import load_tradeoff_config
    from stablesweep.training import load_training_config

    assert load_barrier_config(ROOT / "config" / "experiments" / "k-digits.yaml").Ks
    for path in sorted((ROOT / "config" / "training").glob("*.yaml")):
        assert load_training_config(path).name == path.stem
    for path in sorted((ROOT / "config" / "tradeoff").glob("*.yaml")):
        assert load_tradeoff_config(path).name == path.stem


def test_training_config_directory_as_file_or_mask_is_named(tmp_path):
    from stablesweep.configuration import ConfigError
    from stablesweep.training import TrainingConfigError, load_training_config
    from stablesweep.training.config import parse_training_config

    with pytest.raises(ConfigError, match=r"invalid training config: 1 problem\n  - config "
                       r"file '.*' is a directory; expected a YAML file"):
        load_training_config(tmp_path)
    raw = yaml.safe_load((ROOT / "config" / "training" / "unet-64.yaml").read_text())
    raw["problem"]["sampling"] = {"mask_from": str(tmp_path)}
    with pytest.raises(TrainingConfigError, match=r"problem\.sampling\.mask_from: '.*' is a "
                       r"directory; expected a model file written by `stablesweep train`"):
        parse_training_config(raw)


def test_the_config_layer_imports_nothing_above_it():
    """stablesweep.configuration sits below every owner: importing it loads no other
    part of the package (only the YAML reader) and no PyTorch."""
    import ast
    import subprocess
    import sys

    code = ("import sys, stablesweep.configuration; print(sorted(m for m in sys.modules if "
            "m.startswith(('stablesweep', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = ast.literal_eval(out)
    assert {m for m in loaded if not m.startswith("stablesweep.configuration")} == {
        "stablesweep", "stablesweep.yaml_loader"}, loaded
