"""Sweeps on Optuna: a study over a TrainConfig search space, each trial a normal run folder.

- The space: which settings vary and how, as text (`lr=1e-4..1e-1:log batch_size=32,64,128`)
  or as a dict ({"lr": {"low": 1e-4, "high": 0.1, "log": true}, "batch_size": {"choices": [...]}});
  checked against TrainConfig before any trial starts. Numeric model options (the CNN's
  `dropout`, `hidden`, ...) vary by their own names.
- The objective: the run's final test accuracy (maximised); with a base `time_budget`, the
  accuracy reached in that many seconds of training.
- Pruning: Optuna's median pruner on the test accuracy after each epoch (or at each tenth of a
  budgeted run), once two trials have finished.
- Storage: a SQLite file beside the runs (runs/sweeps.db) unless a storage URL is given; any
  worker that opens the same study in the same storage works on it too. `claim()` makes the
  workers together run exactly the study's number of trials: on SQLite a lock file beside the
  database serialises claims; on a server database (several machines) a trial asked for past
  the limit is marked FAIL ("surplus") without running.

`work()` is one worker: a generator of events ("trial" when a trial starts, the run's own
training events, "trial_end" with its state and value); the CLI and the tests drive it. The
app's sweep runs its trials as ordinary jobs instead (studio.sweep_job), so they count against
the server's job limits.
"""
from __future__ import annotations

import contextlib
import functools
import secrets
import time
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import ConfigError, TrainConfig, _coerce
from .errors import SweepError  # noqa: F401  (defined there, torch-free)
from .models import MODELS

DB_NAME = "sweeps.db"
MAX_TRIALS = 200
FLOAT_FIELDS = ("lr", "weight_decay", "label_smoothing", "momentum", "gamma", "warmup_epochs", "restart_epochs")
INT_FIELDS = ("batch_size", "epochs", "train_subset", "step_size")
# Not "model": each model has its own options, so a sweep over models is a sweep per model
# (Head to head compares models).
CHOICE_FIELDS = ("optimizer", "schedule", "augment", "distort")
PRUNE_AFTER = 2  # finished trials before the median pruner may stop one


# ------------------------------------------------------------------ the search space

def _is_model_option(name: str, base: TrainConfig) -> bool:
    """A name that is one of the base model's options (dropout, hidden...), not a TrainConfig field."""
    return name in MODELS[base.model].args and name not in FLOAT_FIELDS + INT_FIELDS + CHOICE_FIELDS


def _kind(name: str, base: TrainConfig) -> str:
    """"float", "int" or "choice" for a field or a numeric model option of the base model."""
    if name in FLOAT_FIELDS:
        return "float"
    if name in INT_FIELDS:
        return "int"
    if name in CHOICE_FIELDS:
        return "choice"
    arg = MODELS[base.model].args.get(name)
    if arg is not None and arg.kind in ("int", "float"):
        return arg.kind
    if arg is not None and arg.kind in ("bool", "choice"):
        return "choice"
    options = sorted(FLOAT_FIELDS + INT_FIELDS + CHOICE_FIELDS) + sorted(
        a for a, spec in MODELS[base.model].args.items() if spec.kind != "ints")
    raise SweepError(f"{name!r} cannot be swept; choose from {', '.join(options)}")


def parse_space(text: str) -> dict:
    """'lr=1e-4..1e-1:log batch_size=32,64' -> the dict form (values still as typed)."""
    space = {}
    for entry in re.split(r"[\s;]+", text.strip()):
        if not entry:
            continue
        name, sep, spec = entry.partition("=")
        if not sep or not name or not spec:
            raise SweepError(f"{entry!r}: write name=low..high[:log] or name=a,b,c")
        if ".." in spec:
            bounds, _, scale = spec.partition(":")
            low, _, high = bounds.partition("..")
            if scale not in ("", "log"):
                raise SweepError(f"{entry!r}: the only scale is ':log'")
            space[name] = {"low": low, "high": high, "log": scale == "log"}
        else:
            space[name] = {"choices": [c for c in spec.split(",") if c != ""]}
    if not space:
        raise SweepError("the space is empty: name at least one setting to vary")
    return space


def _value(name: str, value, base: TrainConfig):
    """One value of a field as TrainConfig (or the model's option) takes it, checked."""
    try:
        if _is_model_option(name, base):
            config = base.replace(model_kwargs={**base.model_kwargs, name: value})
            return config.model_kwargs[name]
        config = base.replace(**{name: _coerce(name, value)})
        return getattr(config, name)
    except ConfigError as exc:
        raise SweepError(f"{name}: {value!r} is not a valid value ({exc})") from None


def check_space(space: dict, base: TrainConfig) -> dict:
    """The space with every bound and choice checked against TrainConfig; SweepError otherwise."""
    if not isinstance(space, dict) or not space:
        raise SweepError("the space is empty: name at least one setting to vary")
    out = {}
    for name, spec in space.items():
        kind = _kind(name, base)
        if not isinstance(spec, dict):
            raise SweepError(f"{name}: give a range (low, high) or choices")
        if "choices" in spec:
            choices = []
            for c in spec["choices"]:
                v = _value(name, c, base)
                if v not in choices:
                    choices.append(v)
            if len(choices) < 2:
                raise SweepError(f"{name}: give at least two different choices, got {spec['choices']!r}")
            out[name] = {"choices": choices}
            continue
        if kind == "choice":
            raise SweepError(f"{name} takes choices (a,b,c), not a range")
        low, high = _value(name, spec.get("low"), base), _value(name, spec.get("high"), base)
        if kind == "int":
            low, high = int(low), int(high)
        log = bool(spec.get("log", False))
        if not low < high:
            raise SweepError(f"{name}: the range {low:g}..{high:g} is empty; the low end must be below the high end")
        if log and low <= 0:
            raise SweepError(f"{name}: a log scale needs a low end above 0, got {low:g}")
        out[name] = {"low": low, "high": high, "log": log}
    return out


def describe_space(space: dict) -> str:
    """The space as the text form (what the CLI takes)."""
    parts = []
    for name, spec in space.items():
        if "choices" in spec:
            parts.append(f"{name}={','.join(str(c).lower() if isinstance(c, bool) else str(c) for c in spec['choices'])}")
        else:
            parts.append(f"{name}={spec['low']:g}..{spec['high']:g}{':log' if spec['log'] else ''}")
    return " ".join(parts)


def suggest(trial, space: dict, base: TrainConfig) -> TrainConfig:
    """The trial's config: the base with each varied setting as Optuna suggests it."""
    values = {}
    for name, spec in space.items():
        if "choices" in spec:
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return config_of(values, base)


def config_of(params: dict, base: TrainConfig, digits: int | None = None) -> TrainConfig:
    """The base with a trial's parameters (settings and model options); with `digits`, floats
    rounded to that many significant digits, as a person would type them."""
    if digits:
        params = {k: float(f"{v:.{digits}g}") if isinstance(v, float) else v for k, v in params.items()}
    kwargs = {k: v for k, v in params.items() if _is_model_option(k, base)}
    fields = {k: v for k, v in params.items() if k not in kwargs}
    return base.replace(**fields, model_kwargs={**base.model_kwargs, **kwargs})


# ------------------------------------------------------------------ studies and storage

def default_storage(runs_dir=None) -> str:
    from .runs import runs_root

    root = runs_root(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / DB_NAME).resolve()}"


def _sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def shown(url: str) -> str:
    """A storage URL fit for a message: its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: show nothing of it
        return url.split("://", 1)[0] + "://..." if "://" in url else "(the storage URL given)"


@contextlib.contextmanager
def _database(storage: str):
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
        if _sqlite_path(url) is not None:
            # Several workers write one SQLite file: wait for its lock instead of failing at once.
            return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy and drivers raise their own kinds
        raise SweepError(f"cannot open the storage {shown(url)}: {type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0][:200]}") from None


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
    with _database(storage):
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
    from .runs import now

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
        with _database(storage):
            return optuna.load_study(study_name=name, storage=storage_of(storage))
    except KeyError:
        raise SweepError(f"no study {name!r} in {shown(storage)}") from None


def list_studies(storage: str) -> list[dict]:
    import optuna

    out = []
    with _database(storage):
        summaries = optuna.get_all_study_summaries(storage_of(storage))
    for s in summaries:
        out.append({"name": s.study_name, "trials": s.n_trials, "n_trials": s.user_attrs.get("n_trials"),
                    "best": s.best_trial.value if s.best_trial else None,
                    "space": s.user_attrs.get("space"), "started": s.datetime_start})
    # A study whose first trial has not started yet has no start time: it is the newest.
    return sorted(out, key=lambda s: s["started"].timestamp() if s["started"] else float("inf"), reverse=True)


def _claim_lock(storage: str):
    """Serialises claims on one machine's SQLite study (filelock: installed with torch)."""
    from filelock import FileLock

    path = _sqlite_path(storage)
    return FileLock(f"{path}.lock") if path is not None else contextlib.nullcontext()


def _taken(trials) -> int:
    """Trials claimed so far: running or finished, and not a surplus one. Enqueued (waiting)
    trials are not claimed yet: ask() hands them out first."""
    import optuna

    waiting = optuna.trial.TrialState.WAITING
    return sum(1 for t in trials if t.state != waiting and not t.user_attrs.get("surplus"))


def claim(sweep: Sweep):
    """The next trial to run, or None once the study has its number of trials."""
    with _claim_lock(sweep.storage):
        if _taken(sweep.study.get_trials(deepcopy=False)) >= sweep.n_trials:
            return None
        trial = sweep.study.ask()
    before = [t for t in sweep.study.get_trials(deepcopy=False) if t.number < trial.number]
    if _taken(before) >= sweep.n_trials:  # another machine's worker took the last one first
        give_back(sweep, trial)
        return None
    return trial


def give_back(sweep: Sweep, trial) -> None:
    """A claimed trial that could not start: ended without counting, so another takes its place."""
    import optuna

    trial.set_user_attr("surplus", True)
    sweep.study.tell(trial, state=optuna.trial.TrialState.FAIL)


def remaining(sweep: Sweep) -> int:
    return max(0, sweep.n_trials - _taken(sweep.study.get_trials(deepcopy=False)))


# ------------------------------------------------------------------ one trial's outcome

def step_of(event: dict, config: TrainConfig) -> int | None:
    """The pruner's step for a training event: how far through its run, in thousandths. Trials
    of different lengths are then compared at the same share of their runs (a one-cycle rate is
    at its peak a third of the way through whatever the epochs), never a long run's first epoch
    against a short one's last. For a budgeted run, the tenth of the budget a probe was taken
    at. None for other events and for part-epochs."""
    if config.time_budget:
        if event["kind"] != "probe":
            return None
        return 100 * max(1, int(round(event["train_seconds"] / config.time_budget * 10)))
    if event["kind"] == "epoch" and float(event["epoch"]).is_integer():
        return int(round(1000 * event["epoch"] / config.epochs))
    return None


def report(trial, event: dict, config: TrainConfig, may_prune: bool = True) -> bool:
    """Tell Optuna the accuracy this event carries; True when the pruner says stop. Never at the
    run's end: stopping there saves nothing, and the trial's answer is complete."""
    step = step_of(event, config)
    if step is None:
        return False
    trial.report(float(event["test_acc"]), step)
    return may_prune and step < 1000 and trial.should_prune()


def finish(sweep: Sweep, trial, status: str, epochs: list[dict], pruned: bool, run_id: str | None,
           message: str = "") -> tuple[str, float | None]:
    """Record a trial's end in the study: (state, value)."""
    import optuna

    State = optuna.trial.TrialState
    if run_id:
        trial.set_user_attr("run_id", run_id)
    trial.set_user_attr("status", status)
    if pruned:
        sweep.study.tell(trial, state=State.PRUNED)
        return "pruned", None
    if status in ("completed", "diverged") and (epochs or status == "diverged"):
        # A diverged run is an answer too ("this rate is too high"): its last accuracy, or chance.
        value = float(epochs[-1]["test_acc"]) if epochs else 1.0 / 10
        sweep.study.tell(trial, value)
        return "complete", value
    trial.set_user_attr("message", message[:300])
    sweep.study.tell(trial, state=State.FAIL)
    return "failed", None


def trial_label(sweep: Sweep, number: int) -> str:
    return f"{sweep.name} #{number}"


def work(sweep: Sweep, data=None, runs_dir=None, data_dir=None, owner: dict | None = None) -> Iterator[dict]:
    """One worker: claim trials until the study has all of them, training each in this process.
    A trial this worker claimed is always told its end, even when the worker is interrupted
    (Ctrl-C, a closed generator): otherwise it would stay "running" and the study never finish."""
    if data is None:
        from .data import load_dataset

        data = load_dataset(sweep.base.dataset, data_dir)
    while (trial := claim(sweep)) is not None:
        told = False
        try:
            end = yield from _one_trial(sweep, trial, data, runs_dir, owner)
            told = True
            yield end
        finally:
            if not told:
                finish(sweep, trial, "failed", [], False, None, "the worker was interrupted")


def _one_trial(sweep: Sweep, trial, data, runs_dir, owner) -> Iterator[dict]:
    """Train one claimed trial, yielding its events; returns its "trial_end" event once told."""
    from .recorder import record
    from .runs import RunError
    from .training import Trainer

    epochs, status, run_id, pruned, message = [], "failed", None, False, ""
    try:
        # A suggestion the memory budget refuses (a huge batch for a wide model) fails this
        # trial only, with the reason.
        config = suggest(trial, sweep.space, sweep.base)
    except ConfigError as exc:
        config, message = None, str(exc)
    if config is not None:
        yield {"kind": "trial", "trial": trial.number, "params": dict(trial.params), "of": sweep.n_trials}
        # Not the storage URL: a server database's carries its password.
        summary = {**(owner or {}), "sweep": {"study": sweep.name, "trial": trial.number}}
        try:
            events = record(Trainer(config, data), runs_dir, label=trial_label(sweep, trial.number), owner=summary)
            try:
                for event in events:
                    run_id = event.get("run_id", run_id)
                    yield {**event, "trial": trial.number}
                    if event["kind"] == "epoch":
                        epochs.append(event)
                    if event["kind"] == "end":
                        status, message = event["status"], event.get("message", "")
                    if report(trial, event, config):
                        pruned, status = True, "stopped"
                        break
            finally:
                events.close()
        except (ConfigError, RunError, OSError, RuntimeError) as exc:
            message = str(exc)
    state, value = finish(sweep, trial, status, epochs, pruned, run_id, message)
    return {"kind": "trial_end", "trial": trial.number, "state": state, "value": value, "run_id": run_id,
            "params": dict(trial.params), "message": message}


def best_trials(sweep: Sweep, top: int = 5) -> list:
    import optuna

    done = [t for t in sweep.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: -t.value)[:top]


def figures(study) -> dict:
    """Optuna's own plotly figures, those the study has enough finished trials for."""
    import optuna
    from optuna import visualization as vis

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    out = {}
    if not done:
        return out
    # The objective is a test accuracy: named so and read in per cent where Optuna's axes allow
    # ("Objective Value" 0.782 beside a table's 78.19% puzzled a new user).
    name = "Test accuracy"
    out["history"] = vis.plot_optimization_history(study, target_name=name)
    varied = {k for t in done for k in t.params if len({str(u.params.get(k)) for u in done}) > 1}
    if len(done) >= 2 and varied:
        out["parallel"] = vis.plot_parallel_coordinate(study, target_name=name)
        out["slice"] = vis.plot_slice(study, target_name=name)
        out["slice"].update_yaxes(tickformat=".1%")
        if len(done) >= 3:
            try:
                # PED-ANOVA: numpy only, 0.02 s and 1.5 MB for 12 trials here; the default
                # (fANOVA) took 0.9 s and loaded scikit-learn and SciPy, 88 MB more in the server.
                out["importance"] = vis.plot_param_importances(
                    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
            except (RuntimeError, ValueError, ZeroDivisionError):
                pass  # every finished trial scored the same: nothing to apportion
    out["history"].update_yaxes(tickformat=".1%")
    return out
