"""What a storage reports: how a sync went, and whether the class's work is safe."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """One sync: files sent to the database, fetched from it, and removed on either side."""
    sent: int = 0
    fetched: int = 0
    removed: int = 0
    skipped: int = 0  # files this disk refused (logged); the rest went on
    error: str | None = None  # why the database could not be used; the local files are kept


@dataclass(frozen=True)
class Health:
    kind: str  # "local" or "database"
    where: str  # the database's URL with its password hidden, or "local files"
    error: str | None = None  # the last try's failure, for the owner
    since: float | None = None  # time.time() of the first failure in a row
    waiting: int = 0  # local files the database has not got yet

    @property
    def reachable(self) -> bool:
        return self.error is None
