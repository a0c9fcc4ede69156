"""Scheduled jobs: period keys and bounds, the runtime's once-per-period guarantee, and the
daily reminder of pending join requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

import schedules
from bot.app import create_app, start_background
from sandbox.bot_api import FakeBotAPI
from schedules import org_pending_reminder
from schedules.runtime import JOBS, Job, JobContext, Runtime, register
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.models.common import JobRun, OutboxMessage
from storage.models.org import MembershipStatus, Person
from storage.periods import (
    bounds,
    day_bounds,
    first_day,
    iso_week_bounds,
    latest,
    latest_daily,
    latest_monthly,
    latest_quarterly,
    latest_weekly,
    latest_yearly,
    month_bounds,
    periods_between,
    quarter_bounds,
    shift,
    week_key,
    year_bounds,
)
from storage.settings import Settings
from tests.databases import fresh_database, postgres_server_url
from tests.harness import DISTRICT_ADMIN_ID, TEST_LIMITS, TOKEN
from tests.village_builder import VillagePlan
from views.i18n import PoI18n

SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE = time(9, 0)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# --- periods -------------------------------------------------------------------------------


def test_latest_daily_is_today_once_the_time_has_passed() -> None:
    assert latest_daily(local(2026, 11, 29, 8, 59), NINE) == date(2026, 11, 28)
    assert latest_daily(local(2026, 11, 29, 9, 0), NINE) == date(2026, 11, 29)
    assert latest_daily(local(2026, 11, 29, 23, 59), NINE) == date(2026, 11, 29)
    assert latest_daily(local(2027, 1, 1, 0, 30), NINE) == date(2026, 12, 31)


def test_iso_weeks_at_the_year_boundary() -> None:
    assert week_key(date(2026, 12, 31)) == "2026-W53"
    assert week_key(date(2027, 1, 1)) == "2026-W53"
    assert week_key(date(2027, 1, 3)) == "2026-W53"  # a Sunday
    assert week_key(date(2027, 1, 4)) == "2027-W01"
    assert week_key(date(2025, 12, 29)) == "2026-W01"
    assert first_day("weekly", "2026-W53") == date(2026, 12, 28)
    assert shift("weekly", "2026-W52") == "2026-W53"
    assert shift("weekly", "2026-W53") == "2027-W01"
    assert shift("weekly", "2027-W01", -1) == "2026-W53"


def test_latest_weekly() -> None:
    sunday_20 = time(20, 0)
    # 2026-11-29 is a Sunday (weekday 6) in 2026-W48.
    assert latest_weekly(local(2026, 11, 29, 19, 0), 6, sunday_20) == "2026-W47"
    assert latest_weekly(local(2026, 11, 29, 20, 0), 6, sunday_20) == "2026-W48"
    assert latest_weekly(local(2026, 12, 2, 10, 0), 6, sunday_20) == "2026-W48"
    assert latest_weekly(local(2026, 11, 30, 0, 0), 0, time(0)) == "2026-W49"
    assert latest_weekly(local(2027, 1, 2, 12, 0), 0, NINE) == "2026-W53"
    assert latest_weekly(local(2027, 1, 4, 8, 0), 0, NINE) == "2026-W53"
    assert latest_weekly(local(2027, 1, 4, 9, 0), 0, NINE) == "2027-W01"


def test_latest_monthly_quarterly_yearly() -> None:
    assert latest_monthly(local(2026, 12, 1, 8, 0), 1, NINE) == "2026-11"
    assert latest_monthly(local(2026, 12, 1, 9, 0), 1, NINE) == "2026-12"
    assert latest_monthly(local(2027, 1, 1, 8, 0), 1, NINE) == "2026-12"
    assert latest_monthly(local(2026, 11, 30, 9, 0), 31, NINE) == "2026-11"  # short month
    assert latest_monthly(local(2026, 11, 29, 9, 0), 31, NINE) == "2026-10"
    assert latest_quarterly(local(2026, 10, 1, 9, 0), 1, NINE) == "2026-Q4"
    assert latest_quarterly(local(2026, 10, 1, 8, 0), 1, NINE) == "2026-Q3"
    assert latest_quarterly(local(2027, 1, 1, 8, 0), 1, NINE) == "2026-Q4"
    assert latest_quarterly(local(2026, 12, 5, 0, 0), 5, NINE, month=3) == "2026-Q3"
    assert latest_yearly(local(2027, 1, 1, 8, 59), 1, 1, NINE) == "2026"
    assert latest_yearly(local(2027, 1, 1, 9, 0), 1, 1, NINE) == "2027"
    assert latest("daily", local(2026, 11, 29, 9, 0), at=NINE) == "2026-11-29"


def test_shift_months_quarters_years_days() -> None:
    assert shift("monthly", "2026-12") == "2027-01"
    assert shift("monthly", "2027-01", -1) == "2026-12"
    assert shift("quarterly", "2026-Q4") == "2027-Q1"
    assert shift("quarterly", "2027-Q1", -1) == "2026-Q4"
    assert shift("yearly", "2026", 2) == "2028"
    assert shift("daily", "2026-12-31") == "2027-01-01"
    with pytest.raises(ValueError):
        first_day("weekly", "2026-11")


def test_periods_between() -> None:
    now = local(2026, 12, 2, 10, 0)
    assert periods_between("daily", None, now, at=NINE) == ["2026-12-02"]
    assert periods_between("daily", "2026-11-29", now, at=NINE) == [
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
    ]
    assert periods_between("daily", "2026-12-02", now, at=NINE) == []
    assert periods_between("daily", "2026-11-29", now, at=NINE, limit=1) == ["2026-12-02"]
    assert periods_between("weekly", "2026-W52", local(2027, 1, 11, 9, 0), at=NINE) == [
        "2026-W53",
        "2027-W01",
        "2027-W02",
    ]
    assert periods_between("monthly", "2026-10", local(2027, 1, 1, 9, 0), at=NINE) == [
        "2026-11",
        "2026-12",
        "2027-01",
    ]
    assert periods_between("quarterly", "2026-Q3", local(2027, 1, 1, 8, 0), at=NINE) == ["2026-Q4"]
    assert periods_between("yearly", "2025", local(2027, 1, 1, 9, 0), at=NINE) == [
        "2026",
        "2027",
    ]


def test_bounds_are_local_midnights_in_utc() -> None:
    assert iso_week_bounds("2026-W53", SHANGHAI) == (
        datetime(2026, 12, 27, 16, 0, tzinfo=UTC),
        datetime(2027, 1, 3, 16, 0, tzinfo=UTC),
    )
    assert day_bounds("2026-11-29", SHANGHAI) == (
        datetime(2026, 11, 28, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 29, 16, 0, tzinfo=UTC),
    )
    assert month_bounds("2026-12", SHANGHAI) == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert quarter_bounds("2026-Q4", SHANGHAI) == (
        datetime(2026, 9, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert year_bounds("2026", ZoneInfo("UTC")) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    # Around a DST change a local day is 23 hours long.
    berlin = bounds("daily", "2026-03-29", ZoneInfo("Europe/Berlin"))
    assert berlin[1] - berlin[0] == timedelta(hours=23)


# --- the runtime ---------------------------------------------------------------------------


class Counter:
    """A daily test job: counts the periods it worked on, and can be told to fail."""

    def __init__(self, name: str = "counter", *, catch_up: bool = False) -> None:
        self.name = name
        self.catch_up = catch_up
        self.worked: list[str] = []
        self.fail = False

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        if self.catch_up:
            keys = periods_between("daily", await ctx.last_period(), ctx.now_local, at=NINE)
        else:
            keys = [latest("daily", ctx.now_local, at=NINE)]
        done = []
        for key in keys:
            if not await ctx.claim(key):
                continue
            await asyncio.sleep(0.01)  # let a concurrent run interleave
            if self.fail:
                raise RuntimeError("boom")
            self.worked.append(key)
            done.append(key)
            await ctx.record(key, {"worked": True})
        return {"periods": done}

    def job(self) -> Job:
        trigger = {"trigger": "cron", "hour": 9, "minute": 0}
        return Job(name=self.name, description="test", trigger=trigger, run=self.run)


def runtime_for(sessions: SessionFactory, *jobs: Job, **kwargs: Any) -> Runtime:
    clock = Clock()
    clock.travel_to(local(2026, 11, 29, 10, 0))
    return Runtime(sessions, clock, SHANGHAI, jobs={job.name: job for job in jobs}, **kwargs)


async def job_runs(sessions: SessionFactory, name: str) -> list[JobRun]:
    async with sessions() as session:
        query = select(JobRun).where(JobRun.job == name).order_by(col(JobRun.period))
        return list((await session.exec(query)).all())


async def test_run_works_once_per_period(sessions: SessionFactory) -> None:
    counter = Counter()
    wakes: list[int] = []
    runtime = runtime_for(sessions, counter.job(), after_commit=lambda: wakes.append(1))
    assert await runtime.run("counter") == {"periods": ["2026-11-29"]}
    assert await runtime.run("counter") == {"periods": []}
    assert counter.worked == ["2026-11-29"]
    assert len(wakes) == 2
    runs = await job_runs(sessions, "counter")
    assert [(run.period, run.result) for run in runs] == [("2026-11-29", {"worked": True})]


async def test_concurrent_runs_work_once(sessions: SessionFactory) -> None:
    counter = Counter()
    first = runtime_for(sessions, counter.job())
    second = runtime_for(sessions, counter.job())
    results = await asyncio.gather(first.run("counter"), second.run("counter"))
    assert sorted(len(result["periods"]) for result in results) == [0, 1]
    assert counter.worked == ["2026-11-29"]
    assert len(await job_runs(sessions, "counter")) == 1


async def test_a_failing_job_rolls_back_its_claim(
    sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    counter = Counter()
    other = Counter("other")
    wakes: list[int] = []
    runtime = runtime_for(
        sessions, counter.job(), other.job(), after_commit=lambda: wakes.append(1)
    )
    counter.fail = True
    with caplog.at_level(logging.ERROR, logger="linli.schedules"):
        results = await runtime.catch_up()
    assert results["counter"] == {"error": "RuntimeError: boom"}
    assert results["other"] == {"periods": ["2026-11-29"]}  # one failure does not stop others
    assert "job counter failed" in caplog.text
    assert await job_runs(sessions, "counter") == []
    assert len(wakes) == 1  # only the committed run wakes the delivery
    counter.fail = False
    assert await runtime.run("counter") == {"periods": ["2026-11-29"]}
    assert counter.worked == ["2026-11-29"]


async def test_run_at_a_given_time(sessions: SessionFactory) -> None:
    counter = Counter()
    runtime = runtime_for(sessions, counter.job())
    await runtime.run("counter", at=local(2026, 11, 20, 9, 30))
    await runtime.run("counter", at=local(2026, 11, 20, 8, 30).astimezone(UTC))
    assert counter.worked == ["2026-11-20", "2026-11-19"]
    with pytest.raises(KeyError):
        await runtime.run("nonexistent")


async def test_catch_up_runs_missed_periods_once(sessions: SessionFactory) -> None:
    counter = Counter(catch_up=True)
    runtime = runtime_for(sessions, counter.job())
    await runtime.run("counter", at=local(2026, 11, 26, 9, 0))
    runtime.clock.travel_to(local(2026, 11, 29, 10, 0))
    results = await runtime.catch_up()
    assert results == {"counter": {"periods": ["2026-11-27", "2026-11-28", "2026-11-29"]}}
    assert await runtime.catch_up() == {"counter": {"periods": []}}
    assert counter.worked == ["2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29"]


class Slow(Counter):
    """A daily test job that takes `seconds` after claiming its period."""

    def __init__(self, seconds: float) -> None:
        super().__init__("slow")
        self.seconds = seconds
        self.claimed = asyncio.Event()

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        key = latest("daily", ctx.now_local, at=NINE)
        if not await ctx.claim(key):
            return {"periods": []}
        self.claimed.set()
        await asyncio.sleep(self.seconds)
        self.worked.append(key)
        return {"periods": [key]}


async def test_a_stop_lets_the_run_in_progress_commit_and_starts_no_other(
    sessions: SessionFactory,
) -> None:
    slow = Slow(0.2)
    runtime = runtime_for(sessions, slow.job())
    running = asyncio.create_task(runtime.run("slow"))
    await slow.claimed.wait()
    await runtime.stop(timeout=5)
    assert running.done() and running.result() == {"periods": ["2026-11-29"]}
    assert len(await job_runs(sessions, "slow")) == 1
    assert await runtime.run("slow") == {"skipped": "stopping"}


async def test_a_run_past_the_stop_grace_is_cut_off_and_rolls_back(
    sessions: SessionFactory,
) -> None:
    slow = Slow(30)
    runtime = runtime_for(sessions, slow.job())
    running = asyncio.create_task(runtime.run("slow"))
    await slow.claimed.wait()
    await asyncio.wait_for(runtime.stop(timeout=0.1), 2)
    assert running.cancelled()
    assert await job_runs(sessions, "slow") == []  # its period runs at the next start
    assert slow.worked == []


async def test_registry_and_scheduler(sessions: SessionFactory) -> None:
    assert "pending_reminder" in schedules.all_jobs()
    counter = Counter("test-registered")
    job = register(counter.job())
    try:
        with pytest.raises(ValueError):
            register(Counter("test-registered").job())
        runtime = Runtime(sessions, Clock(), SHANGHAI)
        assert set(runtime.jobs) >= {"pending_reminder", "test-registered"}
        scheduler = runtime.start()
        try:
            scheduled = {item.id: item for item in scheduler.get_jobs()}
            assert set(scheduled) == set(runtime.jobs)
            reminder = scheduled["pending_reminder"]
            assert reminder.coalesce is True
            assert reminder.max_instances == 1
            assert reminder.misfire_grace_time == 3600
            assert str(reminder.trigger.timezone) == "Asia/Shanghai"
            assert reminder.next_run_time.hour == 9
        finally:
            runtime.shutdown()
            await asyncio.sleep(0)  # the scheduler shuts down on the loop
    finally:
        assert JOBS.pop("test-registered") is job


# --- the pending reminder ------------------------------------------------------------------


HOMES = {"A": "No. 3 & 4", "B": "No. 9"}


def village_plan() -> VillagePlan:
    """A village with two grids; grid A has two workers (one revoked elsewhere), grid B one."""
    return (
        VillagePlan("Fengyang")
        .grid("Grid <A>", "Grid B")
        .household(HOMES["A"], grid="Grid <A>")
        .household(HOMES["B"], grid="Grid B")
        .worker("Worker 0", grid="Grid <A>", telegram_id=1000)
        .worker("Worker 1", grid="Grid <A>", telegram_id=1001)
        .worker("Worker 2", grid="Grid B", telegram_id=1002)
        .worker(
            "Worker 3",
            grid="Grid <A>",
            revoked_at=datetime(2026, 1, 1, tzinfo=UTC),  # revoked
            telegram_id=1003,
        )
    )


def add_resident(
    plan: VillagePlan,
    telegram_id: int,
    name: str,
    grid: str,
    *,
    requested_at: datetime,
    status: MembershipStatus = MembershipStatus.PENDING,
) -> VillagePlan:
    return plan.resident(
        name, home=HOMES[grid], status=status, requested_at=requested_at, telegram_id=telegram_id
    )


async def outbox_rows(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(
            (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


def reminder_runtime(sessions: SessionFactory, **kwargs: Any) -> Runtime:
    PoI18n(default_locale="en").activate()  # the reminder is translated; English by default
    return Runtime(
        sessions, Clock(), SHANGHAI, jobs={"pending_reminder": org_pending_reminder.JOB}, **kwargs
    )


async def test_pending_reminder_messages_each_worker_of_the_grid_once(
    sessions: SessionFactory,
) -> None:
    org = village_plan()
    run_at = local(2026, 11, 29, 9, 0)
    add_resident(org, 2001, "Li <Lei>", "A", requested_at=run_at - timedelta(hours=30))
    add_resident(org, 2002, "Han Meimei", "A", requested_at=run_at - timedelta(days=3))
    add_resident(org, 2003, "Too Recent", "A", requested_at=run_at - timedelta(hours=23))
    add_resident(
        org,
        2004,
        "Approved",
        "B",
        requested_at=run_at - timedelta(days=5),
        status=MembershipStatus.APPROVED,
    )
    await org.build_in(sessions)
    runtime = reminder_runtime(sessions)

    result = await runtime.run("pending_reminder", at=run_at)

    assert result == {"period": "2026-11-29", "reminders": 2, "pending": 2}
    rows = await outbox_rows(sessions)
    assert sorted(row.chat_id for row in rows) == [1000, 1001]  # grid A's current workers
    text = rows[0].payload["text"]
    assert rows[0].payload["parse_mode"] == "HTML"
    assert rows[0].batch == "pending_reminder:2026-11-29"
    assert "Li &lt;Lei&gt;" in text
    assert "No. 3 &amp; 4" in text
    assert "Grid &lt;A&gt;" in text
    assert "waiting 1 d 6 h" in text
    assert "waiting 3 d 0 h" in text
    assert text.index("Han Meimei") < text.index("Li &lt;Lei&gt;")  # oldest first
    assert "Too Recent" not in text
    assert "/pending" in text

    again = await runtime.run("pending_reminder", at=run_at + timedelta(hours=3))
    assert again == {"period": "2026-11-29", "skipped": True}
    assert len(await outbox_rows(sessions)) == 2

    next_day = await runtime.run("pending_reminder", at=run_at + timedelta(days=1))
    assert next_day == {"period": "2026-11-30", "reminders": 2, "pending": 3}
    rows = await outbox_rows(sessions)
    assert len(rows) == 4
    assert "Too Recent" in rows[-1].payload["text"]


async def test_pending_reminder_before_nine_belongs_to_yesterday(
    sessions: SessionFactory,
) -> None:
    org = village_plan()
    add_resident(org, 2001, "Wang", "B", requested_at=local(2026, 11, 20, 12, 0))
    await org.build_in(sessions)
    runtime = reminder_runtime(sessions)
    result = await runtime.run("pending_reminder", at=local(2026, 11, 29, 8, 0))
    assert result == {"period": "2026-11-28", "reminders": 1, "pending": 1}
    rows = await outbox_rows(sessions)
    assert [row.chat_id for row in rows] == [1002]
    async with sessions() as session:
        run = (await session.exec(select(JobRun))).one()
    assert (run.job, run.period, run.result["reminders"]) == ("pending_reminder", "2026-11-28", 1)


async def test_pending_reminder_speaks_the_workers_language(sessions: SessionFactory) -> None:
    org = village_plan()
    add_resident(org, 2001, "Wang", "B", requested_at=local(2026, 11, 20, 12, 0))
    await org.build_in(sessions)
    async with unit_of_work(sessions) as session:
        worker = (await session.exec(select(Person).where(Person.telegram_id == 1002))).one()
        worker.locale = "zh"
        session.add(worker)

    result = await reminder_runtime(sessions).run("pending_reminder", at=local(2026, 11, 29, 9, 0))
    assert result["reminders"] == 1
    text = (await outbox_rows(sessions))[0].payload["text"]
    assert "等您审核的入网申请（1）" in text
    assert "Wang" in text and "已等待 8 天 21 小时" in text
    assert "/pending" in text and "waiting" not in text


async def test_pending_reminder_with_nobody_waiting(sessions: SessionFactory) -> None:
    await village_plan().build_in(sessions)
    result = await reminder_runtime(sessions).run("pending_reminder", at=local(2026, 11, 29, 9))
    assert result == {"period": "2026-11-29", "reminders": 0, "pending": 0}
    assert await outbox_rows(sessions) == []


# --- the catch-up beside the bot -----------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_polling_answers_while_a_slow_catch_up_runs(backend: str, tmp_path: Path) -> None:
    if backend == "postgres" and not postgres_server_url():
        pytest.skip("TEST_DATABASE_URL is not set")
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(ctx: JobContext) -> dict[str, Any]:
        started.set()
        await release.wait()
        return {"periods": []}

    hourly = {"trigger": "interval", "hours": 1}
    job = Job(name="slow", description="test", trigger=hourly, run=slow)
    async with FakeBotAPI() as fake, fresh_database(backend, tmp_path) as url:
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_base=fake.base_url,
            database_url=url,
            redis_url=None,
            bot_superadmins=str(DISTRICT_ADMIN_ID),
        )  # type: ignore[arg-type]
        app = await create_app(settings, limits=TEST_LIMITS, run_migrations=False)
        app.runtime.jobs = {job.name: job}
        polling: asyncio.Task[None] | None = None
        try:
            await asyncio.wait_for(start_background(app), 1)  # it does not wait for the jobs
            await asyncio.wait_for(started.wait(), 5)
            polling = asyncio.create_task(
                app.dp.start_polling(
                    app.bot, handle_signals=False, close_bot_session=False, polling_timeout=1
                )
            )
            mark = fake.mark()
            await fake.user(DISTRICT_ADMIN_ID, "Admin").send("/start")
            await fake.wait_for_message(DISTRICT_ADMIN_ID, after=mark, timeout=5)
            assert not release.is_set() and app.runtime.scheduler is None  # still catching up
            release.set()
            for _ in range(100):  # then the scheduler starts
                if app.runtime.scheduler is not None:
                    break
                await asyncio.sleep(0.02)
            assert app.runtime.scheduler is not None
        finally:
            release.set()
            with contextlib.suppress(RuntimeError):
                await app.dp.stop_polling()
            if polling is not None:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            await app.close()


async def test_a_stop_during_the_catch_up_starts_no_scheduler(sessions: SessionFactory) -> None:
    slow = Slow(30)
    runtime = runtime_for(sessions, slow.job())
    catching_up = asyncio.create_task(runtime.catch_up_and_start())
    await slow.claimed.wait()
    await asyncio.wait_for(runtime.stop(timeout=0.1), 2)
    await asyncio.gather(catching_up, return_exceptions=True)
    assert catching_up.done() and runtime.scheduler is None
    assert await job_runs(sessions, "slow") == []  # rolled back: it runs at the next start
