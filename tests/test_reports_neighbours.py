"""What neighbours reported, on SQLite and PostgreSQL: the grid's list (open and recently
fixed, anonymous reporters never named, pages, 关注 checked again), the duplicate hint (its
threshold measured on realistic pairs; never another grid's or village's report; a voice note
by kind and place), following instead of filing counted once in /gridstats, who may turn on the
weekly post, and the weekly 报事进展 job (off by default, once a week, missed weeks caught up,
anonymous reporters never named)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from schedules import reports_progress
from schedules.runtime import Runtime
from storage import jobs as job_runs
from storage import reports
from storage import reports_neighbours as neighbours
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, RuleError
from storage.models.org import MembershipStatus, Role
from storage.models.reports import FollowedInstead, Task, TaskFollower
from storage.permissions.org import Actor, Residence, RoleHeld
from storage.permissions.reports import ReportPermissions
from tests.village_builder import BuiltVillage, VillagePlan, outbox_texts
from views.i18n import PoI18n

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai

# Realistic pairs (filed, typed again, same kind?, the same problem?), the measure of the
# threshold: the same problem scores 50–77 on its characters, another one 0–44.
PAIRS = [
    ("村东桥头路灯不亮了", "桥头的路灯坏了", True, True),
    ("村口路灯坏了", "村口的灯不亮", True, True),
    ("3组垃圾桶满了没人清", "三组的垃圾桶满了好几天", True, True),
    ("小学门口下水道堵了，污水漫到路上", "学校门口下水道堵了", True, True),
    ("村西水渠漏水", "西边水渠漏水了", True, True),
    ("5号楼前井盖丢了", "五号楼门口井盖没了很危险", True, True),
    ("桥头护栏断了，晚上很危险", "桥头的护栏坏了", True, True),
    ("村东桥头路灯不亮了", "桥头的路灯坏了", False, True),  # another kind picked: words carry it
    ("村西水渠漏水", "西边水渠漏水了", False, True),
    ("村东桥头路灯不亮了", "垃圾桶满了没人清", True, False),
    ("村东桥头路灯不亮了", "村东小卖部门口有积水", True, False),
    ("村东桥头路灯不亮了", "邻居家狗晚上一直叫", False, False),
    ("村东桥头路灯不亮了", "桥头护栏断了", True, False),
    ("村口路灯坏了", "村口有人乱倒垃圾", True, False),
    ("3组垃圾桶满了没人清", "3组有老人需要帮忙买药", False, False),
    ("小学门口下水道堵了", "小学门口车停得太乱", True, False),
    ("村西水渠漏水", "村西的路坑坑洼洼", True, False),
]


@pytest.mark.parametrize(("filed", "typed", "same_kind", "same"), PAIRS)
def test_the_hint_threshold_on_realistic_pairs(
    filed: str, typed: str, same_kind: bool, same: bool
) -> None:
    task = Task(village_id=1, grid_id=1, number="R-1", category_id=3, description=filed)
    score = neighbours.likeness(category_id=3 if same_kind else 4, text=typed, place="", task=task)
    assert (score >= neighbours.HINT_THRESHOLD) is same, score


def test_a_place_that_meets_weighs_in_and_a_voice_note_needs_kind_and_place() -> None:
    task = Task(
        village_id=1,
        grid_id=1,
        number="R-1",
        category_id=3,
        description="晚上黑乎乎的",
        location="村东桥头",
    )
    without = neighbours.likeness(category_id=3, text="晚上那边太黑了", place="", task=task)
    with_place = neighbours.likeness(
        category_id=3, text="晚上那边太黑了", place="东桥头", task=task
    )
    assert with_place == without + neighbours.PLACE_WEIGHT
    spoken = neighbours.likeness(category_id=3, text="", place="村东桥头", task=task)
    assert spoken >= neighbours.HINT_THRESHOLD
    assert neighbours.likeness(category_id=4, text="", place="村东桥头", task=task) == 0
    assert neighbours.likeness(category_id=3, text="", place="村西水渠", task=task) == 0


def test_the_permissions_of_the_grids_list_and_the_weekly_post() -> None:
    """Pure checks: following from the list or the hint keeps to the person's own grid; the
    weekly post is for the village's admins and the grid's own workers."""
    task = Task(village_id=1, grid_id=10, number="R-1", reporter_id=99)
    home = Actor(1, 10, residence=Residence(1, 1, 10, 1, MembershipStatus.APPROVED))
    next_grid = Actor(2, 20, residence=Residence(2, 1, 11, 2, MembershipStatus.APPROVED))
    other_village = Actor(3, 30, residence=Residence(3, 2, 10, 3, MembershipStatus.APPROVED))
    waiting = Actor(4, 40, residence=Residence(4, 1, 10, 1, MembershipStatus.PENDING))
    assert ReportPermissions.can_follow_in_grid(home, task)
    for someone in (next_grid, other_village, waiting):
        assert not ReportPermissions.can_follow_in_grid(someone, task)
    assert not ReportPermissions.can_see_grid_reports(waiting)
    worker = Actor(5, 50, roles=frozenset({RoleHeld(Role.GRID_WORKER, 1, 10)}))
    admin = Actor(6, 60, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 1)}))
    assert ReportPermissions.can_set_weekly_post(worker, 1, 10)
    assert not ReportPermissions.can_set_weekly_post(worker, 1, 11)
    assert ReportPermissions.can_set_weekly_post(admin, 1, 11)
    assert not ReportPermissions.can_set_weekly_post(admin, 2, 20)
    assert not ReportPermissions.can_set_weekly_post(home, 1, 10)


def neighbours_plan(name: str, *, now: datetime, base: int | None = None) -> VillagePlan:
    """Two grids; 一网格 has a worker, three approved residents in two households and one
    pending, and a group; 二网格 one resident. The stories use it too."""
    return (
        VillagePlan(name, base=base, now=now)
        .grid("一网格", "二网格")
        .household("3组 12号", grid="一网格")
        .household("3组 8号", grid="一网格")
        .household("5组 1号", grid="二网格")
        .admin("村管理员")
        .worker("王网格员", grid="一网格")
        .worker("李网格员", grid="二网格")
        .resident("张三", home="3组 12号")
        .resident("赵六", home="3组 8号")
        .resident("周九", home="3组 8号")
        .resident("钱七", home="5组 1号")
        .resident("孙八", home="3组 8号", status=MembershipStatus.PENDING)
        .group("一网格群", grid="一网格")
    )


def plan() -> VillagePlan:
    return neighbours_plan("邻里村{base}", now=NOW - timedelta(days=60)).group(
        "二网格群", grid="二网格"
    )


async def build(sessions: SessionFactory) -> tuple[BuiltVillage, BuiltVillage]:
    async with unit_of_work(sessions) as session:
        v = await plan().build(session)
        elsewhere = await (
            VillagePlan("别的村{base}", now=NOW - timedelta(days=60))
            .grid("一网格")
            .household("1号", grid="一网格")
            .resident("外村人", home="1号")
            .build(session)
        )
    return v, elsewhere


async def actor(sessions: SessionFactory, v: BuiltVillage, name: str) -> Actor:
    async with sessions() as session:
        return await v.load_actor(session, name)


async def file_view(
    sessions: SessionFactory,
    v: BuiltVillage,
    who: str,
    description: str,
    *,
    kind: str = "roads",
    place: str = "",
    anonymous: bool = False,
    now: datetime = NOW,
) -> reports.TaskView:
    """`who` files a report of the kind `kind` (its code); the stories use it too."""
    async with unit_of_work(sessions) as session:
        reporter = await v.load_actor(session, who)
        category = next(
            c for c in await reports.categories(session, v.village_id) if c.code == kind
        )
        return await reports.file_report(
            session,
            reporter,
            category_id=category.id or 0,
            description=description,
            location=place,
            anonymous=anonymous,
            now=now,
        )


async def file(
    sessions: SessionFactory, v: BuiltVillage, who: str, description: str, **options: Any
) -> int:
    return (await file_view(sessions, v, who, description, **options)).id


async def kind_id(sessions: SessionFactory, v: BuiltVillage, code: str) -> int:
    async with sessions() as session:
        found = await reports.categories(session, v.village_id)
        return next(c.id or 0 for c in found if c.code == code)


async def hints(
    sessions: SessionFactory, v: BuiltVillage, who: str, text: str, *, kind: str = "roads"
) -> list[str]:
    category_id = await kind_id(sessions, v, kind)
    async with sessions() as session:
        found = await neighbours.similar_open_reports(
            session,
            await v.load_actor(session, who),
            category_id=category_id,
            text=text,
            place="",
            now=NOW,
            tz=SHANGHAI,
        )
    return [h.task.description for h in found]


async def test_the_hint_finds_the_same_problem_of_the_grid_only(
    sessions: SessionFactory,
) -> None:
    v, elsewhere = await build(sessions)
    lamp = await file(sessions, v, "张三", "村东桥头路灯不亮了", place="村东桥头")
    await file(sessions, v, "张三", "村西水渠漏水", kind="environment")
    # The very same words in another grid and in another village: never shown.
    await file(sessions, v, "钱七", "村东桥头路灯不亮了，桥头的路灯坏了")
    other_village_lamp = await file(sessions, elsewhere, "外村人", "桥头的路灯坏了")

    assert await hints(sessions, v, "赵六", "桥头的路灯坏了") == ["村东桥头路灯不亮了"]
    assert await hints(sessions, v, "赵六", "邻居家狗晚上一直叫", kind="dispute") == []
    assert await hints(sessions, v, "张三", "桥头的路灯坏了") == []  # their own is not hinted
    # 钱七's grid has only 钱七's own report; grid A's lamp and the other village's stay apart.
    assert await hints(sessions, v, "钱七", "桥头的路灯坏了") == []
    assert await hints(sessions, elsewhere, "外村人", "村东桥头路灯不亮了") == []

    # Followed instead of filing: once, counted in the month's figures of grid A.
    async with unit_of_work(sessions) as session:
        zhao = await v.load_actor(session, "赵六")
        view = await neighbours.follow_instead(session, zhao, lamp, NOW)
    assert view.task.id == lamp
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await neighbours.follow_instead(
                session, await v.load_actor(session, "赵六"), lamp, NOW
            )
    assert await hints(sessions, v, "赵六", "桥头的路灯坏了") == []  # followed: not again
    # Another grid's or village's report cannot be followed this way, a forged press or not.
    with pytest.raises(NotAllowed):
        async with unit_of_work(sessions) as session:
            await neighbours.follow_instead(
                session, await v.load_actor(session, "钱七"), lamp, NOW
            )
    with pytest.raises(NotAllowed):
        async with unit_of_work(sessions) as session:
            await neighbours.follow_instead(
                session, await v.load_actor(session, "赵六"), other_village_lamp, NOW
            )
    async with sessions() as session:
        rows = (await session.exec(select(FollowedInstead))).all()
        figures = await reports.grid_figures(
            session,
            await v.load_actor(session, "村管理员"),
            v.village_id,
            NOW - timedelta(days=1),
            NOW + timedelta(days=1),
            NOW,
        )
    assert [(r.task_id, r.person_id) for r in rows] == [(lamp, v.person("赵六").id)]
    avoided = {f.grid.name: f.avoided for f in figures}
    assert avoided == {"一网格": 1, "二网格": 0}


async def test_the_grids_list_names_no_anonymous_reporter_and_keeps_to_recent(
    sessions: SessionFactory,
) -> None:
    v, _elsewhere = await build(sessions)
    named = await file(sessions, v, "张三", "村东桥头路灯不亮了", now=NOW - timedelta(days=3))
    hidden = await file(
        sessions, v, "周九", "有人往河里倒垃圾", kind="environment", anonymous=True
    )
    await file(sessions, v, "钱七", "二网格的事")
    fixed_lately = await file(sessions, v, "张三", "井盖丢了", now=NOW - timedelta(days=20))
    fixed_long_ago = await file(sessions, v, "张三", "树倒了", now=NOW - timedelta(days=40))
    rejected = await file(sessions, v, "张三", "不是问题")
    async with unit_of_work(sessions) as session:
        wang = await v.load_actor(session, "王网格员")
        for task_id, when in (
            (fixed_lately, NOW - timedelta(days=13)),
            (fixed_long_ago, NOW - timedelta(days=15)),
        ):
            await reports.accept(session, wang, task_id, when)
            await reports.resolve(session, wang, task_id, "修好了", when)
        await reports.reject(session, wang, rejected, "不归网格管", NOW)

    async with sessions() as session:
        zhao = await v.load_actor(session, "赵六")
        result = await neighbours.grid_reports(session, zhao, NOW, SHANGHAI)
    shown = {item.id: item for item in result.items}
    assert list(shown) == [hidden, named, fixed_lately]  # open (newest first), then fixed
    assert (result.open_count, result.fixed_count) == (2, 1)
    assert shown[hidden].reporter_name is None and shown[named].reporter_name == "张三"
    assert shown[named].days == 3 and shown[hidden].days == 0
    assert shown[fixed_lately].days == 7 and not shown[fixed_lately].can_follow
    assert shown[named].can_follow

    # A pending resident sees nothing (the handler says what to do next).
    with pytest.raises(NotAllowed):
        async with sessions() as session:
            pending = await v.load_actor(session, "孙八")
            await neighbours.grid_reports(session, pending, NOW, SHANGHAI)

    # 关注 is checked on arrival: followed once, then "already"; a finished one refused.
    async with unit_of_work(sessions) as session:
        zhao = await v.load_actor(session, "赵六")
        await neighbours.follow_from_list(session, zhao, named, NOW)
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await neighbours.follow_from_list(
                session, await v.load_actor(session, "赵六"), named, NOW
            )
    with pytest.raises(RuleError):
        async with unit_of_work(sessions) as session:
            await neighbours.follow_from_list(
                session, await v.load_actor(session, "赵六"), fixed_lately, NOW
            )
    async with sessions() as session:
        followers = (
            await session.exec(select(TaskFollower).where(TaskFollower.task_id == named))
        ).all()
        result = await neighbours.grid_reports(
            session, await v.load_actor(session, "赵六"), NOW, SHANGHAI
        )
    assert [f.person_id for f in followers] == [v.person("赵六").id]
    assert {i.id: i.followed for i in result.items}[named] is True


async def test_a_long_list_comes_in_pages(sessions: SessionFactory) -> None:
    v, _elsewhere = await build(sessions)
    for n in range(neighbours.PAGE_SIZE + 2):
        await file(sessions, v, "张三", f"第{n}件事", now=NOW - timedelta(hours=n))
    async with sessions() as session:
        zhao = await v.load_actor(session, "赵六")
        first = await neighbours.grid_reports(session, zhao, NOW, SHANGHAI)
        second = await neighbours.grid_reports(session, zhao, NOW, SHANGHAI, page=1)
        beyond = await neighbours.grid_reports(session, zhao, NOW, SHANGHAI, page=9)
    assert first.pages == second.pages == 2
    assert [i.task.description for i in first.items][0] == "第0件事"
    assert [i.task.description for i in second.items] == ["第5件事", "第6件事"]
    assert beyond.page == 1


async def test_who_may_turn_on_the_weekly_post(sessions: SessionFactory) -> None:
    v, _elsewhere = await build(sessions)
    grid_a = v.grid("一网格").id or 0
    for name in ("张三", "李网格员"):  # a resident; another grid's worker
        with pytest.raises(NotAllowed):
            async with unit_of_work(sessions) as session:
                await neighbours.set_weekly_post(
                    session, await v.load_actor(session, name), grid_a, True, NOW
                )
    async with unit_of_work(sessions) as session:
        wang = await v.load_actor(session, "王网格员")
        assert [c.grid.name for c in await neighbours.post_choices(session, wang)] == ["一网格"]
        await neighbours.set_weekly_post(session, wang, grid_a, True, NOW)
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await neighbours.set_weekly_post(
                session, await v.load_actor(session, "村管理员"), grid_a, True, NOW
            )
    async with unit_of_work(sessions) as session:
        admin = await v.load_actor(session, "村管理员")
        choices = await neighbours.post_choices(session, admin)
        assert [(c.grid.name, c.enabled, c.groups) for c in choices] == [
            ("一网格", True, 1),
            ("二网格", False, 1),
        ]
        await neighbours.set_weekly_post(session, admin, grid_a, False, NOW)
        assert await neighbours.posts_on(session) == []


def progress_runtime(sessions: SessionFactory) -> Runtime:
    PoI18n().activate()
    return Runtime(sessions, Clock(), SHANGHAI, jobs={reports_progress.NAME: reports_progress.JOB})


async def test_the_weekly_post_is_off_by_default_then_posted_once_a_week(
    sessions: SessionFactory,
) -> None:
    v, _elsewhere = await build(sessions)
    group_a, group_b = v.group("一网格群"), v.group("二网格群")
    # Week 47 (16–22 November): one named, one anonymous, one fixed; a late one from before.
    late = await file(
        sessions, v, "张三", "桥下电线垂下来了", kind="hazard", now=NOW - timedelta(days=9)
    )
    lamp = await file(sessions, v, "张三", "村东桥头路灯不亮了", place="村东桥头")
    river = await file(sessions, v, "周九", "有人往河里倒垃圾", kind="other", anonymous=True)
    fixed = await file(
        sessions, v, "周九", "井盖丢了", anonymous=True, now=NOW - timedelta(days=12)
    )
    async with unit_of_work(sessions) as session:
        wang = await v.load_actor(session, "王网格员")
        for task_id in (lamp, river):  # accepted in time: open, not late
            await reports.accept(session, wang, task_id, NOW)
        await reports.accept(session, wang, fixed, NOW)
        await reports.resolve(session, wang, fixed, "补上了", NOW + timedelta(hours=1))
    runtime = progress_runtime(sessions)
    monday = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai

    assert await runtime.run(reports_progress.NAME, at=monday) == {}  # off by default
    assert await outbox_texts(sessions, group_a) == []

    async with unit_of_work(sessions) as session:
        await neighbours.set_weekly_post(
            session, await v.load_actor(session, "王网格员"), v.grid("一网格").id or 0, True, NOW
        )
    period = f"2026-W47/g{v.grid('一网格').id}"
    assert await runtime.run(reports_progress.NAME, at=monday) == {period: 1}
    assert await runtime.run(reports_progress.NAME, at=monday + timedelta(hours=2)) == {}
    [post] = await outbox_texts(sessions, group_a)
    assert "一网格报事进展（第47周（11月16日—11月22日））" in post
    assert "本周新报 2 件" in post and "村东桥头路灯不亮了" in post and "张三" in post
    assert "本周修好 1 件" in post and "井盖丢了" in post
    assert "截至11月23日还在办的 3 件，其中超时 1 件" in post and "⚠" in post
    assert "周九" not in post  # anonymous: never named
    assert await outbox_texts(sessions, group_b) == []  # the other grid did not turn it on
    del late

    # Down from the 23rd to 15 December: weeks 48 to 50 are caught up, none twice; what is
    # still open is told once, with the latest; week 49, with nothing new, stays quiet.
    await file(sessions, v, "张三", "篮球架歪了", now=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    later = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    caught_up = await runtime.run(reports_progress.NAME, at=later)
    assert sorted(caught_up) == [period.replace("W47", "W48"), period.replace("W47", "W50")]
    async with sessions() as session:
        assert await job_runs.ran(session, reports_progress.NAME, period.replace("W47", "W49"))
    texts = await outbox_texts(sessions, group_a)
    assert len(texts) == 3
    assert "第48周" in texts[1] and "篮球架歪了" in texts[1] and "还在办" not in texts[1]
    assert "第50周" in texts[2] and "截至12月15日还在办的 4 件，其中超时 4 件" in texts[2]
    assert all("周九" not in text for text in texts)
    assert await runtime.run(reports_progress.NAME, at=later + timedelta(hours=1)) == {}
