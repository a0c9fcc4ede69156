"""Engine, sessions and migrations.

SQLite transactions start with BEGIN IMMEDIATE: a read-then-write transaction (check a status,
then change it) can then never lose a race half-way, which is what makes a double press do the
work once. PostgreSQL gets the same from conditional UPDATEs and row locks in the rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import NotFound

MIGRATIONS = Path(__file__).parent / "migrations"

SessionFactory = async_sessionmaker[AsyncSession]
Row = TypeVar("Row")
POOL_SIZE = 10
POOL_OVERFLOW = 20
# SQLite writes one transaction at a time: more connections only wait in SQLite's busy handler
# (sleeping 1, 2, 5 … 100 ms, unfair under a burst) instead of in the pool's queue (first come,
# first served), and each is a thread contending for the interpreter.
SQLITE_POOL_SIZE = 4
# Updates handled at once: each holds a connection until it commits, so stay inside the pool.
CONCURRENT_UPDATES = POOL_SIZE + POOL_OVERFLOW // 2

# The session of the update being handled. Helpers outside the handler's arguments (the FSM
# storage) join its transaction instead of opening a second one, which on SQLite would wait
# for the first one's write lock.
active_session: ContextVar[AsyncSession | None] = ContextVar("active_session", default=None)


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
        connect_args={"timeout": 30},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_SIZE,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def reading(sessions: SessionFactory) -> SessionFactory:
    """Sessions for work that only reads (a scan of the outbox): on SQLite they do not take
    the write lock, so they never hold up an update. Writing in them is a mistake."""
    engine = sessions.kw["bind"]
    return async_sessionmaker(
        engine.execution_options(sqlite_begin="DEFERRED"),
        class_=AsyncSession,
        expire_on_commit=False,
    )


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


async def commit(session: AsyncSession) -> None:
    """Commit a unit of work with its before- and after-commit steps. A unit that never
    touched the database (everything it needed was in memory) has nothing to commit."""
    for step in session.info.pop(_BEFORE_COMMIT, ()):
        await step(session)
    if session.info.get(_CONNECTED) or session.new or session.dirty or session.deleted:
        await session.commit()
    for done in session.info.pop(_AFTER_COMMIT, ()):
        done()


_CONNECTED = "connected"


@event.listens_for(Session, "after_begin")
def _connected(session: Session, _transaction: object, _connection: object) -> None:
    session.info[_CONNECTED] = True


async def rollback(session: AsyncSession) -> None:
    """Roll back a unit of work; its before- and after-commit steps are dropped."""
    session.info.pop(_BEFORE_COMMIT, None)
    session.info.pop(_AFTER_COMMIT, None)
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
