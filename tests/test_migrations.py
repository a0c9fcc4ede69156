"""The migrations build exactly the tables the models describe, on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from storage.db import create_engine, migrate

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC).replace(tzinfo=None)


@asynccontextmanager
async def upgraded(
    tmp_path: Path, revision: str, rows: list[str]
) -> AsyncIterator[AsyncConnection]:
    """A SQLite database at `revision` holding `rows` (INSERTs; :t is NOW), migrated to the
    head: a connection to read what the migrations made of them."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate(engine, revision)
        async with engine.begin() as connection:
            for row in rows:
                await connection.execute(text(row), {"t": NOW})
        await migrate(engine)
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


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
    rows = [
        "INSERT INTO village (name, created_at) VALUES ('村', :t)",
        "INSERT INTO grid (village_id, name, created_at) VALUES (1, '一组', :t)",
        *(
            f"INSERT INTO household (grid_id, label, created_at) VALUES (1, '{label}', :t)"
            for label in ("3组12号", "3组 12号", "5号")
        ),
    ]
    async with upgraded(tmp_path, "0006", rows) as connection:
        keys = (
            await connection.execute(text("SELECT id, label_key FROM household ORDER BY id"))
        ).all()
    assert [key for _id, key in keys] == ["3组12号", "3组12号#2", "5号"]


async def test_every_ballot_keeps_its_choice_as_a_pick(tmp_path: Path) -> None:
    """0013 moves each ballot's choice into ballot_pick: the tally is the same afterwards."""
    rows = [
        "INSERT INTO village (name, created_at) VALUES ('村', :t)",
        "INSERT INTO grid (village_id, name, created_at) VALUES (1, '一组', :t)",
        "INSERT INTO household (grid_id, label, label_key, created_at)"
        " VALUES (1, '1号', '1号', :t)",
        "INSERT INTO person (telegram_id, full_name, created_at) VALUES (1, '甲', :t)",
        "INSERT INTO person (telegram_id, full_name, created_at) VALUES (2, '乙', :t)",
        "INSERT INTO vote (village_id, question, per_household, secret, deadline, status,"
        " created_at, result) VALUES (1, '修路吗？', 0, 0, :t, 'OPEN', :t, '{}')",
        "INSERT INTO vote_option (vote_id, position, label) VALUES (1, 0, '同意')",
        "INSERT INTO vote_option (vote_id, position, label) VALUES (1, 1, '不同意')",
        "INSERT INTO ballot (vote_id, voter_key, person_id, option_id, cast_at)"
        " VALUES (1, 'p1', 1, 2, :t)",
        "INSERT INTO ballot (vote_id, voter_key, person_id, option_id, cast_at, changed_at)"
        " VALUES (1, 'p2', 2, 1, :t, :t)",
    ]
    async with upgraded(tmp_path, "0008", rows) as connection:
        picks = (
            await connection.execute(
                text("SELECT ballot_id, option_id FROM ballot_pick ORDER BY ballot_id")
            )
        ).all()
        vote = (await connection.execute(text("SELECT max_picks, grid_ids FROM vote"))).one()
    assert [tuple(p) for p in picks] == [(1, 2), (2, 1)]
    assert vote[0] == 1 and vote[1] in ("[]", [])


async def test_existing_votes_stay_open_to_the_whole_village(tmp_path: Path) -> None:
    """0015 adds the roll of a vote for an agenda item's participants: a vote made before it
    is for everyone it was for (stakeholders false), with an empty roll."""
    rows = [
        "INSERT INTO village (name, created_at) VALUES ('村', :t)",
        "INSERT INTO vote (village_id, question, per_household, secret, deadline, status,"
        " created_at, result) VALUES (1, '修路吗？', 0, 0, :t, 'OPEN', :t, '{}')",
    ]
    async with upgraded(tmp_path, "0014", rows) as connection:
        flag = (await connection.execute(text("SELECT stakeholders FROM vote"))).scalar_one()
        roll = (await connection.execute(text("SELECT count(*) FROM vote_voter"))).scalar_one()
    assert flag in (0, False) and roll == 0


async def test_pick_several_ballots_start_their_draft_from_their_picks(tmp_path: Path) -> None:
    """0017 adds the draft of a pick-several ballot: each ballot cast before it gets a draft
    equal to its picks (so the next press starts from them); a one-choice vote gets none."""
    rows = [
        "INSERT INTO village (name, created_at) VALUES ('村', :t)",
        "INSERT INTO person (telegram_id, full_name, created_at) VALUES (1, '甲', :t)",
        "INSERT INTO vote (village_id, question, per_household, secret, deadline, status,"
        " created_at, result, max_picks) VALUES (1, '选哪几个？', 0, 0, :t, 'OPEN', :t, '{}', 2)",
        "INSERT INTO vote (village_id, question, per_household, secret, deadline, status,"
        " created_at, result) VALUES (1, '修路吗？', 0, 0, :t, 'OPEN', :t, '{}')",
        *(
            f"INSERT INTO vote_option (vote_id, position, label) VALUES ({v}, {n}, '{label}')"
            for v, n, label in ((1, 0, "甲"), (1, 1, "乙"), (1, 2, "丙"), (2, 0, "同意"))
        ),
        "INSERT INTO ballot (vote_id, voter_key, person_id, cast_at) VALUES (1, 'p1', 1, :t)",
        "INSERT INTO ballot (vote_id, voter_key, person_id, cast_at) VALUES (2, 'p1', 1, :t)",
        "INSERT INTO ballot_pick (ballot_id, vote_id, option_id, picked_at) VALUES (1, 1, 1, :t)",
        "INSERT INTO ballot_pick (ballot_id, vote_id, option_id, picked_at) VALUES (1, 1, 3, :t)",
        "INSERT INTO ballot_pick (ballot_id, vote_id, option_id, picked_at) VALUES (2, 2, 4, :t)",
    ]
    async with upgraded(tmp_path, "0016", rows) as connection:
        drafts = (
            await connection.execute(
                text("SELECT ballot_id, vote_id, option_id FROM ballot_draft ORDER BY id")
            )
        ).all()
    assert [tuple(d) for d in drafts] == [(1, 1, 1), (1, 1, 3)]
