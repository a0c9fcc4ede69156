"""Points at district scale: the monthly praise lists beside a plain GROUP BY, and /leaderboard.

    .venv/bin/python -m bench.points_bench                      # full size, SQLite and PostgreSQL
    .venv/bin/python -m bench.points_bench --scale 0.1          # a tenth of it
    .venv/bin/python -m bench.points_bench --backend sqlite

The generator makes a district of 266 grids (in 38 villages of 7), 30,000 households,
100,000 people and 1,000,000 ledger entries spread over 2026 (bulk inserts on SQLite, COPY on
PostgreSQL). It then times, in the same run and on the same ledger:

* building every village's praise list for one month (`storage.points.praise_list`: top
  households, grid ranking, exposure list), against
* a plain `SELECT village_id, household_id, sum(points) ... GROUP BY` over that month,

and prints both with their ratio (target ≤ 2), and the latency of the storage query behind
/leaderboard (`storage.points.leaderboard`) for every village (target ≤ 200 ms on PostgreSQL).
Each timing is the best of `--repeat` runs, each run after a `gc.collect()`: both sides hold
some 30,000 result rows, and without it a full collection of the process (about 0.3 s here)
lands in whichever run crosses the collector's threshold, on either side of the ratio.
PostgreSQL needs BENCH_DATABASE_URL or TEST_DATABASE_URL (a server URL); the bench creates its
own database and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.tables  # noqa: F401
from storage import points
from storage.db import create_engine, create_session_factory, migrate
from storage.settings import async_database_url

TZ = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime(2026, 1, 1, tzinfo=TZ).astimezone(UTC)
MONTH = "2026-06"
ENTRY_COLUMNS = (
    "village_id",
    "grid_id",
    "household_id",
    "person_id",
    "item_id",
    "points",
    "kind",
    "reason",
    "year",
    "at",
    "recorded_by",
)


def sizes(scale: float) -> dict[str, int]:
    return {
        "villages": 38,
        "grids": 266,
        "households": max(int(30_000 * scale), 266),
        "people": max(int(100_000 * scale), 300),
        "entries": max(int(1_000_000 * scale), 1000),
    }


# --- databases -----------------------------------------------------------------------------


@asynccontextmanager
async def sqlite_database() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"


@asynccontextmanager
async def postgres_database(server: str) -> AsyncIterator[str]:
    parsed = make_url(async_database_url(server))
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"linli_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


# --- the generator -------------------------------------------------------------------------


async def insert_rows(
    engine: AsyncEngine, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany in large chunks on SQLite."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                table, records=rows, columns=list(columns)
            )
            return
        raw = await connection.get_raw_connection()
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        cursor = await raw.driver_connection.cursor()  # type: ignore[union-attr]
        for start in range(0, len(rows), 50_000):
            await cursor.executemany(sql, rows[start : start + 50_000])
        await cursor.close()


def stamp(moment: datetime, sqlite: bool) -> Any:
    """How a timestamp goes in: an aware datetime for asyncpg, SQLAlchemy's text for SQLite."""
    return moment.replace(tzinfo=None).isoformat(sep=" ") if sqlite else moment


async def generate(engine: AsyncEngine, n: dict[str, int], seed: int = 7) -> None:
    rng = random.Random(seed)
    sqlite = engine.dialect.name == "sqlite"
    now = stamp(datetime(2026, 1, 1, tzinfo=UTC), sqlite)
    villages = [(v + 1, f"村{v + 1:02d}", now) for v in range(n["villages"])]
    await insert_rows(engine, "village", ("id", "name", "created_at"), villages)
    grids = [(g + 1, g % n["villages"] + 1, f"网格{g + 1}", now) for g in range(n["grids"])]
    await insert_rows(engine, "grid", ("id", "village_id", "name", "created_at"), grids)
    households = [
        (h + 1, h % n["grids"] + 1, f"{h // n['grids'] + 1}号", now)
        for h in range(n["households"])
    ]
    await insert_rows(engine, "household", ("id", "grid_id", "label", "created_at"), households)
    people = [
        (p + 1, 10_000_000 + p, f"居民{p + 1}", p % n["households"] + 1, now)
        for p in range(n["people"])
    ]
    await insert_rows(
        engine, "person", ("id", "telegram_id", "full_name", "household_id", "created_at"), people
    )
    catalogue = points.default_catalogue()["items"]
    items = []
    for v in range(n["villages"]):
        for i, raw in enumerate(catalogue):
            items.append(
                (
                    v * len(catalogue) + i + 1,
                    v + 1,
                    raw["code"],
                    raw["category"],
                    raw["name"],
                    raw["name_en"],
                    raw["points"],
                    bool(raw.get("evidence")),
                    "ACTIVE",
                    now,
                )
            )
    await insert_rows(
        engine,
        "point_item",
        (
            "id",
            "village_id",
            "code",
            "category",
            "name",
            "name_en",
            "points",
            "evidence_required",
            "status",
            "created_at",
        ),
        items,
    )
    positive = [i for i, raw in enumerate(catalogue) if raw["points"] > 0]
    negative = [i for i, raw in enumerate(catalogue) if raw["points"] < 0]
    grid_of = {h: (h - 1) % n["grids"] + 1 for h in range(1, n["households"] + 1)}
    village_of_grid = {g: (g - 1) % n["villages"] + 1 for g in range(1, n["grids"] + 1)}
    seconds = 365 * 24 * 3600
    batch: list[tuple[Any, ...]] = []
    for _ in range(n["entries"]):
        person = rng.randrange(1, n["people"] + 1)
        household = (person - 1) % n["households"] + 1
        grid = grid_of[household]
        village = village_of_grid[grid]
        index = rng.choice(negative) if rng.random() < 0.05 else rng.choice(positive)
        raw = catalogue[index]
        at = YEAR_START + timedelta(seconds=rng.randrange(seconds))
        batch.append(
            (
                village,
                grid,
                household,
                person,
                (village - 1) * len(catalogue) + index + 1,
                raw["points"],
                "AWARD",  # SQLModel stores enum names
                raw["name"],
                2026,
                stamp(at, sqlite),
                None,
            )
        )
        if len(batch) >= 200_000:
            await insert_rows(engine, "point_entry", ENTRY_COLUMNS, batch)
            batch = []
    if batch:
        await insert_rows(engine, "point_entry", ENTRY_COLUMNS, batch)
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
            for table in ("village", "grid", "household", "person", "point_item"):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        else:
            await connection.execute(text("ANALYZE"))
            await connection.commit()


# --- the timings ---------------------------------------------------------------------------


async def time_praise_lists(
    engine: AsyncEngine, villages: int, *, exposure: bool = False
) -> float:
    """Every village's praise list for the month (top households and the grid ranking), as
    the monthly job builds them; with `exposure`, every village's exposure list as well (the
    job builds it only for villages that publish it: off by default)."""
    sessions = create_session_factory(engine)
    gc.collect()  # no full collection left over from the run before
    started = time.perf_counter()
    async with sessions() as session:
        lists = await points.praise_lists(
            session, MONTH, TZ, exposure_for=None if exposure else set()
        )
    elapsed = time.perf_counter() - started
    assert len(lists) == villages and all(p.top and p.grids for p in lists.values())
    return elapsed


async def time_group_by(engine: AsyncEngine) -> float:
    start, end = points.periods.month_bounds(MONTH, TZ)
    sqlite = engine.dialect.name == "sqlite"
    gc.collect()  # as before the praise lists
    started = time.perf_counter()
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT village_id, household_id, sum(points) FROM point_entry "
                    "WHERE at >= :start AND at < :end GROUP BY village_id, household_id"
                ),
                {"start": stamp(start, sqlite), "end": stamp(end, sqlite)},
            )
        ).all()
    elapsed = time.perf_counter() - started
    assert rows
    return elapsed


async def time_leaderboards(engine: AsyncEngine, villages: int) -> list[float]:
    sessions = create_session_factory(engine)
    now = datetime(2026, 6, 20, 4, tzinfo=UTC)
    latencies = []
    gc.collect()
    for village_id in range(1, villages + 1):
        async with sessions() as session:
            started = time.perf_counter()
            ranked = await points.leaderboard(session, village_id, now, TZ)
            latencies.append(time.perf_counter() - started)
            assert ranked
    return latencies


async def bench(url: str, n: dict[str, int], repeat: int) -> None:
    engine = create_engine(url)
    backend = engine.dialect.name
    try:
        started = time.perf_counter()
        await migrate(engine)
        await generate(engine, n)
        print(
            f"[{backend}] generated {n['grids']} grids, {n['households']:,} households, "
            f"{n['people']:,} people, {n['entries']:,} entries "
            f"in {time.perf_counter() - started:.1f} s"
        )
        await time_praise_lists(engine, n["villages"])  # warm the caches once
        praise = min([await time_praise_lists(engine, n["villages"]) for _ in range(repeat)])
        group = min([await time_group_by(engine) for _ in range(repeat)])
        print(
            f"[{backend}] month {MONTH}: praise lists of {n['villages']} villages "
            f"{praise * 1000:.1f} ms; plain GROUP BY {group * 1000:.1f} ms; "
            f"ratio {praise / group:.2f} (target <= 2)"
        )
        exposed = min(
            [await time_praise_lists(engine, n["villages"], exposure=True) for _ in range(repeat)]
        )
        print(
            f"[{backend}] with every village's exposure list too: {exposed * 1000:.1f} ms; "
            f"ratio {exposed / group:.2f}"
        )
        latencies = await time_leaderboards(engine, n["villages"])
        latencies.sort()
        p95 = latencies[max(int(len(latencies) * 0.95) - 1, 0)]
        print(
            f"[{backend}] /leaderboard storage query over {len(latencies)} villages: "
            f"median {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms (target <= 200 ms on PostgreSQL)"
        )
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the full district")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    args = parser.parse_args()
    n = sizes(args.scale)
    if args.backend in ("sqlite", "both"):
        async with sqlite_database() as url:
            await bench(url, n, args.repeat)
    if args.backend in ("postgres", "both"):
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if not server:
            print("[postgresql] skipped: set BENCH_DATABASE_URL or TEST_DATABASE_URL")
            return
        async with postgres_database(server) as url:
            await bench(url, n, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
