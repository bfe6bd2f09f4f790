"""The Optuna study of ``vesselnet tune``: storage, sampler, pruner, heartbeat, resumption.

- **Storage**: an SQLAlchemy URL (``sqlite:///study.db``; PostgreSQL/MySQL for workers on
  several machines) opened as :class:`optuna.storages.RDBStorage` with a heartbeat: every
  running trial records a heartbeat every ``heartbeat_interval`` seconds; a trial whose
  heartbeat is older than ``grace_period`` (its process was killed) is marked FAIL by
  :func:`optuna.storages.fail_stale_trials` and re-queued once with the same parameters
  (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`).
- **Sampler**: :class:`optuna.samplers.TPESampler`, re-seeded before each trial from
  ``(seed, worker, number of trials in the study)`` (:func:`sampler_seed`): the proposals are
  a function of the seed and the study's history: reproducible, a resumed study does not
  repeat its first proposals (as a sampler seeded once per process would after a restart),
  and parallel workers (each its own ``worker``) differ.
- **Pruner**: :class:`optuna.pruners.MedianPruner` on the validation DSC reported after every
  validation (``none``: never prune).
- **Study record**: the search space, the trial config, the folds and the score rule are stored
  in the study (``user_attrs``) when it is created; resuming or joining it with different ones
  is refused, naming what differs.
"""
from __future__ import annotations

import contextlib
import threading
import warnings

__all__ = [
    "SPEC_ATTR",
    "open_storage",
    "redact",
    "make_sampler",
    "sampler_seed",
    "make_pruner",
    "open_study",
    "heartbeat",
    "quiet",
]

SPEC_ATTR = "vesselnet_tune"
PRUNERS = ("median", "none")


def redact(url: str | None) -> str:
    """``url`` without its password (what logs and ``tune.json`` show)."""
    if url is None:
        return "in-memory"
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given (it has no password)
        return url


def _quiet_optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@contextlib.contextmanager
def quiet():
    """Silence Optuna's notes on what we use on purpose: the heartbeat and stale-trial API are
    marked experimental, and a heartbeat outside ``Study.optimize`` (we ask/tell, to send each
    trial to the DDP ranks, and beat ourselves: :func:`heartbeat`) gets a UserWarning."""
    optuna = _quiet_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def open_storage(url: str | None, *, heartbeat_interval: int | None = 30,
                 grace_period: int | None = None, max_retry: int = 1):
    """An Optuna RDB storage with heartbeats (None: in memory, no resumption).

    Parameters
    ----------
    url : str or None
        SQLAlchemy URL, e.g. ``sqlite:///study.db`` (relative to the working folder) or
        ``sqlite:////abs/path/study.db``.
    heartbeat_interval : int or None
        Seconds between heartbeats of a running trial (None or 0: no heartbeat, a killed trial
        stays RUNNING).
    grace_period : int, optional
        Seconds without a heartbeat after which a running trial is stale (default 2 x the
        interval).
    max_retry : int
        How often a stale trial is re-queued with the same parameters (0: never).

    Raises
    ------
    ValueError
        ``storage`` is not a URL, names an unknown database kind or a missing driver, or cannot
        be opened (missing folder, no permission, not a database); the message quotes it.
    """
    if url is None:
        return None
    if not isinstance(url, str):
        raise TypeError(f"storage: expected a database URL string, got {type(url).__name__}")
    if "://" not in url:
        raise ValueError(f"storage: expected a database URL such as 'sqlite:///study.db', got {url!r}")
    for name, value in (("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name}: expected an integer number of seconds >= 0, got {value!r}")
    if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0:
        raise ValueError(f"max_retry: expected an integer >= 0, got {max_retry!r}")
    optuna = _quiet_optuna()
    kwargs = {}
    if heartbeat_interval:
        kwargs.update(heartbeat_interval=heartbeat_interval, grace_period=grace_period or None)
        if max_retry:
            with quiet():
                kwargs["heartbeat_stale_trial_callback"] = (
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry))
    try:
        with quiet():
            return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - sqlalchemy/driver errors of every kind
        raise ValueError(_storage_message(url, exc)) from exc


def _storage_message(url: str, exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = ""
    if url.startswith("sqlite:"):
        hint = "; does the file's folder exist and is it writable, and is the file an SQLite database?"
    elif isinstance(exc, ImportError) or "plugin" in text.lower():
        hint = "; is the database kind spelled right and its Python driver installed?"
    return f"storage: cannot open {redact(url)!r} ({type(exc).__name__}: {text}){hint}"


def sampler_seed(seed: int, worker: int, n_trials: int) -> int:
    """The TPE seed of the next trial: ``numpy.random.SeedSequence([seed, worker, n_trials])``."""
    import numpy as np

    return int(np.random.SeedSequence([seed, worker, n_trials]).generate_state(1)[0])


def make_sampler(seed: int = 0, worker: int = 0, n_startup_trials: int = 10, n_trials: int = 0):
    """``TPESampler(seed=sampler_seed(seed, worker, n_trials), n_startup_trials=...)``.

    Raises
    ------
    ValueError
        Negative seed/worker or a startup count below 1.
    """
    for name, value, low in (("seed", seed, 0), ("worker", worker, 0),
                             ("n_startup_trials", n_startup_trials, 1), ("n_trials", n_trials, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    optuna = _quiet_optuna()
    return optuna.samplers.TPESampler(seed=sampler_seed(seed, worker, n_trials),
                                      n_startup_trials=n_startup_trials)


def make_pruner(kind="median", *, n_startup_trials: int = 3, n_warmup_steps: int = 0):
    """``MedianPruner`` (``median``), ``NopPruner`` (``none``) or an Optuna pruner object.

    ``n_warmup_steps`` counts epochs of the first fold (a trial's report at fold ``k``, epoch
    ``e`` is step ``k * epochs + e``).

    Raises
    ------
    ValueError
        An unknown pruner name (listing the valid ones) or negative counts.
    """
    optuna = _quiet_optuna()
    if isinstance(kind, optuna.pruners.BasePruner):
        return kind
    if kind not in PRUNERS:
        raise ValueError(f"pruner: unknown pruner {kind!r}; valid pruners: {', '.join(PRUNERS)}")
    for name, value in (("prune_startup", n_startup_trials), ("prune_warmup", n_warmup_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    if kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)


def _differences(old, new, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def open_study(storage, study_name: str, spec: dict, *, sampler, pruner):
    """Create the study or join/resume the one of that name; its record must equal ``spec``.

    Parameters
    ----------
    storage : optuna storage or None
    study_name : str
    spec : dict
        Plain JSON data (space, trial config, folds, score rule) stored in the new study.

    Raises
    ------
    ValueError
        A bad study name, or an existing study of that name made with another spec (names the
        differing entries), or one that minimises.
    """
    if not isinstance(study_name, str) or not study_name.strip() or not study_name.isprintable():
        raise ValueError(f"study_name: expected a non-empty printable name, got {study_name!r}")
    optuna = _quiet_optuna()
    study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler,
                                pruner=pruner, direction="maximize", load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(f"study_name: study {study_name!r} in this storage minimises; "
                         f"vesselnet tune maximises the validation DSC (use another --study-name)")
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is None:
        study.set_user_attr(SPEC_ATTR, spec)
        stored = study.user_attrs.get(SPEC_ATTR, spec)
    diff = _differences(stored, spec)
    if diff:
        shown = ", ".join(diff[:6]) + (" ..." if len(diff) > 6 else "")
        raise ValueError(
            f"study_name: study {study_name!r} in this storage was made with other settings "
            f"(differs at {shown}); resume it with the same preset/config, search space, folds "
            f"and score, or give another --study-name")
    return study


@contextlib.contextmanager
def heartbeat(storage, trial_id: int | None, interval: int | None):
    """Record the trial's heartbeat now and every ``interval`` seconds while the block runs."""
    if storage is None or trial_id is None or not interval:
        yield
        return
    storage.record_heartbeat(trial_id)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next interval
                pass

    thread = threading.Thread(target=beat, name=f"tune-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
