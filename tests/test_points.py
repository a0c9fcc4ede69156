"""Points rules on both databases: claims, review, caps (also concurrent), the ledger and its
corrections, appeals, moves between households, rewards, the closing of a year, the jobs'
once-per-period posts, the picture's font and the workbook."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageDraw
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from exports import points as report
from schedules import points as cycle
from schedules.runtime import Runtime
from storage import org, points
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, RuleError
from storage.models.common import OutboxMessage
from storage.models.org import Membership, MembershipStatus, Person, Role
from storage.models.points import ClaimStatus, EntryKind, PointEntry, PointItem, RewardStatus
from storage.permissions.org import Actor, Residence, RoleHeld
from storage.permissions.points import PointsPermissions as Can
from tests.village_builder import VillagePlan, outbox_rows
from views import pictures
from views import points as points_views
from views.i18n import PoI18n

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@pytest.fixture(autouse=True)
def i18n() -> None:
    PoI18n().activate()


@dataclass
class Town:
    village: int
    grids: list[int]
    households: list[int]
    resident: Actor
    neighbour: Actor  # same household as resident
    other: Actor  # another household, another grid
    reviewer: Actor
    second_reviewer: Actor
    admin: Actor
    group_chat: int


async def build(sessions: SessionFactory) -> Town:
    v = await (
        VillagePlan("积分村")
        .grid("一网格", "二网格")
        .household("1号", grid="一网格")
        .household("2号", grid="二网格")
        .household("3号", grid="二网格")
        .resident("张三", home="1号")
        .resident("张四", home="1号")
        .resident("李五", home="2号")
        .resident("王审", home="3号")
        .resident("赵审", home="3号")
        .admin("孙管")
        .reviewer("王审")
        .reviewer("赵审")
        .group("村民群", chat_id=-5550001)
    ).build_in(sessions)
    return Town(
        v.village_id,
        [g.id or 0 for g in v.grids.values()],
        [h.id or 0 for h in v.households.values()],
        *(v.actor(name) for name in ("张三", "张四", "李五", "王审", "赵审", "孙管")),
        group_chat=v.group("村民群"),
    )


async def item(session: AsyncSession, village: int, code: str) -> PointItem:
    await points.ensure_catalogue(session, village)
    return (
        await session.exec(
            select(PointItem).where(PointItem.village_id == village, PointItem.code == code)
        )
    ).one()


async def claim(
    sessions: SessionFactory, actor: Actor, village: int, code: str, when: datetime = NOW
) -> int:
    async with unit_of_work(sessions) as session:
        found = await item(session, village, code)
        made = await points.make_claim(
            session, actor, found.id or 0, note="扫了村口", photo_file_id=None, now=when, tz=TZ
        )
        return made.id or 0


async def ledger(sessions: SessionFactory) -> list[PointEntry]:
    async with sessions() as session:
        return list((await session.exec(select(PointEntry).order_by(col(PointEntry.id)))).all())


# --- permissions (pure) --------------------------------------------------------------------


def test_permissions() -> None:
    home = Residence(1, village_id=5, grid_id=2, household_id=9, status=MembershipStatus.APPROVED)
    resident = Actor(person_id=1, telegram_id=1, residence=home)
    reviewer = Actor(
        person_id=2,
        telegram_id=2,
        roles=frozenset({RoleHeld(Role.REVIEWER, 5)}),
        residence=Residence(2, 5, 2, household_id=9, status=MembershipStatus.APPROVED),
    )
    outsider = Actor(person_id=3, telegram_id=3, roles=frozenset({RoleHeld(Role.REVIEWER, 5)}))
    admin = Actor(person_id=4, telegram_id=4, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 5)}))
    assert Can.can_claim(resident, 5) and not Can.can_claim(resident, 6)
    assert not Can.can_claim(outsider, 5)
    assert Can.can_review(reviewer, 5) and not Can.can_review(resident, 5)
    # Nobody decides their own or their household's claim.
    assert not Can.can_decide_claim(reviewer, 5, person_id=1, household_id=9)
    assert not Can.can_decide_claim(outsider, 5, person_id=3, household_id=7)
    assert Can.can_decide_claim(outsider, 5, person_id=1, household_id=9)
    assert not Can.can_award(reviewer, 5, 9) and Can.can_award(outsider, 5, 9)
    deduction = PointEntry(
        village_id=1, household_id=9, points=-3, reason="", kind=EntryKind.AWARD
    )
    award = PointEntry(village_id=1, household_id=9, points=3, reason="", kind=EntryKind.AWARD)
    assert Can.can_appeal(resident, deduction) and not Can.can_appeal(resident, award)
    assert not Can.can_appeal(outsider, deduction)
    assert not Can.can_decide_appeal(outsider, 5, recorded_by=3, household_id=9)
    assert Can.can_decide_appeal(outsider, 5, recorded_by=2, household_id=9)
    assert Can.can_manage(admin, 5) and not Can.can_manage(reviewer, 5)
    assert Can.can_export(reviewer, 5) and not Can.can_export(resident, 5)
    assert Can.can_retract(resident, 1) and not Can.can_retract(resident, 2)


def test_the_default_catalogue() -> None:
    data = points.default_catalogue()
    assert len(data["items"]) >= 20
    names = {c["name"] for c in data["categories"]}
    assert {"志愿服务", "应急管理", "人居环境提升", "乡规民约"} <= names
    assert any(i["points"] < 0 for i in data["items"])
    assert all(i["name_en"] and i["name"] for i in data["items"])


# --- claims and review ---------------------------------------------------------------------


async def test_review_approve_twice(sessions: SessionFactory) -> None:
    town = await build(sessions)
    claim_id = await claim(sessions, town.other, town.village, "V01")
    async with unit_of_work(sessions) as session:
        card = await points.next_for_review(session, town.reviewer)
        assert card is not None and card.claim.id == claim_id
        await points.approve_claim(session, town.reviewer, claim_id, NOW, TZ)
    for who in (town.reviewer, town.second_reviewer):
        with pytest.raises(AlreadyDone):
            async with unit_of_work(sessions) as session:
                await points.approve_claim(session, who, claim_id, NOW, TZ)
    entries = await ledger(sessions)
    assert [(e.points, e.kind, e.claim_id) for e in entries] == [(2, EntryKind.CLAIM, claim_id)]
    async with sessions() as session:
        totals = await points.totals(session, NOW, TZ, household_id=town.households[1])
        assert totals == {"weekly": 2, "monthly": 2, "quarterly": 2, "yearly": 2}


async def test_concurrent_approvals_count_once(sessions: SessionFactory) -> None:
    town = await build(sessions)
    claim_id = await claim(sessions, town.other, town.village, "V01")

    async def approve(who: Actor) -> str:
        try:
            async with unit_of_work(sessions) as session:
                await points.approve_claim(session, who, claim_id, NOW, TZ)
        except AlreadyDone:
            return "done"
        return "ok"

    outcomes = await asyncio.gather(approve(town.reviewer), approve(town.second_reviewer))
    assert sorted(outcomes) == ["done", "ok"]
    assert len(await ledger(sessions)) == 1


async def test_no_review_of_own_household_and_rejects_count_nothing(
    sessions: SessionFactory,
) -> None:
    town = await build(sessions)
    # The reviewers live in household 3; a claim from there is not theirs to decide.
    async with unit_of_work(sessions) as session:
        reviewer_home = town.reviewer.residence
        assert reviewer_home is not None
    own = await claim(sessions, town.second_reviewer, town.village, "H01")
    async with unit_of_work(sessions) as session:
        assert await points.next_for_review(session, town.reviewer) is None
    with pytest.raises(NotAllowed):
        async with unit_of_work(sessions) as session:
            await points.approve_claim(session, town.reviewer, own, NOW, TZ)
    with pytest.raises(NotAllowed):
        async with unit_of_work(sessions) as session:
            await points.next_for_review(session, town.resident)
    other = await claim(sessions, town.resident, town.village, "H01")
    with pytest.raises(RuleError):  # a reason is required
        async with unit_of_work(sessions) as session:
            await points.reject_claim(session, town.reviewer, other, "  ", NOW)
    async with unit_of_work(sessions) as session:
        view = await points.reject_claim(session, town.reviewer, other, "照片看不清", NOW)
        assert view.claim.status == ClaimStatus.REJECTED
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await points.approve_claim(session, town.second_reviewer, other, NOW, TZ)
    # Retracted: counts nothing, cannot be approved afterwards.
    third = await claim(sessions, town.neighbour, town.village, "V02")
    with pytest.raises(NotAllowed):
        async with unit_of_work(sessions) as session:
            await points.retract_claim(session, town.resident, third, NOW)
    async with unit_of_work(sessions) as session:
        await points.retract_claim(session, town.neighbour, third, NOW)
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await points.approve_claim(session, town.reviewer, third, NOW, TZ)
    assert await ledger(sessions) == []


async def test_evidence_and_caps(sessions: SessionFactory) -> None:
    town = await build(sessions)
    async with unit_of_work(sessions) as session:
        h01 = await item(session, town.village, "H01")  # evidence, 1 a week
        with pytest.raises(RuleError, match="evidence"):
            await points.make_claim(
                session, town.resident, h01.id or 0, note="", photo_file_id=None, now=NOW, tz=TZ
            )
        await points.make_claim(
            session, town.resident, h01.id or 0, note="", photo_file_id="AgAC", now=NOW, tz=TZ
        )
    with pytest.raises(RuleError, match="a week"):
        await claim(sessions, town.resident, town.village, "H01")
    # Next week is a new week.
    await claim(sessions, town.resident, town.village, "H01", NOW + timedelta(days=7))


async def test_caps_hold_under_concurrent_claims(sessions: SessionFactory) -> None:
    town = await build(sessions)

    async def attempt() -> bool:
        try:
            await claim(sessions, town.resident, town.village, "V04")  # 1 a month
        except RuleError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(5)))
    assert outcomes.count(True) == 1


async def test_caps_are_checked_again_at_approval(sessions: SessionFactory) -> None:
    town = await build(sessions)
    first = await claim(sessions, town.resident, town.village, "V04")
    async with unit_of_work(sessions) as session:  # the first is retracted...
        await points.retract_claim(session, town.resident, first, NOW)
    second = await claim(sessions, town.resident, town.village, "V04")
    async with unit_of_work(sessions) as session:  # ...the admin lowers nothing, but an
        # entry made by a direct claim row slipping past (simulated): approve the second
        await points.approve_claim(session, town.reviewer, second, NOW, TZ)
    async with unit_of_work(sessions) as session:  # a third claim row forced in
        v04 = await item(session, town.village, "V04")
        session.add(
            points.PointClaim(
                village_id=town.village,
                person_id=town.resident.person_id,
                household_id=town.households[0],
                item_id=v04.id or 0,
                points=5,
                claimed_at=NOW,
            )
        )
        await session.flush()
        forced = (
            await session.exec(
                select(points.PointClaim.id).where(points.PointClaim.status == ClaimStatus.PENDING)
            )
        ).one()
    with pytest.raises(RuleError, match="a month"):
        async with unit_of_work(sessions) as session:
            await points.approve_claim(session, town.reviewer, forced, NOW, TZ)
    assert len(await ledger(sessions)) == 1


# --- awards, appeals, moves ----------------------------------------------------------------


async def test_a_deduction_is_appealed_once_and_corrected_once(sessions: SessionFactory) -> None:
    town = await build(sessions)
    async with unit_of_work(sessions) as session:
        r03 = await item(session, town.village, "R03")
        with pytest.raises(NotAllowed):  # not for the reviewer's own household
            await points.award(
                session,
                town.reviewer,
                household_id=town.households[2],
                person_id=None,
                item_id=r03.id or 0,
                reason="烧秸秆",
                now=NOW,
                tz=TZ,
            )
        entry = await points.award(
            session,
            town.reviewer,
            household_id=town.households[0],
            person_id=town.resident.person_id,
            item_id=r03.id or 0,
            reason="3月9日在地头焚烧秸秆",
            now=NOW,
            tz=TZ,
        )
        assert entry.points == -5
    with pytest.raises(NotAllowed):
        async with unit_of_work(sessions) as session:
            await points.appeal(session, town.other, entry.id or 0, "不是我家", NOW)
    async with unit_of_work(sessions) as session:
        appeal = await points.appeal(session, town.neighbour, entry.id or 0, "烧的是邻居家", NOW)
        reviewers = await points.appeal_reviewers(session, appeal)
        assert [p.id for p in reviewers] == [town.second_reviewer.person_id]  # not who recorded it
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await points.appeal(session, town.resident, entry.id or 0, "再申诉", NOW)
    admin_reviewer = Actor(
        person_id=town.admin.person_id,
        telegram_id=town.admin.telegram_id,
        roles=frozenset({RoleHeld(Role.REVIEWER, town.village)}),
    )
    with pytest.raises(NotAllowed):  # who recorded it may not decide
        async with unit_of_work(sessions) as session:
            await points.decide_appeal(
                session, town.reviewer, appeal.id or 0, uphold=True, now=NOW, tz=TZ
            )
    async with unit_of_work(sessions) as session:
        await points.decide_appeal(
            session, admin_reviewer, appeal.id or 0, uphold=True, now=NOW, tz=TZ
        )
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await points.decide_appeal(
                session, admin_reviewer, appeal.id or 0, uphold=True, now=NOW, tz=TZ
            )
    entries = await ledger(sessions)
    assert [(e.points, e.kind) for e in entries] == [
        (-5, EntryKind.AWARD),
        (5, EntryKind.CORRECTION),
    ]
    assert entries[1].corrects_id == entries[0].id
    async with sessions() as session:
        month = await points.praise_list(session, town.village, "2026-03", TZ)
        assert month.exposure == []  # a withdrawn deduction is not exposed


async def test_a_person_who_moves_keeps_history_and_the_old_household_its_points(
    sessions: SessionFactory,
) -> None:
    town = await build(sessions)
    first = await claim(sessions, town.resident, town.village, "V01")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, first, NOW, TZ)
        # The resident moves to household 2 (grid 2) in April.
        membership = (
            await session.exec(
                select(Membership).where(Membership.person_id == town.resident.person_id)
            )
        ).one()
        membership.household_id = town.households[1]
        membership.grid_id = town.grids[1]
        session.add(membership)
        person = await session.get(Person, town.resident.person_id)
        assert person is not None
        person.household_id = town.households[1]
        session.add(person)
    april = NOW + timedelta(days=30)
    async with unit_of_work(sessions) as session:
        person = await session.get(Person, town.resident.person_id)
        assert person is not None
        moved = await org.load_actor(session, person)
    second = await claim(sessions, moved, town.village, "V01", april)
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, second, april, TZ)
    async with sessions() as session:
        mine = await points.totals(session, april, TZ, person_id=town.resident.person_id)
        assert mine["yearly"] == 4 and mine["monthly"] == 2
        old = await points.praise_list(session, town.village, "2026-03", TZ)
        assert [(r.label, r.points) for r in old.top] == [("1号", 2)]
        new = await points.praise_list(session, town.village, "2026-04", TZ)
        assert [(r.label, r.grid, r.points) for r in new.top] == [("2号", "二网格", 2)]


# --- ranking, rewards, years ---------------------------------------------------------------


def test_competition_ranking() -> None:
    ranked = points.rank([(1, 1, 5), (2, 1, 9), (3, 2, 5), (4, 2, 1), (1, 2, 0)])
    assert [(r.household_id, r.rank) for r in ranked] == [(2, 1), (1, 2), (3, 2), (4, 4)]


async def test_rewards_and_the_year_close_once(sessions: SessionFactory) -> None:
    town = await build(sessions)
    async with unit_of_work(sessions) as session:
        await points.add_tier(session, town.admin, town.village, 4, "生活用品 A", NOW)
        await points.add_tier(session, town.admin, town.village, 10, "生活用品 B", NOW)
        with pytest.raises(NotAllowed):
            await points.add_tier(session, town.reviewer, town.village, 1, "x", NOW)
        e04 = await item(session, town.village, "E04")
        v01 = await item(session, town.village, "V01")
        for household, found in ((0, e04), (1, v01), (1, v01)):
            await points.award(
                session,
                town.reviewer,
                household_id=town.households[household],
                person_id=None,
                item_id=found.id or 0,
                reason="好人好事",
                now=NOW,
                tz=TZ,
            )
    async with unit_of_work(sessions) as session:
        grants = await points.grant_quarter(session, town.village, "2026-Q1", TZ, NOW)
        assert sorted((g.points, g.reward) for g in grants) == [
            (4, "生活用品 A"),
            (10, "生活用品 B"),
        ]
        assert await points.grant_quarter(session, town.village, "2026-Q1", TZ, NOW) == []
    async with unit_of_work(sessions) as session:
        owed = await points.grants(session, town.village, status=RewardStatus.OWED)
        await points.hand_over(session, town.admin, owed[0].grant.id or 0, NOW)
        with pytest.raises(AlreadyDone):
            await points.hand_over(session, town.admin, owed[0].grant.id or 0, NOW)
        assert len(await points.grants(session, town.village, status=RewardStatus.OWED)) == 1
    new_year = datetime(2027, 1, 1, 3, tzinfo=UTC)
    async with unit_of_work(sessions) as session:
        ranked = await points.close_year(session, town.village, 2026, TZ, new_year)
        assert [(r.label, r.points, r.rank) for r in ranked] == [("1号", 10, 1), ("2号", 4, 2)]
        await points.close_year(session, town.village, 2026, TZ, new_year)
        archive = await points.past_years(session, town.households[0])
        assert [(y.year, y.points, y.rank) for y in archive] == [(2026, 10, 1)]
        fresh = await points.totals(session, new_year, TZ, household_id=town.households[0])
        assert fresh["yearly"] == 0  # the new year starts at zero; nothing was deleted
    assert len(await ledger(sessions)) == 3


async def test_catalogue_admin(sessions: SessionFactory) -> None:
    town = await build(sessions)
    async with unit_of_work(sessions) as session:
        items = await points.catalogue(session, town.village)
        assert len(items) >= 20
        added = await points.add_item(
            session,
            town.admin,
            town.village,
            category="volunteer",
            name="清理河道",
            points=3,
            evidence=True,
            cap_count=1,
            cap_period=points.CapPeriod.WEEK,
            now=NOW,
        )
        await points.change_item_points(session, town.admin, added.id or 0, "4", NOW)
        with pytest.raises(NotAllowed):
            await points.retire_item(session, town.reviewer, added.id or 0, NOW)
    claim_id = await claim(sessions, town.resident, town.village, added.code)
    async with unit_of_work(sessions) as session:
        await points.retire_item(session, town.admin, added.id or 0, NOW)
        with pytest.raises(AlreadyDone):
            await points.retire_item(session, town.admin, added.id or 0, NOW)
        assert added.id not in {i.id for i in await points.catalogue(session, town.village)}
        history = await points.claims_of(session, town.resident.person_id)
        assert history[0].claim.id == claim_id and history[0].claim.points == 4


# --- the jobs ------------------------------------------------------------------------------


def runtime(sessions: SessionFactory) -> Runtime:
    jobs = {j.name: j for j in (cycle.WEEKLY, cycle.MONTHLY, cycle.QUARTERLY, cycle.YEARLY)}
    return Runtime(sessions, Clock(), TZ, jobs=jobs)


async def test_jobs_post_once_per_period_also_after_downtime(sessions: SessionFactory) -> None:
    town = await build(sessions)
    approved = await claim(sessions, town.resident, town.village, "V01")
    pending = await claim(sessions, town.other, town.village, "V01")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, approved, NOW, TZ)
    jobs = runtime(sessions)
    # Sunday 2026-03-15 20:00 local is the week's confirmation; run at 20:05, twice.
    sunday = datetime(2026, 3, 15, 12, 5, tzinfo=UTC)
    first = await jobs.run("points_weekly", sunday)
    again = await jobs.run("points_weekly", sunday + timedelta(minutes=5))
    assert first["posts"] == 1 and first["reminders"] == 2, first
    assert again["posts"] == 0 and again["claimed"] == []
    posts = await outbox_rows(sessions, town.group_chat)
    assert len(posts) == 1 and "1号" in posts[0].payload["text"]
    assert "第11周（3月9日—3月15日）" in posts[0].payload["text"]
    # The bot was down over the month's end: the catch-up on 2 April posts March once.
    del pending
    april = datetime(2026, 4, 2, 8, tzinfo=UTC)
    assert (await jobs.run("points_monthly", april))["posts"] == 1
    assert (await jobs.run("points_monthly", april))["posts"] == 0
    posts = await outbox_rows(sessions, town.group_chat)
    methods = [p.method for p in posts]
    assert methods.count("sendPhoto") == 1
    photo = next(p for p in posts if p.method == "sendPhoto")
    assert photo.payload["photo_b64"] and photo.payload["filename"].endswith(".png")
    quarterly = await jobs.run("points_quarterly", april)
    assert quarterly["grants"] == 0  # no tiers set
    yearly = await jobs.run("points_yearly", datetime(2027, 1, 1, 2, tzinfo=UTC))
    assert yearly["closed"] == 1
    assert (await jobs.run("points_yearly", datetime(2027, 1, 5, tzinfo=UTC)))["closed"] == 0


async def test_weekly_time_is_the_villages_own(sessions: SessionFactory) -> None:
    town = await build(sessions)
    async with unit_of_work(sessions) as session:
        await points.change_settings(
            session, town.admin, town.village, NOW, weekly_weekday=4, weekly_time="18:30"
        )
        with pytest.raises(RuleError):
            await points.change_settings(
                session, town.admin, town.village, NOW, weekly_time="25:00"
            )
    approved = await claim(sessions, town.resident, town.village, "V01")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, approved, NOW, TZ)
    jobs = runtime(sessions)
    friday_before = datetime(2026, 3, 13, 10, 25, tzinfo=UTC)  # 18:25 local
    result = await jobs.run("points_weekly", friday_before)
    assert result["posts"] == 0  # this week's time has not come (last week was empty)
    result = await jobs.run("points_weekly", friday_before + timedelta(minutes=10))
    assert result["posts"] == 1


# --- the picture and the workbook ----------------------------------------------------------


def test_the_bundled_font_draws_chinese_not_boxes() -> None:
    text = "幸福村积分光荣榜一网格张三户"
    assert all(ord(c) in pictures.covered() for c in text)
    font = pictures.font(40)

    def pixels(char: str) -> bytes:
        image = Image.new("L", (60, 60), 0)
        ImageDraw.Draw(image).text((5, 5), char, font=font, fill=255)
        return image.tobytes()

    notdef = pixels("\ue000")  # a private-use character the font lacks: its .notdef box
    assert "\ue000" not in {chr(c) for c in pictures.covered()}
    drawn = {char: pixels(char) for char in text}
    assert all(p != notdef and any(p) for p in drawn.values())
    assert len(set(drawn.values())) == len(set(text))  # different characters, different glyphs
    assert pictures.drawable("张\ue000三") == "张〓三"


async def test_praise_picture_and_workbook(sessions: SessionFactory) -> None:
    town = await build(sessions)
    async with unit_of_work(sessions) as session:
        r01 = await item(session, town.village, "R01")
        await points.change_settings(session, town.admin, town.village, NOW, exposure=True)
        await points.award(
            session,
            town.reviewer,
            household_id=town.households[0],
            person_id=None,
            item_id=r01.id or 0,
            reason="乱堆柴草",
            now=NOW,
            tz=TZ,
        )
    first = await claim(sessions, town.other, town.village, "V02")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, first, NOW, TZ)
    async with sessions() as session:
        praise = await points.praise_list(session, town.village, "2026-03", TZ)
        assert [r.label for r in praise.top] == ["2号"]
        assert [e.reason for e in praise.exposure] == ["乱堆柴草"]
        picture = points_views.praise_png(praise, "zh", exposure=True)
        image = Image.open(io.BytesIO(picture))
        assert image.format == "PNG" and image.width == pictures.WIDTH
        data = await report.month_xlsx(session, town.village, "2026-03", TZ, "zh")
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["先进居民户", "网格排名", "反向曝光", "积分明细"]
    rows = list(book["积分明细"].iter_rows(values_only=True))
    header = rows[3]  # under the title block
    assert header[0] == "日期" and header[6] == "事由"
    reasons = {r[6] for r in rows[4:] if r[0] and not isinstance(r[0], str)}
    assert reasons == {"乱堆柴草", "关爱帮扶孤寡老人、留守儿童"}


# --- the catch-up after downtime -----------------------------------------------------------


async def approved_on(sessions: SessionFactory, town: Town, when: datetime) -> None:
    made = await claim(sessions, town.resident, town.village, "V01", when)
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, made, when, TZ)


def texts(posts: list[OutboxMessage]) -> list[str]:
    return [p.payload["text"] for p in posts if p.method == "sendMessage"]


async def test_the_catch_up_posts_each_missed_period_once_oldest_first(
    sessions: SessionFactory,
) -> None:
    town = await build(sessions)
    jobs = runtime(sessions)
    # Up to date with week 41 (Sunday 11 October, 20:05) and September (1 October) …
    assert await jobs.run("points_weekly", datetime(2026, 10, 11, 12, 5, tzinfo=UTC))
    assert await jobs.run("points_monthly", datetime(2026, 10, 1, 2, tzinfo=UTC))
    # … then down across weeks 42–44 and the month's end, with a point in each week.
    for day in (13, 20, 27):
        await approved_on(sessions, town, datetime(2026, 10, day, 2, tzinfo=UTC))
    before = len(await outbox_rows(sessions, town.group_chat))
    jobs.clock.travel_to(datetime(2026, 11, 2, 2, tzinfo=UTC))  # Monday 10:00
    results = await jobs.catch_up()
    village = town.village
    assert results["points_weekly"]["claimed"] == [
        f"2026-W42/v{village}",
        f"2026-W43/v{village}",
        f"2026-W44/v{village}",
    ]
    assert results["points_weekly"]["posts"] == 3
    assert results["points_monthly"]["claimed"] == [f"2026-10/v{village}"]
    posts = (await outbox_rows(sessions, town.group_chat))[before:]
    weekly, monthly = texts(posts)[:3], texts(posts)[3:]
    assert "第42周（10月12日—10月18日）" in weekly[0]
    assert "第43周（10月19日—10月25日）" in weekly[1]
    assert "第44周（10月26日—11月1日）" in weekly[2]
    assert all("1号" in text and "+2" in text for text in weekly)
    assert len(monthly) == 1 and "2026年10月" in monthly[0] and "+6" not in monthly[0]
    assert [p.method for p in posts].count("sendPhoto") == 1
    # Once: the catch-up again, or the next tick, posts nothing more.
    again = await jobs.catch_up()
    assert again["points_weekly"]["claimed"] == again["points_monthly"]["claimed"] == []
    assert len(await outbox_rows(sessions, town.group_chat)) == before + len(posts)


async def test_past_the_cap_only_a_log_line_and_one_notice_to_each_admin(
    sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    town = await build(sessions)
    jobs = runtime(sessions)
    assert await jobs.run("points_weekly", datetime(2026, 7, 19, 12, 5, tzinfo=UTC))  # week 29
    await approved_on(sessions, town, datetime(2026, 9, 1, 2, tzinfo=UTC))  # week 36: too old
    await approved_on(sessions, town, datetime(2026, 9, 8, 2, tzinfo=UTC))  # week 37: posted
    jobs.clock.travel_to(datetime(2026, 11, 2, 2, tzinfo=UTC))  # weeks 30–44 missed
    with caplog.at_level(logging.WARNING, logger="linli.schedules"):
        result = await jobs.run("points_weekly")
    village = town.village
    assert result["claimed"] == [
        f"2026-W36/v{village}/cap",
        *(f"2026-W{week}/v{village}" for week in range(37, 45)),
    ]
    assert result["posts"] == 1
    assert "missed 7 periods 2026-W30..2026-W36" in caplog.text
    posts = texts(await outbox_rows(sessions, town.group_chat))
    assert len(posts) == 1 and "第37周" in posts[0]
    notices = texts(await outbox_rows(sessions, town.admin.telegram_id))
    assert len(notices) == 1
    assert "第30周（7月20日—7月26日）" in notices[0] and "第36周" in notices[0]
    assert "7" in notices[0] and "8" in notices[0]
    caplog.clear()
    assert (await jobs.run("points_weekly"))["claimed"] == []
    assert len(texts(await outbox_rows(sessions, town.admin.telegram_id))) == 1
    assert "beyond the catch-up cap" not in caplog.text
