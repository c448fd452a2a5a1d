"""`python -m mnist_core storage status | sync | copy FROM TO`, and the sync around every other
command when MNIST_STORAGE_URL names a database."""
from __future__ import annotations

import sys

from mnist_core import storage
from mnist_core.storage.copying import copy


def sync_quietly(when: str) -> None:
    """Sync with the database, if one is set; a database that does not answer is a note, not an
    error: the command works on the local files, which are sent at a later sync."""
    store = storage.current()
    if store.kind != "database":
        return
    report = store.sync()
    if report.error:
        print(f"note: the database cannot be reached {when} this command ({report.error}); the local "
              "files are kept and sent once it answers", file=sys.stderr)


def cmd_storage(args) -> int:
    store = storage.current()
    if args.action == "status":
        print(f"storage: {store.where}")
        if store.kind == "database":
            report = store.sync()
            health = store.health()
            print("database: reachable" if report.error is None else f"database: not reachable ({report.error})")
            print(f"files waiting to be sent: {health.waiting}")
        return 0
    if args.action == "sync":
        if store.kind != "database":
            print("storage: local files; nothing to sync (set MNIST_STORAGE_URL to a database)")
            return 0
        report = store.sync()
        if report.error:
            print(f"error: {report.error}; the local files are kept", file=sys.stderr)
            return 2
        print(f"sent {report.sent}, fetched {report.fetched}, removed {report.removed} file(s)"
              + (f"; {report.skipped} this disk refused (named above), the rest synced" if report.skipped else ""))
        return 0
    if not args.source or not args.target:
        print("error: storage copy needs FROM and TO (a database URL, `local`, or a folder)", file=sys.stderr)
        return 2
    done = copy(args.source, args.target)
    print(f"copied {done['files']} file(s) and {done['studies']} sweep stud(ies)")
    for side in ("from", "to"):
        where, count = done[side]
        print(f"{side:>4}: {where}: " + ", ".join(f"{v} {k}" for k, v in count.items()))
    return 0
