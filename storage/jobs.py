"""Job periods: a job claims a period before doing its work, in the same transaction.

The unique (job, period) row makes every scheduled job idempotent: run twice, run by two
processes, or re-run after a crash (the crash rolled the claim back), a period's work is
done exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import add_unique
from storage.models.common import JobRun


async def claim_period(session: AsyncSession, job: str, period: str, as_of: datetime) -> bool:
    """Record that `job` runs for `period`; False if that period already ran."""
    return await add_unique(session, JobRun(job=job, period=period, as_of=as_of))


async def record_result(
    session: AsyncSession, job: str, period: str, result: dict[str, Any]
) -> None:
    run = (
        await session.exec(select(JobRun).where(JobRun.job == job, JobRun.period == period))
    ).one()
    run.result = result
    session.add(run)


async def last_period(session: AsyncSession, job: str) -> str | None:
    """The latest period a job ran for (periods sort as text: 2026-11-29, 2026-W48, 2026-11)."""
    query = select(JobRun.period).where(JobRun.job == job).order_by(col(JobRun.period).desc())
    return (await session.exec(query.limit(1))).first()


async def ran(session: AsyncSession, job: str, period: str) -> bool:
    query = select(JobRun.id).where(JobRun.job == job, JobRun.period == period)
    return (await session.exec(query)).first() is not None


async def periods_from(session: AsyncSession, job: str, lowest: str) -> list[str]:
    """The periods of `job` that sort at or after `lowest` (as text)."""
    query = select(JobRun.period).where(JobRun.job == job, col(JobRun.period) >= lowest)
    return list((await session.exec(query)).all())


async def last_period_ending(session: AsyncSession, job: str, suffix: str) -> str | None:
    """The latest period of `job` whose key ends with `suffix` (a village's: `/v3`)."""
    query = (
        select(JobRun.period)
        .where(JobRun.job == job, col(JobRun.period).endswith(suffix, autoescape=True))
        .order_by(col(JobRun.period).desc())
    )
    return (await session.exec(query.limit(1))).first()
