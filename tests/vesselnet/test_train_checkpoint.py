"""Checkpoints (issue 11, issue 16): tensors and plain data only, atomic writes, the one loader
refuses crafted pickles (nothing runs), truncated/foreign files are clear errors and stay intact."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re

import numpy as np
import pytest
import torch

from vesselnet.train.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    capture_rng,
    load_checkpoint,
    load_model,
    restore_rng,
    save_checkpoint,
)
from vesselnet.train.config import TrainConfig

TINY = {"model": {"depth": 2, "base_channels": 2, "proj_dim": 4}, "data": {"augment": None},
        "run": {"epochs": 1, "progress": False, "tensorboard": False}}


class _CreatesFile:
    """Unpickling this object (full pickle) creates ``path``: what a malicious file does."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny_state(cfg=None) -> dict:
    cfg = cfg or TrainConfig.from_preset("multitask", TINY)
    torch.manual_seed(0)
    return {"config": cfg.to_dict(), "model": cfg.build_model().state_dict(), "epoch": 1, "step": 3,
            "prepare": {"target_shape": [8, 8, 8]}}


def test_round_trip_holds_plain_data_only(tmp_path):
    path = save_checkpoint(_tiny_state(), tmp_path / "ck" / "last.pt")
    ckpt = load_checkpoint(path)
    assert (ckpt["format"], ckpt["format_version"], ckpt["step"]) == ("vesselnet-checkpoint", FORMAT_VERSION, 3)
    assert ckpt["prepare"] == {"target_shape": [8, 8, 8]}
    assert os.listdir(tmp_path / "ck") == ["last.pt"]
    with pytest.raises(TypeError, match=r"checkpoint\['extra'\]: checkpoints hold tensors and plain data only, got Generator"):
        save_checkpoint({**_tiny_state(), "extra": torch.Generator()}, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_load_model_builds_the_configs_network(tmp_path):
    state = _tiny_state()
    path = save_checkpoint(state, tmp_path / "last.pt")
    model, ckpt = load_model(path)
    assert not model.training and ckpt["prepare"] == state["prepare"]
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())
    other = TrainConfig.from_preset("multitask", {**TINY, "model": {**TINY["model"], "base_channels": 3}})
    wrong = save_checkpoint({**state, "config": other.to_dict()}, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="weights do not fit the network of its config"):
        load_model(wrong)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("layout", ["torch.save", "raw pickle"])
def test_crafted_pickle_is_refused_and_nothing_runs(tmp_path, layout):
    marker = tmp_path / "created-by-unpickling"
    evil = tmp_path / "evil.pt"
    payload = {**_tiny_state(), "format": "vesselnet-checkpoint", "format_version": 1,
               "x": _CreatesFile(marker)}
    if layout == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload))
    for loader in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match="not a vesselnet checkpoint: unpickling it needs "
                           "more than tensors and plain data, which could run code"):
            loader(evil)
        assert not marker.exists()
    # positive control: full unpickling of the same bytes does create the file
    copy = tmp_path / "copy.pt"
    copy.write_bytes(evil.read_bytes())
    torch.load(copy, weights_only=False) if layout == "torch.save" else pickle.loads(copy.read_bytes())
    assert marker.exists()


def test_resume_refuses_a_crafted_checkpoint(tmp_path):
    from vesselnet.train.trainer import Trainer

    cfg = TrainConfig.from_preset("multitask", TINY)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"name": "x"}))
    marker = tmp_path / "created-by-unpickling"
    torch.save({"format": "vesselnet-checkpoint", "x": _CreatesFile(marker)}, run / "checkpoints" / "last.pt")
    before = _digest(run / "checkpoints" / "last.pt")
    trainer = Trainer(cfg, None, None, run, resume=True)
    with pytest.raises(CheckpointError, match="which could run code"):
        trainer.fit()
    assert not marker.exists()
    assert _digest(run / "checkpoints" / "last.pt") == before
    assert json.loads((run / "run.json").read_text()) == {"name": "x"}  # run record untouched


def test_truncated_and_foreign_files_are_clear_errors_and_stay_intact(tmp_path):
    good = save_checkpoint(_tiny_state(), tmp_path / "good.pt")
    data = good.read_bytes()
    for name, blob, match in [
        ("truncated.pt", data[: len(data) // 2], "truncated or corrupt"),
        ("empty.pt", b"", "truncated or corrupt"),
        ("text.pt", b"hello, not a checkpoint\n", "truncated or corrupt|not a vesselnet checkpoint"),
    ]:
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint(p)
        assert p.read_bytes() == blob
    plain = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, plain)
    with pytest.raises(CheckpointError, match="not a vesselnet checkpoint .no format marker"):
        load_checkpoint(plain)
    future = tmp_path / "future.pt"
    torch.save({"format": "vesselnet-checkpoint", "format_version": FORMAT_VERSION + 1}, future)
    with pytest.raises(CheckpointError, match="format version 2 is not supported"):
        load_checkpoint(future)
    partial = tmp_path / "partial.pt"
    torch.save({"format": "vesselnet-checkpoint", "format_version": 1, "config": {}}, partial)
    with pytest.raises(CheckpointError, match="incomplete, missing model, epoch, step"):
        load_checkpoint(partial)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(_tiny_state(), tmp_path / "last.pt")
    before = _digest(path)
    real_save = torch.save

    def dies_midway(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({**_tiny_state(), "step": 4}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert _digest(path) == before and os.listdir(tmp_path) == ["last.pt"]
    assert load_checkpoint(path)["step"] == 3


def test_rng_states_round_trip(tmp_path):
    base = _tiny_state()  # builds a network: draws from the global RNG
    torch.manual_seed(5)
    random.seed(6)
    np.random.seed(7)
    state = capture_rng()
    path = save_checkpoint({**base, "rng": state}, tmp_path / "r.pt")
    first = (torch.rand(3), random.random(), np.random.rand(2))
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    restore_rng(load_checkpoint(path)["rng"])
    again = (torch.rand(3), random.random(), np.random.rand(2))
    assert torch.equal(first[0], again[0]) and first[1] == again[1] and np.array_equal(first[2], again[2])


class _Text(str):
    pass


class _Level(int):
    pass


def _loads_weights_only(value, tmp_path) -> bool:
    """The reference: does torch's weights-only unpickler read ``value`` back?"""
    import io

    buf = io.BytesIO()
    torch.save({"v": value}, buf)
    buf.seek(0)
    try:
        torch.load(buf, weights_only=True)
    except pickle.UnpicklingError:
        return False
    return True


@pytest.mark.parametrize("value,key,kind", [
    ({"versions": {"torch": torch.__version__}}, "['versions']['torch']", "TorchVersion"),
    ({"best": {"value": np.float64(0.5)}}, "['best']['value']", "float64"),
    ({"epoch": [1, _Level(2)]}, "['epoch'][1]", "_Level"),
    ({"name": _Text("x")}, "['name']", "_Text"),
    ({"state": __import__("collections").defaultdict(int)}, "['state']", "defaultdict"),
])
def test_subclasses_of_plain_types_are_refused_with_their_key_path(tmp_path, value, key, kind):
    from vesselnet.train.checkpoint import check_plain

    assert not _loads_weights_only(value, tmp_path)  # what the check protects against
    with pytest.raises(TypeError, match=rf"checkpoint{re.escape(key)}: .*got {kind}\b"):
        check_plain(value)
    with pytest.raises(TypeError, match=rf"checkpoint{re.escape(key)}: "):
        save_checkpoint({**_tiny_state(), **value}, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_everything_check_plain_passes_loads_with_weights_only(tmp_path):
    from collections import OrderedDict

    from vesselnet.train.checkpoint import check_plain

    values = [None, True, 3, 2.5, "s", b"b", [1, (2.0, "x")], {"a": {1: None}}, torch.zeros(2),
              torch.nn.Parameter(torch.ones(1)), OrderedDict(w=torch.ones(1)), torch.Size([2, 3])]
    for value in values:
        check_plain({"v": value})
        assert _loads_weights_only(value, tmp_path), value
