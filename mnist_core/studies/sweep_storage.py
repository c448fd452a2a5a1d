"""Where studies live, and opening one: a SQLite file beside the runs (runs/sweeps.db) unless a
storage URL is given; any worker that opens the same study in the same storage works on it too.
Database errors reach people as a SweepError naming the storage, its password hidden."""
from __future__ import annotations

import contextlib
import functools
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from mnist_core.errors import SweepError
from mnist_core.limits import MAX_TRIALS
from mnist_core.storage.url import engine_url, shown
from mnist_core.studies.sweep_space import check_space, describe_space
from mnist_core.train.config import TrainConfig

DB_NAME = "sweeps.db"
PRUNE_AFTER = 2  # finished trials before the median pruner may stop one


def default_storage(runs_dir=None) -> str:
    """The server's database when MNIST_STORAGE_URL names one; else runs/sweeps.db."""
    from mnist_core import settings
    from mnist_core.runs.folders import runs_root
    from mnist_core.storage.url import is_database

    url = settings.current().storage_url
    if is_database(url):
        return url
    root = runs_root(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / DB_NAME).resolve()}"


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None




@contextlib.contextmanager
def database(storage: str):
    """SQLAlchemy's errors (a damaged file, a full disk, a server gone) as a SweepError."""
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, StorageInternalError) as exc:
        # Optuna wraps SQLAlchemy's errors in StorageInternalError: the cause says what happened.
        cause = exc.__cause__ if isinstance(exc, StorageInternalError) and exc.__cause__ else exc
        first = (str(getattr(cause, "orig", None) or cause).splitlines() or [""])[0][:200]
        raise SweepError(f"the sweeps database {shown(storage)} cannot be used ({first}); if the file is "
                         "damaged, move it aside: a new one is made") from None


@functools.lru_cache(maxsize=4)
def storage_of(url: str):
    """One storage per URL for the process: each holds a database engine and its connections."""
    import optuna

    try:
        if sqlite_path(url) is not None:
            # Several workers write one SQLite file: wait for its lock instead of failing at once.
            return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        return _server_storage(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy and drivers raise their own kinds
        raise SweepError(f"cannot open the storage {shown(url)}: {type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0][:200]}") from None


def _server_storage(url: str, tries: int = 3):
    """`postgresql://` as the docs write it, with whichever driver is installed. Two workers
    started together on an empty database both create Optuna's tables; the one that loses
    ("duplicate key value violates unique constraint") finds them made when it tries again."""
    import optuna
    import sqlalchemy.exc

    for attempt in range(tries):
        try:
            return optuna.storages.RDBStorage(engine_url(url), engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == tries - 1:
                raise
            time.sleep(0.5 + attempt)


def pruner():
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER, n_warmup_steps=0)


def sampler(seed: int | None = None, n_trials: int = 12):
    import optuna

    # Random search for the first third, then TPE: 12 trials leave 8 guided ones.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, n_trials // 3)))


def _settings(study, wait_s: float = 10.0) -> dict:
    """The study's space, base and trial count; a worker that joins while the creator is still
    writing them waits a little. SweepError for a study this app did not make."""
    deadline = time.monotonic() + wait_s
    while True:
        attrs = study.user_attrs
        if all(k in attrs for k in ("space", "base", "n_trials")):
            return attrs
        if time.monotonic() > deadline:
            raise SweepError(f"study {study.study_name!r} has no sweep settings: it is still being created, "
                             "or it was not made by this app")
        time.sleep(0.5)


@dataclass
class Sweep:
    """An open study with what every worker needs: the space, the base config, the trial count."""
    study: object  # optuna.Study
    space: dict
    base: TrainConfig
    n_trials: int
    storage: str

    @property
    def name(self) -> str:
        return self.study.study_name


def open_sweep(name: str | None, storage: str, space: dict | None = None, base: TrainConfig | None = None,
               n_trials: int | None = None, seed: int | None = None) -> Sweep:
    """Create a study, or join one: a joiner's space and base must match (or be left out)."""
    with database(storage):
        return _open(name, storage, space, base, n_trials, seed)


def _open(name, storage, space, base, n_trials, seed) -> Sweep:
    import optuna

    if name is not None and not re.fullmatch(r"[\w.-]{1,80}", name):
        raise SweepError(f"a study name is 1-80 letters, digits, '.', '_' or '-', got {name!r}")
    store = storage_of(storage)
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(store)} if name else {}
    if name in existing:
        study = optuna.load_study(study_name=name, storage=store, pruner=pruner(),
                                  sampler=sampler(seed, existing[name].user_attrs.get("n_trials", 12)))
        attrs = _settings(study)
        saved_space, saved_base = attrs["space"], TrainConfig.from_dict(attrs["base"])
        if space is not None and check_space(space, saved_base) != saved_space:
            raise SweepError(f"study {name!r} varies {describe_space(saved_space)}; join it without --space "
                             "or with the same space")
        if base is not None and base != saved_base:
            raise SweepError(f"study {name!r} has other fixed settings; join it without them")
        if n_trials is not None and n_trials != attrs["n_trials"]:
            raise SweepError(f"study {name!r} runs {attrs['n_trials']} trials; join it without --trials")
        return Sweep(study, saved_space, saved_base, attrs["n_trials"], storage)
    if space is None:
        raise SweepError(f"no study {name!r} in {shown(storage)}: give --space to create it" if name
                         else "give a space to sweep")
    base = base or TrainConfig()
    checked = check_space(space, base)
    n_trials = int(n_trials or 12)
    if not 1 <= n_trials <= MAX_TRIALS:
        raise SweepError(f"trials must be between 1 and {MAX_TRIALS}, got {n_trials}")
    from mnist_core.runs.folders import now

    chosen = name
    # Two people starting a sweep in the same second get two studies.
    name = name or "sweep-" + re.sub(r"\D", "", now())[:14] + "-" + secrets.token_hex(2)
    try:
        study = optuna.create_study(study_name=name, storage=store, direction="maximize",
                                    pruner=pruner(), sampler=sampler(seed, n_trials))
    except optuna.exceptions.DuplicatedStudyError:
        if chosen is None:
            return _open(None, storage, space, base, n_trials, seed)
        return _open(name, storage, space, base, n_trials, seed)  # another worker made it first
    study.set_user_attr("space", checked)
    study.set_user_attr("base", base.to_dict())
    study.set_user_attr("n_trials", n_trials)
    study.set_user_attr("objective", "test accuracy" + (f" after {base.time_budget:g} s of training"
                                                        if base.time_budget else ""))
    return Sweep(study, checked, base, n_trials, storage)


def load(name: str, storage: str):
    """A study by name, to look at (a worker uses open_sweep)."""
    import optuna

    try:
        with database(storage):
            return optuna.load_study(study_name=name, storage=storage_of(storage))
    except KeyError:
        raise SweepError(f"no study {name!r} in {shown(storage)}") from None


def list_studies(storage: str) -> list[dict]:
    import optuna

    out = []
    with database(storage):
        summaries = optuna.get_all_study_summaries(storage_of(storage))
    for s in summaries:
        out.append({"name": s.study_name, "trials": s.n_trials, "n_trials": s.user_attrs.get("n_trials"),
                    "best": s.best_trial.value if s.best_trial else None,
                    "space": s.user_attrs.get("space"), "started": s.datetime_start})
    # A study whose first trial has not started yet has no start time: it is the newest.
    return sorted(out, key=lambda s: s["started"].timestamp() if s["started"] else float("inf"), reverse=True)
