"""The training side of a job: drive one run's events, in a worker process or a thread.

A job trains in its own process by default (mnist_core.jobs.runner). In a thread of a busy
server the same epoch takes far longer than in a process's main thread: torch's OpenMP pool and
glibc's per-thread malloc arenas both favour the main thread (docs/benchmarks.md, "Worker
processes, the allocator and the optimiser"). A process also keeps a run that dies (killed, out
of memory) from taking the server with it.

Messages from `work` to the job, over a pipe:
- ("run", run_id, path) once the run folder exists;
- ("event", event) for each training event;
- ("finish", status, message, peak_mb) last: "completed"/"diverged" repeat the end event,
  "stopped" and "failed" carry their reason; peak_mb is the worker's peak resident memory.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field

from mnist_core import settings, storage
from mnist_core.data.tensors import Dataset, load_dataset
from mnist_core.fsfault import describe as describe_fs_error
from mnist_core.heap import keep_freed_memory
from mnist_core.runs.folders import RunError
from mnist_core.runs.recorder import RunRecorder, record
from mnist_core.settings import Settings
from mnist_core.settings import current as settings_now
from mnist_core.train.config import ConfigError, TrainConfig
from mnist_core.train.trainer import Trainer


def files_of(data: Dataset) -> tuple[str, str]:
    """What a worker needs to read a dataset from its files itself: (name, folder)."""
    return data.spec.name, data.source


def drive(trainer: Trainer, recorder: RunRecorder, emit, stop, resume, knob=None) -> tuple[str, str] | None:
    """Train, passing each event to `emit`; pause while `resume` is clear, end early once `stop`
    is set, and follow `knob.value`, the live learning-rate factor (a shared number).
    Returns ("stopped", message) after a stop, else None (the end event said it all)."""
    events = record(trainer, recorder=recorder)
    sent_epochs, ended = len(trainer.history), False  # a continued run has some already
    try:
        for event in events:
            emit(event)
            sent_epochs += event["kind"] == "epoch"
            ended = ended or event["kind"] == "end"
            while not resume.is_set():
                recorder.heartbeat()  # a paused run is alive, not interrupted
                resume.wait(1.0)
            if stop.is_set():
                break
            if knob is not None and knob.value != (trainer._asked_scale or trainer.lr_scale):
                trainer.change_lr(knob.value)
    finally:
        events.close()  # marks the run "stopped" if it had not ended, keeping a part-epoch
    for event in trainer.history[sent_epochs:]:
        emit(event)  # the part-epoch a stop kept
    if ended:
        return None
    return "stopped", (recorder.summary.get("message")
                       or f"stopped after {trainer.epochs_done:g} completed epoch(s)")


@dataclass(frozen=True)
class Assignment:
    """What a worker is told to train: passed whole, by name, so no two arguments can swap."""
    config: TrainConfig
    data: Dataset | tuple[str, str] | None  # the tensors, or (name, folder) to read them from
    runs_dir: str | None
    label: str = ""
    owner: dict | None = None  # owner and owner_name, for the run's summary
    continuing: str | None = None  # a saved run's folder to take on to config.epochs
    # The server's settings when the job was queued: a fork server started before a variable
    # changed would otherwise train with the old one.
    settings: Settings = field(default_factory=settings_now)


def start(task: Assignment, emit, stop, resume, knob=None) -> tuple[str, str]:
    """One run from its config to its final (status, message), or, with `task.continuing` (a run
    folder), that run taken on to the config's epochs; `emit` gets ("run", ...) and
    ("event", ...) messages. Never raises: a failure is a status."""
    before = settings.installed()
    settings.install(task.settings)  # this thread's: a job in a thread of the server, too
    try:
        data = task.data
        if isinstance(data, tuple):
            data = load_dataset(*data, allow_download=False)
        if task.continuing:
            trainer = Trainer.continued(task.continuing, data=data, until=task.config.epochs)
        else:
            trainer = Trainer(task.config, data)
        recorder = RunRecorder(trainer, task.runs_dir, task.label, task.owner, continuing=task.continuing)
        emit(("run", recorder.run_id, str(recorder.path)))
        stopped = drive(trainer, recorder, lambda event: emit(("event", event)), stop, resume, knob)
        if stopped:
            return stopped
        return recorder.summary["status"], recorder.summary.get("message", "")
    except OSError as exc:  # the run folder could not be made or written
        return "failed", describe_fs_error(exc)
    except (RunError, ConfigError) as exc:  # a run that cannot be continued, said plainly
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a run must never die silently
        if settings.current().debug:
            traceback.print_exc()
        return "failed", f"{type(exc).__name__}: {exc}"
    finally:
        settings.install(before)


def work(task: Assignment, conn, stop, resume, knob=None) -> None:
    """Body of a worker process."""
    settings.install(task.settings)
    storage.standby()  # the server syncs this run's files with the database, not each worker
    lower_priority()
    keep_freed_memory()
    try:
        status, message = start(task, conn.send, stop, resume, knob)
        conn.send(("finish", status, message, peak_mb()))
    except (BrokenPipeError, EOFError):  # the server went away; nobody is listening
        pass
    finally:
        conn.close()


def lower_priority() -> None:
    """Training yields the cores to the server: a drawing waits behind a run otherwise, past
    Draw's 1-second target with two runs training on 2 cores at equal priority
    (benchmarks.browser measures it). MNIST_WORKER_NICE sets the niceness (default 10)."""
    try:
        os.nice(settings.current().worker_nice)
    except (OSError, ValueError, AttributeError):  # not allowed, not a number, or no nice (Windows)
        pass


def peak_mb() -> float | None:
    """This process's peak resident memory (VmHWM; Linux only). Not ru_maxrss: a child
    process inherits its parent's ru_maxrss on Linux."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration, ValueError):
        return None
