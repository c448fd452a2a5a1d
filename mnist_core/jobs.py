"""Background training jobs: each trains in a worker process (mnist_core.worker) that a thread
of the server watches; readers take snapshots.

Nothing here knows about Streamlit. A page keeps the Job object in its session and polls
`snapshot()`; the job never calls back into the UI.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch.multiprocessing  # noqa: F401 - registers the pickling that shares tensors' memory

from . import worker
from .config import ConfigError, TrainConfig
from .data import Dataset
from .runs import RunError, load_run, mark_failed, runs_root
from .training import check_lr_scale
from .errors import JobLimitError  # noqa: F401  (defined there, torch-free)

FINISHED = ("completed", "stopped", "diverged", "failed")
# Seconds a worker gets after Stop to save its part-epoch and exit (it took under 2 s here).
STOP_GRACE_S = 60.0


@dataclass
class Job:
    config: TrainConfig
    label: str = ""
    owner: dict = field(default_factory=dict)  # owner and owner_name, for its run's summary
    origin: str = ""  # the page that started it ("train", "race"), to find it again on reload
    continuing: str | None = None  # a saved run's folder that this job takes on to config.epochs
    status: str = "queued"  # queued, starting, running, paused, then one of FINISHED
    message: str = ""
    run_id: str | None = None
    run_path: str | None = None
    params: int | None = None
    device: str | None = None
    batches: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    probes: list[dict] = field(default_factory=list)  # test-sample checks of a budgeted run
    lr_changes: list[dict] = field(default_factory=list)  # the live knob's moves, as applied
    health: dict | None = None  # the last health reading, histograms and all
    health_history: list[dict] = field(default_factory=list)  # every reading's numbers, no histograms
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
        # The live learning-rate factor; a worker process reads a shared copy (see _relay).
        self.knob = types.SimpleNamespace(value=1.0)
        self.thread: threading.Thread | None = None
        self.pid: int | None = None  # of the worker process
        self.worker_peak_mb: float | None = None  # its peak resident memory, once it finished

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

    def set_lr_scale(self, scale: float) -> None:
        """Multiply the schedule's learning rate by `scale` from the next step on."""
        self.knob.value = check_lr_scale(scale)  # a ConfigError, a ValueError, when out of range

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
                "lr_changes": list(self.lr_changes),
                "health": self.health,
                "health_history": list(self.health_history),
                "lr_scale": self.knob.value,
            }

    # --------------------------------------------------------- the worker
    def _apply(self, event: dict) -> None:
        with self._lock:
            kind = event["kind"]
            if kind == "start":
                self.params, self.device = event["params"], event["device"]
                self.epochs = list(event.get("history", []))  # a continued run's earlier epochs
            elif kind == "batch":
                self.batches.append(event)
                self.progress, self.elapsed = event["progress"], event["elapsed"]
                self.images_per_s = event["images_per_s"]
            elif kind == "epoch":
                self.epochs.append(event)
                self.elapsed = event["elapsed"]
            elif kind == "probe":
                self.probes.append(event)
            elif kind == "lr_change":
                self.lr_changes.append(event)
            elif kind == "health":
                self.health = event
                self.health_history.append(compact_health(event))
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

    def _receive(self, message: tuple) -> None:
        kind = message[0]
        if kind == "run":
            with self._lock:
                self.run_id, self.run_path = message[1], message[2]
                if self.status == "starting":
                    self.status, self.message = "running", ""
        elif kind == "event":
            self._apply(message[1])
        elif kind == "finish":
            self.worker_peak_mb = message[3]
            self._finish(message[1], message[2])

    def run(self, data: Dataset | None, runs_dir, slots: threading.Semaphore | None,
            after: Job | None = None, mode: str = "process") -> None:
        """Body of the job's thread: wait for `after` and a slot, then train in a worker
        process (mode "process") or in this thread (mode "thread")."""
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
            if mode == "thread":
                self._finish(*worker.start(self.config, data, runs_dir, self.label, self._receive,
                                           self._stop, self._resume, self.owner, self.knob, self.continuing))
            else:
                self._run_in_process(data, runs_dir)
        except Exception as exc:  # noqa: BLE001 - the thread must never die silently
            self._finish("failed", f"{type(exc).__name__}: {exc}")
            if os.environ.get("MNIST_DEBUG"):
                traceback.print_exc()
        finally:
            if acquired:
                slots.release()
            self._done.set()

    def _run_in_process(self, data: Dataset | None, runs_dir) -> None:
        ctx = _context()
        here, there = ctx.Pipe(duplex=False)
        stop, resume = ctx.Event(), ctx.Event()
        resume.set()
        knob = ctx.Value("d", self.knob.value, lock=False)  # one float, written here only

        def start(shared):
            process = ctx.Process(
                target=worker.work, name=f"train-{self.config.model}", daemon=True,
                args=(self.config, shared, str(runs_root(runs_dir)), self.label, there, stop,
                      resume, dict(os.environ), self.owner, knob, self.continuing))
            with _main_hidden():
                process.start()
            return process

        try:
            # The tensors go to the worker through shared memory, without a copy...
            process = start(data)
        except (RuntimeError, OSError):
            # ...unless /dev/shm is too small for them (a container's default is 64 MB): then
            # the worker reads the same files itself.
            if data is None or not Path(data.source).is_dir():
                raise
            process = start(worker.files_of(data))
        there.close()  # so that the pipe reads as closed once the worker has gone
        self.pid = process.pid
        stopped_at = None
        try:
            message = ("",)
            while message[0] != "finish":
                self._relay(stop, resume, knob)
                if self._stop.is_set():
                    stopped_at = stopped_at or time.monotonic()
                    if time.monotonic() - stopped_at > STOP_GRACE_S and process.is_alive():
                        process.kill()  # a worker deaf to Stop; then read as ended unexpectedly
                if here.poll(0.25):
                    try:
                        message = here.recv()
                    except EOFError:  # the worker has gone
                        break
                    self._receive(message)
        finally:
            here.close()
            process.join(timeout=30)
        if not self.finished:  # the worker went without a word: killed, out of memory...
            message = f"the training process ended unexpectedly ({_describe_exit(process.exitcode)})"
            if self.run_path:  # first, so that a reader woken by the job finds the folder marked
                mark_failed(self.run_path, message)
            self._finish("failed", message)

    def _relay(self, stop, resume, knob) -> None:
        """Pass Stop, Pause, Resume and the learning-rate knob on to the worker."""
        knob.value = self.knob.value
        if self._stop.is_set():
            stop.set()
            resume.set()
        elif self._resume.is_set() != resume.is_set():
            resume.set() if self._resume.is_set() else resume.clear()


def compact_health(event: dict) -> dict:
    """A health reading without its histograms: what the curves over a whole run need."""
    return {"step": event["step"], "epoch": event["epoch"],
            "update_ratio": {l["name"]: l["update_ratio"] for l in event["layers"]},
            "dead": {u["name"]: u["dead"] / max(u["units"], 1) for u in event["units"]}}


def _context():
    """Workers fork from a server process that imported torch but never ran it (so no OpenMP
    pool or lock is copied mid-use), and starting one takes milliseconds, not an import of
    torch; where there is no fork server (Windows), each worker is a fresh interpreter."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        # torch's optimizers import torch._dynamo on first use: 1.8 s here. Preloaded, the fork
        # server pays it once and each worker starts with it; the server itself never needs it.
        # mnist_core.preload reads MNIST there once, for the same reason (0.30 s a job).
        ctx.set_forkserver_preload(["mnist_core.worker", "torch._dynamo", "mnist_core.preload"])
    return ctx


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_hidden():
    """Start a worker without it importing this process's __main__ script again, as
    multiprocessing does for a script: under `streamlit run` that is Streamlit's command line,
    which cost each worker 0.5 s and 34 MB here. The worker's target lives in mnist_core."""
    with _MAIN_LOCK:
        main = sys.modules["__main__"]
        stand_in = types.ModuleType("__main__")
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = "; the system may have run out of memory" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


class JobRunner:
    """Starts jobs; at most `max_running` train at once, the rest wait as "queued".

    mode "process" (the default; MNIST_JOB_MODE overrides) trains each job in a worker
    process, "thread" in a thread of this process (tests that patch the trainer use it)."""

    def __init__(self, max_running: int | None = None, max_jobs: int | None = None,
                 mode: str | None = None):
        self.max_running = max_running or int(os.environ.get("MNIST_MAX_RUNNING_JOBS", 2))
        self.max_jobs = max_jobs or int(os.environ.get("MNIST_MAX_JOBS", 8))
        self.mode = mode or os.environ.get("MNIST_JOB_MODE", "process")
        if self.mode not in ("process", "thread"):
            raise ValueError(f"job mode must be 'process' or 'thread', not {self.mode!r}")
        self._slots = threading.Semaphore(self.max_running)
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._warmed = False

    def warm(self) -> None:
        """Start the worker fork server in the background, so that the first job starts at
        once instead of after its import of torch (4 s here)."""
        if self.mode == "process" and not self._warmed:
            self._warmed = True
            if _context().get_start_method() == "forkserver":
                threading.Thread(target=mp.forkserver.ensure_running, name="worker-server",
                                 daemon=True).start()

    def active(self) -> list[Job]:
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.finished]
            return list(self._jobs)

    def owned_by(self, owner: str, origin: str) -> Job | None:
        """The newest unfinished job that this owner started from this page, or None: a
        reloaded page or a second tab finds its live run again."""
        mine = [j for j in self.active() if owner and j.owner.get("owner") == owner and j.origin == origin]
        return mine[-1] if mine else None

    def queue_place(self, job: Job) -> tuple[int, float | None] | None:
        """Where a queued job stands: (1 for the next to start, seconds until it should start,
        or None when no running job can tell yet); None once it is no longer queued.

        The n-th in the queue takes the slot that the n-th running job to finish frees; past
        the running jobs' count the wait depends on queued runs not yet started."""
        jobs = self.active()
        waiting = [j for j in jobs if j.status == "queued"]
        if job not in waiting:
            return None
        place = waiting.index(job) + 1
        etas = sorted(e for e in (j.eta() for j in jobs if j.status in ("running", "paused")) if e is not None)
        return place, etas[place - 1] if place <= len(etas) else None

    def submit(self, config: TrainConfig, data: Dataset | None = None, runs_dir=None,
               label: str = "", owner: dict | None = None, origin: str = "") -> Job:
        """Queue a job; raises JobLimitError when too many are waiting or running."""
        return self.submit_in_turn([(config, label)], data, runs_dir, owner, origin)[0]

    def submit_continue(self, run_dir, extra_epochs: int, data: Dataset | None = None, runs_dir=None,
                        owner: dict | None = None, origin: str = "") -> Job:
        """Queue a job that takes a saved run on for `extra_epochs` more epochs, in its own folder
        (mnist_core.training.Trainer.continued); its label and config are the run's."""
        run = load_run(run_dir)
        if run.damaged or not run.metrics:
            raise RunError(f"{run_dir} cannot be continued: {run.damaged or 'it has no completed epoch'}")
        if run.summary.get("status") == "running":
            raise RunError(f"{run.path.name} is still training: wait for it to finish first")
        if not 1 <= int(extra_epochs) <= 1000:
            raise ConfigError("epochs", f"continue for 1 to 1000 more epochs, got {extra_epochs}")
        config = TrainConfig.from_dict(run.config).replace(
            epochs=math.floor(run.metrics[-1]["epoch"]) + int(extra_epochs))
        job = self.submit_in_turn([(config, run.summary.get("label", ""))], data, runs_dir, owner, origin,
                                  continuing=str(run.path))[0]
        return job

    def submit_in_turn(self, items: list[tuple[TrainConfig, str]], data: Dataset | None = None,
                       runs_dir=None, owner: dict | None = None, origin: str = "",
                       continuing: str | None = None) -> list[Job]:
        """Queue (config, label) jobs that train one after the other, each once the one before
        has finished; all are accepted or, with JobLimitError, none."""
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.finished]
            if len(self._jobs) + len(items) > self.max_jobs:
                raise JobLimitError(
                    f"{len(self._jobs)} training jobs are already running or queued on this "
                    f"server (limit {self.max_jobs}); wait for one to finish or stop one")
            jobs = [Job(config=config, label=label, owner=dict(owner or {}), origin=origin, continuing=continuing)
                    for config, label in items]
            self._jobs.extend(jobs)
        for before, job in zip([None, *jobs], jobs):
            job.thread = threading.Thread(target=job.run, args=(data, runs_dir, self._slots, before, self.mode),
                                          name=f"train-{job.config.model}", daemon=True)
            job.thread.start()
        return jobs


_default_runner: JobRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> JobRunner:
    """The process-wide runner, so the job limit covers every session of one server."""
    global _default_runner
    with _default_lock:
        if _default_runner is None:
            _default_runner = JobRunner()
        return _default_runner
