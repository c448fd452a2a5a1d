"""Where the server keeps what a class makes: runs, label marks, handwriting and sweeps.

One setting chooses it, MNIST_STORAGE_URL (or `storage_url` in Streamlit's secrets):
- unset, the local folders and files are all there is (mnist_core.storage.local), and sweeps
  use a SQLite file beside the runs;
- a database URL (`postgresql://...`) keeps every file in that database
  (mnist_core.storage.mirror), with the local folders only a cache that may vanish at any
  moment; sweeps live in the same database.

The engine reads and writes its local files as before; it calls `refresh()` before it lists
what is kept (throttled: a page's many lists cost one sync), and `update_json()` for a file that
several servers may change at the same moment. The app's server also syncs every few seconds
in the background (studio.storage_panel), and the CLI around each command.
"""
from __future__ import annotations

import threading
from pathlib import Path

from mnist_core import settings
from mnist_core.storage.areas import areas_of
from mnist_core.storage.health import Health, Report
from mnist_core.storage.local import LocalStorage
from mnist_core.storage.url import is_database

__all__ = ["Health", "Report", "current", "open_storage", "refresh", "standby", "update_json"]

# A refresh within this many seconds of the last sync does nothing: a page lists runs several
# times, and thirty visitors' pages would otherwise each ask the database.
REFRESH_SECONDS = 2.0

_open: dict = {}
_open_lock = threading.Lock()
_standby = False


def open_storage(url: str | None, areas) -> LocalStorage:
    """The storage for `url` over `areas`, one per process for the same pair (it holds the
    database's connections and the time of its last sync)."""
    key = (url or "", tuple(areas))
    with _open_lock:
        if key not in _open:
            if is_database(url):
                from mnist_core.storage.mirror import DatabaseStorage

                _open[key] = DatabaseStorage(url, tuple(areas))
            else:
                _open[key] = LocalStorage(tuple(areas))
        return _open[key]


def current():
    """The storage the settings in force name."""
    s = settings.current()
    return open_storage(s.storage_url, areas_of(s))


def standby() -> None:
    """This process (a training worker) leaves syncing to the server that started it."""
    global _standby
    _standby = True


def refresh(max_age: float = REFRESH_SECONDS, send: bool = False) -> Report:
    """Fetch what other servers changed, at most every `max_age` seconds; with `send`, also
    send what changed here (the server's sync thread does). Never raises: a failure is in the
    report and in `current().health()`."""
    if _standby:
        return Report()
    storage = current()
    try:
        return storage.sync(max_age, send=send)
    except Exception as exc:  # noqa: BLE001 - a page must list what it has locally regardless
        return Report(error=f"{type(exc).__name__}: {exc}")


def update_json(path, change) -> dict:
    """Read-modify-write the JSON object file at `path` through the storage when it keeps that
    file (one writer at a time across servers), else locally under a file lock. ValueError
    when the file does not hold a JSON object."""
    storage = current()
    path = Path(path)
    for area in storage.areas.values():
        rel = area.name_of(path)
        if rel is not None:
            return storage.update_json(area.name, rel, change)
    from mnist_core.storage.local import update_file

    return update_file(path, change)
