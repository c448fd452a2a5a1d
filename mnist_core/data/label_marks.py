"""People's verdicts on suspicious labels: "wrong" or "fine" per image, kept in one JSON file.

{"mnist": {"train": {"21601": {"verdict": "wrong", "by": "Ada", "at": "..."}}, "test": {...}}}

One file for the server (MNIST_LABEL_MARKS, else ./data/label_marks.json): a class audits the
labels together, and training reads the training-set images marked "wrong" to leave them out.
Writers take a lock and replace the file whole, so two sessions marking at once lose nothing
and a crash mid-write leaves the previous file.
"""
from __future__ import annotations

from pathlib import Path

from mnist_core import settings, storage
from mnist_core.errors import MarkError  # noqa: F401  (defined there, torch-free)
from mnist_core.limits import MAX_MARKS
from mnist_core.runs.ownership import clean_name

VERDICTS = ("wrong", "fine")
SPLITS = ("train", "test")


def marks_path(path=None) -> Path:
    if path is not None:
        return Path(path)
    return settings.current().label_marks


def _read(path: Path) -> dict:
    """The file's object; {} before the first mark."""
    from mnist_core.runs.folders import RunError, read_json

    if not path.exists():
        return {}
    try:
        return read_json(path)
    except RunError as exc:
        raise MarkError(f"the label marks: {exc}; move the file aside to start afresh") from None


def load_marks(dataset: str = "mnist", path=None) -> dict[str, dict[int, str]]:
    """{"train": {index: "wrong" | "fine"}, "test": {...}}; anything malformed is skipped."""
    storage.refresh()  # marks made on other servers of the same database
    raw = _read(marks_path(path)).get(dataset, {})
    out: dict[str, dict[int, str]] = {split: {} for split in SPLITS}
    if not isinstance(raw, dict):
        return out
    for split in SPLITS:
        entries = raw.get(split, {})
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            verdict = value.get("verdict") if isinstance(value, dict) else None
            if str(key).isdigit() and verdict in VERDICTS:
                out[split][int(key)] = verdict
    return out


def wrong_indices(dataset: str = "mnist", split: str = "train", path=None) -> list[int]:
    return sorted(i for i, v in load_marks(dataset, path)[split].items() if v == "wrong")


def set_mark(split: str, index: int, verdict: str | None, dataset: str = "mnist",
             by: str | None = None, path=None, size: int | None = None) -> None:
    """Record (or with verdict None, clear) one image's verdict."""
    from mnist_core.runs.folders import now

    if split not in SPLITS:
        raise MarkError(f"unknown split {split!r}; use 'train' or 'test'")
    if verdict is not None and verdict not in VERDICTS:
        raise MarkError(f"a verdict is 'wrong' or 'fine', got {verdict!r}")
    if not isinstance(index, int) or index < 0 or (size is not None and index >= size):
        raise MarkError(f"no image #{index} in the {split} split")
    path = marks_path(path)

    def change(data: dict) -> None:
        entries = data.setdefault(dataset, {}).setdefault(split, {})
        if verdict is None:
            entries.pop(str(index), None)
        else:
            if str(index) not in entries and sum(len(v) for v in data[dataset].values()) >= MAX_MARKS:
                raise MarkError(f"{MAX_MARKS:,} images are marked already: clear some first")
            entries[str(index)] = {"verdict": verdict, "by": clean_name(by) or "someone", "at": now()}

    # One writer at a time, across the server's processes and, with a database, its servers.
    try:
        storage.update_json(path, change)
    except ValueError as exc:
        raise MarkError(f"the label marks: {exc}; move the file aside to start afresh") from None
