"""The rules behind the buttons, without Telegram: what each role's home and "/" menu hold,
the household search and its order, voice notes refused kindly, claims without deductions, and
who may file on someone's behalf."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import behalf, council, org, points, reports, voice
from storage.errors import NotAllowed, RuleError
from storage.models.org import Household, Membership, MembershipStatus, Person, Role
from storage.permissions import home
from storage.permissions.org import Actor, Residence, RoleHeld
from tests.village_builder import report_plan, report_village

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def resident() -> Actor:
    return Actor(1, 11, residence=Residence(1, 1, 1, 1, MembershipStatus.APPROVED))


def test_each_role_has_its_home_and_menu() -> None:
    stranger = Actor(2, 12)
    pending = Actor(3, 13, residence=Residence(2, 1, 1, 1, MembershipStatus.PENDING))
    worker = Actor(4, 14, roles=frozenset({RoleHeld(Role.GRID_WORKER, 1, 1)}))
    admin = Actor(5, 15, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 1)}))
    assert home.home_entries(resident())[:3] == ["report", "claim", "mypoints"]
    assert home.home_entries(stranger) == ["me", "language"]
    assert home.home_entries(pending) == ["me", "language"]
    assert "tasks" in home.home_entries(worker) and "admin" not in home.home_entries(worker)
    assert "admin" in home.home_entries(admin)
    assert home.admin_entries(worker) == [] and "appoint" in home.admin_entries(admin)
    assert home.quick_entries(resident()) == ["start", "report", "claim", "mypoints"]
    assert "appoint" not in home.menu_commands(resident())
    assert "appoint" in home.menu_commands(admin)
    assert home.menu_key(resident(), "zh") != home.menu_key(resident(), "en")
    assert home.default_menu_commands()[:2] == ["start", "report"]
    assert [home.standing(a) for a in (stranger, pending, resident())] == [
        "stranger",
        "pending",
        "resident",
    ]


def test_households_are_listed_in_number_order() -> None:
    labels = ["1组 10号", "1组 2号", "10组 1号", "2组 1号"]
    assert sorted(labels, key=org.label_order) == ["1组 2号", "1组 10号", "2组 1号", "10组 1号"]


async def test_the_household_search_offers_only_approved_homes(session: AsyncSession) -> None:
    v = await report_village(session, NOW)
    grid = v.grid("一网格").id or 0
    for n, (label, status) in enumerate(
        (("3组 2号", MembershipStatus.APPROVED), ("3组 1号", MembershipStatus.REJECTED))
    ):
        household = Household(grid_id=grid, label=label)
        session.add(household)
        await session.flush()
        someone = Person(telegram_id=8_800_000 + v.village_id * 10 + n, full_name="某")
        session.add(someone)
        await session.flush()
        session.add(
            Membership(
                person_id=someone.id or 0,
                village_id=v.village_id,
                grid_id=grid,
                household_id=household.id or 0,
                status=status,
                requested_at=NOW,
            )
        )
    await session.flush()
    listed = [h.label for h in await org.households_of(session, grid)]
    assert listed == ["3组 2号", "3组 12号"]
    assert [h.label for h in await org.households_of(session, grid, fragment="３组１２")] == [
        "3组 12号"
    ]
    assert await org.households_of(session, grid, fragment="3组1号") == []
    same = await org.find_or_create_household(session, grid, "3组12号")
    assert same.label == "3组 12号"


def test_voice_notes_over_a_minute_or_too_large_are_refused() -> None:
    assert voice.check("f", 60, 100_000).duration == 60
    with pytest.raises(RuleError) as long:
        voice.check("f", 61, 100_000)
    assert long.value.params == {"seconds": 61}
    with pytest.raises(RuleError):
        voice.check("f", 10, 21 * 1024 * 1024)
    assert voice.length(83) == "1:23"


async def test_speech_to_text_is_an_optional_hook() -> None:
    spoken = voice.check("f", 5, None)
    assert (await voice.transcribe(spoken)).transcript == ""

    async def words(file_id: str) -> str:
        return f"路灯坏了 {file_id}"

    voice.set_transcriber(words)
    try:
        assert (await voice.transcribe(spoken)).transcript == "路灯坏了 f"
    finally:
        voice.set_transcriber(None)


async def test_claims_hold_no_deductions(session: AsyncSession) -> None:
    v = await report_village(session, NOW)
    claimable = await points.catalogue(session, v.village_id, claimable=True)
    everything = await points.catalogue(session, v.village_id)
    assert claimable and all(i.points > 0 for i in claimable)
    deduction = next(i for i in everything if i.points < 0)
    actor = await org.load_actor(session, v.person("张三"))
    with pytest.raises(NotAllowed):
        await points.make_claim(
            session,
            actor,
            deduction.id or 0,
            note="误点",
            photo_file_id=None,
            now=NOW,
            tz=ZoneInfo("Asia/Shanghai"),
        )


async def test_only_cadres_file_for_others_and_only_for_their_people(
    session: AsyncSession,
) -> None:
    v = await report_village(session, NOW)
    categories = await reports.categories(session, v.village_id)
    worker_b = await org.load_actor(session, v.person("李网格员"))
    worker_a = await org.load_actor(session, v.person("王网格员"))
    neighbour = await org.load_actor(session, v.person("赵六"))
    assert not behalf.can_file_for_others(neighbour)
    with pytest.raises(NotAllowed):
        await behalf.find_residents(session, neighbour, "张")
    assert [f.person.full_name for f in await behalf.find_residents(session, worker_a, "张")] == [
        "张三"
    ]
    assert await behalf.find_residents(session, worker_b, "张") == []  # another grid's
    with pytest.raises(NotAllowed):
        await behalf.file_report_for(
            session,
            worker_b,
            for_person_id=v.person("张三").id,
            visitor=None,
            category_id=categories[0].id or 0,
            description="路灯坏了",
            spoken=None,
            now=NOW,
        )
    view = await behalf.file_report_for(
        session,
        worker_a,
        for_person_id=None,
        visitor=("李大爷", "5组 3号", "138"),
        category_id=categories[0].id or 0,
        description="路灯坏了",
        spoken=None,
        now=NOW,
    )
    assert view.task.reporter_id == v.person("王网格员").id  # the cadre stands in for the visitor
    assert view.behalf is not None and view.behalf.visitor_name == "李大爷"
    assert view.filer is not None and view.filer.id == v.person("王网格员").id


def test_a_reviewer_never_decides_a_claim_they_filed() -> None:
    reviewer = Actor(7, 17, roles=frozenset({RoleHeld(Role.REVIEWER, 5)}))
    assert points.Can.can_decide_claim(reviewer, 5, person_id=1, household_id=9)
    assert not points.Can.can_decide_claim(reviewer, 5, person_id=1, household_id=9, filed_by=7)
    assert points.Can.can_decide_claim(reviewer, 5, person_id=1, household_id=9, filed_by=8)


async def test_proposals_are_sent_for_a_resident_or_a_visitor(session: AsyncSession) -> None:
    v = await report_village(session, NOW)
    worker_a = await org.load_actor(session, v.person("王网格员"))
    worker_b = await org.load_actor(session, v.person("李网格员"))
    neighbour = await org.load_actor(session, v.person("赵六"))
    asked = {"title": "村里缺少健身器材", "body": "", "anonymous": False, "year": 2026, "now": NOW}
    for cadre, refused in ((worker_b, NotAllowed), (neighbour, NotAllowed)):
        with pytest.raises(refused):
            await behalf.file_proposal_for(
                session, cadre, for_person_id=v.person("张三").id, visitor=None, **asked
            )
    with pytest.raises(RuleError):  # for oneself: from one's own home
        await behalf.file_proposal_for(
            session, worker_a, for_person_id=v.person("王网格员").id, visitor=None, **asked
        )
    proposal = await behalf.file_proposal_for(
        session, worker_a, for_person_id=v.person("张三").id, visitor=None, **asked
    )
    assert proposal.author_id == v.person("张三").id and proposal.village_id == v.village_id
    assert await council.follower_ids(session, proposal.id or 0) == [v.person("王网格员").id]
    filed = await behalf.filed(session, "proposal", proposal.id or 0)
    assert filed is not None and not filed.stands_in
    assert (filed.filer.full_name, filed.who) == ("王网格员", "张三")

    for_visitor = await behalf.file_proposal_for(
        session, worker_a, for_person_id=None, visitor=("李大爷", "5组 3号", "138"), **asked
    )
    assert for_visitor.author_id == v.person("王网格员").id  # the cadre stands in
    assert for_visitor.number == proposal.number + 1
    filed = await behalf.filed(session, "proposal", for_visitor.id or 0)
    assert filed is not None and filed.stands_in
    assert (filed.who, filed.visitor_details) == ("李大爷", "5组 3号, 138")
    assert await behalf.filed(session, "claim", for_visitor.id or 0) is None  # kinds apart


async def test_claims_are_filed_for_residents_only_and_reviewed_by_others(
    session: AsyncSession,
) -> None:
    v = await report_plan(NOW).reviewer("王网格员").reviewer("孙委员").build(session)
    tz = ZoneInfo("Asia/Shanghai")
    worker = await org.load_actor(session, v.person("王网格员"))
    other = await org.load_actor(session, v.person("孙委员"))
    item = (await points.catalogue(session, v.village_id, claimable=True))[0]
    claim_for = {"item_id": item.id or 0, "note": "帮孤寡老人打扫", "photo_file_id": None}
    with pytest.raises(RuleError) as visitor:
        behalf.check_visitor("claim")
    assert "belong to a person" in visitor.value.message
    behalf.check_visitor("report")
    behalf.check_visitor("proposal")
    with pytest.raises(RuleError):
        await behalf.file_claim_for(
            session, worker, for_person_id=None, now=NOW, tz=tz, **claim_for
        )
    claim = await behalf.file_claim_for(
        session, worker, for_person_id=v.person("张三").id, now=NOW, tz=tz, **claim_for
    )
    assert claim.person_id == v.person("张三").id
    assert claim.household_id == v.household("3组 12号").id and claim.points == item.points
    view = await points.claim_view(session, claim.id or 0)
    assert view.filer is not None and view.filer.id == v.person("王网格员").id

    # the cadre who filed it is a reviewer, but never gets it nor decides it
    assert await points.next_for_review(session, worker) is None
    with pytest.raises(NotAllowed):
        await points.approve_claim(session, worker, claim.id or 0, NOW, tz)
    with pytest.raises(NotAllowed):
        await points.reject_claim(session, worker, claim.id or 0, "不对", NOW)
    waiting = await points.next_for_review(session, other)
    assert waiting is not None and waiting.claim.id == claim.id
    decided, entry = await points.approve_claim(session, other, claim.id or 0, NOW, tz)
    assert decided.claim.status == "approved" and entry.person_id == v.person("张三").id
