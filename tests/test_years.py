"""A village over the years, in storage, on SQLite and PostgreSQL: roles end (tasks move on,
the last admin stays, old buttons stop at once), residents leave and move, households merge,
tenants, the audit trail and the per-worker figures."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, org_changes, points, profiles, reports, votes
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, RuleError
from storage.models.org import (
    BoundChat,
    Household,
    LeftReason,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    WorkerKind,
)
from storage.models.points import EntryKind, PointItem
from storage.models.reports import Task, TaskStatus
from storage.profiles import Profiles
from tests.village_builder import BuiltVillage, lone_person, report_village

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
_bases = itertools.count(0)


async def village(session: AsyncSession) -> BuiltVillage:
    return await report_village(session, NOW - timedelta(days=30), 5_400_000 + next(_bases) * 100)


async def colleague(session: AsyncSession, v: BuiltVillage, telegram_id: int) -> Person:
    """A second worker of grid A."""
    someone = await lone_person(session, telegram_id, "陈网格员")
    session.add(
        RoleAssignment(
            person_id=someone.id or 0,
            village_id=v.village_id,
            role=Role.GRID_WORKER,
            grid_id=v.grid("一网格").id,
            worker_kind=WorkerKind.PART_TIME,
            granted_at=NOW - timedelta(days=30),
        )
    )
    await session.flush()
    return someone


async def assignment(session: AsyncSession, someone: Person, role: Role) -> int:
    row = (
        await session.exec(
            select(RoleAssignment).where(
                RoleAssignment.person_id == someone.id, RoleAssignment.role == role
            )
        )
    ).one()
    return row.id or 0


async def file(session: AsyncSession, who: Person, at: datetime, text: str = "路灯坏了") -> int:
    actor = await org.load_actor(session, who)
    category = (await reports.categories(session, actor.residence.village_id))[0]  # type: ignore[union-attr]
    view = await reports.file_report(
        session, actor, category_id=category.id or 0, description=text, now=at
    )
    return view.id


async def test_a_workers_role_ends_and_their_tasks_move_to_a_colleague(
    sessions: SessionFactory,
) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        chen = await colleague(session, v, v.person("村管理员").telegram_id + 50)
        task_id = await file(session, v.person("张三"), NOW)
        await reports.accept(
            session, await org.load_actor(session, v.person("王网格员")), task_id, NOW
        )
        waiting_id = await file(session, v.person("张三"), NOW, "井盖没了")
        profiles = Profiles()
        kept = await profiles.get(session, v.person("王网格员").telegram_id, create=False)
        assert kept is not None and kept.actor.worker_grids() == {v.grid("一网格").id}
    async with unit_of_work(sessions) as session:
        admin = await org.load_actor(session, v.person("村管理员"))
        ended = await org_changes.end_role(
            session,
            admin,
            await assignment(session, v.person("王网格员"), Role.GRID_WORKER),
            "调岗",
            NOW + timedelta(hours=1),
        )
        assert [t.id for t in ended.tasks] == [task_id]  # the waiting one was the grid's anyway
        assert not ended.to_admins and [p.id for p in ended.receivers] == [chen.id]
    async with unit_of_work(sessions) as session:
        # Seen at once: the process forgot the worker; a press on the old card is refused.
        again = await profiles.get(session, v.person("王网格员").telegram_id, create=False)
        assert again is not None and not again.actor.worker_grids()
        with pytest.raises(NotAllowed):
            await reports.accept(session, again.actor, waiting_id, NOW + timedelta(hours=2))
    async with unit_of_work(sessions) as session:
        task = await session.get(Task, task_id)
        assert task is not None and task.status == TaskStatus.NEW and task.owner_id is None
        chen_actor = await org.load_actor(session, chen)
        await reports.accept(session, chen_actor, task_id, NOW + timedelta(hours=3))
        view = await reports.resolve(
            session, chen_actor, task_id, "已修好", NOW + timedelta(hours=5)
        )
        assert view.task.status == TaskStatus.RESOLVED and view.task.owner_id == chen.id
        with pytest.raises(AlreadyDone):
            await org.end_role(
                session,
                await org.load_actor(session, v.person("村管理员")),
                await assignment(session, v.person("王网格员"), Role.GRID_WORKER),
                "再按一次",
                NOW,
            )
        actions = [e.action for e in await audit.entries(session, village_id=v.village_id)]
        assert "role.end" in actions and "task.release" in actions


async def test_the_last_worker_leaves_and_the_admins_get_the_grids_tasks(
    sessions: SessionFactory,
) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        waiting = await file(session, v.person("张三"), NOW)
        ended = await org_changes.end_role(
            session,
            await org.load_actor(session, v.person("村管理员")),
            await assignment(session, v.person("王网格员"), Role.GRID_WORKER),
            "辞职",
            NOW,
        )
        assert ended.to_admins and [t.id for t in ended.tasks] == [waiting]
        assert [p.id for p in ended.receivers] == [v.person("村管理员").id]


async def test_a_village_keeps_one_admin(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        admin = await org.load_actor(session, v.person("村管理员"))
        own = await assignment(session, v.person("村管理员"), Role.VILLAGE_ADMIN)
        with pytest.raises(RuleError, match="last admin"):
            await org.end_role(session, admin, own, "换届", NOW)
        second = await lone_person(session, v.person("村管理员").telegram_id + 60, "新书记")
        session.add(
            RoleAssignment(
                person_id=second.id or 0, village_id=v.village_id, role=Role.VILLAGE_ADMIN
            )
        )
        await session.flush()
        with pytest.raises(NotAllowed):  # a grid worker cannot end roles
            await org.end_role(
                session, await org.load_actor(session, v.person("王网格员")), own, "x", NOW
            )
        await org.end_role(session, admin, own, "换届", NOW)
        with pytest.raises(RuleError, match="last admin"):
            await org.end_role(
                session,
                await org.load_actor(session, second),
                await assignment(session, second, Role.VILLAGE_ADMIN),
                "换届",
                NOW,
            )
        assert [p.id for p in await org.village_admins(session, v.village_id)] == [second.id]


async def test_unused_role_links_are_listed_and_withdrawn(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        admin = await org.load_actor(session, v.person("村管理员"))
        link = await org.create_role_invite(
            session, admin, village_id=v.village_id, role=Role.REVIEWER, now=NOW
        )
        assert [i.id for i in await org.open_role_links(session, admin, v.village_id, NOW)] == [
            link.id
        ]
        await org.withdraw_role_link(session, admin, link.id or 0, NOW)
        assert not await org.open_role_links(session, admin, v.village_id, NOW)
        with pytest.raises(AlreadyDone):
            await org.withdraw_role_link(session, admin, link.id or 0, NOW)
        with pytest.raises(Exception, match="expired"):
            await org.redeem_role_invite(session, v.person("张三"), link.code, NOW)


async def award(
    session: AsyncSession, v: BuiltVillage, household_id: int, who: Person, at: datetime, n: int
) -> None:
    await points.ensure_catalogue(session, v.village_id)
    item = (
        await session.exec(select(PointItem).where(PointItem.village_id == v.village_id))
    ).first()
    assert item is not None
    await points.add_entry(
        session,
        village_id=v.village_id,
        household_id=household_id,
        person_id=who.id,
        item_id=item.id,
        points=n,
        kind=EntryKind.AWARD,
        reason="test",
        now=at,
        tz=TZ,
        recorded_by=None,
    )


async def test_a_family_moves_grid_mid_month(sessions: SessionFactory) -> None:
    """Points earned stay where they were earned; the household counts once in the month;
    an open report stays with its grid; new reports go to the new grid."""
    async with unit_of_work(sessions) as session:
        v = await village(session)
        home = v.person("张三").household_id or 0
        await award(session, v, home, v.person("张三"), NOW, 5)
        open_report = await file(session, v.person("张三"), NOW)
        worker_a = await org.load_actor(session, v.person("王网格员"))
        moved = await org.move_household(session, worker_a, home, v.grid("二网格").id or 0, NOW)
        assert moved.grid_id == v.grid("二网格").id
        await award(session, v, home, v.person("张三"), NOW + timedelta(days=2), 3)
        new_report = await file(session, v.person("张三"), NOW + timedelta(days=2))
        assert (await session.get(Task, open_report)).grid_id == v.grid("一网格").id  # type: ignore[union-attr]
        assert (await session.get(Task, new_report)).grid_id == v.grid("二网格").id  # type: ignore[union-attr]
        board = await points.leaderboard(session, v.village_id, NOW + timedelta(days=3), TZ)
        assert [(r.household_id, r.points) for r in board] == [(home, 8)]
        lists = await points.praise_list(session, v.village_id, "2026-11", TZ)
        assert [g.households for g in lists.grids if g.points] == [1]
        # A resident moves on to a household of their own: old points stay, new ones follow.
        neighbour = (
            await session.exec(
                select(Membership).where(Membership.person_id == v.person("赵六").id)
            )
        ).one()
        result = await org.move_resident(
            session,
            await org.load_actor(session, v.person("村管理员")),
            neighbour.id or 0,
            grid_id=v.grid("一网格").id,
            household_label="5组 1号",
            now=NOW,
        )
        assert result.from_household.id == home and result.view.grid.id == v.grid("一网格").id
        assert (
            await session.get(Person, v.person("赵六").id)
        ).household_id == result.view.household.id  # type: ignore[union-attr]
        new_home = result.view.household.id or 0
        await award(session, v, new_home, v.person("赵六"), NOW + timedelta(days=2), 2)
        board = await points.leaderboard(session, v.village_id, NOW + timedelta(days=3), TZ)
        assert [(r.household_id, r.points) for r in board] == [(home, 8), (new_home, 2)]


async def open_vote(session: AsyncSession, v: BuiltVillage, group: int) -> tuple[int, list[int]]:
    admin = await org.load_actor(session, v.person("村管理员"))
    await votes.set_rule(session, admin, v.village_id, per_household=True, now=NOW)
    session.add(BoundChat(chat_id=group, village_id=v.village_id))
    await session.flush()
    vote = await votes.create_vote(
        session,
        admin,
        village_id=v.village_id,
        question="修路吗？",
        options=["同意", "不同意"],
        deadline=NOW + timedelta(days=3),
        secret=False,
        quorum_percent=None,
        now=NOW,
    )
    return vote.id or 0, [o.id or 0 for o in await votes.options_of(session, vote.id or 0)]


async def test_two_households_merge(sessions: SessionFactory) -> None:
    """One line in the month's list, one vote in a per-household vote: the later ballot."""
    async with unit_of_work(sessions) as session:
        v = await village(session)
        keep = v.person("张三").household_id or 0
        # The neighbour had typed the same home differently.
        twin = Household(grid_id=v.grid("一网格").id or 0, label="三组十二号")
        session.add(twin)
        await session.flush()
        m = (
            await session.exec(
                select(Membership).where(Membership.person_id == v.person("赵六").id)
            )
        ).one()
        m.household_id = twin.id or 0
        v.person("赵六").household_id = twin.id
        session.add_all([m, v.person("赵六")])
        await session.flush()
        await award(session, v, keep, v.person("张三"), NOW, 4)
        await award(session, v, twin.id or 0, v.person("赵六"), NOW, 6)
        group = -5_400_000 - next(_bases)
        vote_id, options = await open_vote(session, v, group)
        assert await votes.eligible_count(session, await votes.get_vote(session, vote_id)) == 2
        for who, option, at in (
            (v.person("张三"), 0, NOW),
            (v.person("赵六"), 1, NOW + timedelta(hours=1)),
        ):
            await votes.cast(
                session,
                await org.load_actor(session, who),
                vote_id=vote_id,
                option_id=options[option],
                chat_id=group,
                now=at,
            )
        merged = await org_changes.merge_households(
            session, await org.load_actor(session, v.person("王网格员")), keep, twin.id or 0, NOW
        )
        assert merged.entries_moved == 1 and merged.ballots_removed == 1
        vote = await votes.get_vote(session, vote_id)
        assert await votes.eligible_count(session, vote) == 1
        assert await votes.tally(session, vote_id) == {options[1]: 1}  # the later ballot
        board = await points.leaderboard(session, v.village_id, NOW, TZ)
        assert [(r.household_id, r.points) for r in board] == [(keep, 10)]
        assert [h.id for h in await org.households_of(session, v.grid("一网格").id or 0)] == [keep]
        # The old label leads to the kept household.
        found = await org.household_in_grid(session, v.grid("一网格").id or 0, twin.id or 0)
        assert found.id == keep
        with pytest.raises(Exception, match="no longer exists"):
            await org_changes.merge_households(
                session,
                await org.load_actor(session, v.person("村管理员")),
                keep,
                twin.id or 0,
                NOW,
            )


async def test_a_household_splits_and_is_renamed(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        home = v.person("张三").household_id or 0
        admin = await org.load_actor(session, v.person("村管理员"))
        m = (
            await session.exec(
                select(Membership).where(Membership.person_id == v.person("赵六").id)
            )
        ).one()
        new = await org.split_household(session, admin, home, "3组 12号之一", [m.id or 0], NOW)
        assert (await session.get(Person, v.person("赵六").id)).household_id == new.id  # type: ignore[union-attr]
        with pytest.raises(RuleError, match="merge"):
            await org.rename_household(session, admin, home, "3组12号之一", NOW)
        renamed = await org.rename_household(session, admin, home, "3组 12号（张家）", NOW)
        assert renamed.label == "3组 12号（张家）"  # Chinese brackets stay as typed


async def test_a_person_who_left_is_not_told_nor_counted(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        task_id = await file(session, v.person("张三"), NOW)
        m = (
            await session.exec(
                select(Membership).where(Membership.person_id == v.person("张三").id)
            )
        ).one()
        group = -5_400_000 - next(_bases)
        vote_id, _options = await open_vote(session, v, group)
        vote = await votes.get_vote(session, vote_id)
        assert {p.id for p in await votes.non_voters(session, vote)} == {
            v.person("张三").id,
            v.person("赵六").id,
        }
        view = await org.mark_departed(
            session,
            await org.load_actor(session, v.person("王网格员")),
            m.id or 0,
            LeftReason.MOVED_AWAY,
            NOW,
        )
        assert view.membership.status == MembershipStatus.LEFT
        assert view.membership.left_reason == LeftReason.MOVED_AWAY
        assert {p.id for p in await votes.non_voters(session, vote)} == {v.person("赵六").id}
        task = await reports.task_view(session, task_id)
        assert await reports.interested(session, task) == []
        audience = await reports.notice_audience(
            session,
            await org.load_actor(session, v.person("王网格员")),
            v.village_id,
            v.grid("一网格").id,
            NOW,
        )
        assert [p.id for p in audience.residents] == [v.person("赵六").id]
        # They may join again with a new invite; their history stays.
        link = await org.create_grid_invite(
            session,
            await org.load_actor(session, v.person("村管理员")),
            v.grid("二网格").id or 0,
            NOW,
        )
        again = await org.request_membership(
            session,
            v.person("张三"),
            invite_code=link.code,
            full_name="张三",
            household_id=None,
            household_label="二组 1号",
            phone=None,
            now=NOW,
        )
        assert again.status == MembershipStatus.PENDING
        assert (await session.get(Task, task_id)).reporter_id == v.person("张三").id  # type: ignore[union-attr]
        # The neighbour leaves by themself.
        await org.leave_village(session, v.person("赵六"), NOW)
        with pytest.raises(Exception, match="not joined"):
            await org.leave_village(session, v.person("赵六"), NOW)


async def test_tenants_take_part_as_residents_by_default(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        m = (
            await session.exec(
                select(Membership).where(Membership.person_id == v.person("赵六").id)
            )
        ).one()
        m.tenant = True
        session.add(m)
        group = -5_400_000 - next(_bases)
        vote_id, options = await open_vote(session, v, group)
        tenant = await org.load_actor(session, v.person("赵六"))
        assert tenant.residence is not None and tenant.residence.tenant
        with pytest.raises(NotAllowed, match="tenants"):
            await votes.cast(
                session, tenant, vote_id=vote_id, option_id=options[0], chat_id=group, now=NOW
            )
        vote = await votes.get_vote(session, vote_id)
        assert {p.id for p in await votes.non_voters(session, vote)} == {v.person("张三").id}
        await points.ensure_catalogue(session, v.village_id)
        item = (
            await session.exec(select(PointItem).where(PointItem.village_id == v.village_id))
        ).first()
        with pytest.raises(NotAllowed, match="tenants"):
            await points.make_claim(
                session,
                tenant,
                item.id or 0,
                note="扫雪",
                photo_file_id="x",
                now=NOW,
                tz=TZ,  # type: ignore[union-attr]
            )
        admin = await org.load_actor(session, v.person("村管理员"))
        await org.set_tenant_rule(session, admin, v.village_id, vote=True, earn=True, now=NOW)
        cast = await votes.cast(
            session, tenant, vote_id=vote_id, option_id=options[0], chat_id=group, now=NOW
        )
        assert not cast.changed


async def test_audit_pages_newest_first_by_person_and_kind(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        v = await village(session)
        admin = await org.load_actor(session, v.person("村管理员"))
        for _n in range(12):
            await org.create_grid_invite(session, admin, v.grid("一网格").id or 0, NOW)
        m = (
            await session.exec(
                select(Membership).where(Membership.person_id == v.person("赵六").id)
            )
        ).one()
        await org.mark_departed(session, admin, m.id or 0, LeftReason.DECEASED, NOW)
        await file(session, v.person("张三"), NOW)
        first, more = await audit.page(session, v.village_id, limit=5)
        assert more and first[0].action == "task.report"
        assert first[1].action == "membership.deceased"
        ids = [e.id for e in first]
        assert ids == sorted(ids, reverse=True)
        rows, _more = await audit.page(session, v.village_id, kind="membership", limit=50)
        assert {e.action for e in rows} == {"membership.deceased", "grid.invite"}
        rows, more = await audit.page(
            session, v.village_id, person_id=v.person("赵六").id, limit=50
        )
        assert [e.action for e in rows] == ["membership.deceased"] and not more
        second, _more = await audit.page(session, v.village_id, offset=5, limit=5)
        assert second[0].id < first[-1].id  # type: ignore[operator]


async def test_per_worker_figures_for_a_month(sessions: SessionFactory) -> None:
    start = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 2026-11 in Shanghai
    end = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    async with unit_of_work(sessions) as session:
        v = await village(session)
        for row in (
            await session.exec(
                select(RoleAssignment).where(RoleAssignment.village_id == v.village_id)
            )
        ).all():
            row.granted_at = start - timedelta(days=40)
            session.add(row)
        wang = await org.load_actor(session, v.person("王网格员"))
        li = await org.load_actor(session, v.person("李网格员"))
        t1 = await file(session, v.person("张三"), NOW)  # accepted in 2 h, resolved in 10 h
        await reports.accept(session, wang, t1, NOW + timedelta(hours=2))
        await reports.resolve(session, wang, t1, "好了", NOW + timedelta(hours=10))
        t2 = await file(session, v.person("张三"), NOW + timedelta(days=1))  # accepted late (30 h)
        await reports.accept(session, wang, t2, NOW + timedelta(days=1, hours=30))
        await reports.resolve(session, wang, t2, "好了", NOW + timedelta(days=2, hours=20))
        await file(session, v.person("张三"), datetime(2026, 12, 2, tzinfo=UTC))  # next month
        await reports.notice_audience(session, wang, v.village_id, v.grid("一网格").id, NOW)
        figures = {
            f.person.id: f
            for f in await reports.worker_figures(
                session,
                await org.load_actor(session, v.person("村管理员")),
                v.village_id,
                start,
                end,
            )
        }
        w = figures[v.person("王网格员").id]
        assert (w.received, w.accepted, w.accepted_in_time) == (2, 2, 1)
        assert (w.resolved, w.resolved_in_time, w.notices) == (2, 2, 1)
        assert w.median_accept_hours == 16 and w.median_resolve_hours == 27
        other = figures[v.person("李网格员").id]
        assert (other.received, other.accepted, other.notices) == (0, 0, 0)
        with pytest.raises(NotAllowed):
            await reports.worker_figures(session, li, v.village_id, start, end)


async def test_ending_a_role_is_told_to_the_other_processes(sessions: SessionFactory) -> None:
    """The write that ends a role is what every process forgets (through Redis when there are
    several: tests/test_profiles.py shows the message travel)."""
    heard: list[tuple[set[int], set[int]]] = []

    def hear(telegram_ids: set[int], person_ids: set[int]) -> None:
        heard.append((set(telegram_ids), set(person_ids)))

    async with unit_of_work(sessions) as session:
        v = await village(session)
        row = await assignment(session, v.person("王网格员"), Role.GRID_WORKER)
    profiles.publish.append(hear)
    try:
        async with unit_of_work(sessions) as session:
            await org_changes.end_role(
                session, await org.load_actor(session, v.person("村管理员")), row, "调岗", NOW
            )
    finally:
        profiles.publish.remove(hear)
    assert any(
        profiles.EVERYONE in telegram_ids or v.person("王网格员").id in person_ids
        for telegram_ids, person_ids in heard
    ), heard
