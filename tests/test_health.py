"""Operations: /healthz for a load balancer, and logs of one line with their context."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram import Bot
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import add_health_route
from bot.delivery import Delivery
from bot.logs import configure_logging
from schedules.runtime import Job, JobContext, Runtime
from storage import health
from storage.clock import Clock
from storage.db import SessionFactory, create_engine, create_session_factory, unit_of_work
from storage.jobs import claim_period


async def client_for(sessions: SessionFactory, clock: Clock) -> TestClient:
    web_app = web.Application()
    add_health_route(web_app, SimpleNamespace(sessions=sessions, clock=clock))  # type: ignore[arg-type]
    client = TestClient(TestServer(web_app))
    await client.start_server()
    return client


@pytest.fixture
async def clock() -> Clock:
    return Clock()


async def get_health(sessions: SessionFactory, clock: Clock) -> tuple[int, dict[str, Any]]:
    client = await client_for(sessions, clock)
    try:
        response = await client.get("/healthz")
        return response.status, await response.json()
    finally:
        await client.close()


async def test_healthz_says_whether_the_delivery_loop_passes_lately(
    sessions: SessionFactory, clock: Clock
) -> None:
    status, body = await get_health(sessions, clock)
    assert status == 503 and body["database"] == "ok"
    assert body["delivery"]["status"] == "never" and body["last_job"] is None

    async with unit_of_work(sessions) as session:
        await health.beat(session, health.DELIVERY, clock.now())
        await claim_period(session, "weekly_confirm", "2026-W49", clock.now())
    status, body = await get_health(sessions, clock)
    assert status == 200 and body["status"] == "ok"
    assert body["delivery"]["status"] == "ok" and body["delivery"]["seconds_ago"] == 0
    assert body["last_job"]["job"] == "weekly_confirm"
    assert body["last_job"]["period"] == "2026-W49"

    clock.advance(timedelta(minutes=2))
    status, body = await get_health(sessions, clock)
    assert status == 503 and body["delivery"]["status"] == "stale"


async def test_healthz_is_503_when_the_database_is_unreachable(
    tmp_path: Path, clock: Clock
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        status, body = await get_health(create_session_factory(engine), clock)
    finally:
        await engine.dispose()
    assert status == 503 and body["database"] == "unreachable"


@pytest.fixture
async def offline_bot() -> AsyncIterator[Bot]:
    bot = Bot("123456:offline")
    yield bot
    await bot.session.close()


async def test_the_delivery_loop_records_its_passes(
    sessions: SessionFactory, clock: Clock, offline_bot: Bot
) -> None:
    delivery = Delivery(offline_bot, sessions, clock, poll_interval=0.01)
    running = asyncio.create_task(delivery.run())
    try:
        for _ in range(200):
            async with sessions() as session:
                if await health.last_beat(session, health.DELIVERY) is not None:
                    break
            await asyncio.sleep(0.01)
    finally:
        delivery.stop()
        await asyncio.wait_for(running, 5)
    assert delivery.last_pass_at is not None
    status, _body = await get_health(sessions, clock)
    assert status == 200


@pytest.fixture
def root_output() -> Any:
    """The root logger writes to a buffer (as bot.py's basicConfig sets it up); restored after."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    buffer = io.StringIO()
    root.handlers = [logging.StreamHandler(buffer)]
    yield buffer
    root.setLevel(saved[0])
    root.handlers = saved[1]


def fail() -> None:
    raise ValueError("no such grid")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_error_is_one_line_with_its_context(fmt: str, root_output: io.StringIO) -> None:
    configure_logging("INFO", fmt)
    log = logging.getLogger("linli.test")
    log.debug("not shown")
    try:
        fail()
    except ValueError:
        log.exception("job %s failed at %s", "weekly", "2026-11-29")
    lines = root_output.getvalue().splitlines()
    assert len(lines) == 1, lines
    if fmt == "json":
        entry = json.loads(lines[0])
        assert entry["level"] == "ERROR" and entry["logger"] == "linli.test"
        assert entry["message"] == "job weekly failed at 2026-11-29"
        assert entry["error"].startswith("ValueError: no such grid")
        assert "Traceback" in entry["traceback"]
    else:
        assert (
            "ERROR linli.test: job weekly failed at 2026-11-29 | ValueError: no such grid"
            in (lines[0])
        )
        assert "in fail)" in lines[0]


async def test_a_failing_job_logs_one_line_naming_it(
    sessions: SessionFactory, clock: Clock, root_output: io.StringIO
) -> None:
    async def broken(ctx: JobContext) -> dict[str, Any]:
        await ctx.claim("2026-11-29")
        raise RuntimeError("the catalogue is empty")

    job = Job(name="broken", description="", trigger={"trigger": "cron", "hour": 9}, run=broken)
    configure_logging("INFO", "text")
    runtime = Runtime(sessions, clock, clock.now().tzinfo, jobs={"broken": job})  # type: ignore[arg-type]
    assert (await runtime.run("broken"))["error"] == "RuntimeError: the catalogue is empty"
    [line] = [line for line in root_output.getvalue().splitlines() if "ERROR" in line]
    assert "job broken failed at" in line and "periods claimed: 2026-11-29" in line
    assert "RuntimeError: the catalogue is empty" in line
