"""Local storage, the default: the files are all there is, and nothing needs syncing."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

from mnist_core.storage.areas import Area, write_atomic
from mnist_core.storage.health import Health, Report


def locked(path):
    """One writer of a file at a time, across the server's threads and processes (filelock
    comes with torch)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path.with_name(f".{path.name}.lock"))  # a dot file: no listing shows it


def read_object(path) -> dict:
    """A JSON object file's contents; {} when there is none yet. ValueError when it is not one."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def dump(data: dict) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()


def rewrite(path, change: Callable[[dict], None]) -> dict:
    """Read, `change` in place, write back whole: the caller holds the file's lock."""
    data = read_object(path)
    change(data)
    write_atomic(path, dump(data))
    return data


def update_file(path, change: Callable[[dict], None]) -> dict:
    """`rewrite` under the file's lock, one writer at a time on this machine."""
    with locked(path):
        return rewrite(path, change)


class LocalStorage:
    kind = "local"

    def __init__(self, areas: tuple[Area, ...]):
        self.areas = {a.name: a for a in areas}

    @property
    def where(self) -> str:
        return "local files"

    def sync(self, max_age: float = 0.0, send: bool = True) -> Report:
        return Report()

    def health(self, count_waiting: bool = True) -> Health:
        return Health(self.kind, self.where)

    def update_json(self, area: str, rel: str, change: Callable[[dict], None]) -> dict:
        """Read-modify-write one JSON object file, one writer at a time: `change` edits the
        object in place (and may raise to leave the file as it was)."""
        return update_file(self.areas[area].path(rel), change)

    # Moving in and out (mnist_core.storage.copying)
    def items(self) -> Iterator[tuple[str, str, bytes]]:
        for area in self.areas.values():
            for rel in sorted(area.files()):
                try:
                    yield area.name, rel, area.path(rel).read_bytes()
                except FileNotFoundError:
                    continue

    def put(self, area: str, rel: str, data: bytes) -> None:
        write_atomic(self.areas[area].path(rel), data)

    def listing(self) -> dict[tuple[str, str], str]:
        """(area, name) -> a digest of the contents, to compare two storages."""
        return {(a, r): hashlib.sha256(d).hexdigest()[:20] for a, r, d in self.items()}
