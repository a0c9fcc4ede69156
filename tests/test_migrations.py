"""The migrations build exactly the tables the models describe, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.db import create_engine, migrate

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC).replace(tzinfo=None)


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == [], f"write a migration: python -m storage.revision 'what changed' NNNN\n{diff}"


async def test_household_keys_are_filled_and_old_duplicates_kept_apart(tmp_path: Path) -> None:
    """0007 on a database with households "3组12号" and "3组 12号" (one household typed
    twice): the older one keeps the key later joins look for; the other stays, apart."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate(engine, "0006")
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO village (name, created_at) VALUES ('村', :t)"), {"t": NOW}
            )
            await connection.execute(
                text("INSERT INTO grid (village_id, name, created_at) VALUES (1, '一组', :t)"),
                {"t": NOW},
            )
            for label in ("3组12号", "3组 12号", "5号"):
                await connection.execute(
                    text("INSERT INTO household (grid_id, label, created_at) VALUES (1, :l, :t)"),
                    {"l": label, "t": NOW},
                )
        await migrate(engine)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(text("SELECT id, label_key FROM household ORDER BY id"))
            ).all()
    finally:
        await engine.dispose()
    assert [key for _id, key in rows] == ["3组12号", "3组12号#2", "5号"]
