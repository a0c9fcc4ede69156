"""Rules that once lived in handlers and views and drifted from storage's: each is decided in
storage now, and each test here fails if a copy comes back and drifts again."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from schedules import org_pending_reminder
from schedules.runtime import Runtime
from storage import org, reports
from storage.clock import Clock
from storage.db import SessionFactory
from storage.models.common import OutboxMessage
from storage.models.org import (
    MembershipStatus,
    WorkerKind,
)
from storage.models.points import EntryKind, PointEntry
from storage.permissions.points import PointsPermissions
from tests.harness import World
from tests.test_story_reports import has, tap_data
from tests.village_builder import report_plan
from views.i18n import PoI18n
from views.points import entry_keyboard

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_only_the_worker_who_accepted_a_task_is_asked_for_its_resolution(
    world: World,
) -> None:
    """The note question on ✅ was put by the handler after its own check, which had lost
    storage's "only the worker who accepted this task" refusal: a second worker of the grid
    was asked to write a note that storage then refused."""
    fake, clock = world.fake, world.clock
    plan = report_plan(clock.now()).worker("孙网格员", grid="一网格", kind=WorkerKind.PART_TIME)
    v = await plan.build_in(world.app.sessions)
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    second = world.person(v.person("孙网格员").telegram_id, "Sun")

    menu = await resident.say("/report", expect="报事")
    await tap_data(resident, menu, "pk:rcat:")
    await resident.say("井盖松了，车一过就响")
    await resident.say("村西路口", expect="村西路口")
    privacy = await tap_data(resident, fake.last(resident.id), "fl:next")
    review = await tap_data(resident, privacy, "fl:named")
    mark = fake.mark()
    filed = await tap_data(resident, review, "fl:confirm")
    number = next(w for w in (filed.text or "").split() if w.startswith("R-"))
    push = await fake.wait_for_message(worker.id, has(number), after=mark)
    second_push = await fake.wait_for_message(second.id, has(number), after=mark)
    accepted = await tap_data(worker, push, "ta:acc:", expect="王网格员")

    resolve_data = next(d for d in accepted.button_data().values() if d.startswith("ta:res:"))
    mark = fake.mark()
    toast = await second.tap_for_toast(second_push, data=resolve_data)
    assert toast == "只有受理该任务的网格员才能这样操作。"
    await fake.assert_no_message(second.id, has("做了哪些处理"), within=0.3)
    async with world.app.sessions() as session:
        task = (
            await session.exec(
                select(reports.Task).where(
                    reports.Task.village_id == v.village_id, reports.Task.number == number
                )
            )
        ).one()
        assert task.status == reports.TaskStatus.ACCEPTED
        assert task.owner_id == v.person("王网格员").id

    # The worker who accepted it is still asked.
    await tap_data(worker, accepted, "ta:res:", expect="做了哪些处理")
    await worker.say("/cancel")


def test_the_appeal_button_is_offered_exactly_when_storage_takes_the_appeal() -> None:
    """The notice's ⚖ button followed `points < 0`, storage `is_appealable`: a correction
    with negative points got a button storage refuses."""
    PoI18n().activate()

    def entry(points: int, kind: EntryKind) -> PointEntry:
        return PointEntry(id=7, village_id=1, household_id=9, points=points, reason="", kind=kind)

    cases = [
        entry(-3, EntryKind.AWARD),
        entry(3, EntryKind.AWARD),
        entry(2, EntryKind.CLAIM),
        entry(-3, EntryKind.CORRECTION),
    ]
    offered = [entry_keyboard(e, "zh") is not None for e in cases]
    assert offered == [PointsPermissions.is_appealable(e) for e in cases]
    assert offered == [True, False, False, False]


async def test_a_grid_without_workers_is_served_by_the_village_admins(
    sessions: SessionFactory,
) -> None:
    """Who acts for a grid is decided once (org.grid_deciders): tasks and join requests went
    to the admins of a grid without workers, but its pending reminder went to nobody."""
    clock = Clock()
    plan = (
        report_plan(clock.now())
        .grid("三网格")
        .household("5组 1号", grid="三网格")
        .resident(
            "钱七",
            home="5组 1号",
            status=MembershipStatus.PENDING,
            requested_at=clock.now() - timedelta(days=2),
        )
    )
    v = await plan.build_in(sessions)
    empty = v.grid("三网格")

    async with sessions() as session:
        ids = [
            p.id for p in await org.grid_deciders(session, v.village_id, v.grid("一网格").id or 0)
        ]
        assert ids == [v.person("王网格员").id]
        to_admins = await org.grid_deciders(
            session, v.village_id, v.grid("一网格").id or 0, to_admins=True
        )
        assert [p.id for p in to_admins] == [v.person("村管理员").id]
        nobody = await org.grid_deciders(session, v.village_id, empty.id or 0)
        assert [p.id for p in nobody] == [v.person("村管理员").id]

    PoI18n(default_locale="zh").activate()
    runtime = Runtime(
        sessions, clock, SHANGHAI, jobs={"pending_reminder": org_pending_reminder.JOB}
    )
    result = await runtime.run("pending_reminder", at=clock.now())
    assert result["reminders"] == 1
    async with sessions() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [row.chat_id for row in rows] == [v.person("村管理员").telegram_id]
    assert "钱七" in rows[0].payload["text"]
