"""Running scheduled jobs: the registry, one unit of work per run, and the APScheduler wiring.

A job is a function of a `JobContext` (a session, the time, the zone). It decides which periods
are due at `ctx.now`, claims each with `ctx.claim(period)` (a `job_run` row, unique per job and
period, in the same transaction as the work) and does that period's work only when the claim
succeeds. The same function therefore serves the scheduled tick, the catch-up at start and
`bot.py jobs run NAME --at ...`: however often it is called, a period's work is done once.
A stop lets the run in progress commit (for a few seconds; past that it is cancelled and rolls
back, and its period runs again at the next start) and starts no other.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import jobs as job_runs
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work

logger = logging.getLogger("linli.schedules")

MISFIRE_GRACE_SECONDS = 3600


@dataclass
class JobContext:
    """What a job gets: its session (one transaction), the time, and the settings."""

    session: AsyncSession
    now: datetime  # aware, UTC
    tz: ZoneInfo
    settings: object | None = None
    job: str = ""
    claimed: list[str] = field(default_factory=list)

    @property
    def now_local(self) -> datetime:
        return self.now.astimezone(self.tz)

    async def claim(self, period: str) -> bool:
        """Claim `period` for this job; False if it already ran (then skip its work)."""
        if not await job_runs.claim_period(self.session, self.job, period, self.now):
            return False
        self.claimed.append(period)
        return True

    async def record(self, period: str, result: dict[str, Any]) -> None:
        """Keep a claimed period's result on its `job_run` row."""
        await job_runs.record_result(self.session, self.job, period, result)

    async def last_period(self) -> str | None:
        return await job_runs.last_period(self.session, self.job)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    trigger: dict[str, Any]  # APScheduler add_job trigger kwargs: {"trigger": "cron", ...}
    run: Callable[[JobContext], Awaitable[dict[str, Any]]]


JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    """Add a job to the registry (its name must be new)."""
    if job.name in JOBS and JOBS[job.name] is not job:
        raise ValueError(f"a job named {job.name!r} is already registered")
    JOBS[job.name] = job
    return job


def all_jobs() -> dict[str, Job]:
    """Every registered job, by name (importing `schedules` registers them all)."""
    return dict(JOBS)


class Runtime:
    """Runs jobs at the clock's time, each in its own unit of work, and schedules them."""

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        tz: ZoneInfo,
        *,
        settings: object | None = None,
        after_commit: Callable[[], object] | None = None,
        jobs: Mapping[str, Job] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.tz = tz
        self.settings = settings
        self.after_commit = after_commit
        self.jobs: dict[str, Job] = dict(jobs) if jobs is not None else all_jobs()
        self.scheduler: AsyncIOScheduler | None = None
        self._stopping = False
        self._running: set[asyncio.Task[Any]] = set()  # the tasks of the runs in progress

    async def run(self, name: str, at: datetime | None = None) -> dict[str, Any]:
        """Run one job as of `at` (default: now). Errors are logged and returned, not raised.

        Raises KeyError for an unknown job name. Once the runtime is stopping, nothing runs.
        """
        job = self.jobs[name]
        now = (at or self.clock.now()).astimezone(UTC)
        if self._stopping:
            logger.info("job %s not run: stopping", name)
            return {"skipped": "stopping"}
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            return await self._run(name, job, now)
        finally:
            self._running.discard(task)

    async def _run(self, name: str, job: Job, now: datetime) -> dict[str, Any]:
        context: JobContext | None = None
        try:
            async with unit_of_work(self.sessions) as session:
                context = JobContext(
                    session=session,
                    now=now,
                    tz=self.tz,
                    settings=self.settings,
                    job=name,
                )
                result = await job.run(context)
        except Exception as exc:
            periods = ", ".join(context.claimed) if context and context.claimed else "none"
            logger.exception(
                "job %s failed at %s (periods claimed: %s; rolled back)",
                name,
                now.isoformat(),
                periods,
            )
            return {"error": f"{type(exc).__name__}: {exc}"}
        logger.info("job %s at %s: %s", name, now.isoformat(), result)
        await self._after_commit()
        return result

    async def _after_commit(self) -> None:
        if self.after_commit is None:
            return
        try:
            outcome = self.after_commit()
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception("after_commit callback failed")

    async def catch_up(self) -> dict[str, dict[str, Any]]:
        """Run every job once now: the periods missed while the bot was down run once."""
        now = self.clock.now()
        return {name: await self.run(name, now) for name in self.jobs}

    async def catch_up_and_start(self) -> None:
        """The catch-up, then the scheduler unless a stop came first. Run it as a task beside
        the bot: updates are answered while it works (a stop cuts it off like any run)."""
        await self.catch_up()
        if not self._stopping:
            self.start()

    def start(self) -> AsyncIOScheduler:
        """Schedule every job on its trigger in the zone; call inside the running event loop."""
        if self.scheduler is not None:
            return self.scheduler
        scheduler = AsyncIOScheduler(timezone=self.tz)
        for name, job in self.jobs.items():
            scheduler.add_job(
                self.run,
                args=[name],
                id=name,
                name=job.description or name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
                replace_existing=True,
                **job.trigger,
            )
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    def pause(self) -> None:
        """Start no run from now on; the runs in progress carry on (see `stop`)."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()

    async def stop(self, timeout: float) -> None:
        """Start no run; give the runs in progress `timeout` seconds to commit, then cancel
        them (each rolls back), and shut the scheduler down."""
        self.pause()
        if self._running:
            _done, late = await asyncio.wait(set(self._running), timeout=timeout)
            for task in late:
                logger.warning("a job run did not finish in %s s: cancelled", timeout)
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.shutdown()

    def shutdown(self) -> None:
        """Shut the scheduler down at once (a run in progress is cancelled and rolls back)."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
