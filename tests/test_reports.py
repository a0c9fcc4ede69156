"""Rules of reports and grid tasks, on SQLite and PostgreSQL: the life of a task, who may act,
double presses and two workers at once, handing over, duplicates, followers, the reward once,
auto-close, figures, duty tasks and notices; and the pure permission checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from storage import audit, org, reports
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.org import MembershipStatus, Role, RoleAssignment, WorkerKind
from storage.models.points import PointEntry
from storage.models.reports import Duty, ReportReward, Task, TaskStatus
from storage.permissions.org import Actor, Residence, RoleHeld
from tests.village_builder import BuiltVillage, report_village

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


async def setup(sessions: SessionFactory) -> BuiltVillage:
    async with unit_of_work(sessions) as session:
        return await report_village(session, NOW)


async def file(sessions: SessionFactory, v: BuiltVillage, **extra: object) -> int:
    async with unit_of_work(sessions) as session:
        actor = await v.load_actor(session, v.person("张三"))
        hazard = (await reports.categories(session, v.village_id))[0]
        view = await reports.file_report(
            session,
            actor,
            category_id=extra.pop("category_id", hazard.id or 0),  # type: ignore[arg-type]
            description="桥头护栏断了",
            location="村东桥头",
            now=extra.pop("now", NOW),  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )
        return view.id


async def act(sessions: SessionFactory, who: object, fn: object, *args: object, **kw: object):  # type: ignore[no-untyped-def]
    async with unit_of_work(sessions) as session:
        actor = await org.load_actor(session, who)  # type: ignore[arg-type]
        return await fn(session, actor, *args, **kw)  # type: ignore[operator]


async def status_of(sessions: SessionFactory, task_id: int) -> Task:
    async with sessions() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


async def test_the_life_of_a_report(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    task_id = await file(sessions, v, anonymous=True)
    first = await status_of(sessions, task_id)
    assert first.number == "R-2026-00001" and first.status == TaskStatus.NEW
    assert first.grid_id == v.grid("一网格").id and first.anonymous
    second = await status_of(sessions, await file(sessions, v))
    assert second.number == "R-2026-00002"

    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    await act(sessions, v.person("王网格员"), reports.start_work, task_id, NOW)
    view = await act(sessions, v.person("王网格员"), reports.resolve, task_id, "换了护栏", NOW)
    assert view.task.status == TaskStatus.RESOLVED and view.task.note == "换了护栏"
    view, _ = await act(
        sessions, v.person("张三"), reports.answer_follow_up, task_id, fixed=False, now=NOW
    )
    assert view.task.status == TaskStatus.REOPENED and view.task.owner_id is None
    assert view.task.reopen_count == 1
    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    await act(sessions, v.person("王网格员"), reports.resolve, task_id, "再次修好", NOW)
    view, reward = await act(
        sessions, v.person("张三"), reports.answer_follow_up, task_id, fixed=True, now=NOW
    )
    assert view.task.status == TaskStatus.CLOSED and reward is None  # no item chosen
    view = await act(sessions, v.person("张三"), reports.rate, task_id, 5, NOW)
    assert view.task.rating == 5
    with pytest.raises(AlreadyDone):
        await act(sessions, v.person("张三"), reports.rate, task_id, 3, NOW)
    async with sessions() as session:
        actions = [e.action for e in await audit.entries(session, village_id=v.village_id)]
    assert actions.count("task.accept") == 2 and "task.reopen" in actions
    assert {"task.report", "task.start", "task.resolve", "task.close", "task.rate"} <= set(actions)


async def test_only_the_grid_and_admins_act_and_only_the_owner_resolves(
    sessions: SessionFactory,
) -> None:
    v = await setup(sessions)
    task_id = await file(sessions, v)
    for stranger in (v.person("李网格员"), v.person("张三"), v.person("赵六")):
        with pytest.raises(NotAllowed):
            await act(sessions, stranger, reports.accept, task_id, NOW)
    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    with pytest.raises(NotAllowed):
        await act(sessions, v.person("李网格员"), reports.resolve, task_id, "x", NOW)
    with pytest.raises(NotAllowed):  # the neighbour is not the reporter
        await act(
            sessions, v.person("赵六"), reports.answer_follow_up, task_id, fixed=True, now=NOW
        )
    view = await act(sessions, v.person("村管理员"), reports.resolve, task_id, "管理员处理", NOW)
    assert view.task.status == TaskStatus.RESOLVED
    with pytest.raises(AlreadyDone):  # resolved twice
        await act(sessions, v.person("村管理员"), reports.resolve, task_id, "again", NOW)


async def test_two_workers_accept_at_once_one_wins(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    async with unit_of_work(sessions) as session:
        session.add(
            RoleAssignment(
                person_id=v.person("李网格员").id or 0,
                village_id=v.village_id,
                role=Role.GRID_WORKER,
                grid_id=v.grid("一网格").id,
                worker_kind=WorkerKind.PART_TIME,
            )
        )
    task_id = await file(sessions, v)

    async def try_accept(worker: object) -> str:
        try:
            await act(sessions, worker, reports.accept, task_id, NOW)
        except AlreadyDone:
            return "refused"
        return "accepted"

    outcomes = await asyncio.gather(
        try_accept(v.person("王网格员")), try_accept(v.person("李网格员"))
    )
    assert sorted(outcomes) == ["accepted", "refused"]
    task = await status_of(sessions, task_id)
    assert task.owner_id in (v.person("王网格员").id, v.person("李网格员").id)
    async with sessions() as session:
        accepts = await audit.entries(session, village_id=v.village_id, action="task.accept")
    assert len(accepts) == 1


async def test_resolving_twice_at_once_resolves_once(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    task_id = await file(sessions, v)
    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)

    async def try_resolve(note: str) -> str:
        try:
            await act(sessions, v.person("王网格员"), reports.resolve, task_id, note, NOW)
        except AlreadyDone:
            return "refused"
        return "resolved"

    outcomes = await asyncio.gather(try_resolve("一"), try_resolve("二"))
    assert sorted(outcomes) == ["refused", "resolved"]
    async with sessions() as session:
        resolves = await audit.entries(session, village_id=v.village_id, action="task.resolve")
    assert len(resolves) == 1


async def test_two_reports_at_once_get_different_numbers(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    ids = await asyncio.gather(*(file(sessions, v) for _ in range(4)))
    numbers = {(await status_of(sessions, i)).number for i in ids}
    assert numbers == {f"R-2026-0000{n}" for n in range(1, 5)}


async def test_categories_made_meanwhile_by_another_update_are_seen(
    sessions: SessionFactory,
) -> None:
    """The defaults are made by the first update that asks. One that found none, while another
    made and committed them before its next look, must still get the six, not an empty list
    (PostgreSQL reads each statement afresh; the bench met this)."""
    v = await setup(sessions)

    async def other_update() -> None:
        async with unit_of_work(sessions) as session:
            assert len(await reports.categories(session, v.village_id)) == 6

    async with unit_of_work(sessions) as session:
        looks = 0
        plain_exec = session.exec

        async def exec_then_race(statement: Any, **kw: Any) -> Any:
            nonlocal looks
            result = await plain_exec(statement, **kw)
            looks += 1
            if looks == 1 and session.get_bind().dialect.name == "postgresql":
                await other_update()  # commits between this update's first and second look
            return result

        session.exec = exec_then_race  # type: ignore[method-assign]
        found = await reports.categories(session, v.village_id)
    assert len(found) == 6


async def test_a_categorys_times_change_for_reports_filed_afterwards(
    sessions: SessionFactory,
) -> None:
    v = await setup(sessions)
    earlier = await file(sessions, v)
    async with sessions() as session:
        hazard = (await reports.categories(session, v.village_id))[0]
    assert (hazard.accept_hours, hazard.resolve_hours) == (4, 48)
    change = reports.set_category_hours
    # Only the village's admins; the rules of the two times hold; nothing changes on a refusal.
    with pytest.raises(NotAllowed):
        await act(
            sessions, v.person("王网格员"), change, v.village_id, hazard.id, NOW, accept_hours=8
        )
    with pytest.raises(RuleError, match="shorter"):
        await act(
            sessions, v.person("村管理员"), change, v.village_id, hazard.id, NOW, accept_hours=72
        )
    with pytest.raises(RuleError, match="Between"):
        await act(
            sessions, v.person("村管理员"), change, v.village_id, hazard.id, NOW, resolve_hours=0
        )
    with pytest.raises(NotAllowed):  # a forged button with another village's id
        await act(
            sessions,
            v.person("村管理员"),
            change,
            v.village_id + 1000,
            hazard.id,
            NOW,
            accept_hours=8,
        )
    with pytest.raises(RuleError, match="no longer available"):
        await act(sessions, v.person("村管理员"), change, v.village_id, 10**6, NOW, accept_hours=8)

    await act(sessions, v.person("村管理员"), change, v.village_id, hazard.id, NOW, accept_hours=8)
    await act(
        sessions, v.person("村管理员"), change, v.village_id, hazard.id, NOW, resolve_hours=336
    )
    await act(
        sessions, v.person("村管理员"), change, v.village_id, hazard.id, NOW, resolve_hours=336
    )
    later = await file(sessions, v, now=NOW + timedelta(hours=1))

    before, after = await status_of(sessions, earlier), await status_of(sessions, later)
    assert reports.aware(before.accept_due_at) == NOW + timedelta(hours=4)
    assert reports.aware(before.resolve_due_at) == NOW + timedelta(hours=48)
    assert reports.aware(after.accept_due_at) == NOW + timedelta(hours=1 + 8)
    assert reports.aware(after.resolve_due_at) == NOW + timedelta(hours=1 + 336)
    async with sessions() as session:
        found = await audit.entries(session, action="report.category_hours")
        changes = [e.detail for e in found if e.village_id == v.village_id]
    # The same time pressed twice is recorded once.
    assert changes == [
        {"code": "hazard", "accept_hours": 8, "resolve_hours": 48},
        {"code": "hazard", "accept_hours": 8, "resolve_hours": 336},
    ]


async def test_a_worker_files_a_report_under_another_kind_with_its_deadlines(
    sessions: SessionFactory,
) -> None:
    v = await setup(sessions)
    async with unit_of_work(sessions) as session:  # the first ask makes the six defaults
        kinds = {c.code: c for c in await reports.categories(session, v.village_id)}
    hazard, other = kinds["hazard"], kinds["other"]
    task_id = await file(sessions, v, category_id=other.id)  # as a report made in a group
    filed = await status_of(sessions, task_id)
    assert reports.aware(filed.accept_due_at) == NOW + timedelta(hours=24)

    change = reports.change_category
    with pytest.raises(NotAllowed):  # the other grid's worker; the reporter
        await act(sessions, v.person("李网格员"), change, task_id, hazard.id)
    with pytest.raises(NotAllowed):
        await act(sessions, v.person("张三"), change, task_id, hazard.id)
    with pytest.raises(AlreadyDone):
        await act(sessions, v.person("王网格员"), change, task_id, other.id)
    with pytest.raises(RuleError, match="no longer available"):
        await act(sessions, v.person("王网格员"), change, task_id, 10**6)

    view = await act(sessions, v.person("王网格员"), change, task_id, hazard.id)
    assert view.category is not None and view.category.code == "hazard"
    task = await status_of(sessions, task_id)
    # A hazard's times, counted from when it was filed.
    assert reports.aware(task.accept_due_at) == NOW + timedelta(hours=4)
    assert reports.aware(task.resolve_due_at) == NOW + timedelta(hours=48)
    async with sessions() as session:
        found = await audit.entries(session, village_id=v.village_id, action="task.category")
    assert [e.detail["code"] for e in found] == ["hazard"]

    # A finished report keeps its kind; a duty task has none.
    await act(sessions, v.person("王网格员"), reports.reject, task_id, "不在本村", NOW)
    with pytest.raises(AlreadyDone):
        await act(sessions, v.person("王网格员"), change, task_id, other.id)
    duty = await act(
        sessions,
        v.person("村管理员"),
        reports.create_duty_tasks,
        village_id=v.village_id,
        grid_ids=[v.grid("一网格").id],
        duty=Duty.HAZARDS,
        description="排查隐患",
        due_at=NOW + timedelta(days=3),
        now=NOW,
    )
    with pytest.raises(RuleError, match="Only a report"):
        await act(sessions, v.person("村管理员"), change, duty[0].id, hazard.id)


async def test_a_change_of_kind_racing_another_one(sessions: SessionFactory) -> None:
    """Two people change a report's kind at once. PostgreSQL: the second read the old kind and
    is refused once the first commits. SQLite runs one writer at a time, so the second starts
    after the first and its change is a later one of its own."""
    v = await setup(sessions)
    async with unit_of_work(sessions) as session:
        kinds = {c.code: c for c in await reports.categories(session, v.village_id)}
    task_id = await file(sessions, v, category_id=kinds["other"].id)

    async def second_change() -> str:
        try:
            await act(
                sessions, v.person("村管理员"), reports.change_category, task_id, kinds["help"].id
            )
        except AlreadyDone as refused:
            return refused.message
        return "changed"

    async with unit_of_work(sessions) as session:
        worker = await v.load_actor(session, v.person("王网格员"))
        await reports.change_category(session, worker, task_id, kinds["hazard"].id)
        second = asyncio.create_task(second_change())
        await asyncio.sleep(0.5)  # it has read the task and waits for this transaction
    outcome = await second
    task = await status_of(sessions, task_id)
    if sessions.kw["bind"].dialect.name == "postgresql":
        assert outcome == "Someone changed its kind a moment ago."
        assert task.category_id == kinds["hazard"].id
    else:
        assert outcome == "changed" and task.category_id == kinds["help"].id


async def test_a_handed_over_task_leaves_the_old_grid(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    task_id = await file(sessions, v)
    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    view = await act(
        sessions, v.person("王网格员"), reports.hand_over, task_id, v.grid("二网格").id, NOW
    )
    assert view.task.grid_id == v.grid("二网格").id and view.task.status == TaskStatus.NEW
    assert view.task.owner_id is None
    async with sessions() as session:
        mine_a = await reports.tasks_for(
            session, await v.load_actor(session, v.person("王网格员")), NOW
        )
        mine_b = await reports.tasks_for(
            session, await v.load_actor(session, v.person("李网格员")), NOW
        )
    assert task_id not in [t.id for t in mine_a] and task_id in [t.id for t in mine_b]
    with pytest.raises(NotAllowed):  # the old grid can no longer act on it
        await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    view = await act(sessions, v.person("李网格员"), reports.hand_over, task_id, None, NOW)
    assert view.task.with_admin
    async with sessions() as session:
        admin_list = await reports.tasks_for(
            session, await v.load_actor(session, v.person("村管理员")), NOW
        )
    assert task_id in [t.id for t in admin_list]


async def test_duplicates_and_followers(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    original = await file(sessions, v)
    async with unit_of_work(sessions) as session:
        neighbour = await v.load_actor(session, v.person("赵六"))
        hazard = (await reports.categories(session, v.village_id))[0]
        copy = await reports.file_report(
            session, neighbour, category_id=hazard.id or 0, description="护栏坏了", now=NOW
        )
    with pytest.raises(RuleError):
        await act(
            sessions, v.person("王网格员"), reports.mark_duplicate, copy.id, copy.task.number, NOW
        )
    first = await status_of(sessions, original)
    dup, orig = await act(
        sessions, v.person("王网格员"), reports.mark_duplicate, copy.id, first.number, NOW
    )
    assert dup.task.status == TaskStatus.DUPLICATE and dup.task.duplicate_of == original
    async with sessions() as session:
        people = [p.id for p in await reports.interested(session, orig)]
    assert people == [v.person("张三").id, v.person("赵六").id]
    with pytest.raises(AlreadyDone):
        await act(sessions, v.person("赵六"), reports.follow, original, NOW)
    with pytest.raises(AlreadyDone):
        await act(sessions, v.person("张三"), reports.follow, original, NOW)
    with pytest.raises(NotAllowed):  # a worker of the village is no resident
        await act(sessions, v.person("李网格员"), reports.follow, original, NOW)


async def test_photos_over_telegrams_size_are_refused(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    with pytest.raises(RuleError) as refused:
        await file(sessions, v, photos=[("big", 25 * 1024 * 1024)])
    assert refused.value.params["mb"] == 20
    task_id = await file(sessions, v, photos=[("small", 80_000)])
    async with sessions() as session:
        view = await reports.task_view(session, task_id)
    assert [p.file_id for p in view.photos] == ["small"]


async def test_a_valid_report_is_rewarded_once(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    # E02 报告安全隐患并协助排除 in the default points catalogue
    await act(
        sessions,
        v.person("村管理员"),
        reports.configure,
        v.village_id,
        NOW,
        reward_item_code="E02",
    )
    with pytest.raises(NotAllowed):
        await act(
            sessions, v.person("王网格员"), reports.configure, v.village_id, NOW, digest_hour=9
        )
    task_id = await file(sessions, v)
    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    await act(sessions, v.person("王网格员"), reports.resolve, task_id, "好了", NOW)
    _view, reward = await act(
        sessions, v.person("张三"), reports.answer_follow_up, task_id, fixed=True, now=NOW
    )
    assert reward is not None and reward.item_code == "E02" and reward.ledger_ref
    async with unit_of_work(sessions) as session:
        task = await session.get(Task, task_id)
        assert await reports.claim_reward(session, task, NOW) is None  # type: ignore[arg-type]
        rewards = (await session.exec(select(ReportReward))).all()
        entries = (await session.exec(select(PointEntry))).all()
    assert len(rewards) == 1 and rewards[0].person_id == v.person("张三").id
    # Credited once in the points ledger, for the reporter and their household.
    assert [(e.person_id, e.reason, e.points > 0) for e in entries] == [
        (v.person("张三").id, task.number, True)  # type: ignore[union-attr]
    ]
    assert rewards[0].ledger_ref == str(entries[0].id)


async def test_no_answer_in_three_days_closes(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    task_id = await file(sessions, v)
    await act(sessions, v.person("王网格员"), reports.accept, task_id, NOW)
    await act(sessions, v.person("王网格员"), reports.resolve, task_id, "好了", NOW)
    async with unit_of_work(sessions) as session:
        assert await reports.waiting_for_follow_up(session, NOW + timedelta(days=2)) == []
        assert await reports.auto_close(session, task_id, NOW + timedelta(days=2)) is None
        later = NOW + timedelta(days=3, minutes=1)
        assert await reports.waiting_for_follow_up(session, later) == [task_id]
        view = await reports.auto_close(session, task_id, later)
        assert view is not None and view.task.status == TaskStatus.CLOSED
        assert await reports.auto_close(session, task_id, later) is None


async def test_grid_figures(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    fast = await file(sessions, v)
    slow = await file(sessions, v)
    await act(sessions, v.person("王网格员"), reports.accept, fast, NOW + timedelta(hours=1))
    await act(sessions, v.person("王网格员"), reports.accept, slow, NOW + timedelta(hours=3))
    await act(
        sessions, v.person("王网格员"), reports.resolve, fast, "好", NOW + timedelta(hours=10)
    )
    await act(sessions, v.person("张三"), reports.answer_follow_up, fast, fixed=False, now=NOW)
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)
    async with sessions() as session:
        admin = await v.load_actor(session, v.person("村管理员"))
        figures = await reports.grid_figures(
            session, admin, v.village_id, start, end, NOW + timedelta(days=30)
        )
        with pytest.raises(NotAllowed):
            await reports.grid_figures(
                session,
                await v.load_actor(session, v.person("王网格员")),
                v.village_id,
                start,
                end,
                NOW,
            )
    a, b = figures
    assert (a.received, b.received) == (2, 0)
    assert a.median_accept_hours == 2.0 and a.median_resolve_hours == 10.0
    assert a.overdue == 2 and a.reopened == 1 and a.reopen_rate == 0.5


async def test_duty_tasks_and_notices(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    due = NOW + timedelta(days=3)
    views = await act(
        sessions,
        v.person("村管理员"),
        reports.create_duty_tasks,
        village_id=v.village_id,
        grid_ids=None,
        duty=Duty.HAZARDS,
        description="排查电动车充电隐患",
        due_at=due,
        now=NOW,
    )
    assert [x.task.number for x in views] == ["T-2026-00001", "T-2026-00002"]
    with pytest.raises(NotAllowed):  # a worker for another grid
        await act(
            sessions,
            v.person("王网格员"),
            reports.create_duty_tasks,
            village_id=v.village_id,
            grid_ids=[v.grid("二网格").id],
            duty=Duty.POLICY,
            description="x",
            due_at=due,
            now=NOW,
        )
    own = next(x for x in views if x.task.grid_id == v.grid("一网格").id)
    await act(sessions, v.person("王网格员"), reports.accept, own.id, NOW)
    done = await act(sessions, v.person("王网格员"), reports.resolve, own.id, "已排查", NOW)
    assert done.task.status == TaskStatus.CLOSED  # a duty task closes with its note

    audience = await act(
        sessions,
        v.person("王网格员"),
        reports.notice_audience,
        v.village_id,
        v.grid("一网格").id,
        NOW,
    )
    assert {p.id for p in audience.residents} == {v.person("张三").id, v.person("赵六").id}
    with pytest.raises(NotAllowed):
        await act(sessions, v.person("王网格员"), reports.notice_audience, v.village_id, None, NOW)
    with pytest.raises(NotAllowed):
        await act(
            sessions,
            v.person("李网格员"),
            reports.notice_audience,
            v.village_id,
            v.grid("一网格").id,
            NOW,
        )


def test_permissions_are_pure() -> None:
    P = reports.ReportPermissions
    task = Task(village_id=1, grid_id=10, number="R-2026-00001", reporter_id=5, owner_id=7)
    worker = Actor(7, 70, roles=frozenset({RoleHeld(Role.GRID_WORKER, 1, 10)}))
    other_worker = Actor(8, 80, roles=frozenset({RoleHeld(Role.GRID_WORKER, 1, 11)}))
    admin = Actor(9, 90, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 1)}))
    home = Residence(1, 1, 10, 1, MembershipStatus.APPROVED)
    reporter = Actor(5, 50, residence=home)
    neighbour = Actor(6, 60, residence=home)
    assert P.can_act(worker, task) and P.can_act(admin, task)
    assert not P.can_act(other_worker, task) and not P.can_act(reporter, task)
    assert P.can_finish(worker, task) and P.can_finish(admin, task)
    colleague = Actor(11, 110, roles=frozenset({RoleHeld(Role.GRID_WORKER, 1, 10)}))
    assert not P.can_finish(colleague, task)
    assert P.can_answer_follow_up(reporter, task) and not P.can_answer_follow_up(neighbour, task)
    assert P.can_follow(neighbour, task) and not P.can_follow(reporter, task)
    assert P.can_view(reporter, task) and not P.can_view(neighbour, task)
    assert P.can_report(reporter) and not P.can_report(worker)
    assert P.can_create_duty(worker, 1, {10}) and not P.can_create_duty(worker, 1, {10, 11})
    assert P.can_create_duty(admin, 1, None) and not P.can_create_duty(worker, 1, None)
    assert P.can_send_notice(worker, 1, 10) and not P.can_send_notice(worker, 1, None)
    assert P.can_send_notice(admin, 1, None) and P.can_see_stats(admin, 1)
    assert not P.can_see_stats(worker, 1)


async def test_the_categories_kept_in_memory_follow_every_change(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    async with sessions() as session:
        first = await reports.categories(session, v.village_id)  # read, and kept
    async with unit_of_work(sessions) as session:
        admin = await v.load_actor(session, v.person("村管理员"))
        added = await reports.add_category(session, admin, v.village_id, "秸秆焚烧", NOW)
    async with sessions() as session:
        after_add = await reports.categories(session, v.village_id)
    assert [c.name for c in after_add] == [c.name for c in first] + ["秸秆焚烧"]
    async with unit_of_work(sessions) as session:
        admin = await v.load_actor(session, v.person("村管理员"))
        await reports.remove_category(session, admin, v.village_id, added.id or 0, NOW)
    async with sessions() as session:
        assert [c.name for c in await reports.categories(session, v.village_id)] == [
            c.name for c in first
        ]
        with pytest.raises(NotFound):
            await reports.category_choice(session, v.village_id, added.id or 0)


def test_a_description_is_normalised_and_invisible_text_refused() -> None:
    assert reports.clean_description("\u202e路灯\u200b坏了\n\n\n第二行") == "路灯坏了\n\n第二行"
    with pytest.raises(RuleError):
        reports.clean_description("\u200b\ufeff\u2066")
