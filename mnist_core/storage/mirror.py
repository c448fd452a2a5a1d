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
sync sends whatever waited. A shared file changed here while the database was away, and there
meanwhile, is merged: the stored object's keys, with this server's values where both have one.
A file that cannot be written here (a name the local disk refuses) is skipped and logged, never
a reason to stop syncing the rest.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath

from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, delete, select, update

from mnist_core.errors import StorageError
from mnist_core.storage.areas import SHARED, Area, read_record, stamp, write_atomic, write_record
from mnist_core.storage.health import Health, Report
from mnist_core.storage.local import dump, locked, read_object, rewrite
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
# The database's own id, made with the tables: a local record of another database (a changed
# URL, a replaced database) is then no record, and nothing here is taken for deleted there.
META = Table(
    "mnist_studio_meta", METADATA,
    Column("key", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
)
CONNECT_SECONDS = 5  # a database that does not answer is reported, not waited on
# After a failure, the pages' refreshes and shared-file changes leave the database alone this
# long (the server's sync thread keeps trying), so that no click waits on a database that is down.
RETRY_SECONDS = 10.0
BATCH = 50  # files fetched per query: a hosted database is a round trip away

log = logging.getLogger(__name__)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _db_errors():
    import sqlalchemy.exc

    return sqlalchemy.exc.SQLAlchemyError, StorageError, OSError


def _insert(conn, values: dict, on_conflict: str, table=FILES, keys=("area", "path")) -> None:
    """INSERT that updates (`on_conflict="update"`) or leaves (`"nothing"`) an existing row."""
    backend = conn.dialect.name
    if backend in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{backend}", fromlist=["insert"])
        stmt = module.insert(table).values(**values)
        if on_conflict == "update":
            stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                              set_={k: stmt.excluded[k] for k in values if k not in keys})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt)
        return
    where = [table.c[k] == values[k] for k in keys]
    if conn.execute(select(table.c[keys[0]]).where(*where)).first() is None:
        conn.execute(table.insert().values(**values))
    elif on_conflict == "update":
        conn.execute(update(table).where(*where).values(**values))


def _row(area: str, rel: str, data: bytes) -> dict:
    return {"area": area, "path": rel, "etag": digest(data), "data": data, "updated": time.time()}


def _upsert(conn, area: str, rel: str, data: bytes) -> None:
    _insert(conn, _row(area, rel, data), "update")


def merge(stored, here):
    """Both servers' changes to one JSON object: the stored keys, with this server's values
    where both have one (nested objects merged the same way)."""
    if not (isinstance(stored, dict) and isinstance(here, dict)):
        return here
    out = dict(stored)
    for key, value in here.items():
        out[key] = merge(stored[key], value) if key in stored else value
    return out


def merge_lines(stored: bytes, here: bytes) -> bytes:
    """Both servers' lines of a log, each once, in the order of their "at" times (ISO text)."""
    lines = list(dict.fromkeys(line for line in stored.splitlines() + here.splitlines() if line.strip()))

    def at(line: bytes) -> str:
        try:
            return str(json.loads(line).get("at", ""))
        except (ValueError, AttributeError):
            return ""

    lines.sort(key=at)  # stable: lines of the same moment keep their order
    return b"\n".join(lines) + b"\n" if lines else b""


def _changed_here(path, known) -> bool:
    """Whether the local file differs from the version the record says the database has."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return known is not None  # deleted here, not yet removed there
    return known is None or known[1:] != stamp(st)


@contextlib.contextmanager
def _turn(path, rel: str):
    """A shared file's lock if it is free (update_json may hold it: this file waits for the
    next sync); other files need none (only their writer changes them)."""
    if PurePosixPath(rel).name not in SHARED:
        yield True
        return
    from filelock import Timeout

    lock = locked(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _prune(folder, root) -> None:
    """Remove folders left empty by a deletion, up to the area's own."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


class DatabaseStorage:
    kind = "database"

    def __init__(self, url: str, areas: tuple[Area, ...]):
        self.url = url
        self.areas = {a.name: a for a in areas}
        self._lock = threading.Lock()
        self._engine = None
        self._pid = None
        self._id: str | None = None  # the database's id, once connected
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
        self._engine, self._pid, self._id = engine, os.getpid(), None
        return engine

    def _ready(self):
        engine = self.engine()
        if self._id is None:
            import sqlalchemy.exc

            try:
                METADATA.create_all(engine, checkfirst=True)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                METADATA.create_all(engine, checkfirst=True)  # another server made them at the same moment
            with engine.begin() as conn:
                _insert(conn, {"key": "id", "value": uuid.uuid4().hex}, "nothing", META, ("key",))
                self._id = conn.execute(select(META.c.value).where(META.c.key == "id")).scalar_one()
        return engine

    def _fail(self, exc: BaseException) -> str:
        self._error = f"{shown(self.url)}: {first_line(exc)}"
        self._failed_at = time.monotonic()
        self._since = self._since or time.time()
        return self._error

    def _ok(self) -> None:
        self._error, self._since, self._failed_at = None, None, -math.inf

    def health(self, count_waiting: bool = True) -> Health:
        """How the database answered last; with `count_waiting` (a walk over every local file),
        also how many files wait to be sent."""
        waiting = 0
        if self._error and count_waiting:
            for area in self.areas.values():
                record = read_record(area, self._id or "")
                try:
                    local = area.files()
                except OSError:
                    continue
                waiting += sum(1 for rel, st in local.items() if record.get(rel, [None])[1:] != stamp(st))
        return Health(self.kind, self.where, self._error, self._since, waiting)

    # ------------------------------------------------------------ syncing

    def sync(self, max_age: float = 0.0, send: bool = True) -> Report:
        """Send what changed here, fetch what changed elsewhere. With `max_age` (a page's
        refresh), a sync newer than that, a failure newer than RETRY_SECONDS, or a sync under
        way in another thread (after this process's first) is enough: nothing is done and
        nothing waits. Without `send`, only
        fetch: no walk over the local folders, which is most of a sync's cost
        (benchmarks.storage); the server's sync thread sends."""
        now = time.monotonic()
        last = self._last if send else max(self._last, self._fetched)
        if max_age and (now - last < max_age or now - self._failed_at < RETRY_SECONDS):
            return Report(error=self._error)
        # A page waits for a sync under way only while this process has none done yet (a woken
        # server's first fetch): it would otherwise list no runs at all.
        first = self._last == self._fetched == -math.inf
        if not self._lock.acquire(blocking=not max_age or first):
            return Report(error=self._error)
        try:
            totals = {"sent": 0, "fetched": 0, "removed": 0, "skipped": 0}
            try:
                engine = self._ready()
                with engine.connect() as conn:
                    for area in self.areas.values():
                        for key, n in self._sync_area(conn, area, send).items():
                            totals[key] += n
            except Exception as exc:  # noqa: BLE001 - the local files stay; the report says why
                if not isinstance(exc, _db_errors()):
                    log.exception("storage sync failed")
                return Report(**totals, error=self._fail(exc))
            self._ok()
            if send:
                self._last = time.monotonic()
            else:
                self._fetched = time.monotonic()
            return Report(**totals)
        finally:
            self._lock.release()

    def _sync_area(self, conn, area: Area, send: bool) -> dict[str, int]:
        with locked(area.record):
            record = read_record(area, self._id)
            before = dict(record)
            try:
                counts = self._send(conn, area, record) if send else {}
                for key, n in self._fetch(conn, area, record).items():
                    counts[key] = counts.get(key, 0) + n
                return counts
            finally:
                if record != before:  # a sync with nothing to do writes nothing
                    write_record(area, self._id, record)

    def _send(self, conn, area: Area, record: dict) -> dict[str, int]:
        """Changed here since it last matched the database: send it. Deleted here: delete it
        there too, unless another server has changed it since."""
        sent = skipped = 0
        local = area.files()
        plain = {}
        for rel, st in local.items():
            known = record.get(rel)
            if known and known[1:] == stamp(st):
                continue
            path = area.path(rel)
            with _turn(path, rel) as mine:
                if not mine:
                    continue
                try:
                    st = path.stat()
                    data = path.read_bytes()
                except OSError as exc:
                    log.warning("storage: %s/%s not sent: %s", area.name, rel, exc)
                    skipped += 1
                    continue
                if known and known[0] == digest(data):
                    record[rel] = [known[0], *stamp(st)]  # touched, not changed
                    continue
                if PurePosixPath(rel).name in SHARED:
                    stored = self._send_shared(conn, area.name, rel, data, known[0] if known else None)
                    if stored != data:  # merged with the other server's change
                        write_atomic(path, stored)
                        st = path.stat()
                    record[rel] = [digest(stored), *stamp(st)]
                else:
                    _upsert(conn, area.name, rel, data)
                    plain[rel] = [digest(data), *stamp(st)]
                sent += 1
        gone = [rel for rel in record if rel not in local]
        for rel in gone:
            conn.execute(delete(FILES).where(FILES.c.area == area.name, FILES.c.path == rel,
                                             FILES.c.etag == record[rel][0]))
        conn.commit()
        record.update(plain)
        for rel in gone:
            del record[rel]
        return {"sent": sent, "removed": len(gone), "skipped": skipped}

    def _send_shared(self, conn, area: str, rel: str, data: bytes, known: str | None) -> bytes:
        """Send a shared JSON object under its row's lock: as it is when the database still
        holds the version this server last saw, else merged with what another server wrote."""
        row = conn.execute(select(FILES.c.etag, FILES.c.data).where(FILES.c.area == area, FILES.c.path == rel)
                           .with_for_update()).first()
        if row is not None and row.etag != known:
            if rel.endswith(".jsonl"):
                data = merge_lines(bytes(row.data), data)
            else:
                try:
                    data = dump(merge(json.loads(bytes(row.data)), json.loads(data)))
                except ValueError:  # not JSON on either side: this server's copy stands
                    pass
        _upsert(conn, area, rel, data)
        conn.commit()
        return data

    def _fetch(self, conn, area: Area, record: dict) -> dict[str, int]:
        """Changed elsewhere: fetch it; deleted elsewhere: delete it here. A file changed here
        meanwhile waits for the next send."""
        fetched = removed = skipped = 0
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
                try:
                    with _turn(path, rel) as mine:
                        if not mine or _changed_here(path, record.get(rel)):
                            continue
                        write_atomic(path, bytes(data))
                        record[rel] = [etag, *stamp(path.stat())]
                        fetched += 1
                except OSError as exc:  # a name this disk refuses, a full disk: the others go on
                    log.warning("storage: %s/%s not fetched: %s", area.name, rel, exc)
                    skipped += 1
        conn.commit()
        for rel in [rel for rel in record if rel not in remote]:
            path = area.path(rel)
            try:
                with _turn(path, rel) as mine:
                    if not mine or _changed_here(path, record[rel]):
                        continue
                    path.unlink(missing_ok=True)
                    _prune(path.parent, area.root)
                    del record[rel]
                    removed += 1
            except OSError as exc:
                log.warning("storage: %s/%s not deleted: %s", area.name, rel, exc)
                skipped += 1
        return {"fetched": fetched, "removed": removed, "skipped": skipped}

    # ------------------------------------------------------------ shared files

    def update_json(self, area: str, rel: str, change: Callable[[dict], None]) -> dict:
        """Read-modify-write one JSON object under the database row's lock, so that servers
        changing it at the same moment lose nothing; `change` edits the object in place (and
        may raise to leave it as it was). With the database away, the local copy is changed
        and sent (merged) later; a change made here while it was away is merged in first."""
        where = self.areas[area]
        path = where.path(rel)
        with locked(path):
            try:
                if time.monotonic() - self._failed_at < RETRY_SECONDS:
                    raise StorageError(self._error or "the database did not answer just now")
                engine = self._ready()
                mine = read_object(path) if _changed_here(path, read_record(where, self._id).get(rel)) else None
                with engine.begin() as conn:
                    _insert(conn, _row(area, rel, path.read_bytes() if path.exists() else dump({})), "nothing")
                with engine.begin() as conn:
                    row = conn.execute(select(FILES.c.data).where(FILES.c.area == area, FILES.c.path == rel)
                                       .with_for_update()).first()
                    data = json.loads(bytes(row.data)) if row is not None else {}
                    if not isinstance(data, dict):
                        raise ValueError(f"the stored {rel} does not hold a JSON object")
                    if mine:
                        data = merge(data, mine)
                    change(data)
                    body = dump(data)
                    conn.execute(update(FILES).where(FILES.c.area == area, FILES.c.path == rel)
                                 .values(etag=digest(body), data=body, updated=time.time()))
            except _db_errors() as exc:
                if not isinstance(exc, StorageError) or self._error is None:
                    self._fail(exc)
                return rewrite(path, change)
            write_atomic(path, body)
            st = path.stat()
            with locked(where.record):
                record = read_record(where, self._id)
                record[rel] = [digest(body), *stamp(st)]
                write_record(where, self._id, record)
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
