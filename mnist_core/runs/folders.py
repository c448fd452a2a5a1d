"""Run folders: config.json, metrics.jsonl, checkpoint.pt and summary.json, written atomically.

A run id is generated and is the folder's only name; a user's label is stored as text.
Loading always uses torch.load(weights_only=True), so a checkpoint cannot run code.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mnist_core import settings, storage
from mnist_core.errors import RunError
from mnist_core.runs.checkpoints import TORN_CHECKPOINT, checkpoint_intact
from mnist_core.runs.schema import check_metrics, check_summary, clean_text
from mnist_core.storage.areas import write_with

# torch, the config and the models are imported where a checkpoint is read or written: listing
# runs and reading their summaries stays torch-free, so Home opens before torch has loaded.

RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[a-z0-9_]{1,20}-[0-9a-f]{6}$")
STALE_SECONDS = 60.0

# Runs this process is writing right now; a "running" summary of ours not in here is dead.
_active: set[str] = set()
_active_lock = threading.Lock()


def mark_active(run_id: str, active: bool) -> None:
    """Called by the recorder as it starts and finishes writing a run."""
    with _active_lock:
        (_active.add if active else _active.discard)(run_id)



def runs_root(path: str | os.PathLike | None = None) -> Path:
    return Path(path or settings.current().runs_dir)


def clean_label(text: str | None, limit: int = 80) -> str:
    """User text made safe to show and store: no control characters, bounded length."""
    text = "".join(ch for ch in str(text or "") if ch.isprintable())
    return text.strip()[:limit]


def new_run_id(model: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = re.sub(r"[^a-z0-9_]", "", model.lower())[:20] or "model"
    return f"{stamp}-{model}-{secrets.token_hex(3)}"


def run_path(root: str | os.PathLike, run_id: str) -> Path:
    """The folder of run_id inside root; refuses anything that is not a plain generated id."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise RunError(f"{run_id!r} is not a run id")
    return Path(root) / run_id


# ---------------------------------------------------------------- atomic writes

def write_json(path: Path, data: dict) -> None:
    write_with(path, lambda fh: fh.write(json.dumps(data, indent=2, sort_keys=True).encode()))


def save_checkpoint(path: Path, state: dict) -> None:
    import torch

    def write(fh) -> None:
        try:
            torch.save(state, fh)
        except RuntimeError as exc:
            # torch's zip writer turns a failed write into "[enforce fail at
            # inline_container.cc:672] . unexpected pos 20608 vs 20504"; the OSError it met
            # (a full disk) is what the CLI and the pages know how to explain.
            if isinstance(exc.__context__, OSError):
                raise exc.__context__ from None
            raise

    write_with(path, write)


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} does not hold a JSON object")
    return data


def read_metrics(path: Path) -> list[dict]:
    """Epoch records; a torn last line (from a killed writer) is skipped."""
    rows = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


# ---------------------------------------------------------------- reading runs

@dataclass
class Run:
    path: Path
    config: dict
    summary: dict
    metrics: list[dict]
    probes: list[dict] = field(default_factory=list)  # budgeted runs' mid-run test checks
    damaged: str | None = None  # why its files cannot be trusted; its status is then "damaged"

    @property
    def run_id(self) -> str:
        return self.path.name


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError, TypeError):
        return False


def _host() -> str:
    """Where this process's pids mean what they say: the machine (its name and this boot) and the
    pid namespace (a container's own), so two containers named alike are still told apart."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8])
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:  # no /proc (macOS, Windows): the name alone
        pass
    return ":".join(parts)


HOST = _host()


def effective_status(summary: dict) -> str:
    """A summary left as "running" by a process that died reads as "interrupted". A run
    training on another server (one database, several servers) is alive while its heartbeat is."""
    status = summary.get("status", "interrupted")
    if status != "running":
        return status
    pid = summary.get("pid")
    if summary.get("host", HOST) != HOST:
        return "interrupted" if time.time() - float(summary.get("heartbeat") or 0) > STALE_SECONDS else "running"
    if pid == os.getpid():
        with _active_lock:
            return "running" if summary.get("run_id") in _active else "interrupted"
    stale = time.time() - float(summary.get("heartbeat") or 0) > STALE_SECONDS
    return "interrupted" if stale or not _pid_alive(pid) else "running"


def load_run(path: str | os.PathLike, curves: bool = True) -> Run:
    """A run folder's config and summary, and with `curves` its metrics and probes too (a
    model picker needs only the summaries, and runs can hold thousands of rows).

    Fields of the wrong type are replaced by None and the run is marked damaged, with the
    reason; only a folder whose summary cannot be read at all raises RunError."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path} is not a run folder")
    summary = read_json(path / "summary.json")
    problems = check_summary(summary)
    try:
        config = read_json(path / "config.json")
    except RunError as exc:
        config, problems = {}, problems + [str(exc)]
    metrics, probes = [], []
    if curves:
        metrics, dropped = check_metrics(read_metrics(path / "metrics.jsonl"))
        probes = read_metrics(path / "probes.jsonl")
        if dropped:
            problems.append(f"metrics.jsonl: {dropped} row(s) without numbers were skipped")
    if (path / "checkpoint.pt").exists() and not checkpoint_intact(path):
        problems.append(f"checkpoint.pt: {TORN_CHECKPOINT}")
    summary["status"] = "damaged" if problems else effective_status(summary)
    return Run(path, config, summary, metrics, probes, "; ".join(problems) or None)


def mark_failed(path, message: str) -> None:
    """Mark a run whose writer died without a word (its worker killed) as failed, keeping its
    saved epochs; a folder that cannot be read or written is left to read as interrupted."""
    try:
        summary = read_json(Path(path) / "summary.json")
        if summary.get("status") == "running":
            summary.update(status="failed", message=message)
            write_json(Path(path) / "summary.json", summary)
    except (OSError, RunError):
        pass


def list_runs(root=None, curves: bool = True) -> list[Run]:
    """Every run under root, newest first. A run whose files are wrong is listed as "damaged"
    with the reason, beside the healthy ones; one whose summary is unreadable too."""
    root = runs_root(root)
    storage.refresh()  # what other servers on the same database made
    if not root.is_dir():
        return []
    runs = []
    for child in sorted(root.iterdir(), reverse=True):
        if child.is_dir() and RUN_ID.match(child.name):
            try:
                runs.append(load_run(child, curves))
            except RunError as exc:
                runs.append(Run(child, {}, {"run_id": child.name, "status": "damaged"}, [],
                                damaged=clean_text(exc)))
    return runs


def check_room(root, owner: str | None, adding: int = 1) -> None:
    """RunError, before a run starts, when `adding` more saved runs would pass this visitor's
    share of the server (MNIST_MAX_RUNS_PER_VISITOR) or the server's own limit (MNIST_MAX_RUNS)."""
    limits = settings.current()
    root = runs_root(root)
    storage.refresh()
    folders = [p for p in root.iterdir() if RUN_ID.match(p.name)] if root.is_dir() else []
    if len(folders) + adding > limits.max_runs:
        raise RunError(f"this server keeps {len(folders):,} runs, its limit (MNIST_MAX_RUNS {limits.max_runs:,}): "
                       "the server's owner can delete old ones on Runs, or raise the limit")
    if owner:
        # Only each summary's owner: not list_runs, which checks every checkpoint too (a sweep
        # submits a trial every few seconds).
        mine = sum(1 for folder in folders if _owner_of(folder) == owner)
        if mine + adding > limits.max_runs_per_visitor:
            raise RunError(f"you have {mine:,} saved runs, the most one person keeps on this server "
                           f"({limits.max_runs_per_visitor:,}): delete some on Runs to train more")


def _owner_of(folder: Path) -> str | None:
    try:
        return read_json(folder / "summary.json").get("owner")
    except RunError:
        return None


def relabel(root, run_id: str, label: str) -> str:
    """Give a run a new label (its summary's only user-written field); returns what was done."""
    path = run_path(runs_root(root), run_id)
    summary = change_summary(path, lambda s: s.update(label=clean_label(label)))
    return f"run {run_id} is now labelled {summary['label'] or '(no label)'!r}"


def change_summary(path, change) -> dict:
    """Change a run's summary.json in place through the storage: a publish or a relabel on one
    server and a change on another at the same moment both stay."""
    path = Path(path)
    read_json(path / "summary.json")  # RunError for a folder that has none, before anything is written
    try:
        return storage.update_json(path / "summary.json", change)
    except ValueError as exc:
        raise RunError(f"{path / 'summary.json'} is unreadable: {exc}") from None


NAMES = "names.json"  # the owner's renamings: visitor id -> the name their runs carry


def read_names(root) -> dict:
    path = runs_root(root) / NAMES
    if not path.exists():  # the usual case: read on every page run, so no exception to pay for
        return {}
    try:
        names = read_json(path)
    except RunError:
        return {}
    return {str(k): str(v) for k, v in names.items()}


def rename_maker(root, owner: str, name: str) -> int:
    """The server owner renames (or, with "", clears) the name one visitor's runs carry, on
    every one of them; returns how many runs changed."""
    from mnist_core.runs.ownership import clean_name

    new = clean_name(name) or "anonymous"
    try:  # the visitor's next runs carry it too
        storage.update_json(runs_root(root) / NAMES, lambda names: names.update({owner: new}))
    except ValueError:  # an unreadable file of renamings starts afresh
        write_json(runs_root(root) / NAMES, {owner: new})
    changed = 0
    for run in list_runs(root, curves=False):
        if run.summary.get("owner") == owner and not run.damaged:
            change_summary(run.path, lambda s: s.update(owner_name=new))
            changed += 1
    return changed


def delete_run(root, run_id: str) -> str:
    """Delete a run folder; returns what was done. A run that is a symbolic link loses the link
    only: the folder it points to may be anyone's."""
    path = run_path(runs_root(root), run_id)
    if path.is_symlink():
        path.unlink()
        return f"removed the link {run_id}; the folder it pointed to was left alone"
    if not path.is_dir():
        raise RunError(f"no run {run_id} in {runs_root(root)}")
    try:
        running = effective_status(read_json(path / "summary.json")) == "running"
    except RunError:
        running = False  # a damaged run can be deleted
    if running:
        raise RunError(f"run {run_id} is still training; stop it first")
    shutil.rmtree(path)
    return f"deleted run {run_id}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
