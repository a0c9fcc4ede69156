"""Test databases: a migrated SQLite file, and a fresh PostgreSQL database per run when
TEST_DATABASE_URL points at a server. Each is created here and dropped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - every table on the metadata
from storage import category_memory
from storage.db import create_engine, migrate
from storage.settings import async_database_url

BACKENDS = ["sqlite", "postgres"]


def postgres_server_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@asynccontextmanager
async def fresh_database(backend: str, folder: Path) -> AsyncIterator[str]:
    """Create an empty database, migrate it to head, yield its async URL, drop it after."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / f'linli-{uuid.uuid4().hex[:8]}.db'}"
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield url
        return
    server = postgres_server_url()
    assert server, "TEST_DATABASE_URL is not set"
    parsed = make_url(async_database_url(server))
    name = f"linli_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = parsed.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def empty_all_tables(engine: AsyncEngine) -> None:
    """Delete every row (the schema stays), children before parents; and what this process
    keeps in memory of them (ids start again at 1)."""
    category_memory.memory.forget()
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            await connection.execute(text("PRAGMA defer_foreign_keys=ON"))
            for table in tables:
                await connection.execute(table.delete())
