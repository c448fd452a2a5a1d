"""Background training jobs: a thread drives the training generator; readers take snapshots.

Nothing here knows about Streamlit. A page keeps the Job object in its session and polls
`snapshot()`; the thread never calls back into the UI.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field

from .config import TrainConfig
from .data import Dataset
from .fsfault import describe as describe_fs_error
from .recorder import RunRecorder, record
from .training import Trainer

FINISHED = ("completed", "stopped", "diverged", "failed")


@dataclass
class Job:
    config: TrainConfig
    label: str = ""
    status: str = "queued"  # queued, starting, running, paused, then one of FINISHED
    message: str = ""
    run_id: str | None = None
    run_path: str | None = None
    params: int | None = None
    device: str | None = None
    batches: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    probes: list[dict] = field(default_factory=list)  # test-sample checks of a budgeted run
    progress: float = 0.0
    elapsed: float = 0.0
    images_per_s: float = 0.0
    learned: bool = True  # False when a completed run ended near chance accuracy
    created: float = field(default_factory=time.time)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._done = threading.Event()
        self.thread: threading.Thread | None = None

    # --------------------------------------------------------- control, from any thread
    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def pause(self) -> None:
        with self._lock:
            if self.status == "running":
                self._resume.clear()
                self.status = "paused"

    def resume(self) -> None:
        with self._lock:
            if self.status == "paused":
                self.status = "running"
        self._resume.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def eta(self) -> float | None:
        if self.progress <= 0 or self.finished:
            return None
        return self.elapsed * (1 - self.progress) / self.progress

    def snapshot(self) -> dict:
        """A consistent copy of the job's state for a reader."""
        with self._lock:
            return {
                "status": self.status, "message": self.message, "run_id": self.run_id,
                "run_path": self.run_path, "label": self.label, "params": self.params,
                "device": self.device, "progress": self.progress, "elapsed": self.elapsed,
                "images_per_s": self.images_per_s, "eta": self.eta(), "learned": self.learned,
                "config": self.config.to_dict(),
                # Events are never changed once appended: copying the lists is enough, and
                # keeps the lock (which the training thread waits on) short.
                "batches": list(self.batches),
                "epochs": list(self.epochs),
                "probes": list(self.probes),
            }

    # --------------------------------------------------------- the worker
    def _apply(self, event: dict) -> None:
        with self._lock:
            kind = event["kind"]
            if kind == "start":
                self.params, self.device = event["params"], event["device"]
            elif kind == "batch":
                self.batches.append(event)
                self.progress, self.elapsed = event["progress"], event["elapsed"]
                self.images_per_s = event["images_per_s"]
            elif kind == "epoch":
                self.epochs.append(event)
                self.elapsed = event["elapsed"]
            elif kind == "probe":
                self.probes.append(event)
            elif kind == "end":
                self.status, self.message = event["status"], event["message"]
                self.learned = event.get("learned", True)
                self.elapsed = event["elapsed"]
                if event["status"] == "completed":
                    self.progress = 1.0

    def _finish(self, status: str, message: str) -> None:
        with self._lock:
            if self.status not in FINISHED:
                self.status, self.message = status, message
        self._done.set()

    def _wait_unless_stopped(self, ready) -> bool:
        """Poll `ready()` (which blocks briefly) until it is true; False, and the job marked
        stopped, if Stop comes first. Stop is checked before each poll, so a job stopped while
        waiting never starts even if what it waited for is ready by then."""
        while not self._stop.is_set():
            if ready():
                return True
        self._finish("stopped", "stopped before it started")
        return False

    def run(self, data: Dataset | None, runs_dir, slots: threading.Semaphore | None,
            after: Job | None = None) -> None:
        """Body of the worker thread: wait for `after` and a slot, then drive the training generator."""
        acquired = False
        try:
            if after is not None and not self._wait_unless_stopped(lambda: after.wait(0.2)):
                return
            if slots is not None:
                acquired = self._wait_unless_stopped(lambda: slots.acquire(timeout=0.2))
                if not acquired:
                    return
            with self._lock:
                self.status, self.message = "starting", "loading data and building the model"
            trainer = Trainer(self.config, data)
            recorder = RunRecorder(trainer, runs_dir, self.label)
            with self._lock:
                self.run_id, self.run_path = recorder.run_id, str(recorder.path)
                if self.status == "starting":
                    self.status, self.message = "running", ""
            events = record(trainer, recorder=recorder)
            try:
                for event in events:
                    self._apply(event)
                    while not self._resume.is_set():
                        recorder.heartbeat()  # a paused run is alive, not interrupted
                        self._resume.wait(1.0)
                    if self._stop.is_set():
                        break
            finally:
                events.close()  # marks the run "stopped" if it had not ended, keeping a part-epoch
            for event in trainer.history[len(self.epochs):]:
                self._apply(event)  # the part-epoch a stop kept
            if self._stop.is_set() and self.status not in FINISHED:
                self._finish("stopped", recorder.summary.get("message")
                             or f"stopped after {len(self.epochs)} completed epoch(s)")
        except OSError as exc:  # the run folder could not be made or written
            self._finish("failed", describe_fs_error(exc))
        except Exception as exc:  # the thread must never die silently
            self._finish("failed", f"{type(exc).__name__}: {exc}")
            if os.environ.get("MNIST_DEBUG"):
                traceback.print_exc()
        finally:
            if acquired:
                slots.release()
            self._done.set()


class JobRunner:
    """Starts jobs in threads; at most `max_running` train at once, the rest wait as "queued"."""

    def __init__(self, max_running: int | None = None, max_jobs: int | None = None):
        self.max_running = max_running or int(os.environ.get("MNIST_MAX_RUNNING_JOBS", 2))
        self.max_jobs = max_jobs or int(os.environ.get("MNIST_MAX_JOBS", 8))
        self._slots = threading.Semaphore(self.max_running)
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def active(self) -> list[Job]:
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.finished]
            return list(self._jobs)

    def submit(self, config: TrainConfig, data: Dataset | None = None, runs_dir=None,
               label: str = "") -> Job:
        """Queue a job; raises JobLimitError when too many are waiting or running."""
        return self.submit_in_turn([(config, label)], data, runs_dir)[0]

    def submit_in_turn(self, items: list[tuple[TrainConfig, str]], data: Dataset | None = None,
                       runs_dir=None) -> list[Job]:
        """Queue (config, label) jobs that train one after the other, each once the one before
        has finished; all are accepted or, with JobLimitError, none."""
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.finished]
            if len(self._jobs) + len(items) > self.max_jobs:
                raise JobLimitError(
                    f"{len(self._jobs)} training jobs are already running or queued on this "
                    f"server (limit {self.max_jobs}); wait for one to finish or stop one")
            jobs = [Job(config=config, label=label) for config, label in items]
            self._jobs.extend(jobs)
        for before, job in zip([None, *jobs], jobs):
            job.thread = threading.Thread(target=job.run, args=(data, runs_dir, self._slots, before),
                                          name=f"train-{job.config.model}", daemon=True)
            job.thread.start()
        return jobs


class JobLimitError(RuntimeError):
    pass


_default_runner: JobRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> JobRunner:
    """The process-wide runner, so the job limit covers every session of one server."""
    global _default_runner
    with _default_lock:
        if _default_runner is None:
            _default_runner = JobRunner()
        return _default_runner
