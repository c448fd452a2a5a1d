"""Who did what to a class's work: one JSON line per destructive or owner action (a run
deleted, relabelled, published or taken off the board, the board cleared, the owner's rights
unlocked), beside the runs, for the server's owner to read.

Bounded: past MAX_LINES the file keeps its newest KEEP_LINES, so a busy term cannot fill the
disk with it. A line never holds a secret: a visitor is their name and a short id.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from mnist_core.runs.folders import now, runs_root
from mnist_core.storage.local import locked

FILE = "audit.jsonl"
MAX_LINES, KEEP_LINES = 2000, 1000
_lock = threading.Lock()


def record(root, who: str, action: str, target: str = "") -> None:
    """Append one action; a failure to write it never stops the action itself."""
    path = runs_root(root) / FILE
    line = json.dumps({"at": now(), "who": str(who)[:60], "action": action, "target": str(target)[:120]})
    try:
        # The storage's lock too: a sync that merges another server's lines never writes over
        # a line appended while it read.
        with _lock, locked(path):
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            _trim(path)
    except OSError:
        pass


def _trim(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) > MAX_LINES:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines[-KEEP_LINES:]) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def recent(root, n: int = 50) -> list[dict]:
    """The newest n actions, newest first; a torn or foreign line is skipped."""
    path = runs_root(root) / FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append({k: str(entry.get(k, "")) for k in ("at", "who", "action", "target")})
        if len(out) >= n:
            break
    return out
