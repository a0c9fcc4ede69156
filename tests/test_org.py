"""Organisation rules in storage, without Telegram, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.org import Membership, MembershipStatus, Person, Role, WorkerKind
from storage.permissions.org import Actor, OrgPermissions, RoleHeld
from storage.text import label_key

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


async def person(session: AsyncSession, telegram_id: int, name: str = "") -> Person:
    return await org.get_or_create_person(session, telegram_id, full_name=name or str(telegram_id))


async def actor_of(session: AsyncSession, someone: Person, *, district: bool = False) -> Actor:
    return await org.load_actor(
        session, someone, district_admins=(someone.telegram_id,) if district else ()
    )


async def village_with_worker(session: AsyncSession) -> tuple[Actor, Actor, int, list[int]]:
    """A district admin's village with two grids and a full-time worker of the first grid."""
    admin = await actor_of(session, await person(session, 1, "Admin"), district=True)
    village = await org.create_village(session, admin, "幸福村", ["一网格", "二网格"])
    grids = [g.id or 0 for g in await org.grids_of(session, village.id or 0)]
    link = await org.create_role_invite(
        session,
        admin,
        village_id=village.id or 0,
        role=Role.GRID_WORKER,
        grid_id=grids[0],
        worker_kind=WorkerKind.FULL_TIME,
        now=NOW,
    )
    worker_person = await person(session, 2, "Wang")
    await org.redeem_role_invite(session, worker_person, link.code, NOW)
    worker = await actor_of(session, worker_person)
    return admin, worker, village.id or 0, grids


async def test_permissions_are_pure_checks() -> None:
    resident = Actor(person_id=1, telegram_id=1)
    worker = Actor(
        person_id=2, telegram_id=2, roles=frozenset({RoleHeld(Role.GRID_WORKER, 7, 70)})
    )
    admin = Actor(person_id=3, telegram_id=3, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 7)}))
    district = Actor(person_id=4, telegram_id=4, is_district_admin=True)
    assert not OrgPermissions.can_create_village(admin)
    assert OrgPermissions.can_create_village(district)
    assert OrgPermissions.can_invite(worker, 7, 70) and not OrgPermissions.can_invite(
        worker, 7, 71
    )
    assert OrgPermissions.can_invite(admin, 7, 71) and not OrgPermissions.can_invite(admin, 8, 80)
    assert not OrgPermissions.can_decide_membership(resident, 7, 70)
    assert OrgPermissions.can_bind_group(admin, 7) and not OrgPermissions.can_bind_group(worker, 7)
    assert OrgPermissions.can_appoint(district, 99)


async def test_only_district_admins_create_villages_and_names_are_checked(
    session: AsyncSession,
) -> None:
    someone = await actor_of(session, await person(session, 5))
    with pytest.raises(NotAllowed):
        await org.create_village(session, someone, "村", ["一组"])
    admin = await actor_of(session, await person(session, 6), district=True)
    with pytest.raises(RuleError):
        await org.create_village(session, admin, "村" * 40, ["一组"])
    with pytest.raises(RuleError):
        await org.create_village(session, admin, "东村", ["   "])
    village = await org.create_village(session, admin, "东村", ["一组", "一组", " 二组 "])
    assert [g.name for g in await org.grids_of(session, village.id or 0)] == ["一组", "二组"]
    with pytest.raises(AlreadyDone):
        await org.create_village(session, admin, "东村", ["三组"])
    assert [e.action for e in await audit.entries(session)] == ["village.create"]


async def test_a_role_link_works_once_and_not_after_expiry(session: AsyncSession) -> None:
    admin, _worker, village_id, _grids = await village_with_worker(session)
    link = await org.create_role_invite(
        session, admin, village_id=village_id, role=Role.REVIEWER, now=NOW
    )
    first = await person(session, 10)
    appointment = await org.redeem_role_invite(session, first, link.code, NOW)
    assert appointment.assignment.role == Role.REVIEWER
    with pytest.raises(AlreadyDone):
        await org.redeem_role_invite(session, await person(session, 11), link.code, NOW)
    late = await org.create_role_invite(
        session, admin, village_id=village_id, role=Role.VILLAGE_ADMIN, now=NOW
    )
    with pytest.raises(NotFound):
        await org.redeem_role_invite(
            session,
            await person(session, 12),
            late.code,
            NOW + org.ROLE_INVITE_TTL + timedelta(seconds=1),
        )
    with pytest.raises(NotFound):
        await org.redeem_role_invite(session, first, "forged-code", NOW)
    reviewer = await actor_of(session, first)
    assert village_id in reviewer.reviewer_villages()
    with pytest.raises(NotAllowed):  # a reviewer is not an admin
        await org.create_role_invite(
            session, reviewer, village_id=village_id, role=Role.REVIEWER, now=NOW
        )


async def test_join_request_decided_once_and_only_by_the_grids_people(
    session: AsyncSession,
) -> None:
    admin, worker, _village_id, grids = await village_with_worker(session)
    invite = await org.create_grid_invite(session, worker, grids[0], NOW)
    with pytest.raises(NotAllowed):  # not the worker's grid
        await org.create_grid_invite(session, worker, grids[1], NOW)
    resident = await person(session, 20)
    membership = await org.request_membership(
        session,
        resident,
        invite_code=invite.code,
        full_name="  张   三 ",
        household_id=None,
        household_label="3组 12号",
        phone="138 0000 0000",
        now=NOW,
    )
    assert resident.full_name == "张 三" and resident.phone == "13800000000"
    with pytest.raises(AlreadyDone):
        await org.request_membership(
            session,
            resident,
            invite_code=invite.code,
            full_name="x",
            household_id=None,
            household_label="y",
            phone=None,
            now=NOW,
        )
    stranger = await actor_of(session, await person(session, 21))
    with pytest.raises(NotAllowed):
        await org.decide_membership(session, stranger, membership.id or 0, approve=True, now=NOW)
    view = await org.decide_membership(session, worker, membership.id or 0, approve=True, now=NOW)
    assert view.membership.status == MembershipStatus.APPROVED
    assert resident.household_id == view.household.id
    with pytest.raises(AlreadyDone):
        await org.decide_membership(session, admin, membership.id or 0, approve=False, now=NOW)
    me = await actor_of(session, resident)
    assert me.is_approved_resident and me.residence and me.residence.grid_id == grids[0]


async def test_a_household_from_another_grid_is_refused(session: AsyncSession) -> None:
    _admin, worker, _village_id, grids = await village_with_worker(session)
    other = await org.find_or_create_household(session, grids[1], "5组 1号")
    invite = await org.create_grid_invite(session, worker, grids[0], NOW)
    with pytest.raises(NotFound):
        await org.request_membership(
            session,
            await person(session, 30),
            invite_code=invite.code,
            full_name="李四",
            household_id=other.id,
            household_label=None,
            phone=None,
            now=NOW,
        )


async def test_bad_phone_numbers_are_refused() -> None:
    for bad in ("abc", "12", "+86 138 0000 0000 0000 00"):
        with pytest.raises(RuleError):
            org.clean_phone(bad)
    assert org.clean_phone("+86-138-0000-0000") == "+8613800000000"


async def test_group_binding_replaces_and_unbinds(session: AsyncSession) -> None:
    admin, worker, village_id, grids = await village_with_worker(session)
    with pytest.raises(NotAllowed):
        await org.bind_chat(
            session, worker, chat_id=-100, title="群", village_id=village_id, grid_id=None, now=NOW
        )
    await org.bind_chat(
        session, admin, chat_id=-100, title="群", village_id=village_id, grid_id=None, now=NOW
    )
    await org.bind_chat(
        session, admin, chat_id=-100, title="群", village_id=village_id, grid_id=grids[1], now=NOW
    )
    binding = await org.binding_of(session, -100)
    assert binding is not None and binding.grid_id == grids[1]
    assert len(await org.bound_chats(session, village_id)) == 1
    assert await org.unbind_chat(session, -100, NOW) == 1
    assert await org.binding_of(session, -100) is None


async def test_concurrent_decisions_count_once(sessions: SessionFactory) -> None:
    """Two workers press Approve at the same moment: one wins, the other is told."""
    async with unit_of_work(sessions) as session:
        admin, worker, _village_id, grids = await village_with_worker(session)
        invite = await org.create_grid_invite(session, worker, grids[0], NOW)
        membership = await org.request_membership(
            session,
            await person(session, 40),
            invite_code=invite.code,
            full_name="王五",
            household_id=None,
            household_label="1号",
            phone=None,
            now=NOW,
        )
        membership_id = membership.id or 0

    async def decide(actor: Actor) -> str:
        try:
            async with unit_of_work(sessions) as session:
                await org.decide_membership(session, actor, membership_id, approve=True, now=NOW)
        except AlreadyDone:
            return "already"
        return "done"

    outcomes = await asyncio.gather(decide(worker), decide(admin))
    assert sorted(outcomes) == ["already", "done"]
    async with sessions() as session:
        row = await session.get(Membership, membership_id)
        assert row is not None and row.status == MembershipStatus.APPROVED
        approvals = await audit.entries(session, action="membership.approve")
        assert len(approvals) == 1


async def test_pending_lists_only_what_the_actor_may_decide(session: AsyncSession) -> None:
    admin, worker, _village_id, grids = await village_with_worker(session)
    for number, grid in ((50, grids[0]), (51, grids[1])):
        invite = await org.create_grid_invite(session, admin, grid, NOW)
        await org.request_membership(
            session,
            await person(session, number),
            invite_code=invite.code,
            full_name=f"居民{number}",
            household_id=None,
            household_label="1号",
            phone=None,
            now=NOW,
        )
    assert [v.person.telegram_id for v in await org.pending_for(session, worker)] == [50]
    assert len(await org.pending_for(session, admin)) == 2
    waiting = await org.pending_before(session, NOW + timedelta(hours=1))
    assert len(waiting) == 2
    assert await org.pending_before(session, NOW) == []
    rows = (await session.exec(select(Membership))).all()
    assert {r.status for r in rows} == {MembershipStatus.PENDING}


@pytest.mark.parametrize(
    "typed",
    ["\u200b\u200c\u200d\ufeff", "\u200b\u200b", "\u202e\u2066\u200e", " \u3000\t", "\x00\x07"],
)
def test_invisible_text_is_no_text(typed: str) -> None:
    with pytest.raises(RuleError):
        org.require_text(typed, org.NAME_MAX)
    assert org.clean_text(typed, org.NAME_MAX) == ""


def test_text_is_normalised_before_it_is_checked_and_stored() -> None:
    assert org.require_text("\u202e12号", 32) == "12号"  # no bidi override reaches a screen
    assert org.require_text("Ｗａｎｇ\u200b　 Ｌｉ", 32) == "Wang Li"  # NFKC, one space
    # Chinese punctuation stays as typed (NFKC alone gave "纠纷,已请村调解员!"), digits fold
    typed = "纠纷，已请村调解员！３组？（东）"
    assert org.require_text(typed, 64) == "纠纷，已请村调解员！3组？（东）"
    assert label_key("3组（东）12号") == label_key("3组(东) 12号") == label_key("３组(东)１２号")
    assert org.require_text("👨\u200d👩\u200d👧 家", 32) == "👨\u200d👩\u200d👧 家"  # one emoji
    with pytest.raises(RuleError):  # the limit counts what is kept
        org.require_text("号" * 33, 32)
    assert org.require_text("\u200b" * 40 + "号", 32) == "号"
    typed = "门口\u202e有坑\r\n\n\n\n  请  处理 \u2067"
    assert org.require_text(typed, 99, lines=True) == "门口有坑\n\n请 处理"


async def test_household_labels_match_after_normalisation(session: AsyncSession) -> None:
    _admin, _worker, _village_id, grids = await village_with_worker(session)
    first = await org.find_or_create_household(session, grids[0], "3组12号")
    for same in ("3组 12号", " ３组　１２号 ", "3组\u200b12号", "\u202e3组12号"):
        assert (await org.find_or_create_household(session, grids[0], same)).id == first.id
    assert first.label == "3组12号"
    other = await org.find_or_create_household(session, grids[0], "3组13号")
    elsewhere = await org.find_or_create_household(session, grids[1], "3组 12号")
    assert len({first.id, other.id, elsewhere.id}) == 3
    with pytest.raises(RuleError):
        await org.find_or_create_household(session, grids[0], "\u200b\u200b")


async def test_a_person_named_in_invisible_characters_is_refused(session: AsyncSession) -> None:
    _admin, worker, _village_id, grids = await village_with_worker(session)
    invite = await org.create_grid_invite(session, worker, grids[0], NOW)
    for name, label in (("\u200b\u200c\u200d\ufeff", "3组12号"), ("张三", "\u200b\u200b")):
        with pytest.raises(RuleError):
            await org.request_membership(
                session,
                await person(session, 40),
                invite_code=invite.code,
                full_name=name,
                household_id=None,
                household_label=label,
                phone=None,
                now=NOW,
            )
    shown = await org.get_or_create_person(session, 41, full_name="\u202eevil\u200b")
    assert shown.full_name == "evil"
