"""A village over the years, end to end through the fake Bot API: a grid worker's role ends
and their open tasks move to a colleague, who closes one (the old card's buttons refused at
once); a family moves from grid 1 to grid 2 mid-month (the month's list and a per-household
vote stay right); two households typed differently are merged (one line, the later ballot);
a tenant joins; /audit shows all of it; the per-worker figures follow the month's work."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from sandbox.bot_api import SentMessage
from storage import org, points, reports, votes
from storage.db import unit_of_work
from storage.errors import AlreadyDone
from storage.models.org import (
    BoundChat,
    Household,
    Membership,
    Person,
    Role,
    RoleAssignment,
    WorkerKind,
)
from storage.models.points import EntryKind, PointItem
from storage.models.reports import Task, TaskStatus
from tests.harness import Talker, World
from tests.village_builder import lone_person, report_village

BASE = 5_600_000
TZ = ZoneInfo("Asia/Shanghai")


async def tap_data(talker: Talker, message: SentMessage, prefix: str, **kw: object) -> SentMessage:
    text = next(t for t, d in message.button_data().items() if d.startswith(prefix))
    return await talker.tap(message, text, **kw)  # type: ignore[arg-type]


def has(text: str) -> object:
    return lambda m: text in (m.text or m.caption or "")


async def test_a_village_over_the_years(world: World) -> None:
    fake, clock = world.fake, world.clock
    now = clock.now()
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, now - timedelta(days=40), BASE)
        chen = await lone_person(session, BASE + 6, "陈网格员")
        session.add(
            RoleAssignment(
                person_id=chen.id or 0,
                village_id=v.village_id,
                role=Role.GRID_WORKER,
                grid_id=v.grid("一网格").id,
                worker_kind=WorkerKind.PART_TIME,
            )
        )
        await session.flush()
        for row in (
            await session.exec(
                select(RoleAssignment).where(RoleAssignment.village_id == v.village_id)
            )
        ).all():
            row.granted_at = now - timedelta(days=40)
            session.add(row)
        resident_actor = await org.load_actor(session, v.person("张三"))
        category = (await reports.categories(session, v.village_id))[0]
        numbers = []
        for text in ("路灯坏了", "井盖松了"):
            view = await reports.file_report(
                session, resident_actor, category_id=category.id or 0, description=text, now=now
            )
            await reports.accept(
                session, await org.load_actor(session, v.person("王网格员")), view.id, now
            )
            numbers.append(view.task.number)
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    wang = world.person(v.person("王网格员").telegram_id, "Wang")
    colleague = world.person(chen.telegram_id, "Chen")
    zhang = world.person(v.person("张三").telegram_id, "Zhang")

    # Wang's cards, before his role ends.
    await wang.say("/tasks", expect="任务")
    card = await fake.wait_for_message(
        wang.id, lambda m: numbers[0] in (m.text or "") and bool(m.buttons())
    )

    # /roles: the admin ends Wang's role, with a reason; the confirmation says where the tasks go.
    listing = await admin.say("/roles", expect="现任职务")
    await admin.tap(listing, next(t for t in listing.buttons() if "王网格员" in t), expect="原因")
    review = await admin.say("调岗")
    assert "王网格员的 2 个任务将转给一网格的其他网格员" in (review.text or ""), review.text
    mark = fake.mark()
    done = await admin.tap(review, "✔ 结束职务", expect="已办好")
    assert "2 个任务" in (done.text or "")
    told = await fake.wait_for_message(wang.id, has("职务已结束"), after=mark)
    assert "调岗" in (told.text or "")
    passed = await fake.wait_for_message(colleague.id, has(numbers[0]), after=mark)
    assert "转给您的任务" in (passed.text or "")

    # The old card's buttons stop working at once.
    toast = await wang.tap_for_toast(card, next(iter(card.buttons())))
    assert "网格员" in toast and "村管理员" in toast, toast
    # The last admin cannot be removed.
    listing = await admin.say("/roles", expect="现任职务")
    await admin.tap(
        listing, next(t for t in listing.buttons() if "村管理员" in t and "✖" in t), expect="原因"
    )
    last = await admin.say("换届", expect="结束这个职务")
    toast = await admin.tap_for_toast(last, "✔ 结束职务")
    assert "最后一位管理员" in toast, toast
    async with world.app.sessions() as session:
        assert await org.village_admins(session, v.village_id)
    await admin.say("/cancel")

    # Chen accepts and resolves one of them.
    accepted = await tap_data(colleague, passed, "ta:acc:", expect="陈网格员")
    await tap_data(colleague, accepted, "ta:res:", expect="做了哪些处理")
    photo_prompt = await colleague.say("已更换灯泡", expect="不发照片")
    await tap_data(colleague, photo_prompt, "fl:nophoto", expect=numbers[0])
    async with world.app.sessions() as session:
        task = (
            await session.exec(
                select(Task).where(Task.village_id == v.village_id, Task.number == numbers[0])
            )
        ).one()
        assert task.status == TaskStatus.RESOLVED and task.owner_id == chen.id

    # A family moves from grid 1 to grid 2 mid-month, with a per-household vote open.
    group = fake.group(-BASE, "报事村群")
    async with unit_of_work(world.app.sessions) as session:
        session.add(BoundChat(chat_id=group.id, village_id=v.village_id))
        admin_actor = await org.load_actor(session, v.person("村管理员"))
        await votes.set_rule(session, admin_actor, v.village_id, per_household=True, now=now)
        vote = await votes.create_vote(
            session,
            admin_actor,
            village_id=v.village_id,
            question="修路吗？",
            options=["同意", "不同意"],
            deadline=now + timedelta(days=5),
            secret=False,
            quorum_percent=None,
            now=now,
        )
        options = [o.id or 0 for o in await votes.options_of(session, vote.id or 0)]
        await points.ensure_catalogue(session, v.village_id)
        item = (
            await session.exec(select(PointItem).where(PointItem.village_id == v.village_id))
        ).first()
        home = v.person("张三").household_id or 0
        await points.add_entry(
            session,
            village_id=v.village_id,
            household_id=home,
            person_id=v.person("张三").id,
            item_id=item.id,  # type: ignore[union-attr]
            points=5,
            kind=EntryKind.AWARD,
            reason="扫雪",
            now=now,
            tz=TZ,
            recorded_by=None,
        )
        await votes.cast(
            session,
            await org.load_actor(session, v.person("张三")),
            vote_id=vote.id or 0,
            option_id=options[0],
            chat_id=group.id,
            now=now,
        )
    li = world.person(v.person("李网格员").telegram_id, "Li")
    households = await colleague.say("/households", expect="各户")
    card = await colleague.tap(households, "3组 12号", expect="居民")
    grids = await colleague.tap(card, "➡ 调整网格", expect="调到哪个网格")
    moved = await colleague.tap(grids, "二网格", expect="已办好")
    assert "现归二网格" in (moved.text or "")
    async with unit_of_work(world.app.sessions) as session:
        await points.add_entry(
            session,
            village_id=v.village_id,
            household_id=home,
            person_id=v.person("赵六").id,
            item_id=item.id,  # type: ignore[union-attr]
            points=3,
            kind=EntryKind.AWARD,
            reason="清理河道",
            now=now + timedelta(minutes=5),
            tz=TZ,
            recorded_by=None,
        )
        neighbour = await org.load_actor(session, v.person("赵六"))
        assert (
            neighbour.residence is not None and neighbour.residence.grid_id == v.grid("二网格").id
        )
        board = await points.leaderboard(session, v.village_id, now + timedelta(minutes=6), TZ)
        assert [(r.household_id, r.points) for r in board] == [(home, 8)]  # one line, both halves
        view = await votes.vote_view(session, vote.id or 0)
        assert view.eligible == 1 and sum(view.counts.values()) == 1
        try:  # the household voted before the move: its vote moved with it
            await votes.cast(
                session,
                neighbour,
                vote_id=vote.id or 0,
                option_id=options[1],
                chat_id=group.id,
                now=now + timedelta(minutes=6),
            )
            raise AssertionError("a second ballot for one household")
        except AlreadyDone:
            pass
    # A new report of the moved family goes to grid 2; Li (grid 2) now looks after them.
    households = await li.say("/households", expect="各户")
    assert "3组 12号" in " ".join(households.buttons())

    # Two households typed differently are merged: one line, one vote (the later ballot).
    async with unit_of_work(world.app.sessions) as session:
        twin = Household(grid_id=v.grid("二网格").id or 0, label="三组十二号")
        session.add(twin)
        await session.flush()
        lodger = await lone_person(session, BASE + 7, "孙七")
        session.add(
            Membership(
                person_id=lodger.id or 0,
                village_id=v.village_id,
                grid_id=v.grid("二网格").id or 0,
                household_id=twin.id or 0,
                status="approved",  # type: ignore[arg-type]
            )
        )
        lodger.household_id = twin.id
        session.add(lodger)
        await session.flush()
        await points.add_entry(
            session,
            village_id=v.village_id,
            household_id=twin.id or 0,
            person_id=lodger.id,
            item_id=item.id,  # type: ignore[union-attr]
            points=2,
            kind=EntryKind.AWARD,
            reason="义务巡逻",
            now=now + timedelta(minutes=7),
            tz=TZ,
            recorded_by=None,
        )
        await votes.cast(
            session,
            await org.load_actor(session, lodger),
            vote_id=vote.id or 0,
            option_id=options[1],
            chat_id=group.id,
            now=now + timedelta(minutes=8),
        )
    households = await li.say("/households", expect="各户")
    card = await li.tap(households, "三组十二号", expect="孙七")
    pick = await li.tap(card, "🔗 合并到……", expect="同一户")
    confirm = await li.tap(pick, "3组 12号", expect="不能撤回")
    merged = await li.tap(confirm, "✔ 合并", expect="已办好")
    assert "较晚的一票" in (merged.text or "")
    async with world.app.sessions() as session:
        board = await points.leaderboard(session, v.village_id, now + timedelta(minutes=9), TZ)
        assert [(r.household_id, r.points) for r in board] == [(home, 10)]
        view = await votes.vote_view(session, vote.id or 0)
        assert view.eligible == 1 and view.counts == {options[1]: 1}

    # The household splits: 孙七 gets a household of their own; the points stay.
    households = await li.say("/households", expect="各户")
    card = await li.tap(households, "3组 12号", expect="孙七")
    pick = await li.tap(card, "✂ 分户", expect="勾选")
    ticked = await li.tap(pick, "☐ 孙七", expect="勾选")
    label = await li.tap(ticked, "下一步 ▶", expect="户名")
    assert label.text
    await li.say("3组 12号之一", expect="已单独立户")
    async with world.app.sessions() as session:
        board = await points.leaderboard(session, v.village_id, now + timedelta(minutes=9), TZ)
        assert [(r.household_id, r.points) for r in board] == [(home, 10)]
        lodger_row = await session.get(Person, lodger.id)
        assert lodger_row is not None and lodger_row.household_id not in (home, twin.id)

    # A tenant joins: the review's tenant choice, then the grid's worker approves.
    async with unit_of_work(world.app.sessions) as session:
        link = await org.create_grid_invite(
            session,
            await org.load_actor(session, v.person("村管理员")),
            v.grid("一网格").id or 0,
            now,
        )
    tenant = world.person(BASE + 8, "Zhou")
    await tenant.say(f"/start g_{link.code}", expect="名字")
    households = await tenant.say("周八", expect="户")
    await tenant.tap(households, "➕")
    await tenant.say("租住 村东5号", expect="手机号")
    review = await tenant.say("跳过", expect="周八")
    review = await tenant.tap(review, "☐ 我是租户", expect="租户")
    assert "☑ 我是租户" in review.buttons()
    mark = fake.mark()
    await tenant.tap(review, "✔")
    push = await fake.wait_for_message(colleague.id, has("周八"), after=mark)
    await colleague.tap(push, "通过", expect="✔")
    async with world.app.sessions() as session:
        row = (
            await session.exec(
                select(Membership)
                .join(Person, Person.id == Membership.person_id)  # type: ignore[arg-type]
                .where(Person.telegram_id == tenant.id)
            )
        ).one()
        assert row.tenant and row.status == "approved"

    # The village lets tenants share their household's vote: /tenants.
    rule = await admin.say("/tenants", expect="租户")
    assert "参与所租住户的投票（每户一票时）：否" in (rule.text or "")
    changed = await admin.tap(rule, "修改：投票", expect="租户")
    assert "参与所租住户的投票（每户一票时）：是" in (changed.text or "")

    # /audit shows all of it, newest first, filtered by kind.
    trail = await admin.say("/audit", expect="操作记录")
    text = trail.text or ""
    assert (
        text.index("修改租户规则") < text.index("加入本村") < text.index("合并户")
    )  # newest first
    everything = text + await older_pages(admin, trail)
    for shown in ("修改租户规则", "加入本村", "合并户", "户调整网格", "结束职务", "任务退回网格"):
        assert shown in everything, shown
    roles_only = await admin.tap(trail, "职务", expect="操作记录")
    lines = (roles_only.text or "").splitlines()[1:]
    assert lines and all("职务" in line or "任职" in line or "任命" in line for line in lines), (
        lines
    )

    # The per-worker figures beside /gridstats.
    stats = await admin.say("/gridstats", expect="网格")
    figures = await admin.tap(stats, "👷 每位网格员", expect="网格员考核")
    chen_block = (figures.text or "").split("陈网格员", 1)[1].split("\n\n")[0]
    assert "接单 1" in chen_block.split("王网格员")[0] and "办结 1" in chen_block, figures.text
    assert "王网格员" in (figures.text or "") and "已离任" in (figures.text or "")

    # The resident leaves from /me, asked twice.
    me = await zhang.say("/me", expect="张三")
    first = await zhang.tap(me, "退出本村", expect="要退出")
    second = await zhang.tap(first, "是，退出", expect="再确认")
    left = await zhang.tap(second, "✔ 确认退出", expect="已退出")
    assert "邀请链接" in (left.text or "")
    me = await zhang.say("/me", expect="张三")
    assert "退出本村" not in " ".join(me.buttons())


async def older_pages(admin: Talker, page: SentMessage) -> str:
    """The text of the following pages, for what scrolled past the first."""
    seen = ""
    while "较早 ▶" in page.buttons():
        page = await admin.tap(page, "较早 ▶", expect="操作记录")
        seen += page.text or ""
    return seen
