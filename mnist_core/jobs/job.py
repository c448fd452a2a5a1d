"""One background training job: a thread of the server that waits for its turn, then watches
the worker process (mnist_core.jobs.worker) that trains it; readers take snapshots.

Nothing here knows about Streamlit. A page keeps the Job object in its session and polls
`snapshot()`; the job never calls back into the UI.
"""
from __future__ import annotations

import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch.multiprocessing  # noqa: F401 - registers the pickling that shares tensors' memory

from mnist_core import settings
from mnist_core.data.tensors import Dataset
from mnist_core.errors import JobLimitError  # noqa: F401  (defined there, torch-free)
from mnist_core.jobs import worker
from mnist_core.jobs.process import context, describe_exit, main_hidden
from mnist_core.jobs.slots import FairSlots
from mnist_core.runs.folders import mark_failed, runs_root
from mnist_core.settings import Settings
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import check_lr_scale

FINISHED = ("completed", "stopped", "diverged", "failed")
# Seconds a worker gets after Stop to save its part-epoch and exit: far more than saving takes.
STOP_GRACE_S = 60.0


@dataclass
class Job:
    config: TrainConfig
    label: str = ""
    owner: dict = field(default_factory=dict)  # owner and owner_name, for its run's summary
    origin: str = ""  # the page that started it ("train", "race"), to find it again on reload
    continuing: str | None = None  # a saved run's folder that this job takes on to config.epochs
    # The settings in force where the job was queued (a visitor's page run: their handwriting
    # folder among them); its worker trains with these.
    server_settings: Settings = field(default_factory=settings.current)
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
    progress: float = 0.0  # of the work this job adds (a continued run's, not the whole run's)
    elapsed: float = 0.0  # the run's training time, a continued run's earlier time included
    elapsed_before: float = 0.0  # of that, what the run had when this job started
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
    def stop(self, by: str | None = None) -> None:
        """Stop the run; `by` names who, when it is not its maker ("the server's owner"), so
        that its maker is not told they stopped it."""
        if by:
            self._stopped_by = by
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
        return (self.elapsed - self.elapsed_before) * (1 - self.progress) / self.progress

    def curves(self) -> dict:
        """Its batch curves, knob moves and health readings: what a job continuing its run takes
        on, so that the live chart goes on from them instead of starting blank."""
        with self._lock:
            return {"batches": list(self.batches), "lr_changes": list(self.lr_changes),
                    "health_history": list(self.health_history)}

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
                self.elapsed = self.elapsed_before = event.get("elapsed", 0.0)
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
        by = getattr(self, "_stopped_by", None)
        if by and status == "stopped":
            message = message.replace("stopped by the user", f"stopped by {by}")
            if f"stopped by {by}" not in message:
                message = f"stopped by {by}: {message}"
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

    def run(self, data: Dataset | None, runs_dir, slots: FairSlots | None,
            after: Job | None = None, mode: str = "process") -> None:
        """Body of the job's thread: wait for `after` and a slot, then train in a worker
        process (mode "process") or in this thread (mode "thread")."""
        acquired = False
        try:
            if after is not None and not self._wait_unless_stopped(lambda: after.wait(0.2)):
                return
            if slots is not None:
                acquired = self._wait_unless_stopped(lambda: slots.acquire(self, timeout=0.2))
                if not acquired:
                    slots.leave(self)
                    return
            with self._lock:
                self.status, self.message = "starting", "loading data and building the model"
            if mode == "thread":
                task = worker.Assignment(config=self.config, data=data, runs_dir=runs_dir, label=self.label,
                                         owner=self.owner, continuing=self.continuing,
                                         settings=self.server_settings)
                self._finish(*worker.start(task, emit=self._receive, stop=self._stop, resume=self._resume,
                                           knob=self.knob))
            else:
                self._run_in_process(data, runs_dir)
        except Exception as exc:  # noqa: BLE001 - the thread must never die silently
            self._finish("failed", f"{type(exc).__name__}: {exc}")
            if settings.current().debug:
                traceback.print_exc()
        finally:
            if acquired:
                slots.release(self)
            self._done.set()

    def _run_in_process(self, data: Dataset | None, runs_dir) -> None:
        ctx = context()
        here, there = ctx.Pipe(duplex=False)
        stop, resume = ctx.Event(), ctx.Event()
        resume.set()
        knob = ctx.Value("d", self.knob.value, lock=False)  # one float, written here only

        def start(shared):
            task = worker.Assignment(config=self.config, data=shared, runs_dir=str(runs_root(runs_dir)),
                                     label=self.label, owner=self.owner, continuing=self.continuing,
                                     settings=self.server_settings)
            process = ctx.Process(target=worker.work, name=f"train-{self.config.model}", daemon=True,
                                  kwargs=dict(task=task, conn=there, stop=stop, resume=resume, knob=knob))
            with main_hidden():
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
            message = f"the training process ended unexpectedly ({describe_exit(process.exitcode)})"
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
            "update_ratio": {layer["name"]: layer["update_ratio"] for layer in event["layers"]},
            "dead": {u["name"]: u["dead"] / max(u["units"], 1) for u in event["units"]}}
