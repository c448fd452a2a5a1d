"""What the server keeps, as three areas of files: the runs folder (run folders, the owner's
renamings, the audit log), the handwriting folder (every visitor's set) and the label-marks
file. A database keeps each area file by file (mnist_core.storage.mirror); locally the files
are all there is.

Each area's files are named by their path inside it, with "/" between folders, the same on
every server; the label marks are always "label_marks.json", whatever MNIST_LABEL_MARKS calls
the local copy.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mnist_core.errors import StorageError
from mnist_core.settings import Settings

MARKS_NAME = "label_marks.json"
VISITORS = "visitors"  # mnist_core.data.handwriting_sets keeps each visitor's set in here
# The files several servers may change: JSON objects (mnist_core.storage.update_json) and the
# owner's audit log (JSON lines). Sent under the database row's lock, and merged with the stored
# one when both changed.
SHARED = frozenset({"summary.json", "names.json", MARKS_NAME, "audit.jsonl"})


def _kept(name: str) -> bool:
    # Dot files are a writer's half-written copies and this module's own records; sweeps.db is
    # Optuna's, which a database storage replaces; .lock files are the local writers' locks. A
    # name that is not UTF-8 text (a stray file) cannot be a database key.
    if name.startswith(".") or name.endswith((".lock", ".tmp")) or name.startswith("sweeps.db"):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _raise(error: OSError) -> None:
    raise error  # a folder the walk cannot read must not look like deleted files


@dataclass(frozen=True)
class Area:
    name: str
    root: Path
    only: str | None = None  # an area that is one file (the label marks): its local name

    def path(self, rel: str) -> Path:
        """The local file of a stored name; refuses names that would leave the area."""
        if self.only is not None:
            if rel != MARKS_NAME:
                raise StorageError(f"no file {rel!r} in the {self.name} area")
            return self.root / self.only
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or any(p in ("", ".", "..") or not _kept(p) for p in parts):
            raise StorageError(f"{rel!r} is not a file name the storage keeps")
        return self.root.joinpath(*parts)

    def name_of(self, path: Path) -> str | None:
        """The stored name of a local file, or None when the area does not keep it."""
        try:
            rel = Path(path).absolute().relative_to(self.root)
        except ValueError:
            return None
        if self.only is not None:
            return MARKS_NAME if rel.parts == (self.only,) else None
        return rel.as_posix() if rel.parts and all(_kept(p) for p in rel.parts) else None

    def files(self) -> dict[str, os.stat_result]:
        """Every file the area keeps now, by stored name, with its size and time."""
        if self.only is not None:
            try:
                return {MARKS_NAME: (self.root / self.only).stat()}
            except FileNotFoundError:
                return {}
        out = {}
        if not self.root.is_dir():
            return out
        for folder, dirs, names in os.walk(self.root, onerror=_raise):
            dirs[:] = [d for d in dirs if _kept(d)]
            for name in names:
                if _kept(name):
                    path = Path(folder) / name
                    try:
                        out[path.relative_to(self.root).as_posix()] = path.stat()
                    except FileNotFoundError:  # deleted while we looked
                        continue
        return out

    @property
    def record(self) -> Path:
        """This area's local record of which files match the database's (a dot file: never kept)."""
        return self.root / f".synced-{self.name}.json"


def areas_of(s: Settings) -> tuple[Area, ...]:
    handwriting = Path(s.handwriting_dir)
    if handwriting.parent.name == VISITORS:  # a visitor's own set: the server's folder is above
        handwriting = handwriting.parent.parent
    marks = Path(s.label_marks).absolute()
    return (Area("runs", Path(s.runs_dir).absolute()),
            Area("handwriting", handwriting.absolute()),
            Area("marks", marks.parent, only=marks.name))


def write_with(path: Path, write) -> None:
    """`write(fh)` into a file beside `path`, then renamed over it: a reader never sees half a
    file, and a failed write leaves the previous one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other local users
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if isinstance(exc, OSError) and exc.filename is None:  # a write's error names no file
            exc.filename = str(path)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """`data` written whole into `path`, its folder made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_with(path, lambda fh: fh.write(data))


def stamp(st: os.stat_result) -> list:
    """What tells a changed local file: its size, time and inode (a file written beside and
    renamed over is a new inode, even within one tick of the clock)."""
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def read_record(area: Area, database: str) -> dict[str, list]:
    """{name: [etag, size, mtime_ns, inode]} of the files last known to match `database` (its
    id). A record of another database (the URL changed, the database was replaced) is no
    record: nothing here is then taken for deleted there."""
    try:
        data = json.loads(area.record.read_text())
        if data.get("database") != database:
            return {}
        return {str(k): list(v) for k, v in data["files"].items() if isinstance(v, list) and len(v) == 4}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def write_record(area: Area, database: str, record: dict[str, list]) -> None:
    write_atomic(area.record, json.dumps({"database": database, "files": record}, sort_keys=True).encode())
