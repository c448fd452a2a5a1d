"""A sweep run by the app: its trials are ordinary jobs of the server's JobRunner, so they count
against the same limits (running jobs, queued jobs, the memory budget) as single runs.

A thread of the server keeps up to `parallel` trials training: it claims a trial from the study,
submits its config as a job, reports each epoch's test accuracy to Optuna, stops the job when
the median pruner says so, and tells the study how the trial ended. Stopping the sweep stops its
running trials the way Stop stops a run (each keeps what it learned, marked "stopped").
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from mnist_core.errors import ConfigError, JobLimitError, RunError
from mnist_core.jobs.runner import Job, JobRunner
from mnist_core.limits import MAX_SWEEPS
from mnist_core.studies import sweep as sweeps

POLL_S = 0.5


@dataclass
class _Running:
    trial: object  # optuna.Trial
    job: Job
    seen: int = 0  # the job's epoch and probe events already reported
    pruned: bool = False


@dataclass
class SweepJob:
    sweep: sweeps.Sweep
    runner: JobRunner
    data: object = None
    runs_dir: object = None
    owner: dict = field(default_factory=dict)
    parallel: int = 1
    status: str = "running"  # running, stopping, then completed, stopped or failed
    message: str = ""
    jobs: dict = field(default_factory=dict)  # trial number -> its Job, for the live view

    def __post_init__(self):
        self.parallel = max(1, min(int(self.parallel), self.runner.max_running))
        self._stop = threading.Event()
        self._done = threading.Event()
        self._status_lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name=f"sweep-{self.sweep.name}", daemon=True)

    @property
    def name(self) -> str:
        return self.sweep.name

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        with self._status_lock:
            if not self.finished and self.status == "running":
                self.status = "stopping"
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # ------------------------------------------------------------ the thread
    def _loop(self) -> None:
        running: dict[int, _Running] = {}
        try:
            while True:
                for number, r in list(running.items()):
                    finished = r.job.finished  # read first: then every epoch it had is in the list
                    # A finished job's epochs are reported without pruning: its answer is complete.
                    self._watch(r, may_prune=not finished)
                    if finished:
                        snap = r.job.snapshot()
                        sweeps.finish(self.sweep, r.trial, snap["status"], snap["epochs"], r.pruned,
                                      snap["run_id"], snap["message"])
                        del running[number]
                if self._stop.is_set():
                    for r in running.values():
                        r.job.stop()
                    if not running:
                        self.status, self.message = "stopped", (getattr(self, "_why", "")
                                                                or "the trials that ran are kept, each in its run")
                        return
                elif len(running) < self.parallel:
                    started, more = self._start_trial()
                    if started is not None:
                        running[started.trial.number] = started
                        continue  # fill the next slot at once
                    if not more and not running:
                        self.status, self.message = "completed", "every trial has run"
                        return
                time.sleep(POLL_S)
        except Exception as exc:  # noqa: BLE001 - the thread must end with a status, not silently
            self.status, self.message = "failed", f"{type(exc).__name__}: {exc}"
            for r in running.values():
                r.job.stop()
                with contextlib.suppress(Exception):  # told, so the study does not wait on it forever
                    sweeps.finish(self.sweep, r.trial, "failed", [], False, r.job.run_id, self.message)
        finally:
            self._done.set()

    def _start_trial(self) -> tuple[_Running | None, bool]:
        """(the trial started, or None; whether more trials remain to start)."""
        if len(self.runner.active()) >= self.runner.max_jobs:
            return None, self._wait_for_room()
        trial = sweeps.claim(self.sweep)
        if trial is None:
            return None, False
        try:
            config = sweeps.suggest(trial, self.sweep.space, self.sweep.base)
        except ConfigError as exc:  # the memory budget refuses this suggestion: this trial fails
            sweeps.finish(self.sweep, trial, "failed", [], False, None, str(exc))
            return None, True
        summary = {**self.owner, "sweep": {"study": self.sweep.name, "trial": trial.number}}
        try:
            # The owner's fields are what RunRecorder adds to the run's summary.json.
            job = self.runner.submit(config, self.data, self.runs_dir, label=sweeps.trial_label(self.sweep, trial.number),
                                     owner=summary, origin="sweep")
        except JobLimitError:
            # Another user took the last place between the check and the submit: give the
            # trial back (not counted) and try again shortly.
            sweeps.give_back(self.sweep, trial)
            return None, self._wait_for_room()
        except RunError as exc:  # the server keeps as many runs as it may: the sweep ends, saying why
            sweeps.give_back(self.sweep, trial)
            self._why = f"stopped: {exc}"
            self._stop.set()
            return None, False
        self.jobs[trial.number] = job
        return _Running(trial, job), True

    def _wait_for_room(self) -> bool:
        """The server runs as many jobs as it may: wait a little; True while trials remain."""
        self._stop.wait(2.0)
        return sweeps.remaining(self.sweep) > 0

    def _watch(self, r: _Running, may_prune: bool = True) -> None:
        """Report the job's new epochs (or probes) to Optuna; stop it once pruned."""
        config = r.job.config
        events = r.job.probes if config.time_budget else r.job.epochs
        for event in list(events)[r.seen:]:
            r.seen += 1
            if not r.pruned and sweeps.report(r.trial, event, config, may_prune):
                r.pruned = True
                r.job.stop()


_sweeps: list[SweepJob] = []
_lock = threading.Lock()


def _refuse_when_full() -> None:
    """JobLimitError when the server runs as many sweeps as it may; the caller holds _lock."""
    _sweeps[:] = [s for s in _sweeps if not s.finished]
    if len(_sweeps) >= MAX_SWEEPS:
        raise JobLimitError(f"{len(_sweeps)} sweeps are already running on this server (limit {MAX_SWEEPS}); "
                            "wait for one to finish or stop one")


def check_room() -> None:
    """JobLimitError when the server is full of sweeps (checked before a study is made)."""
    with _lock:
        _refuse_when_full()


def start(sweep: sweeps.Sweep, runner: JobRunner, data=None, runs_dir=None, owner: dict | None = None,
          parallel: int = 1) -> SweepJob:
    """Run a sweep's trials as jobs in the background; JobLimitError when the server is full."""
    with _lock:
        _refuse_when_full()
        job = SweepJob(sweep, runner, data, runs_dir, dict(owner or {}), parallel)
        _sweeps.append(job)
    job.thread.start()
    return job


def owned_by(owner: str) -> SweepJob | None:
    """This visitor's newest unfinished sweep: a reloaded page finds it again."""
    with _lock:
        mine = [s for s in _sweeps if owner and s.owner.get("owner") == owner and not s.finished]
    return mine[-1] if mine else None


def running() -> list[SweepJob]:
    """Every unfinished sweep on this server (the owner's view)."""
    with _lock:
        return [s for s in _sweeps if not s.finished]
