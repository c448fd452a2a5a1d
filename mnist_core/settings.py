"""Every setting the server's owner can change, read in one place into one frozen object.

The owner sets them as environment variables (docs/deployment.md lists them); nothing else in
mnist_core or studio reads the environment. `current()` reads them afresh on each call, so a
test or a shell that changes a variable is obeyed at once. A training worker is handed the
server's Settings with its job and installs them (`install`), so it trains with the server's
settings even when its fork server was started before a variable changed.

Size limits on inputs live beside this in mnist_core.limits; the limits an owner may raise are
fields here.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path

# Well under a small server's 1 GB, of which torch and Streamlit already use a large share
# (benchmarks.load measures it); the presets need at most about 60 MB (mnist_core.models.budget).
DEFAULT_MODEL_BUDGET_MB = 300.0
# Two trainings at once keep a 2-core server's pages answering (benchmarks.load measures it).
DEFAULT_MAX_RUNNING_JOBS = 2
DEFAULT_MAX_JOBS = 8
# Training yields the cores to the server's pages (benchmarks.browser measures a stroke's wait).
DEFAULT_WORKER_NICE = 10
# Saved runs a server keeps: a class's term of quick runs fits well inside, and a runaway
# script cannot fill the disk (a quick run's folder is about 100 kB).
DEFAULT_MAX_RUNS_PER_VISITOR = 200
DEFAULT_MAX_RUNS = 5000


@dataclass(frozen=True)
class Settings:
    runs_dir: Path = Path("runs")  # MNIST_RUNS_DIR: run folders, and sweeps.db beside them
    data_dirs: tuple[tuple[str, str], ...] = ()  # (variable, folder): MNIST_DATA_DIR, FASHION_MNIST_DATA_DIR
    offline: bool = False  # MNIST_OFFLINE=1: never try to download a dataset
    cache_dir: Path | None = None  # MNIST_CACHE_DIR: decoded IDX copies (else ~/.cache/mnist-studio)
    handwriting_dir: Path = Path("data") / "handwriting"  # MNIST_HANDWRITING_DIR
    label_marks: Path = Path("data") / "label_marks.json"  # MNIST_LABEL_MARKS
    label_audit_dir: Path | None = None  # MNIST_LABEL_AUDIT_DIR: where `labels` writes its audits
    threads: int | None = None  # MNIST_THREADS: torch's threads (else one per available core)
    model_budget_mb: float = DEFAULT_MODEL_BUDGET_MB  # MNIST_MODEL_BUDGET_MB
    max_running_jobs: int = DEFAULT_MAX_RUNNING_JOBS  # MNIST_MAX_RUNNING_JOBS
    max_jobs: int = DEFAULT_MAX_JOBS  # MNIST_MAX_JOBS: running and queued, the whole server
    job_mode: str = "process"  # MNIST_JOB_MODE: "process" or "thread"
    worker_nice: int = DEFAULT_WORKER_NICE  # MNIST_WORKER_NICE
    max_runs_per_visitor: int = DEFAULT_MAX_RUNS_PER_VISITOR  # MNIST_MAX_RUNS_PER_VISITOR: saved runs each
    max_runs: int = DEFAULT_MAX_RUNS  # MNIST_MAX_RUNS: saved runs on the server in all
    admin_password: str = ""  # MNIST_ADMIN_PASSWORD (or admin_password in Streamlit's secrets)
    debug: bool = False  # MNIST_DEBUG: print the traceback behind a failed run
    # MNIST_STORAGE_URL (or storage_url in Streamlit's secrets): a database that keeps runs, label
    # marks, handwriting and sweeps (mnist_core.storage); empty keeps them in local files only.
    storage_url: str = ""
    # MNIST_TEMPORARY_DISK=1, or a Streamlit Community Cloud checkout (/mount/src): this host's
    # files vanish when the app restarts, so local-only storage is worth a warning to the owner.
    temporary_disk: bool = False

    def data_dir(self, variable: str) -> str | None:
        """The folder a dataset's variable names, or None when it is unset."""
        return dict(self.data_dirs).get(variable)


def _number(env, name: str, kind, default, low=None):
    """A number from the environment; a value that is not one, or is below `low`, is ignored
    (the default stands) rather than stopping the server."""
    try:
        value = kind(env.get(name) or default)
    except ValueError:
        return default
    return default if low is not None and value < low else value


def read(env=None) -> Settings:
    """The settings as the environment (os.environ by default) gives them."""
    env = os.environ if env is None else env
    return Settings(
        runs_dir=Path(env.get("MNIST_RUNS_DIR") or "runs"),
        data_dirs=tuple((k, v) for k in ("MNIST_DATA_DIR", "FASHION_MNIST_DATA_DIR") if (v := env.get(k))),
        offline=env.get("MNIST_OFFLINE") == "1",
        cache_dir=Path(env["MNIST_CACHE_DIR"]) if env.get("MNIST_CACHE_DIR") else (
            Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-studio" / "idx"),
        handwriting_dir=Path(env.get("MNIST_HANDWRITING_DIR") or Path("data") / "handwriting"),
        label_marks=Path(env.get("MNIST_LABEL_MARKS") or Path("data") / "label_marks.json"),
        label_audit_dir=Path(env["MNIST_LABEL_AUDIT_DIR"]) if env.get("MNIST_LABEL_AUDIT_DIR") else None,
        threads=_number(env, "MNIST_THREADS", int, None) if env.get("MNIST_THREADS") else None,
        model_budget_mb=_number(env, "MNIST_MODEL_BUDGET_MB", float, DEFAULT_MODEL_BUDGET_MB),
        max_running_jobs=_number(env, "MNIST_MAX_RUNNING_JOBS", int, DEFAULT_MAX_RUNNING_JOBS, low=1),
        max_jobs=_number(env, "MNIST_MAX_JOBS", int, DEFAULT_MAX_JOBS, low=1),
        job_mode=env.get("MNIST_JOB_MODE") or "process",
        worker_nice=_number(env, "MNIST_WORKER_NICE", int, DEFAULT_WORKER_NICE),
        max_runs_per_visitor=_number(env, "MNIST_MAX_RUNS_PER_VISITOR", int, DEFAULT_MAX_RUNS_PER_VISITOR, low=1),
        max_runs=_number(env, "MNIST_MAX_RUNS", int, DEFAULT_MAX_RUNS, low=1),
        admin_password=env.get("MNIST_ADMIN_PASSWORD") or "",
        debug=bool(env.get("MNIST_DEBUG")),
        storage_url=(env.get("MNIST_STORAGE_URL") or _adopted.get("storage_url") or "").strip(),
        temporary_disk=env.get("MNIST_TEMPORARY_DISK") == "1" or _in_cloud_checkout(),
    )


CLOUD_CHECKOUT = "/mount/src/"  # where Streamlit Community Cloud clones an app's repository
# Values the app found outside the environment (Streamlit's secrets), for the whole process;
# an environment variable of the same setting wins.
_adopted: dict[str, str] = {}


def _in_cloud_checkout() -> bool:
    try:
        return str(Path.cwd()).startswith(CLOUD_CHECKOUT)
    except OSError:  # a working folder that was deleted
        return False


def adopt(**values: str) -> None:
    """Settings the app read from Streamlit's secrets (storage_url), for every thread."""
    _adopted.update({k: v for k, v in values.items() if v})


# Per thread: a training worker's thread, or one visitor's page run on a class's server (whose
# handwriting folder is that visitor's own), each sees the settings it was handed.
_installed = threading.local()


def current() -> Settings:
    """The settings in force: those this thread was handed, else the environment's now."""
    installed = getattr(_installed, "settings", None)
    return installed if installed is not None else read()


def installed() -> Settings | None:
    """What this thread was handed, if anything (to hand back after a job in a thread)."""
    return getattr(_installed, "settings", None)


def install(settings: Settings | None) -> None:
    """Make `settings` what current() returns in this thread (a training worker's, from its
    job; a page run's, for its visitor); None returns to reading the environment."""
    _installed.settings = settings


def replace(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)
