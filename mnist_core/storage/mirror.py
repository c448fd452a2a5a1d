"""A database storage: every area's files kept in one table, and the local folders only a cache.

Writers (training, publishing, saving handwriting) write local files as they always have. A
sync then sends the database the files that changed here, removes there what was deleted here,
fetches what changed elsewhere and deletes here what was deleted elsewhere. A record per area
(its `.synced-<area>.json`) holds which version of each file matches the database: a file
changed here is told from one changed elsewhere, and a folder that vanished with its record is
simply fetched again. Files that several servers may change at one moment (the label marks, the
owner's renamings, a summary being published) go through `update_json`, a read-modify-write
under the database row's lock, so nothing is lost between them.

When the database cannot be reached, the local files are kept, `health` says so, and the next
sync sends whatever waited.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, delete, select, update

from mnist_core.errors import StorageError
from mnist_core.storage.areas import Area, read_record, write_atomic, write_record
from mnist_core.storage.health import Health, Report
from mnist_core.storage.local import dump, locked, read_object
from mnist_core.storage.url import engine_url, first_line, shown

METADATA = MetaData()
FILES = Table(
    "mnist_studio_files", METADATA,
    Column("area", String(32), primary_key=True),
    Column("path", String(400), primary_key=True),
    Column("etag", String(40), nullable=False),  # sha256 of data, the first 20 hex digits
    Column("data", LargeBinary, nullable=False),
    Column("updated", Float, nullable=False),
)
CONNECT_SECONDS = 5  # a database that does not answer is reported, not waited on
# After a failure, the pages' refreshes leave the database alone this long (the server's sync
# thread keeps trying), so that a page never waits on a database that is down.
RETRY_SECONDS = 10.0
BATCH = 50  # files fetched per query: a hosted database is a round trip away


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _db_errors():
    import sqlalchemy.exc

    return sqlalchemy.exc.SQLAlchemyError, StorageError, OSError


def _upsert(conn, area: str, rel: str, data: bytes) -> None:
    values = {"area": area, "path": rel, "etag": digest(data), "data": data, "updated": time.time()}
    backend = conn.dialect.name
    if backend in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{backend}", fromlist=["insert"])
        stmt = module.insert(FILES).values(**values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["area", "path"], set_={k: stmt.excluded[k] for k in ("etag", "data", "updated")}))
        return
    done = conn.execute(update(FILES).where(FILES.c.area == area, FILES.c.path == rel).values(**values))
    if not done.rowcount:
        conn.execute(FILES.insert().values(**values))


def _insert_missing(conn, area: str, rel: str, data: bytes) -> None:
    """Create the row unless another server has (the loser of a race waits, then does nothing)."""
    values = {"area": area, "path": rel, "etag": digest(data), "data": data, "updated": time.time()}
    backend = conn.dialect.name
    if backend in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{backend}", fromlist=["insert"])
        conn.execute(module.insert(FILES).values(**values).on_conflict_do_nothing(index_elements=["area", "path"]))
    elif conn.execute(select(FILES.c.etag).where(FILES.c.area == area, FILES.c.path == rel)).first() is None:
        conn.execute(FILES.insert().values(**values))


def _prune(folder, root) -> None:
    """Remove folders left empty by a deletion, up to the area's own."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _changed_here(path, known) -> bool:
    """Whether the local file differs from the version the record says the database has."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return known is not None  # deleted here, not yet removed there
    return known is None or known[1:] != [st.st_size, st.st_mtime_ns]


class DatabaseStorage:
    kind = "database"

    def __init__(self, url: str, areas: tuple[Area, ...]):
        self.url = url
        self.areas = {a.name: a for a in areas}
        self._lock = threading.RLock()
        self._engine = None
        self._pid = None
        self._tables = False
        self._last = -math.inf  # time.monotonic() of the last sync that reached the database
        self._fetched = -math.inf  # the last fetch-only sync's
        self._failed_at = -math.inf
        self._error: str | None = None
        self._since: float | None = None

    @property
    def where(self) -> str:
        return shown(self.url)

    # ------------------------------------------------------------ the connection

    def engine(self):
        """This process's engine (a forked worker makes its own: connections do not cross a fork)."""
        if self._engine is not None and self._pid == os.getpid():
            return self._engine
        import sqlalchemy
        from sqlalchemy.engine import make_url

        url = engine_url(self.url)
        try:
            backend = make_url(url).get_backend_name()
            kwargs = {"pool_pre_ping": True}
            if backend == "postgresql":
                kwargs.update(connect_args={"connect_timeout": CONNECT_SECONDS}, pool_size=2, max_overflow=4,
                              pool_recycle=600)
            elif backend == "sqlite":
                kwargs.update(connect_args={"timeout": 30})
            engine = sqlalchemy.create_engine(url, **kwargs)
        except (ImportError, sqlalchemy.exc.ArgumentError, ValueError) as exc:
            raise StorageError(f"cannot use the storage {shown(self.url)}: {first_line(exc)}") from None
        self._engine, self._pid, self._tables = engine, os.getpid(), False
        return engine

    def _ready(self):
        engine = self.engine()
        if not self._tables:
            import sqlalchemy.exc

            try:
                METADATA.create_all(engine, checkfirst=True)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                METADATA.create_all(engine, checkfirst=True)  # another server made it at the same moment
            self._tables = True
        return engine

    def _fail(self, exc: BaseException) -> str:
        self._error = f"{shown(self.url)}: {first_line(exc)}"
        self._failed_at = time.monotonic()
        self._since = self._since or time.time()
        return self._error

    def _ok(self) -> None:
        self._error, self._since = None, None

    def health(self) -> Health:
        waiting = 0
        if self._error:
            for area in self.areas.values():
                record = read_record(area)
                waiting += sum(1 for rel, st in area.files().items()
                               if record.get(rel, [None, None, None])[1:] != [st.st_size, st.st_mtime_ns])
        return Health(self.kind, self.where, self._error, self._since, waiting)

    # ------------------------------------------------------------ syncing

    def sync(self, max_age: float = 0.0, send: bool = True) -> Report:
        """Send what changed here, fetch what changed elsewhere. With `max_age`, a sync newer
        than that (or a failure newer than RETRY_SECONDS) is enough: nothing is done. Without
        `send`, only fetch: no walk over the local folders, which is most of a sync's cost
        (benchmarks.storage); the server's sync thread sends."""
        with self._lock:
            now = time.monotonic()
            last = self._last if send else max(self._last, self._fetched)
            if max_age and (now - last < max_age or now - self._failed_at < RETRY_SECONDS):
                return Report(error=self._error)
            totals = [0, 0, 0]
            try:
                engine = self._ready()
                with engine.connect() as conn:
                    for area in self.areas.values():
                        for i, n in enumerate(self._sync_area(conn, area, send)):
                            totals[i] += n
            except _db_errors() as exc:
                return Report(*totals, error=self._fail(exc))
            self._ok()
            if send:
                self._last = time.monotonic()
            else:
                self._fetched = time.monotonic()
            return Report(*totals)

    def _sync_area(self, conn, area: Area, send: bool = True) -> tuple[int, int, int]:
        with locked(area.record):
            record = read_record(area)
            before = dict(record)
            try:
                return self._exchange(conn, area, record, send)
            finally:
                if record != before:  # a sync with nothing to do writes nothing
                    write_record(area, record)

    def _exchange(self, conn, area: Area, record: dict, send: bool) -> tuple[int, int, int]:
        sent = fetched = removed = 0
        local = area.files() if send else {}
        # Changed here since it last matched the database: send it.
        matched = {}
        for rel, st in local.items():
            known = record.get(rel)
            if known and known[1:] == [st.st_size, st.st_mtime_ns]:
                continue
            try:
                data = area.path(rel).read_bytes()
            except FileNotFoundError:
                continue
            if not known or known[0] != digest(data):
                _upsert(conn, area.name, rel, data)
                sent += 1
            matched[rel] = [digest(data), st.st_size, st.st_mtime_ns]
        # Deleted here: delete it there too, unless another server has changed it since.
        gone = [rel for rel in record if rel not in local] if send else []
        for rel in gone:
            conn.execute(delete(FILES).where(FILES.c.area == area.name, FILES.c.path == rel,
                                             FILES.c.etag == record[rel][0]))
        conn.commit()
        record.update(matched)
        for rel in gone:
            del record[rel]
        removed += len(gone)
        # Changed elsewhere: fetch it; deleted elsewhere: delete it here.
        remote = dict(conn.execute(select(FILES.c.path, FILES.c.etag).where(FILES.c.area == area.name)).all())
        wanted = [rel for rel, etag in remote.items() if record.get(rel, [None])[0] != etag]
        for start in range(0, len(wanted), BATCH):
            rows = conn.execute(select(FILES.c.path, FILES.c.etag, FILES.c.data).where(
                FILES.c.area == area.name, FILES.c.path.in_(wanted[start:start + BATCH]))).all()
            for rel, etag, data in rows:
                try:
                    path = area.path(rel)
                except StorageError:  # a name no server of this app writes: leave it there
                    continue
                if not send and _changed_here(path, record.get(rel)):
                    continue  # the next full sync sends it first: this server's change stands
                write_atomic(path, bytes(data))
                st = path.stat()
                record[rel] = [etag, st.st_size, st.st_mtime_ns]
                fetched += 1
        conn.commit()
        for rel in [rel for rel in record if rel not in remote]:
            path = area.path(rel)
            if not send and _changed_here(path, record[rel]):
                continue
            path.unlink(missing_ok=True)
            _prune(path.parent, area.root)
            del record[rel]
            removed += 1
        return sent, fetched, removed

    # ------------------------------------------------------------ shared files

    def update_json(self, area: str, rel: str, change: Callable[[dict], None]) -> dict:
        """Read-modify-write one JSON object under the database row's lock, so that servers
        changing it at the same moment lose nothing; `change` edits the object in place (and
        may raise to leave it as it was). With the database away, the local copy is changed
        and sent later."""
        where = self.areas[area]
        path = where.path(rel)
        with locked(path):
            try:
                engine = self._ready()
                with engine.begin() as conn:
                    _insert_missing(conn, area, rel, path.read_bytes() if path.exists() else dump({}))
                with engine.begin() as conn:
                    row = conn.execute(select(FILES.c.data).where(FILES.c.area == area, FILES.c.path == rel)
                                       .with_for_update()).first()
                    data = json.loads(bytes(row.data)) if row is not None else {}
                    if not isinstance(data, dict):
                        raise ValueError(f"the stored {rel} does not hold a JSON object")
                    change(data)
                    body = dump(data)
                    conn.execute(update(FILES).where(FILES.c.area == area, FILES.c.path == rel)
                                 .values(etag=digest(body), data=body, updated=time.time()))
            except _db_errors() as exc:
                self._fail(exc)
                data = read_object(path)
                change(data)
                write_atomic(path, dump(data))
                return data
            write_atomic(path, body)
            with locked(where.record):
                record = read_record(where)
                st = path.stat()
                record[rel] = [digest(body), st.st_size, st.st_mtime_ns]
                write_record(where, record)
            self._ok()
            return data

    # ------------------------------------------------------------ moving in and out

    def items(self) -> Iterator[tuple[str, str, bytes]]:
        with self._ready().connect() as conn:
            names = conn.execute(select(FILES.c.area, FILES.c.path).order_by(FILES.c.area, FILES.c.path)).all()
            for area, rel in names:
                if area not in self.areas:
                    continue
                data = conn.execute(select(FILES.c.data).where(FILES.c.area == area, FILES.c.path == rel)).scalar()
                if data is not None:
                    yield area, rel, bytes(data)

    def put(self, area: str, rel: str, data: bytes) -> None:
        self.areas[area].path(rel)  # refuses a name that would leave the area
        with self._ready().begin() as conn:
            _upsert(conn, area, rel, data)

    def listing(self) -> dict[tuple[str, str], str]:
        with self._ready().connect() as conn:
            return {(a, r): e for a, r, e in conn.execute(select(FILES.c.area, FILES.c.path, FILES.c.etag))
                    if a in self.areas}
