"""Engine, sessions and migrations.

SQLite writes one transaction at a time, so how a transaction takes its write lock matters:
- jobs, the delivery loop and every `unit_of_work` begin with BEGIN IMMEDIATE: a
  read-then-write transaction (check a status, then change it) can never lose a race half-way;
- an update (`for_update`) reads as PostgreSQL's READ COMMITTED does: its reads run before any
  BEGIN, each seeing what is committed, and take no lock at all. Its first write (or a
  savepoint, or a read `with_for_update()`, which is how the rules say "I will write what I
  read") waits its turn behind this process's other writers, first come first served
  (`in_turn`'s gate), then begins with BEGIN IMMEDIATE; the lock is held from there to the
  commit. The rules are written for READ COMMITTED (conditional UPDATEs, unique constraints,
  row locks), so they hold here as on PostgreSQL, and no update is ever refused and run again
  for a conflict: a snapshot taken at the first read (BEGIN DEFERRED) went stale under a
  burst, and every filing but the first was rolled back and run a second time.
Nothing in a transaction waits on the network (replies are sent after the commit), so the
lock is held for the writes alone; `lock_holds` keeps how long each write transaction held it.
PostgreSQL gets the same from conditional UPDATEs and row locks in the rules.

Pragmas (each connection): WAL, so readers never wait for the writer; synchronous=NORMAL, so
a commit does not wait for the disk (in WAL mode a crash of the process loses nothing; a
power cut can lose the last commits, which a village bot can accept for the speed); foreign
keys on; busy_timeout 30 s for the IMMEDIATE transactions (other processes: `bot.py jobs`).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import NotFound

MIGRATIONS = Path(__file__).parent / "migrations"

SessionFactory = async_sessionmaker[AsyncSession]
Row = TypeVar("Row")
# Updates handled at once (each holds a connection until it commits): the pool keeps that
# many open, so a burst of updates reuses them instead of opening connections and closing them
# again when it ends (overflow connections are not kept). Measured on PostgreSQL, a report's
# first step after a burst as large: median 424 ms with 10 kept, 259 ms with 20. The overflow
# is for the delivery loop, the jobs and a second session.
CONCURRENT_UPDATES = 20
POOL_SIZE = CONCURRENT_UPDATES
POOL_OVERFLOW = 10
# SQLite writes one transaction at a time: more connections only wait in SQLite's busy handler
# (sleeping 1, 2, 5 … 100 ms, unfair under a burst) instead of in the pool's queue (first come,
# first served), and each is a thread contending for the interpreter.
SQLITE_POOL_SIZE = 4

# The session of the update being handled. Helpers outside the handler's arguments (the FSM
# storage) join its transaction instead of opening a second one, which on SQLite would wait
# for the first one's write lock.
active_session: ContextVar[AsyncSession | None] = ContextVar("active_session", default=None)

# SQLite: seconds each write transaction held the write lock, from its first write (or its
# BEGIN IMMEDIATE) to its COMMIT or ROLLBACK; the benches read it.
lock_holds: deque[float] = deque(maxlen=100_000)
BUSY_TIMEOUT_MS = 30_000
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT")
# The first-come-first-served queue of this process's writers, per engine.
_GATES: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
# Updates in a transaction at once, per SQLite engine. An update waits for the gate holding
# its connection; were every connection of the pool held so, a writer that still needed one
# (the delivery loop's turn, a second session) would wait for ever. The rest of the pool
# stays for them.
_UPDATE_SLOTS: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`; for SQLite, creates the folder and sets up locking."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Recycling old connections, rather than a ping at every checkout, saves a round trip
        # per update.
        return create_async_engine(
            url, echo=echo, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_recycle=1800
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_SIZE,
    )
    gate = _GATES[engine.sync_engine] = asyncio.Lock()
    _UPDATE_SLOTS[engine.sync_engine] = asyncio.Semaphore(SQLITE_POOL_SIZE)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == _LAZY:  # BEGIN IMMEDIATE comes with the first write, in turn
            connection.info[_LAZY] = True
            return
        connection.exec_driver_sql(f"BEGIN {mode}")
        if mode == "IMMEDIATE":
            connection.info["write_at"] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_execute(connection: Connection, cursor, statement: str, _p, context, _many) -> None:  # type: ignore[no-untyped-def]
        info = connection.info
        if "write_at" in info or not _starts_writing(statement, context):
            return
        if info.pop(_LAZY, False):
            await_only(gate.acquire())
            info[_GATE_HELD] = gate
            cursor.execute("BEGIN IMMEDIATE")
        info["write_at"] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _on_end(connection: Connection) -> None:
        _end_write(connection.info)

    # A connection given back to the pool without a commit or rollback event (a cancelled
    # update) must not keep the gate.
    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        if record is not None:
            _end_write(record.info)

    return engine


# An update's transaction: its reads before any BEGIN, BEGIN IMMEDIATE at its first write.
_LAZY = "LAZY"
_GATE_HELD = "gate_held"


def _starts_writing(statement: str, context: object) -> bool:
    """Whether this statement needs the write transaction: a write, a savepoint (outside a
    transaction its release would commit on its own), or a read with_for_update()."""
    if statement.lstrip()[:9].upper().startswith(WRITES):
        return True
    compiled = getattr(context, "compiled", None)
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None


def _end_write(info: dict[Any, Any]) -> None:
    info.pop(_LAZY, None)
    started = info.pop("write_at", None)
    if started is not None:
        lock_holds.append(time.perf_counter() - started)
    gate = info.pop(_GATE_HELD, None)
    if gate is not None:
        gate.release()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def _with_begin(sessions: SessionFactory, mode: str) -> SessionFactory:
    engine = sessions.kw["bind"]
    return async_sessionmaker(
        engine.execution_options(sqlite_begin=mode), class_=AsyncSession, expire_on_commit=False
    )


def is_sqlite(sessions: SessionFactory) -> bool:
    return sessions.kw["bind"].dialect.name == "sqlite"


def for_update(sessions: SessionFactory) -> SessionFactory:
    """Sessions for an update: on SQLite, reads take no lock (READ COMMITTED, as on
    PostgreSQL), and the first write waits its turn in this process, then takes the lock."""
    return _with_begin(sessions, _LAZY) if is_sqlite(sessions) else sessions


@asynccontextmanager
async def update_slot(sessions: SessionFactory) -> AsyncIterator[None]:
    """On SQLite, wait for one of the slots for updates in a transaction (see _UPDATE_SLOTS);
    open the update's `for_update` session inside it."""
    slots = _UPDATE_SLOTS.get(sessions.kw["bind"].sync_engine)
    if slots is None:
        yield
        return
    async with slots:
        yield


def is_write_conflict(error: BaseException) -> bool:
    """SQLite refused a write of an optimistic transaction: another writer holds the lock, or
    changed what this transaction read. Rolled back, it can safely be run again."""
    return isinstance(error, DBAPIError) and "database is locked" in str(error.orig)


@asynccontextmanager
async def in_turn(sessions: SessionFactory) -> AsyncIterator[None]:
    """Wait, first come first served, for this process's writers run again after a conflict."""
    gate = _GATES.get(sessions.kw["bind"].sync_engine)
    if gate is None:
        yield
        return
    async with gate:
        yield


def reading(sessions: SessionFactory) -> SessionFactory:
    """Sessions for work that only reads (a scan of the outbox): on SQLite they do not take
    the write lock, so they never hold up an update. Writing in them is a mistake."""
    return _with_begin(sessions, "DEFERRED")


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back on any error."""
    async with sessions() as session:
        try:
            yield session
            await commit(session)
        except BaseException:
            await rollback(session)
            raise


_BEFORE_COMMIT = "before_commit"
_AFTER_COMMIT = "after_commit"


def before_commit(session: AsyncSession, step: Callable[[AsyncSession], Awaitable[None]]) -> None:
    """Run `step` in this transaction just before it commits (writes gathered during it)."""
    session.info.setdefault(_BEFORE_COMMIT, []).append(step)


def after_commit(session: AsyncSession, step: Callable[[], None]) -> None:
    """Run `step` once this transaction has committed (what the process keeps in memory)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(step)


async def commit(
    session: AsyncSession, *, on_write: Callable[[AsyncSession], Awaitable[None]] | None = None
) -> None:
    """Commit a unit of work with its before- and after-commit steps. `on_write` runs last in
    the transaction, only when it wrote something. A unit that only read ends its transaction
    (on SQLite it held no write lock); one that never touched the database commits nothing."""
    for step in session.info.pop(_BEFORE_COMMIT, ()):
        await step(session)
    if wrote(session):
        if on_write is not None:
            await on_write(session)
        await session.commit()
    elif session.info.get(_CONNECTED):
        await session.commit()
    _forget_transaction(session)
    for done in session.info.pop(_AFTER_COMMIT, ()):
        done()


def wrote(session: AsyncSession) -> bool:
    """Whether this transaction has written, or will write when it flushes."""
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


_CONNECTED = "connected"
_WROTE = "wrote"


@event.listens_for(Session, "after_begin")
def _connected(session: Session, _transaction: object, _connection: object) -> None:
    session.info[_CONNECTED] = True


@event.listens_for(Session, "do_orm_execute")
def _noticed_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: object) -> None:
    session.info[_WROTE] = True


def _forget_transaction(session: AsyncSession) -> None:
    session.info.pop(_CONNECTED, None)
    session.info.pop(_WROTE, None)


async def rollback(session: AsyncSession) -> None:
    """Roll back a unit of work; its before- and after-commit steps are dropped."""
    session.info.pop(_BEFORE_COMMIT, None)
    session.info.pop(_AFTER_COMMIT, None)
    _forget_transaction(session)
    await session.rollback()


async def get_or_missing(
    session: AsyncSession, model: type[Row], ident: object, missing: str
) -> Row:
    """The row with this primary key, or NotFound with `missing` (a stale or forged button)."""
    row = await session.get(model, ident)
    if row is None:
        raise NotFound(missing)
    return row


async def add_unique(session: AsyncSession, *rows: object) -> bool:
    """Add rows in a savepoint: False (and nothing added) when a unique constraint says such a
    row exists already. This is how "once" holds under concurrent updates and repeated jobs."""
    try:
        async with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:
        return False
    return True


@asynccontextmanager
async def joined_or_own(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """The update's session when there is one (its unit of work commits), else a new one."""
    session = active_session.get()
    if session is not None:
        async with session.begin_nested():
            yield session
        return
    async with unit_of_work(sessions) as own:
        yield own


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to `revision` on this engine."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)
