"""`GET /healthz` for a load balancer in front of webhook workers: the database answers, the
delivery loop (in whichever process runs it, usually `bot.py scheduler`) made a pass lately,
and which job period ran last. 200 when healthy, 503 otherwise; the body is JSON either way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from storage import health
from storage.clock import Clock
from storage.db import SessionFactory, reading

log = logging.getLogger("linli.health")

# The delivery loop records a pass every 10 s (bot.delivery.HEARTBEAT_EVERY); none for this
# long means it is stuck or gone.
DELIVERY_STALE = timedelta(seconds=60)
CHECK_TIMEOUT = 3.0  # seconds the database gets to answer


async def health_report(sessions: SessionFactory, clock: Clock) -> tuple[bool, dict[str, Any]]:
    """Whether all is well, and what was found."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), reading(sessions)() as session:
            await health.ping(session)
            beat = await health.last_beat(session, health.DELIVERY)
            last = await health.last_job_run(session)
    except Exception as error:
        log.warning("health check: the database is unreachable (%s)", type(error).__name__)
        return False, {"database": "unreachable", "delivery": None, "last_job": None}
    age = (clock.now() - beat).total_seconds() if beat is not None else None
    alive = age is not None and age <= DELIVERY_STALE.total_seconds()
    delivery = {
        "status": "ok" if alive else ("stale" if beat is not None else "never"),
        "last_pass": beat.isoformat() if beat is not None else None,
        "seconds_ago": round(age) if age is not None else None,
    }
    last_job = (
        {"job": last.job, "period": last.period, "ran_at": last.ran_at.isoformat()}
        if last is not None
        else None
    )
    return alive, {"database": "ok", "delivery": delivery, "last_job": last_job}


def healthz(
    sessions: SessionFactory, clock: Clock
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of `GET /healthz`."""

    async def handle(_request: web.Request) -> web.Response:
        ok, report = await health_report(sessions, clock)
        body = {"status": "ok" if ok else "unhealthy", **report}
        return web.json_response(body, status=200 if ok else 503)

    return handle
