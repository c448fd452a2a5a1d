"""The server's job runner: at most a few jobs train at once, the rest wait as "queued", and one
runner serves every session of the server, so its limits cover the whole class."""
from __future__ import annotations

import math
import multiprocessing as mp
import multiprocessing.forkserver
import threading

from mnist_core import settings
from mnist_core.data.tensors import Dataset
from mnist_core.errors import JobLimitError
from mnist_core.jobs.job import FINISHED, STOP_GRACE_S, Job, compact_health  # noqa: F401  (the jobs' public face)
from mnist_core.jobs.process import context
from mnist_core.jobs.slots import FairSlots
from mnist_core.runs.folders import RunError, check_room, load_run
from mnist_core.train.config import ConfigError, TrainConfig


class JobRunner:
    """Starts jobs; at most `max_running` train at once, the rest wait as "queued".

    mode "process" (the default; MNIST_JOB_MODE overrides) trains each job in a worker
    process, "thread" in a thread of this process (tests that patch the trainer use it)."""

    def __init__(self, max_running: int | None = None, max_jobs: int | None = None,
                 mode: str | None = None):
        configured = settings.current()
        self.max_running = max_running or configured.max_running_jobs
        self.max_jobs = max_jobs or configured.max_jobs
        self.mode = mode or configured.job_mode
        if self.mode not in ("process", "thread"):
            raise ValueError(f"job mode must be 'process' or 'thread', not {self.mode!r}")
        self._slots = FairSlots(self.max_running)  # first come, first served
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._warmed = False

    def warm(self) -> None:
        """Start the worker fork server in the background, so that the first job starts at
        once instead of after its import of torch (seconds on a small server)."""
        if self.mode == "process" and not self._warmed:
            self._warmed = True
            if context().get_start_method() == "forkserver":
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
        # Its place in the slots' line; a job waiting for the one before it (a head to head's
        # second run) is not in line yet, and counts after every queued job ahead of it.
        place = self._slots.place(job) or waiting.index(job) + 1
        etas = sorted(e for e in (j.eta() for j in jobs if j.status in ("running", "paused")) if e is not None)
        return place, etas[place - 1] if place <= len(etas) else None

    def submit(self, config: TrainConfig, data: Dataset | None = None, runs_dir=None,
               label: str = "", owner: dict | None = None, origin: str = "", server_settings=None) -> Job:
        """Queue a job; raises JobLimitError when too many are waiting or running.
        `server_settings`: what its worker trains with (a visitor's handwriting set), else now's."""
        return self.submit_in_turn([(config, label)], data, runs_dir, owner, origin,
                                   server_settings=server_settings)[0]

    def submit_continue(self, run_dir, extra_epochs: int, data: Dataset | None = None, runs_dir=None,
                        owner: dict | None = None, origin: str = "", earlier: Job | None = None,
                        server_settings=None) -> Job:
        """Queue a job that takes a saved run on for `extra_epochs` more epochs, in its own folder
        (mnist_core.train.trainer.Trainer.continued); its label and config are the run's.

        `earlier`, the job that trained the run last, hands its batch curves on: the run folder
        keeps only epochs, so the new job's live chart would otherwise start blank."""
        run = load_run(run_dir)
        if run.damaged or not run.metrics:
            raise RunError(f"{run_dir} cannot be continued: {run.damaged or 'it has no completed epoch'}")
        if run.summary.get("status") == "running":
            raise RunError(f"{run.path.name} is still training: wait for it to finish first")
        if not 1 <= int(extra_epochs) <= 1000:
            raise ConfigError("epochs", f"continue for 1 to 1000 more epochs, got {extra_epochs}")
        config = TrainConfig.from_dict(run.config).replace(
            epochs=math.floor(run.metrics[-1]["epoch"]) + int(extra_epochs))
        curves = earlier.curves() if earlier is not None and earlier.run_path == str(run.path) else {}
        job = self.submit_in_turn([(config, run.summary.get("label", ""))], data, runs_dir, owner, origin,
                                  continuing=str(run.path), curves=curves, server_settings=server_settings)[0]
        return job

    def submit_in_turn(self, items: list[tuple[TrainConfig, str]], data: Dataset | None = None,
                       runs_dir=None, owner: dict | None = None, origin: str = "",
                       continuing: str | None = None, curves: dict | None = None,
                       server_settings=None) -> list[Job]:
        """Queue (config, label) jobs that train one after the other, each once the one before
        has finished; all are accepted or, with JobLimitError, none. `curves` (Job.curves) are
        what the jobs' live charts start from."""
        if not continuing:  # a continued run stays in its folder
            check_room(runs_dir, (owner or {}).get("owner"), len(items))
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.finished]
            if len(self._jobs) + len(items) > self.max_jobs:
                raise JobLimitError(
                    f"{len(self._jobs)} training jobs are already running or queued on this "
                    f"server (limit {self.max_jobs}); wait for one to finish or stop one")
            # Each job gets its own copies of the lists: its thread appends to them.
            extra = {"server_settings": server_settings} if server_settings is not None else {}
            jobs = [Job(config=config, label=label, owner=dict(owner or {}), origin=origin, continuing=continuing,
                        **extra, **{k: list(v) for k, v in (curves or {}).items()})
                    for config, label in items]
            self._jobs.extend(jobs)
            if jobs:
                self._slots.join(jobs[0])  # in line now, in submission order; the rest follow it
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
