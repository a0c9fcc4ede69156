"""The demo village 幸福村, built through storage's own operations as the bot's flows would:
the district admin creates it, appoints its people with one-time links, the grid worker
approves the residents, the points group records a month of points, residents file reports,
the village admin binds the groups and opens a vote. Every flow can be tried from there.

The personas are the sandbox's people; `build_demo` is run on an empty, migrated database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, points, reports, votes
from storage.db import SessionFactory, unit_of_work
from storage.models.org import Person, Role, WorkerKind
from storage.permissions.org import Actor
from views.votes import card_markup, card_text

VILLAGE = "幸福村"
GRIDS = ("一网格", "二网格", "三网格")


@dataclass(frozen=True)
class Persona:
    key: str
    telegram_id: int
    name: str  # the name the bot knows them by
    role_zh: str
    role_en: str


DISTRICT_ADMIN = Persona("district", 10_001, "陈主任", "区管理员", "District admin")
VILLAGE_ADMIN = Persona("admin", 10_002, "王书记", "村管理员（村两委）", "Village admin")
GRID_WORKER = Persona("worker", 10_003, "李网格员", "网格员（一网格）", "Grid worker")
REVIEWER = Persona("reviewer", 10_004, "赵委员", "积分审核员", "Points reviewer")
ELDER = Persona("elder", 10_005, "张德福", "居民（老人）", "Resident (elderly)")
RESIDENT = Persona("resident", 10_006, "孙丽", "居民", "Resident")
TENANT = Persona("tenant", 10_007, "陈晓", "居民（租户）", "Resident (tenant)")
PERSONAS = (DISTRICT_ADMIN, VILLAGE_ADMIN, GRID_WORKER, REVIEWER, ELDER, RESIDENT, TENANT)

VILLAGE_GROUP = (-1_001_000_000_001, "幸福村村民群")
GRID_GROUP = (-1_001_000_000_002, "一网格邻里群")

# Other households of the village (no persona), so the rankings have neighbours in them.
NEIGHBOURS = (
    (20_001, "刘桂兰", "一网格", "2组 5号"),
    (20_002, "周建国", "二网格", "5组 8号"),
    (20_003, "吴秀英", "二网格", "6组 3号"),
    (20_004, "郑海", "三网格", "8组 11号"),
)
# (who, grid, household, phone)
HOMES = {
    ELDER.key: ("一网格", "3组 12号", "13800000005"),
    RESIDENT.key: ("一网格", "3组 15号", None),
    TENANT.key: ("一网格", "4组 2号（租住）", None),
}


@dataclass
class Demo:
    village_id: int
    grid_ids: dict[str, int]


async def _actor(session: AsyncSession, person: Person) -> Actor:
    return await org.load_actor(session, person, district_admins=(DISTRICT_ADMIN.telegram_id,))


async def _person(session: AsyncSession, telegram_id: int, name: str) -> Person:
    return await org.get_or_create_person(session, telegram_id, full_name=name)


async def build_demo(sessions: SessionFactory, *, now: datetime, tz: ZoneInfo) -> Demo:
    """The demo village as of `now` (UTC); its points span the 30 days before."""
    async with unit_of_work(sessions) as session:
        people = {p.key: await _person(session, p.telegram_id, p.name) for p in PERSONAS}
        district = await _actor(session, people[DISTRICT_ADMIN.key])
        village = await org.create_village(session, district, VILLAGE, list(GRIDS))
        village_id = village.id or 0
        grid_ids = {g.name: g.id or 0 for g in await org.grids_of(session, village_id)}
        appointments = (
            (VILLAGE_ADMIN, Role.VILLAGE_ADMIN, None),
            (GRID_WORKER, Role.GRID_WORKER, grid_ids["一网格"]),
            (REVIEWER, Role.REVIEWER, None),
        )
        for persona, role, grid_id in appointments:
            invite = await org.create_role_invite(
                session,
                district,
                village_id=village_id,
                role=role,
                now=now - timedelta(days=40),
                grid_id=grid_id,
                worker_kind=WorkerKind.FULL_TIME if grid_id else None,
            )
            await org.redeem_role_invite(
                session, people[persona.key], invite.code, now - timedelta(days=40)
            )
        # the second reviewer, so that appeals have someone to go to
        second = await _person(session, 20_100, "钱委员")
        invite = await org.create_role_invite(
            session, district, village_id=village_id, role=Role.REVIEWER, now=now
        )
        await org.redeem_role_invite(session, second, invite.code, now - timedelta(days=40))

    async with unit_of_work(sessions) as session:
        admin = await _actor(session, await _get(session, VILLAGE_ADMIN))
        joined = now - timedelta(days=35)
        homes = [(p.key, p.telegram_id, p.name, *HOMES[p.key]) for p in (ELDER, RESIDENT, TENANT)]
        homes += [(None, tid, name, grid, house, None) for tid, name, grid, house in NEIGHBOURS]
        invites: dict[str, str] = {}
        for _key, telegram_id, name, grid, house, phone in homes:
            if grid not in invites:
                invites[grid] = (
                    await org.create_grid_invite(session, admin, grid_ids[grid], joined)
                ).code
            person = await _person(session, telegram_id, name)
            membership = await org.request_membership(
                session,
                person,
                invite_code=invites[grid],
                full_name=name,
                household_id=None,
                household_label=house,
                phone=phone,
                now=joined,
            )
            await org.decide_membership(
                session, admin, membership.id or 0, approve=True, now=joined
            )
        for chat_id, title in (VILLAGE_GROUP, GRID_GROUP):
            await org.bind_chat(
                session,
                admin,
                chat_id=chat_id,
                title=title,
                village_id=village_id,
                grid_id=grid_ids["一网格"] if chat_id == GRID_GROUP[0] else None,
                now=joined,
            )
        await points.add_tier(session, admin, village_id, 60, "生活用品 A（洗衣液、毛巾）", now)
        await points.add_tier(session, admin, village_id, 100, "生活用品 B（米、面、油）", now)

    await _month_of_points(sessions, village_id, now=now, tz=tz)
    await _open_reports(sessions, now=now)
    await _open_vote(sessions, village_id, now=now, tz=tz)
    return Demo(village_id, grid_ids)


async def _get(session: AsyncSession, persona: Persona) -> Person:
    person = await org.person_by_telegram_id(session, persona.telegram_id)
    assert person is not None
    return person


async def _month_of_points(
    sessions: SessionFactory, village_id: int, *, now: datetime, tz: ZoneInfo
) -> None:
    """Points recorded by the points group over the last 30 days, and two claims waiting."""
    # (telegram id, item code, days ago, reason)
    awards = [
        (ELDER.telegram_id, "C01", 28, "照顾邻居独居老人"),
        (ELDER.telegram_id, "H01", 21, "庭院整洁"),
        (ELDER.telegram_id, "V05", 14, "议事会上建言"),
        (ELDER.telegram_id, "H01", 7, "庭院整洁"),
        (RESIDENT.telegram_id, "V01", 26, "清扫村道志愿服务"),
        (RESIDENT.telegram_id, "H02", 19, "垃圾分类到位"),
        (RESIDENT.telegram_id, "V04", 12, "无偿献血"),
        (RESIDENT.telegram_id, "E03", 5, "参加消防演练"),
        (TENANT.telegram_id, "H03", 20, "门前三包"),
        (TENANT.telegram_id, "R02", 9, "污水乱排（已整改）"),
        (20_001, "V02", 25, "帮扶留守儿童"),
        (20_001, "H04", 11, "村庄清洁行动"),
        (20_002, "E01", 24, "防汛值守"),
        (20_002, "E02", 16, "报告电线隐患"),
        (20_003, "C02", 18, "调解邻里纠纷"),
        (20_003, "R01", 6, "乱堆柴草"),
        (20_004, "H05", 13, "房前植树"),
        (20_004, "C04", 3, "按时参加村集体会议"),
        # this week's, for the clock's 一周一定 (points_weekly at the coming Sunday 20:00)
        (ELDER.telegram_id, "H02", 0, "垃圾分类投放到位"),
        (20_002, "V01", 0, "参加村道清扫"),
    ]
    async with unit_of_work(sessions) as session:
        reviewer = await _actor(session, await _get(session, REVIEWER))
        items = {item.code: item for item in await points.catalogue(session, village_id)}
        for telegram_id, code, days_ago, reason in awards:
            person = await org.person_by_telegram_id(session, telegram_id)
            assert person is not None and person.household_id is not None
            await points.award(
                session,
                reviewer,
                household_id=person.household_id,
                person_id=person.id,
                item_id=items[code].id or 0,
                reason=reason,
                now=now - timedelta(days=days_ago, hours=2),
                tz=tz,
            )
    for persona, code, note in (
        (ELDER, "V03", "今天上午参加了村里修路的公益劳动"),
        (TENANT, "H02", "这周垃圾都分好类了"),
    ):
        async with unit_of_work(sessions) as session:
            actor = await _actor(session, await _get(session, persona))
            await points.make_claim(
                session,
                actor,
                items[code].id or 0,
                note=note,
                photo_file_id=None,
                now=now - timedelta(hours=20),
                tz=tz,
            )


async def _open_reports(sessions: SessionFactory, *, now: datetime) -> None:
    """Two reports waiting in 一网格: one new, one the worker has accepted."""
    async with unit_of_work(sessions) as session:
        elder = await _actor(session, await _get(session, ELDER))
        kinds = await reports.categories(session, elder.residence.village_id)  # type: ignore[union-attr]
        lamp = await reports.file_report(
            session,
            elder,
            category_id=kinds[0].id or 0,
            description="村东桥头的路灯坏了，晚上看不清路",
            location="村东桥头",
            now=now - timedelta(hours=30),
        )
        resident = await _actor(session, await _get(session, RESIDENT))
        await reports.file_report(
            session,
            resident,
            category_id=kinds[min(1, len(kinds) - 1)].id or 0,
            description="3组路口的垃圾桶满了，两天没人清",
            location="3组路口",
            now=now - timedelta(hours=6),
        )
        worker = await _actor(session, await _get(session, GRID_WORKER))
        await reports.accept(session, worker, lamp.task.id or 0, now - timedelta(hours=28))


async def _open_vote(
    sessions: SessionFactory, village_id: int, *, now: datetime, tz: ZoneInfo
) -> None:
    """A vote of the village, its card in both groups (sent by the delivery loop)."""

    async with unit_of_work(sessions) as session:
        admin = await _actor(session, await _get(session, VILLAGE_ADMIN))
        vote = await votes.create_vote(
            session,
            admin,
            village_id=village_id,
            question="村文化广场新装健身器材，放在哪里？",
            options=["村委会东侧空地", "小学北门旁", "河边小公园"],
            deadline=now + timedelta(days=3),
            secret=False,
            quorum_percent=None,
            now=now,
        )
        view = await votes.vote_view(session, vote.id or 0)
        await votes.post_cards(
            session, vote, card_text(view, "zh", tz), card_markup(view), now=now
        )


def demo_now() -> datetime:
    return datetime.now(UTC)
