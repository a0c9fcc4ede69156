"""What a health check reads: the database answers, the loops' heartbeats, the last job run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import add_unique
from storage.models.common import Heartbeat, JobRun

DELIVERY = "delivery"


async def ping(session: AsyncSession) -> None:
    """A round trip to the database; raises when it does not answer."""
    await session.exec(text("SELECT 1"))  # type: ignore[call-overload]


async def beat(session: AsyncSession, name: str, at: datetime) -> None:
    """Record that the loop `name` made a pass at `at`."""
    query = update(Heartbeat).where(col(Heartbeat.name) == name).values(at=at)
    if (await session.exec(query)).rowcount:  # type: ignore[call-overload, attr-defined]
        return
    if not await add_unique(session, Heartbeat(name=name, at=at)):  # a concurrent first beat
        await session.exec(query)  # type: ignore[call-overload]


async def last_beat(session: AsyncSession, name: str) -> datetime | None:
    beat_row = await session.get(Heartbeat, name)
    return beat_row.at if beat_row else None


@dataclass(frozen=True)
class LastJob:
    job: str
    period: str
    ran_at: datetime


async def last_job_run(session: AsyncSession) -> LastJob | None:
    """The job period that ran last, whichever job it was."""
    query = select(JobRun).order_by(col(JobRun.ran_at).desc(), col(JobRun.id).desc()).limit(1)
    run = (await session.exec(query)).first()
    return LastJob(run.job, run.period, run.ran_at) if run else None
