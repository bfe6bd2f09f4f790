"""``vesselnet tune`` (issue 13): trials run and keep their config and scores, a study killed
mid-trial resumes to the right trial count, pruning stops a trial cleanly (also under DDP),
the best config loads and trains, bad search spaces / storages / folds are clear errors.

Tiny data: 4 synthetic phantoms of 24^3 (3 train + 1 validation), a depth-2 network with 2
base maps, 2-4 epochs, one thread.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
torch = pytest.importorskip("torch")

from vesselnet.cli import main  # noqa: E402
from vesselnet.train.config import TrainConfig, load_config, save_config  # noqa: E402
from vesselnet.tune import Fold, holdout_fold, load_space, read_folds, tune, valid_names  # noqa: E402
from vesselnet.tune.storage import make_sampler, open_storage, open_study  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY = {"name": "tiny", "model": {"depth": 2, "base_channels": 2, "proj_dim": 4},
        "data": {"augment": None}, "optim": {"lr": 0.01},
        "run": {"epochs": 2, "val_every": 1, "progress": False, "tensorboard": False,
                "device": "cpu", "num_threads": 1}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared folder of 4 phantoms (24^3) and the tiny config as YAML."""
    from vesselnet.data import PrepareConfig, SyntheticSource, prepare

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tune_data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = prepare(SyntheticSource(n_cases=4, shape=(24, 24, 24), seed=0, depth=4), root / "prepared",
                     PrepareConfig(crop="none", target_shape=(24, 24, 24)), progress=False)
    cfg = TrainConfig.from_preset("multitask-contrastive", TINY)
    save_config(cfg, root / "tiny.yaml")
    return ds, cfg, root


def _trials(out: Path, study_name: str = "tiny"):
    storage = open_storage(f"sqlite:///{out / 'study.db'}", heartbeat_interval=None)
    return optuna.load_study(study_name=study_name, storage=storage).get_trials()


def _epochs_csv(path: Path) -> list[dict]:
    import csv

    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------- trials run
def test_three_trials_keep_config_and_scores_and_the_best_config_trains(prepared, tmp_path, capsys):
    ds, cfg, root = prepared
    out = tmp_path / "study"
    code = main(["tune", "--config", str(root / "tiny.yaml"), "--data", str(ds.root), "--trials", "3",
                 "--out", str(out), "--pruner", "none", "--heartbeat", "1"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    trials = _trials(out)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert len({tuple(t.params.values()) for t in trials}) == 3  # three different proposals
    for t in trials:
        tdir = out / "trials" / f"trial_{t.number:04d}"
        rec = json.loads((tdir / "trial.json").read_text())
        assert rec["state"] == "COMPLETE" and rec["params"] == t.params
        tcfg = load_config(tdir / "config.yaml")  # the trial's config holds its parameters
        assert list(tcfg.loss.lambdas) == [t.params[f"lambda_{s}"] for s in (1, 2, 3)]
        assert (tcfg.loss.lambda_c, tcfg.loss.tau) == (t.params["lambda_c"], t.params["tau"])
        # the reported values and the objective come from the run's own validation log
        rows = _epochs_csv(tdir / "fold_0" / "epochs.csv")
        val = [float(r["val_dsc"]) for r in rows]
        assert len(val) == cfg.run.epochs
        assert t.intermediate_values == {i: v for i, v in enumerate(val)}
        assert t.value == pytest.approx(max(val)) == pytest.approx(rec["value"])
        assert not (tdir / "fold_0" / "checkpoints").exists()  # removed once scored
    best = max(trials, key=lambda t: t.value)
    summary = json.loads((out / "best.json").read_text())
    assert summary["best_trial"] == best.number and summary["counts"]["COMPLETE"] == 3
    assert (out / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best config" in printed.out and "3 complete, 0 pruned, 0 failed" in printed.out
    # the best config is the base config with the best values, and it trains
    tuned = load_config(out / "best.yaml")
    assert list(tuned.loss.lambdas) == [best.params[f"lambda_{s}"] for s in (1, 2, 3)]
    assert tuned.replace({"loss": {"lambdas": list(cfg.loss.lambdas), "lambda_c": cfg.loss.lambda_c,
                                   "tau": cfg.loss.tau}, "name": cfg.name}) == cfg
    from vesselnet.train.checkpoint import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["train", "--config", str(out / "best.yaml"), "--data", str(ds.root),
                     "--out", str(tmp_path / "retrain"), "--epochs", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    model, ckpt = load_model(tmp_path / "retrain" / "checkpoints" / "last.pt")
    assert ckpt["config"]["loss"]["tau"] == best.params["tau"] and ckpt["step"] >= 1
    # the out folder belongs to this study: another storage pointed at it is refused
    code = main(["tune", "--config", str(root / "tiny.yaml"), "--data", str(ds.root), "--trials", "1",
                 "--out", str(out), "--storage", f"sqlite:///{tmp_path / 'other.db'}"])
    assert code == 2
    assert "holds a trial of another study" in capsys.readouterr().err


# ---------------------------------------------------------------------------- resume after kill
_CHILD = textwrap.dedent("""
    import sys, warnings, torch
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from vesselnet.data import PreparedDataset
    from vesselnet.train.config import load_config
    from vesselnet.tune import tune
    tune(load_config(sys.argv[1]), PreparedDataset(sys.argv[2]), sys.argv[3], n_trials=3,
         pruner="none", heartbeat_interval=1, grace_period=2, trial_overrides={"run": {"epochs": 4}})
""")


def test_study_killed_mid_trial_resumes_with_the_right_trial_count(prepared, tmp_path):
    ds, cfg, root = prepared
    out = tmp_path / "study"
    running = out / "trials" / "trial_0001" / "fold_0" / "steps.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(root / "tiny.yaml"), str(ds.root), str(out)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not running.is_file():  # trial 1 is training
        if child.poll() is not None:
            pytest.fail(f"the study ended before it could be killed: {child.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "trial 1 never started"
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    before = _trials(out)
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]  # killed mid-trial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune(cfg, ds, out, n_trials=3, pruner="none", heartbeat_interval=1, grace_period=2,
                      trial_overrides={"run": {"epochs": 4}})
    trials = _trials(out)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3
    assert result.counts["COMPLETE"] == 3 and states[1] == "FAIL"  # the killed trial, marked failed
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert retry[0].params == before[1].params  # re-run with the killed trial's parameters
    rec = json.loads((out / "trials" / f"trial_{retry[0].number:04d}" / "trial.json").read_text())
    assert rec["retry_of"] == 1 and rec["state"] == "COMPLETE"
    assert (out / "best.yaml").is_file()


# ---------------------------------------------------------------------------- pruning
def _prune_at(numbers, last_step=None):
    """A pruner that prunes the given trial numbers at their first report, and every trial
    at step ``last_step``."""

    class Pruner(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.number in numbers or max(trial.intermediate_values) == last_step

    return Pruner()


def test_a_pruned_trial_stops_cleanly_and_the_objective_is_the_mean_over_cv_folds(prepared, tmp_path):
    from vesselnet.cv.splits import make_splits, save_splits

    ds, cfg, _ = prepared
    splits = save_splits(tmp_path / "splits.json", make_splits(ds.case_ids, 2, seed=0))
    out = tmp_path / "study"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # trial 0 is pruned at its first report; trial 1 would be at its very last (step 5):
        # it has run all it will, so it completes instead
        result = tune(cfg, ds, out, n_trials=2, storage=None, pruner=_prune_at({0}, last_step=5),
                      folds=splits, trial_overrides={"run": {"epochs": 3}})
    assert result.counts["PRUNED"] == 1 and result.counts["COMPLETE"] == 1
    pruned = out / "trials" / "trial_0000"
    assert len(_epochs_csv(pruned / "fold_0" / "epochs.csv")) == 1  # stopped after epoch 0, of 3
    assert not (pruned / "fold_1").exists()  # and no other fold started
    run = json.loads((pruned / "fold_0" / "run.json").read_text())
    assert run["status"] == "stopped" and "TrialPruned" in run["reason"]
    assert json.loads((pruned / "trial.json").read_text())["state"] == "PRUNED"
    # the completed trial: both folds, reports at step fold * epochs + epoch, mean of fold bests
    rec = json.loads((out / "trials" / "trial_0001" / "trial.json").read_text())
    bests = []
    for k in (0, 1):
        val = [float(r["val_dsc"]) for r in _epochs_csv(out / "trials" / "trial_0001" / f"fold_{k}" / "epochs.csv")]
        assert len(val) == 3 and rec["folds"][k]["reports"] == [[3 * k + e, v] for e, v in enumerate(val)]
        bests.append(max(val))
    assert result.best_trial == 1 and result.best_value == pytest.approx(sum(bests) / 2)
    assert load_config(result.best_config).loss.tau == result.best_params["tau"]


_DDP_CHILD = textwrap.dedent("""
    import json, os, sys, warnings, torch, optuna
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from vesselnet.data import PreparedDataset
    from vesselnet.train.config import load_config
    from vesselnet.tune import run as tune_run

    class PruneOne(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.number == 1

    seen = []
    original = tune_run._Tuner._trial
    def spy(self, trial, number, params):
        seen.append([number, params])
        return original(self, trial, number, params)
    tune_run._Tuner._trial = spy
    tune_run.tune(load_config(sys.argv[1]), PreparedDataset(sys.argv[2]), sys.argv[3], n_trials=2,
                  pruner=PruneOne(), heartbeat_interval=1, trial_overrides={"run": {"epochs": 3}})
    with open(os.path.join(sys.argv[3], "rank%s.json" % os.environ["RANK"]), "w") as fh:
        json.dump(seen, fh)
""")


def test_one_trial_as_a_ddp_job_gets_the_same_parameters_and_prunes_on_every_rank(prepared, tmp_path):
    ds, _, root = prepared
    out = tmp_path / "study"
    script = tmp_path / "child.py"
    script.write_text(_DDP_CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(root / "tiny.yaml"), str(ds.root), str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert seen[0] == seen[1] and [n for n, _ in seen[0]] == [0, 1]
    assert [t.state.name for t in _trials(out)] == ["COMPLETE", "PRUNED"]
    assert json.loads((out / "trials" / "trial_0000" / "fold_0" / "run.json").read_text())["world_size"] == 2
    assert len(_epochs_csv(out / "trials" / "trial_0001" / "fold_0" / "epochs.csv")) == 1


# ---------------------------------------------------------------------------- sampler, folds
def test_sampler_is_seeded_and_workers_differ():
    space = load_space(None, 3)

    def proposals(seed, worker):
        study = optuna.create_study(direction="maximize")
        out = []
        for n in range(3):
            study.sampler = make_sampler(seed, worker, n_trials=n)
            trial = study.ask()
            out.append(space.suggest(trial))
            study.tell(trial, 0.1 * n)
        return out

    assert proposals(0, 0) == proposals(0, 0)
    assert proposals(0, 0) != proposals(0, 1) and proposals(0, 0) != proposals(1, 0)
    assert len({tuple(p.values()) for p in proposals(0, 0)}) == 3  # no repeat across trials


def test_holdout_and_saved_folds(tmp_path):
    from vesselnet.cv.splits import make_splits, save_splits
    from vesselnet.train.launch import holdout_split

    ids = [f"c{i}" for i in range(10)]
    a = holdout_fold(ids, val_fraction=0.3, seed=4)
    assert (list(a.train), list(a.val)) == holdout_split(ids, val_fraction=0.3, seed=4)  # as `train`
    assert len(a.val) == 3 and sorted(a.train + a.val) == sorted(ids)
    assert holdout_fold(ids, val_cases=["c9"]).val == ("c9",)
    with pytest.raises(ValueError, match="val_fraction: holds out no case"):
        holdout_fold(ids, val_fraction=0.0)
    groups = make_splits(ids, 3, seed=1)
    path = save_splits(tmp_path / "splits.json", groups, seed=1)  # what `vesselnet cv` saves
    folds = read_folds(path, ids)
    assert [f.index for f in folds] == [0, 1, 2]
    for f, held in zip(folds, groups):
        assert list(f.val) == held and sorted(f.train) == sorted(set(ids) - set(held))
    with pytest.raises(ValueError, match="splits file .*names 1 case.* the data does not hold: c9"):
        read_folds(path, ids[:9])
    path.write_text("{not json")
    with pytest.raises(ValueError, match="splits file .*splits.json.*cannot read it as JSON"):
        read_folds(path)


def test_folds_naming_missing_cases_are_refused(prepared, tmp_path):
    ds, cfg, _ = prepared
    bad = [Fold(0, tuple(ds.case_ids[:3]), ("nobody",))]
    with pytest.raises(ValueError, match="fold 0 names cases the dataset does not hold: \\['nobody'\\]"):
        tune(cfg, ds, tmp_path / "s", n_trials=1, storage=None, folds=bad)
    with pytest.raises(ValueError, match="fold: no fold 3; available folds: \\[0\\]"):
        tune(cfg, ds, tmp_path / "s", n_trials=1, storage=None, fold_indices=[3])
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("spec, match", [
    ({"tau": [1.0, 0.1]}, r"search space 'tau': inverted range, low 1 > high 0.1"),
    ({"lambda_2": [-0.5, 1.0]}, r"search space 'lambda_2': negative bound in \[-0.5, 1\]; lambda_2 must be >= 0"),
    ({"tau": [0.0, 1.0]}, r"search space 'tau': low must be > 0 for tau, got 0"),
    ({"lr": {"low": 0.0, "high": 1e-3, "log": True}}, r"search space 'lr': low must be > 0"),
    ({"lambda_c": [0.5, 0.5]}, r"search space 'lambda_c': empty range"),
    ({"lambda_4": [0.0, 1.0]}, r"unknown parameter 'lambda_4'; valid parameters: lambda_1, lambda_2, "
                               r"lambda_3, lambda_c, tau, lr"),
    ({"lambda_1": None, "lambda_2": None, "lambda_3": None, "lambda_c": None, "tau": None},
     r"no parameter left to search"),
])
def test_bad_search_spaces_are_clear_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        load_space(spec, 3)


def test_bad_range_types_and_a_space_the_model_does_not_use(prepared):
    _, cfg, _ = prepared
    with pytest.raises(TypeError, match=r"search space 'tau': expected \[low, high\]"):
        load_space({"tau": 0.5}, 3)
    with pytest.raises(TypeError, match=r"search space 'tau' high: expected a number, got 'x'"):
        load_space({"tau": [0.1, "x"]}, 3)
    assert valid_names(2) == ["lambda_1", "lambda_2", "lambda_c", "tau", "lr"]
    binary = TrainConfig.from_preset("resunet-binary", {"model": {"depth": 2, "base_channels": 2}})
    with pytest.raises(ValueError, match="model.kind 'binary' does not use"):
        load_space(None, 3).check_config(binary)
    space = load_space({"lr": [1e-4, 1e-3], "tau": None}, 3)
    assert space.names == ["lambda_1", "lambda_2", "lambda_3", "lambda_c", "lr"]
    assert space.apply(cfg, {"lr": 5e-4, "lambda_2": 0.25}).optim.lr == 5e-4
    assert space.apply(cfg, {"lambda_2": 0.25}).loss.lambdas == (cfg.loss.lambdas[0], 0.25, cfg.loss.lambdas[2])


@pytest.mark.parametrize("url, match", [
    ("sqlite:////nonexistent-folder-xyz/sub/study.db",
     r"storage: cannot open 'sqlite:////nonexistent-folder-xyz/sub/study.db' \(OperationalError"),
    ("nosuchdb://host/db", r"storage: cannot open 'nosuchdb://host/db'.*database kind"),
    ("study.db", r"storage: expected a database URL such as 'sqlite:///study.db', got 'study.db'"),
])
def test_a_storage_that_cannot_be_opened_is_named(url, match, prepared, tmp_path):
    ds, cfg, _ = prepared
    with pytest.raises(ValueError, match=match):
        tune(cfg, ds, tmp_path / "s", n_trials=1, storage=url)
    assert not (tmp_path / "s").exists()


def test_cli_bad_inputs_exit_2_with_one_line(prepared, tmp_path, capsys):
    ds, _, root = prepared
    base = ["tune", "--config", str(root / "tiny.yaml"), "--data", str(ds.root), "--trials", "1",
            "--out", str(tmp_path / "s")]
    cases = [
        (["--param", "tau=1:0.1"], "inverted range"),
        (["--param", "lambda_9=0:1"], "valid parameters: lambda_1, lambda_2, lambda_3, lambda_c, tau, lr"),
        (["--param", "tau=a:b"], "--param tau: bounds must be numbers"),
        (["--storage", "sqlite:////nonexistent-folder-xyz/study.db"], "cannot open 'sqlite:////nonexistent"),
        (["--trials", "0"], "--trials: expected an integer >= 1, got 0"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    space = tmp_path / "space.yaml"
    space.write_text("lambda_1: [0.2, -1]\n")
    assert main(base + ["--space", str(space)]) == 2
    assert f"search space ({space})" in capsys.readouterr().err
    marker = tmp_path / "created-by-yaml"
    space.write_text(f"tau: !!python/object/apply:os.system ['touch {marker}']\n")
    assert main(base + ["--space", str(space)]) == 2
    assert "as plain YAML" in capsys.readouterr().err and not marker.exists()
    assert main(base + ["--set", "model.depth=-1"]) == 2
    assert "config key 'model.depth'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_study_is_resumed_only_with_its_own_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    spec = {"space": load_space(None, 3).to_dict(), "score": "best"}
    sampler, pruner = make_sampler(), optuna.pruners.NopPruner()
    open_study(open_storage(url), "s", spec, sampler=sampler, pruner=pruner)
    open_study(open_storage(url), "s", json.loads(json.dumps(spec)), sampler=sampler, pruner=pruner)
    other = {**spec, "space": load_space({"tau": [0.1, 0.5]}, 3).to_dict()}
    with pytest.raises(ValueError, match=r"study 's' in this storage was made with other settings "
                                         r"\(differs at space.tau.high, space.tau.low\)"):
        open_study(open_storage(url), "s", other, sampler=sampler, pruner=pruner)


def test_heartbeat_keeps_a_long_trial_alive_and_a_silent_one_goes_stale(tmp_path):
    from vesselnet.tune.storage import heartbeat, quiet

    storage = open_storage(f"sqlite:///{tmp_path / 'hb.db'}", heartbeat_interval=1, grace_period=2,
                           max_retry=0)
    study = optuna.create_study(storage=storage, study_name="hb")
    with quiet():
        alive, silent = study.ask(), study.ask()
        storage.record_heartbeat(silent._trial_id)  # beats once, then its process "dies"
        with heartbeat(storage, alive._trial_id, 1):
            time.sleep(3.5)
            optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {alive.number: "RUNNING", silent.number: "FAIL"}


def test_ctrl_c_fails_the_trial_and_queues_it_again(prepared, tmp_path):
    ds, cfg, _ = prepared

    class Interrupt(optuna.pruners.BasePruner):  # the user presses Ctrl-C during validation
        def prune(self, study, trial):
            raise KeyboardInterrupt

    out, url = tmp_path / "study", f"sqlite:///{tmp_path / 'study.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            tune(cfg, ds, out, n_trials=1, storage=url, pruner=Interrupt())
        trials = _trials_at(url)
        assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
        assert trials[1].params == trials[0].params
        run = json.loads((out / "trials" / "trial_0000" / "fold_0" / "run.json").read_text())
        assert run["status"] == "interrupted"  # the trainer's own record of a Ctrl-C
        tune(cfg, ds, out, n_trials=1, storage=url, pruner="none")
    trials = _trials_at(url)
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and trials[1].params == trials[0].params


def _trials_at(url: str, study_name: str = "tiny"):
    return optuna.load_study(study_name=study_name, storage=open_storage(url, heartbeat_interval=None)).get_trials()


def test_search_space_yaml_with_exponent_floats_reads_numbers():
    """PyYAML (YAML 1.1) reads ``1e-4`` as a string; the space takes it as the number, as the
    training config does, and still refuses other strings."""
    import yaml

    spec = yaml.safe_load("lr: {low: 1e-4, high: 1e-3, log: true}\ntau: [5e-2, 1]\n")
    assert isinstance(spec["lr"]["low"], str)  # the YAML 1.1 reading this test is about
    space = load_space(spec, 3)
    assert (space.ranges["lr"].low, space.ranges["lr"].high) == (1e-4, 1e-3)
    assert space.ranges["tau"].low == 0.05
    with pytest.raises(TypeError, match=r"search space 'lr' low: expected a number, got '1e-4x'"):
        load_space({"lr": ["1e-4x", 1e-3]}, 3)
