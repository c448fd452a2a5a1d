"""Moving a class's work between storages: `python -m mnist_core storage copy FROM TO`.

FROM and TO are each a database URL, the word `local` (the folders the settings name), or a
folder laid out as the app's own (FOLDER/runs, FOLDER/data/handwriting,
FOLDER/data/label_marks.json). Every file is copied, then the sweeps' studies (Optuna's own
copy), and the two listings are compared.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_core import settings
from mnist_core.errors import StorageError
from mnist_core.storage.areas import areas_of
from mnist_core.storage.local import LocalStorage
from mnist_core.storage.url import first_line, is_database, shown


@dataclass(frozen=True)
class Place:
    storage: object  # LocalStorage or DatabaseStorage
    sweeps: str | None  # the Optuna storage URL of its sweeps, None when it has none yet
    shown: str


def place(where: str) -> Place:
    """A storage by the name a person gives it."""
    from mnist_core.studies.sweep_storage import DB_NAME

    if is_database(where):
        from mnist_core.storage.mirror import DatabaseStorage

        return Place(DatabaseStorage(where, areas_of(settings.current())), where, shown(where))
    if where == "local":
        s = settings.current()
    else:
        folder = Path(where)
        if folder.exists() and not folder.is_dir():
            raise StorageError(f"{where} is a file: give a database URL, `local`, or a folder")
        s = settings.replace(settings.current(), runs_dir=folder / "runs",
                             handwriting_dir=folder / "data" / "handwriting",
                             label_marks=folder / "data" / "label_marks.json")
    sweeps = Path(s.runs_dir).absolute() / DB_NAME
    return Place(LocalStorage(areas_of(s)), f"sqlite:///{sweeps}" if sweeps.exists() else None,
                 "local files" if where == "local" else str(where))


def counts(listing: dict) -> dict[str, int]:
    """Files per area, and runs (folders with a summary)."""
    out = {"runs": sum(1 for a, r in listing if a == "runs" and r.endswith("/summary.json"))}
    for area, _rel in listing:
        out[f"{area} files"] = out.get(f"{area} files", 0) + 1
    return out


def copy(source: str, target: str) -> dict:
    """Copy everything from `source` to `target`; returns what was copied and both listings'
    counts. StorageError when either cannot be used or the copy does not match."""
    import sqlalchemy.exc

    try:
        src, dst = place(source), place(target)
        files = 0
        for area, rel, data in src.storage.items():
            dst.storage.put(area, rel, data)
            files += 1
        studies = _copy_studies(src, dst)
        before, after = src.storage.listing(), dst.storage.listing()
    except StorageError:
        raise
    except (sqlalchemy.exc.SQLAlchemyError, OSError, ValueError) as exc:  # a server gone, a full disk, bad text
        raise StorageError(f"the copy stopped: {first_line(exc)}") from None
    missing = [k for k, etag in before.items() if after.get(k) != etag]
    if missing:
        area, rel = missing[0]
        raise StorageError(f"{len(missing)} file(s) did not arrive intact, the first {area}/{rel}")
    return {"files": files, "studies": studies, "from": (src.shown, counts(before)), "to": (dst.shown, counts(after))}


def _copy_studies(src: Place, dst: Place) -> int:
    """Studies the target lacks, copied whole (trials, their values and attributes)."""
    if src.sweeps is None:
        return 0
    import optuna

    from mnist_core.studies.sweep_storage import DB_NAME, storage_of

    target = dst.sweeps
    if target is None:  # a local folder without sweeps.db yet
        root = dst.storage.areas["runs"].root
        root.mkdir(parents=True, exist_ok=True)
        target = f"sqlite:///{root / DB_NAME}"
    have = {s.study_name for s in optuna.get_all_study_summaries(storage_of(target))}
    copied = 0
    for summary in optuna.get_all_study_summaries(storage_of(src.sweeps)):
        if summary.study_name not in have:
            optuna.copy_study(from_study_name=summary.study_name, from_storage=storage_of(src.sweeps),
                              to_storage=storage_of(target))
            copied += 1
    return copied
