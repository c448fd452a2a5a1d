"""Where the class's work is kept, as the pages show it: the database's URL from Streamlit's
secrets, the server's sync with that database in the background, a plain word to every visitor
while it cannot be reached, and the owner's warning on a host whose files are temporary.
"""
from __future__ import annotations

import threading
import time

import streamlit as st

from mnist_core import settings, storage
from mnist_core.storage.url import is_database

from . import identity
from .text import plain

STORAGE_SECRET = "storage_url"
# The server's own sync with the database: runs trained here reach the other servers (and
# survive this host) within this many seconds; the pages' lists refresh on their own as well.
SYNC_SECONDS = 3.0

_started = False
_lock = threading.Lock()


def _adopt_secret() -> None:
    """`storage_url` in Streamlit's secrets, for a host (Community Cloud) whose owner sets
    secrets rather than variables; MNIST_STORAGE_URL wins when both are set."""
    try:
        url = str(st.secrets.get(STORAGE_SECRET, "") or "")
    except Exception:  # noqa: BLE001 - no secrets file
        url = ""
    settings.adopt(storage_url=url)


def _sync_forever() -> None:
    while True:
        storage.refresh(0, send=True)  # never raises; a failure is in the storage's health
        time.sleep(SYNC_SECONDS)


def start() -> None:
    """On every page run: read the secret (cheap: Streamlit caches the file); once a database is
    set, sync with it in a daemon thread, one per server."""
    global _started
    _adopt_secret()
    if not is_database(settings.current().storage_url):
        return
    with _lock:
        if _started:
            return
        _started = True
    threading.Thread(target=_sync_forever, name="storage-sync", daemon=True).start()


def warn_if_unreachable(fetch: bool = True) -> None:
    """Every visitor's word while the database does not answer: nothing is lost. With `fetch`,
    first fetch what other servers changed (throttled; Home, which lists nothing, leaves a
    woken server's first fetch to the sync thread rather than keep its first visitor waiting)."""
    store = storage.current()
    if store.kind != "database":
        return
    if fetch:
        storage.refresh()
    if store.health(count_waiting=False).reachable:
        return
    st.warning("The class's database can't be reached just now. Your work is kept on this server and is "
               "copied there as soon as it answers.", icon=":material/cloud_off:")
    if identity.sees_server_details():
        health = store.health()
        st.caption(plain(f"Database {health.error}. Files waiting to be sent: {health.waiting}."))


def owner_note() -> None:
    """On Runs and the Class board, to the owner: on a host whose files are temporary and with
    no database, every run vanishes when the app restarts."""
    s = settings.current()
    if is_database(s.storage_url) or not s.temporary_disk or not identity.sees_server_details():
        return
    st.warning("Runs, the class board, label marks and handwriting are kept in this server's files, and this "
               "host deletes them when the app restarts, sleeps or is redeployed. To keep them, add a "
               "PostgreSQL database's URL as `storage_url` to the app's secrets (docs/deployment.md).",
               icon=":material/warning:")


def where_runs_are(root) -> str:
    """For the owner, under Runs' table: where the runs are kept."""
    store = storage.current()
    if store.kind == "database":
        return (f"Kept in the database `{store.where}` (MNIST_STORAGE_URL); `{root}` is this server's copy, "
                "which may be deleted at any time.")
    return f"Saved in `{root}` (set MNIST_RUNS_DIR to use another folder, or MNIST_STORAGE_URL for a database)."
