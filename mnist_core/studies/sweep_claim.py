"""Claiming trials: the workers of one study together run exactly its number of trials. On
SQLite a lock file beside the database serialises claims; on a server database (several
machines) a trial asked for past the limit is marked FAIL ("surplus") without running."""
from __future__ import annotations

import contextlib

from mnist_core.studies.sweep_storage import Sweep, sqlite_path


def _claim_lock(storage: str):
    """Serialises claims on one machine's SQLite study (filelock: installed with torch)."""
    from filelock import FileLock

    path = sqlite_path(storage)
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
