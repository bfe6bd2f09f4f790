"""The training loop (issue 11): determinism, logs, checkpoints, every preset, bad input."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from tests.vesselnet.train_support import read_csv, tiny_cases, tiny_config, tiny_dataset
from vesselnet.train.checkpoint import CheckpointError, load_checkpoint, load_model
from vesselnet.train.config import PRESETS
from vesselnet.train.trainer import TrainingError, train


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _losses(run) -> list[str]:
    return [r["total"] for r in read_csv(run / "steps.csv")]


def test_same_seed_same_loss_sequence_and_other_seed_differs(tmp_path):
    cfg = tiny_config(overrides={"loss": {"contrastive_mode": "voxel", "num_samples": 3},
                                 "data": {"augment": {}}, "run": {"val_every": 0}})
    ds = tiny_dataset()
    a = train(cfg, ds, None, tmp_path / "a")
    b = train(cfg, ds, None, tmp_path / "b")
    assert len(a.losses) == 4 and a.losses == b.losses  # bit for bit
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
    assert all(math.isfinite(v) for v in a.losses)
    c = train(cfg.replace({"seed": 1}), ds, None, tmp_path / "c")
    assert c.losses != a.losses  # positive control: the seed matters
    wa, wb = load_checkpoint(a.last_checkpoint)["model"], load_checkpoint(b.last_checkpoint)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_trains_validates_and_checkpoints(tmp_path, preset):
    cfg = tiny_config(preset, {"run": {"epochs": 1}})
    ds = tiny_dataset()
    res = train(cfg, ds.subset(ds.case_ids[:2]), ds.subset(ds.case_ids[2:]), tmp_path / "run")
    steps = read_csv(tmp_path / "run" / "steps.csv")
    assert len(steps) == 1 and steps[0]["cases"].count(";") == 1
    expected = {"binary": {"total"}, "multiclass": {"total"},
                "multitask": {"mt", "s1", "s2", "s3", "total"}}[cfg.model.kind]
    if cfg.loss.lambda_c > 0:
        expected |= {"contrastive"}
    assert expected <= set(steps[0]) and all(math.isfinite(float(steps[0][k])) for k in expected)
    epochs = read_csv(tmp_path / "run" / "epochs.csv")
    assert epochs[0]["val_cases"] == "2" and 0 <= float(epochs[0]["val_dsc"]) <= 1
    assert res.best_checkpoint is not None and res.best["metric"] == "val_dsc"
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "completed" and record["config"] == cfg.to_dict()
    assert {"torch", "python", "vesselnet"} <= set(record["versions"]) and "git_commit" in record
    model, ckpt = load_model(res.last_checkpoint)
    assert ckpt["prepare"] == ds.config.to_dict()  # predict needs nothing else
    with torch.no_grad():
        out = model(torch.from_numpy(tiny_cases()[0].image[None]))
    assert out.shape == (1, cfg.model.out_channels, 16, 16, 16)


def test_contrastive_term_is_nonzero_with_all_scales_and_a_missing_scale_warns(tmp_path):
    cfg = tiny_config(overrides={"data": {"shuffle": False}, "run": {"val_every": 0, "epochs": 1}})
    cases = list(tiny_cases())
    assert all(c.scales.reshape(3, -1).max(1).min() > 0 for c in cases)
    res = train(cfg, tiny_dataset(cases=cases), None, tmp_path / "full")
    rows = read_csv(tmp_path / "full" / "steps.csv")
    assert all(float(r["contrastive"]) > 0 and r["missing_scales"] == "" for r in rows)
    assert len(rows) == len(res.losses) == 2
    lacking = cases[3]
    scales = lacking.scales.copy()
    scales[2] = 0
    cases[3] = dataclasses.replace(lacking, scales=scales,
                                   vessel=scales.max(axis=0, keepdims=True))
    with pytest.warns(UserWarning, match=f"{lacking.case_id} lacks scale 3"):
        train(cfg, tiny_dataset(cases=cases), None, tmp_path / "lack")
    rows = read_csv(tmp_path / "lack" / "steps.csv")
    assert [r["missing_scales"] for r in rows] == ["", f"{lacking.case_id}:3"]


def test_nan_input_stops_with_step_cases_and_keeps_the_last_checkpoint(tmp_path):
    cases = list(tiny_cases())
    image = cases[2].image.copy()
    image[0, 3, 4, 5] = np.nan
    cases[2] = dataclasses.replace(cases[2], image=image)
    cfg = tiny_config(overrides={"data": {"shuffle": False, "augment": None},
                                 "run": {"checkpoint_every_steps": 1, "val_every": 0}})
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"epoch 0, step 2 \(batch cases synthetic_002, "
                       r"synthetic_003\): invalid input .* x: expected finite values, got 1 NaN.*"
                       r"last good checkpoint is .*last.pt' \(step 1\)"):
        train(cfg, tiny_dataset(cases=cases), None, run)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 1
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and "synthetic_002" in record["error"]


def test_nonfinite_loss_stops_the_run(tmp_path, monkeypatch):
    from vesselnet.train import objective

    real = objective.Objective.forward
    calls = []

    def diverges(self, output, batch):
        loss, terms = real(self, output, batch)
        calls.append(1)
        return (loss * float("inf"), terms) if len(calls) == 3 else (loss, terms)

    monkeypatch.setattr(objective.Objective, "forward", diverges)
    cfg = tiny_config(overrides={"run": {"val_every": 0}})
    with pytest.raises(TrainingError, match=r"epoch 1, step 3 .*non-finite loss inf.*"
                       r"last good checkpoint is .*\(step 2\)"):
        train(cfg, tiny_dataset(), None, tmp_path / "run")


def test_output_folder_of_another_run_is_refused(tmp_path):
    cfg = tiny_config(overrides={"run": {"epochs": 1, "val_every": 0}})
    ds = tiny_dataset()
    run = tmp_path / "run"
    train(cfg, ds, None, run)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(ValueError, match="already holds another run .* --resume .* --overwrite"):
        train(cfg, ds, None, run)
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"already holds files \(notes.txt\)"):
        train(cfg, ds, None, other)
    with pytest.raises(ValueError, match="resume: .* holds no run to resume"):
        train(cfg, ds, None, tmp_path / "empty", resume=True)
    res = train(cfg.replace({"seed": 3}), ds, None, run, overwrite=True)
    assert res.steps == 2 and len(read_csv(run / "steps.csv")) == 2


def test_resume_refuses_incompatible_or_truncated_checkpoints(tmp_path):
    cfg = tiny_config(overrides={"run": {"epochs": 1, "val_every": 0}})
    ds = tiny_dataset()
    run = tmp_path / "run"
    train(cfg, ds, None, run)
    last = run / "checkpoints" / "last.pt"
    before = last.read_bytes()
    wider = cfg.replace({"model": {"base_channels": 3}, "run": {"epochs": 2}})
    with pytest.raises(CheckpointError, match=r"made with another config \(differs at model.base_channels\)"):
        train(wider, ds, None, run, resume=True)
    last.write_bytes(before[: len(before) // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        train(cfg.replace({"run": {"epochs": 2}}), ds, None, run, resume=True)
    assert last.read_bytes() == before[: len(before) // 3]  # left as it was
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


def test_cuda_requested_but_absent_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(ValueError, match="device: 'cuda' was requested but CUDA is not available"):
        train(tiny_config(), tiny_dataset(), None, tmp_path / "run", device="cuda")
    assert not (tmp_path / "run").exists()


def test_dataset_with_other_scale_count_is_refused(tmp_path):
    cfg = tiny_config()
    ds = tiny_dataset()
    ds.config = dataclasses.replace(ds.config, n_scales=4)
    with pytest.raises(ValueError, match="train_dataset: holds 4 scales, the config's model.num_scales is 3"):
        train(cfg, ds, None, tmp_path / "run")


def test_the_config_builds_the_data_pipeline_and_the_trainer(tmp_path):
    from vesselnet.data import Augmenter, CaseLoader

    cfg = tiny_config(overrides={"run": {"epochs": 1, "val_every": 0}})
    ds = tiny_dataset()
    loader = cfg.build_loader(ds)
    assert isinstance(loader, CaseLoader) and (loader.batch_size, loader.seed) == (2, cfg.seed)
    assert isinstance(cfg.build_augmenter(), Augmenter)
    assert cfg.replace({"data": {"augment": None}}).build_augmenter() is None
    assert isinstance(cfg.build_optimizer(cfg.build_model().parameters()), torch.optim.Adam)
    by_parts = cfg.build_trainer(loader, None, tmp_path / "a").fit()
    assert by_parts.losses == train(cfg, ds, None, tmp_path / "b").losses


def test_objective_targets_of_each_kind():
    from vesselnet.losses import dice_ce_loss, total_loss
    from vesselnet.train.objective import missing_scales, scale_class_ids

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 1, 4, 4, 4), generator=g)  # 0 background, s = scale s
    scales = torch.cat([(labels == s).float() for s in (1, 2, 3)], dim=1)
    batch = {"vessel": (labels > 0).float(), "scales": scales, "case_id": ["a", "b"]}
    assert torch.equal(scale_class_ids(scales), labels)
    logits = torch.randn(2, 4, 4, 4, 4, generator=g)
    cfg = tiny_config("resunet-multiclass")
    loss, _ = cfg.build_loss()(logits, batch)
    assert torch.equal(loss, dice_ce_loss(logits, labels, **cfg.loss.dice_ce_options()))
    binary = tiny_config("resunet-binary")
    loss, _ = binary.build_loss()(logits[:, :1], batch)
    assert torch.equal(loss, dice_ce_loss(logits[:, :1], batch["vessel"]))
    mt = tiny_config("multitask")
    out = (logits[:, :1], [logits[:, s:s + 1] for s in (1, 2, 3)], [torch.randn(2, 4, 2, 2, 2)] * 3)
    loss, terms = mt.build_loss()(out, batch)
    assert torch.equal(loss, total_loss(out, batch["vessel"], scales, lambda_c=0.0))
    assert missing_scales(batch) == []
    scales[1, 2] = 0
    assert ("b", (3,)) in missing_scales({**batch, "scales": scales})
