"""Training of the trained networks: configs, data, reproducibility, resuming, model files."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from stablesweep.modelfile import (
    MaskMismatchError,
    check_operator,
    load_mask,
    load_model_file,
    load_operator_record,
    load_state_file,
    save_atomic,
)
from stablesweep.training import (
    TrainingConfigError,
    load_training_config,
    make_datasets,
    make_operator,
    train,
)
from stablesweep.training.config import parse_training_config
from stablesweep.training.trainer import evaluate

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "training"


def tiny_raw(net: str = "unet", **over) -> dict:
    params = {"channels": 4, "scales": 2} if net == "unet" else {"layers": 2, "hidden": 4}
    raw = {
        "name": f"tiny-{net}",
        "seed": 7,
        "network": {"name": net, "params": params},
        "problem": {"transform": "fourier", "resolution": 16,
                    "sampling": {"scheme": "uniform", "rate": 0.3, "seed": 3}},
        "data": {"train": 16, "validation": 8},
        "training": {"epochs": 2, "batch_size": 4, "lr": 1e-2, "device": "cpu"},
    }
    for k, v in over.items():
        raw[k] = {**raw[k], **v} if isinstance(v, dict) else v
    return raw


def tiny(net: str = "unet", **over):
    return parse_training_config(tiny_raw(net, **over))


def run(cfg, out: Path, **kw):
    return train(cfg, out_dir=out, progress=False, log=None, **kw)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- configs


def test_shipped_configs_are_valid_and_share_the_mask():
    unet = load_training_config(CONFIG_DIR / "unet-64.yaml")
    lpd = load_training_config(CONFIG_DIR / "learned-pd-64.yaml")
    assert unet.network == "unet" and lpd.network == "learned-pd"
    assert unet.problem == lpd.problem
    paper = load_training_config(CONFIG_DIR / "unet-64.yaml", profile="paper")
    assert paper.name == "unet-64-paper"
    assert paper.params["channels"] == 64 and paper.dataset["train"] == 20000
    assert paper.problem == unet.problem  # the profile keeps the mask


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"problem": {"transform": "fouier"}},
         r"problem.transform: unknown value 'fouier'; expected one of: fourier, walsh"),
        ({"network": {"name": "firenet"}},
         r"network.name: unknown value 'firenet'; expected one of: unet, learned-pd"),
        ({"training": {"epochs": 0}}, r"training.epochs: 0 is out of range; expected >= 1"),
        ({"training": {"epochs": 2.5}}, r"training.epochs: 2.5 is not an integer"),
        ({"training": {"lr": "1e-3"}}, r"training.lr: '1e-3' is not a number"),
        ({"data": {"trian": 3}}, r"data: unknown key 'trian'; allowed keys: details, "),
        ({"problem": {"resolution": 48}}, r"problem.resolution: 48 .*power of two"),
        ({"training": {"device": "tpu"}}, r"training.device: 'tpu' .*auto, cpu, cuda"),
        ({"problem": {"sampling": {"scheme": "theory", "rate": 0.2, "seed": 1}}},
         r"sparsity: missing; scheme 'theory'"),
        ({"network": {"name": "unet", "params": {"chanels": 3}}},
         r"network.params.chanels: unknown parameter of 'unet'"),
    ],
)
def test_config_errors_name_key_value_and_allowed(change, match):
    with pytest.raises(TrainingConfigError, match=match):
        parse_training_config(tiny_raw(**change))


def test_the_trainable_networks_are_those_the_registry_marks(monkeypatch):
    """One registry: training reads the ``trainable`` mark of NETWORKS, so a family
    added there and marked is trainable (the trainer builds it) and no other is."""
    from stablesweep.networks import NETWORKS, UNet
    from stablesweep.training.config import network_names
    from stablesweep.training.trainer import network_class

    assert network_names() == ("unet", "learned-pd")
    assert not any(cls.trainable for name, cls in NETWORKS.items()
                   if name not in network_names())

    class MyUNet(UNet):
        name = "my-unet"

    monkeypatch.setitem(NETWORKS, "my-unet", MyUNet)
    assert network_names() == ("unet", "learned-pd", "my-unet")
    assert network_class("my-unet") is MyUNet
    with pytest.raises(ValueError, match=r"network 'fista' is not trainable; expected one of: "
                                         r"unet, learned-pd, my-unet"):
        network_class("fista")


def test_unknown_profile_is_an_error():
    with pytest.raises(TrainingConfigError,
                       match=r"profile 'gpu' is not defined; expected one of: paper"):
        load_training_config(CONFIG_DIR / "unet-64.yaml", profile="gpu")


def test_data_are_seeded_and_validation_independent_of_train_size():
    cfg = tiny()
    A = make_operator(cfg)
    tr1, va1 = make_datasets(cfg, A)
    tr2, va2 = make_datasets(tiny(data={"train": 5}), A)
    assert torch.equal(va1.x, va2.x) and torch.equal(tr1.x[:5], tr2.x)
    assert torch.allclose(tr1.y, A.measure(tr1.x.to(A.dtype)))
    tr3, _ = make_datasets(tiny(seed=8), A)
    assert not torch.equal(tr1.x, tr3.x)


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("network", ["unet", "learned-pd"])
def test_training_reduces_loss_and_is_reproducible(tmp_path, network):
    cfg = tiny(network)
    A = make_operator(cfg)
    from stablesweep.training.trainer import build_untrained

    _, val = make_datasets(cfg, A)
    before, _ = evaluate(build_untrained(cfg, A), val)
    r1 = run(cfg, tmp_path / "a")
    r2 = run(cfg, tmp_path / "b")
    assert r1.model_path is not None and r1.epoch == 2
    assert r1.history[-1]["train_loss"] < r1.history[0]["train_loss"]
    assert min(h["val_loss"] for h in r1.history) < before
    m1, m2 = load_model_file(r1.model_path), load_model_file(r2.model_path)
    assert states_equal(m1["state_dict"], m2["state_dict"])
    losses = [[(h["train_loss"], h["val_loss"]) for h in m["history"]] for m in (m1, m2)]
    assert losses[0] == losses[1]


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    cfg = tiny("unet", training={"keep": "last"})
    full = run(cfg, tmp_path / "full")
    part = run(cfg, tmp_path / "part", stop_after=1)
    assert part.model_path is None and part.epoch == 1
    assert not (tmp_path / "part" / "model.pt").exists()
    assert load_state_file(part.state_path)["epoch"] == 1
    resumed = run(cfg, tmp_path / "part")
    assert resumed.resumed_from == 1 and resumed.epoch == 2
    a, b = load_model_file(full.model_path), load_model_file(resumed.model_path)
    assert states_equal(a["state_dict"], b["state_dict"])
    sa, sb = load_state_file(full.state_path), load_state_file(resumed.state_path)
    assert states_equal(sa["model"], sb["model"])
    assert [h["train_loss"] for h in sa["history"]] == [h["train_loss"] for h in sb["history"]]
    # a finished run is not retrained
    again = run(cfg, tmp_path / "full")
    assert again.resumed_from == 2 and again.history == sa["history"]


def test_resume_refuses_a_different_config(tmp_path):
    run(tiny(), tmp_path)
    changed = tiny(training={"lr": 2e-2})
    with pytest.raises(ValueError, match=r"different config \(training.lr: 0.01 -> 0.02"):
        run(changed, tmp_path)
    # an explicit restart removes the earlier model file at once
    part = run(changed, tmp_path, resume=False, stop_after=1)
    assert part.resumed_from == 0 and not (tmp_path / "model.pt").exists()
    done = run(changed, tmp_path)
    assert done.resumed_from == 1 and done.model_path is not None
    assert load_model_file(done.model_path)["config"]["training"]["lr"] == 2e-2


def test_model_file_metadata_and_mask(tmp_path):
    cfg = tiny()
    r = run(cfg, tmp_path)
    data = load_model_file(r.model_path)
    assert data["network"] == "unet" and data["data_seed"] == 7
    assert data["config"]["training"]["epochs"] == 2 and data["config_hash"] == cfg.hash
    assert "name: tiny-unet" in data["config_text"]
    A = make_operator(cfg)
    mask = load_mask(r.model_path)
    assert mask.dtype == bool and np.array_equal(mask, A.mask.numpy())
    assert np.array_equal(load_mask(r.state_path), mask)
    assert load_operator_record(r.model_path)["transform"] == "fourier"
    # a second config can reuse the trained mask
    reuse = tiny("learned-pd", problem={"sampling": {"mask_from": str(r.model_path)}})
    assert np.array_equal(make_operator(reuse).mask.numpy(), mask)


def test_check_operator_reports_every_difference(tmp_path):
    from stablesweep.operators import SamplingOperator

    cfg = tiny()
    rec = load_operator_record(run(cfg, tmp_path).model_path)
    other = SamplingOperator("walsh", np.ones((8, 8), dtype=bool), "db2")
    with pytest.raises(MaskMismatchError, match=r"image shape \(8, 8\) differs.*transform 'walsh'"
                       r".*wavelet 'db2'.*allow_mask_mismatch=True"):
        check_operator(other, rec, source="m.pt")
    assert check_operator(make_operator(cfg), rec, source="m.pt") == []


def test_save_atomic_leaves_no_temporary_files(tmp_path):
    path = save_atomic({"a": torch.ones(2)}, tmp_path / "sub" / "x.pt")
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.pt"]


def test_load_model_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file .* does not exist"):
        load_model_file(tmp_path / "none.pt")
    torch.save({"format": "other"}, tmp_path / "o.pt")
    with pytest.raises(ValueError, match=r"is not a model file: format 'other'"):
        load_model_file(tmp_path / "o.pt")


def test_train_cli(tmp_path, capsys):
    import yaml

    from stablesweep.cli.train import add_train_parser, run_train

    cfg_path = tmp_path / "t.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_raw()))
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", str(cfg_path), "--models-dir", str(tmp_path / "m"),
                              "--stop-after", "1", "--no-progress"])
    assert args.func(args) == 0
    assert "stopped after epoch 1" in capsys.readouterr().out
    args = parser.parse_args(["train", str(cfg_path), "--models-dir", str(tmp_path / "m")])
    assert run_train(args) == 0
    assert (tmp_path / "m" / "tiny-unet" / "model.pt").is_file()
    assert (tmp_path / "m" / "tiny-unet" / "summary.json").is_file()
    bad = parser.parse_args(["train", str(tmp_path / "missing.yaml")])
    assert run_train(bad) == 1
    assert "does not exist" in capsys.readouterr().err
