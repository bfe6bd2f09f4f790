"""Training configs: presets as printed in the paper, YAML round trip, validation errors naming
the key, unknown keys listing the valid ones, YAML Python tags refused (issue 11, issue 16)."""
from __future__ import annotations

import os

import pytest
import torch
import yaml

from vesselnet.losses import PAPER_LAMBDA_C, PAPER_LAMBDAS, PAPER_TAU
from vesselnet.train.config import (
    PRESETS,
    ConfigError,
    ConfigTypeError,
    TrainConfig,
    load_config,
    merge,
    save_config,
)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_follow_the_paper(name):
    cfg = TrainConfig.from_preset(name)
    assert cfg.name == name
    assert (cfg.model.depth, cfg.model.base_channels, cfg.model.bottleneck_unit) == (5, 8, False)
    assert (cfg.optim.optimizer, cfg.optim.lr, cfg.data.batch_size, cfg.run.epochs) == ("adam", 3e-4, 2, 2000)
    assert cfg.loss.lambdas == PAPER_LAMBDAS and cfg.loss.tau == PAPER_TAU
    kind, lambda_c = {
        "resunet-binary": ("binary", 0.0), "resunet-multiclass": ("multiclass", 0.0),
        "multitask": ("multitask", 0.0), "multitask-contrastive": ("multitask", PAPER_LAMBDA_C),
    }[name]
    assert (cfg.model.kind, cfg.loss.lambda_c) == (kind, lambda_c)
    with torch.device("meta"):
        net = cfg.build_model()
    assert net.channels == (8, 16, 32, 64, 128, 256)  # f0 .. 2^l f0
    assert sum(isinstance(m, torch.nn.MaxPool3d) for m in net.modules()) == 5  # encoder: l poolings
    if kind == "multitask":
        assert len(net.decoders) == 4 and len(net.projections) == 3
        assert all(d.first_channels == 128 for d in net.decoders)  # D_s^{2^(l-1) f0}
    else:
        assert net.out_channels == (4 if kind == "multiclass" else 1)  # S + 1 classes


@pytest.mark.parametrize("name", PRESETS)
def test_yaml_round_trip(tmp_path, name):
    cfg = TrainConfig.from_preset(name)
    path = save_config(cfg, tmp_path / "sub" / "c.yaml")
    assert load_config(path) == cfg
    assert TrainConfig.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["c.yaml"]  # no temporary file left


def test_overrides_merge_and_validate():
    cfg = TrainConfig.from_preset("multitask", {"model": {"base_channels": 2}, "run": {"epochs": 3}})
    assert (cfg.model.base_channels, cfg.model.depth, cfg.run.epochs) == (2, 5, 3)
    assert cfg.replace({"optim": {"lr": 1}}).optim.lr == 1.0
    base = {"a": {"b": 1, "c": 2}}
    assert merge(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}} and base == {"a": {"b": 1, "c": 2}}
    assert TrainConfig.from_dict({}) == TrainConfig()


def test_unknown_preset_and_keys_list_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown preset 'unet'; valid presets: resunet-binary, "
                       "resunet-multiclass, multitask, multitask-contrastive"):
        TrainConfig.from_preset("unet")
    with pytest.raises(ConfigError, match=r"config key 'optim.lrate': unknown key in section 'optim'; "
                       r"valid keys: optimizer, lr, weight_decay, betas"):
        TrainConfig.from_dict({"optim": {"lrate": 1e-3}})
    with pytest.raises(ConfigError, match=r"config key 'epochs': unknown key in the top level; "
                       r"valid keys: name, seed, model, loss, optim, data, run"):
        TrainConfig.from_dict({"epochs": 3})


@pytest.mark.parametrize("data,key,exc", [
    ({"optim": {"lr": "fast"}}, "optim.lr", ConfigTypeError),
    ({"optim": {"lr": 0}}, "optim.lr", ConfigError),
    ({"optim": {"lr": float("nan")}}, "optim.lr", ConfigError),
    ({"run": {"epochs": 0}}, "run.epochs", ConfigError),
    ({"run": {"epochs": 2.5}}, "run.epochs", ConfigTypeError),
    ({"run": {"epochs": True}}, "run.epochs", ConfigTypeError),
    ({"run": {"device": "tpu"}}, "run.device", ConfigError),
    ({"run": {"compile": "yes"}}, "run.compile", ConfigTypeError),
    ({"model": {"kind": "unet"}}, "model.kind", ConfigError),
    ({"model": {"depth": -1}}, "model.depth", ConfigError),
    ({"model": "big"}, "model", ConfigTypeError),
    ({"loss": {"lambdas": [1, -1, 1]}}, r"loss.lambdas\[1\]", ConfigError),
    ({"loss": {"lambdas": [1, 1]}}, "loss.lambdas", ConfigError),
    ({"loss": {"class_weights": "inverse"}}, "loss.class_weights", ConfigError),
    ({"data": {"patch_size": [32, 32]}}, "data.patch_size", ConfigError),
    ({"data": {"patch_size": [32, 32, 48]}}, "data.patch_size", ConfigError),  # not / 32
    ({"data": {"batch_size": 1}, "loss": {"lambda_c": 0.5}}, "data.batch_size", ConfigError),
    ({"data": {"prepare": {"n_scales": 4}}}, "data.prepare.n_scales", ConfigError),
    ({"data": {"val_cases": "case1"}}, "data.val_cases", ConfigTypeError),
    ({"seed": -1}, "seed", ConfigError),
])
def test_wrong_types_and_ranges_name_the_key(data, key, exc):
    with pytest.raises(exc, match=rf"config key '{key}'"):
        TrainConfig.from_dict(data)


def test_config_errors_are_value_and_type_errors():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigTypeError, TypeError)


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:builtins.open ['{marker}', 'w']",
    "!!python/name:os.system",
])
def test_yaml_python_tags_are_refused_and_nothing_runs(tmp_path, tag):
    marker = tmp_path / "created"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: x\nseed: {tag.format(marker=marker)}\n")
    with pytest.raises(ConfigError, match="not a plain YAML config .* yaml.safe_load"):
        load_config(path)
    assert not marker.exists()
    if "apply:builtins.open" in tag:  # positive control: the full loader creates the file
        yaml.unsafe_load(path.read_text())
        assert marker.exists()


def test_load_config_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not a plain YAML config"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigTypeError, match="config: expected a mapping"):
        load_config(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == TrainConfig()


def test_save_is_atomic(tmp_path, monkeypatch):
    cfg = TrainConfig.from_preset("multitask")
    path = save_config(cfg, tmp_path / "c.yaml")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(TrainConfig, "to_yaml", broken)
    with pytest.raises(OSError, match="disk full"):
        save_config(cfg.replace({"run": {"epochs": 5}}), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.yaml"]


@pytest.mark.parametrize("text", ["1e-3", "5E-4", "+2e+1", "1.5e3", ".5", "3", "0.25"])
def test_number_keys_accept_yaml12_decimal_strings(tmp_path, text):
    # PyYAML follows YAML 1.1, which reads 1e-3 (no dot) as a string; a number key takes it
    assert yaml.safe_load(f"x: {text}")["x"] is not None  # sanity: the text parses as YAML
    cfg = TrainConfig.from_dict({"optim": {"lr": text, "betas": [text if float(text) <= 1 else 0.9, 0.5]}})
    assert cfg.optim.lr == float(text) and type(cfg.optim.lr) is float
    assert cfg.optim.betas[0] == (float(text) if float(text) <= 1 else 0.9)
    path = tmp_path / "c.yaml"
    path.write_text(f"optim:\n  lr: {text}\nloss:\n  tau: {text}\n")
    loaded = load_config(path)
    assert (loaded.optim.lr, loaded.loss.tau) == (float(text), float(text))
    assert load_config(save_config(loaded, tmp_path / "again.yaml")) == loaded


@pytest.mark.parametrize("text", ["fast", "1e-3x", "1e", "e3", "nan", "inf", ".inf", "0x10", "1_000", " 1e-3", ""])
def test_non_numeric_strings_still_name_the_key(text):
    with pytest.raises(ConfigTypeError, match=rf"config key 'optim.lr': expected a number, got '{text}' \(str\)"):
        TrainConfig.from_dict({"optim": {"lr": text}})
    with pytest.raises(ConfigTypeError, match=r"config key 'run.epochs': expected an integer"):
        TrainConfig.from_dict({"run": {"epochs": "1e3"}})  # integer keys take no strings


def test_save_failing_midway_leaves_no_temporary_file(tmp_path, monkeypatch):
    cfg = TrainConfig.from_preset("multitask")
    path = save_config(cfg, tmp_path / "c.yaml")
    before = path.read_bytes()
    monkeypatch.setattr(TrainConfig, "to_yaml", lambda self: 123)  # the write itself fails
    with pytest.raises(TypeError):
        save_config(cfg, path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["c.yaml"]
