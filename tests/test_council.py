"""Council rules on both databases: the notice goes once per meeting (job run twice, or after
downtime), merging, recording decisions, projects and who may do what."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from schedules import council as council_jobs
from schedules import votes as vote_jobs
from schedules.runtime import Runtime
from storage import council, votes
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.common import OutboxMessage
from storage.models.council import (
    CouncilSettings,
    ItemOutcome,
    MemberCategory,
    Project,
    ProjectStatus,
)
from storage.models.org import MembershipStatus, Role
from storage.models.votes import Proposal, ProposalStatus
from storage.permissions.council import CouncilPermissions
from storage.permissions.org import Actor, Residence, RoleHeld
from tests.test_votes import NOW, SHANGHAI, Place, make_place, press
from views.i18n import PoI18n

MEETING = datetime(2026, 12, 15, 11, 0, tzinfo=UTC)  # the 15th, 19:00 in Shanghai


def runtime(sessions: SessionFactory, clock: Clock) -> Runtime:
    PoI18n().activate()
    jobs = {job.name: job for job in (council_jobs.NOTICE, vote_jobs.CLOSE)}
    return Runtime(sessions, clock, SHANGHAI, jobs=jobs)


async def proposal_on_agenda(
    sessions: SessionFactory, place: Place, title: str, *, author: int = 0, accept: bool = True
) -> int:
    async with unit_of_work(sessions) as session:
        proposal = await votes.submit_proposal(
            session,
            place.residents[author],
            title=title,
            body="细节",
            anonymous=False,
            year=2026,
            now=NOW,
        )
        if accept:
            await votes.screen_proposal(
                session, place.admin, proposal.id or 0, accept=True, answer=None, now=NOW
            )
    return proposal.id or 0


async def notices(sessions: SessionFactory, village_period: str) -> list[OutboxMessage]:
    async with sessions() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.batch == f"{council_jobs.NAME}:{village_period}"
        )
        return list((await session.exec(query)).all())


# --- permissions ---------------------------------------------------------------------------


def test_council_permissions() -> None:
    home = Residence(1, 1, 1, 1, MembershipStatus.APPROVED)
    resident = Actor(person_id=1, telegram_id=1, residence=home)
    pending = Actor(2, 2, residence=Residence(2, 1, 1, 1, MembershipStatus.PENDING))
    elsewhere = Actor(3, 3, residence=Residence(3, 2, 2, 2, MembershipStatus.APPROVED))
    admin = Actor(4, 4, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 1)}))
    other_admin = Actor(5, 5, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 2)}))
    worker = Actor(6, 6, roles=frozenset({RoleHeld(Role.GRID_WORKER, 1, 1)}), residence=home)
    project = Project(village_id=1, proposal_id=1, decision="修")
    for who in (resident, pending, elsewhere, other_admin, worker):
        assert not CouncilPermissions.can_record_decision(who, 1)
        assert not CouncilPermissions.can_change_project(who, project)
        assert not CouncilPermissions.can_configure(who, 1)
    assert CouncilPermissions.can_record_decision(admin, 1)
    assert CouncilPermissions.can_change_project(admin, project)
    assert CouncilPermissions.can_configure(admin, 1)

    mine = Proposal(id=1, village_id=1, year=2026, number=1, author_id=9, title="t")
    theirs = Proposal(id=2, village_id=1, year=2026, number=2, author_id=9, title="u")
    abroad = Proposal(id=3, village_id=2, year=2026, number=1, author_id=9, title="v")
    assert CouncilPermissions.can_merge(admin, mine, theirs)
    assert not CouncilPermissions.can_merge(admin, mine, mine)
    assert not CouncilPermissions.can_merge(admin, mine, abroad)
    assert not CouncilPermissions.can_merge(resident, mine, theirs)
    assert CouncilPermissions.can_follow(resident, mine) and CouncilPermissions.can_follow(
        admin, mine
    )
    assert not CouncilPermissions.can_follow(pending, mine)
    assert not CouncilPermissions.can_follow(elsewhere, mine)
    mine.status = ProposalStatus.DECLINED
    assert not CouncilPermissions.can_follow(resident, mine)


def test_next_meeting_and_period() -> None:
    setup = CouncilSettings(village_id=3, day=31, hour=19)
    start = council.next_meeting(setup, datetime(2026, 11, 2, tzinfo=UTC), SHANGHAI)
    assert (start.month, start.day, start.hour) == (11, 30, 19)  # a short month: its last day
    start = council.next_meeting(setup, datetime(2026, 12, 31, 12, tzinfo=UTC), SHANGHAI)
    assert (start.year, start.month, start.day) == (2027, 1, 31)  # this month's has passed
    assert council.period_key(start, 3) == "2027-01/v3"


# --- the notice ----------------------------------------------------------------------------


async def test_the_notice_goes_once_per_meeting_even_run_twice_or_after_downtime(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    late = await make_place(sessions)
    for where in (place, late):
        async with unit_of_work(sessions) as session:
            await council.add_member(
                session,
                where.admin,
                where.village_id,
                where.residents[2].person_id,
                MemberCategory.RESIDENT_REP,
                NOW,
            )
            await council.add_member(
                session,
                where.admin,
                where.village_id,
                where.admin.person_id,
                MemberCategory.COMMITTEE,
                NOW,
            )
        await proposal_on_agenda(sessions, where, "修路")
        await proposal_on_agenda(sessions, where, "装灯")
    clock = Clock()
    jobs = runtime(sessions, clock)
    clock.travel_to(MEETING - timedelta(days=3, minutes=1))  # before the window
    assert await jobs.run("council_notice") == {}

    # A day into the window (the bot was down when it opened): two runs at once send once.
    clock.travel_to(MEETING - timedelta(days=2))
    first, second = await asyncio.gather(jobs.run("council_notice"), jobs.run("council_notice"))
    both = {**first, **second}
    key, late_key = f"2026-12/v{place.village_id}", f"2026-12/v{late.village_id}"
    assert both == {key: 2, late_key: 2}, (first, second)
    clock.advance(timedelta(hours=5))
    assert await jobs.run("council_notice") == {}

    rows = await notices(sessions, key)
    chats = sorted(r.chat_id for r in rows)
    expected = sorted([place.group_id, place.residents[2].telegram_id, place.admin.telegram_id])
    assert chats == expected
    group_post = next(r for r in rows if r.chat_id == place.group_id)
    assert "修路" in group_post.payload["text"] and "装灯" in group_post.payload["text"]
    buttons = group_post.payload["reply_markup"]["inline_keyboard"]
    assert len(buttons) == 2 and all(b[0]["callback_data"].startswith("pf:") for b in buttons)

    # After the meeting, a new item waits for next month's window: nothing now.
    await proposal_on_agenda(sessions, place, "修桥")
    clock.travel_to(MEETING + timedelta(hours=2))
    assert await jobs.run("council_notice") == {}
    clock.travel_to(datetime(2027, 1, 13, tzinfo=UTC))  # next month's window: both again
    assert set(await jobs.run("council_notice")) == {
        f"2027-01/v{place.village_id}",
        f"2027-01/v{late.village_id}",
    }


async def test_a_village_sets_its_own_day_and_notice(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):
            await council.set_schedule(
                session,
                place.residents[0],
                place.village_id,
                day=5,
                hour=9,
                notice_days=1,
                now=NOW,
            )
        with pytest.raises(RuleError):
            await council.set_schedule(
                session, place.admin, place.village_id, day=5, hour=25, notice_days=1, now=NOW
            )
        await council.set_schedule(
            session, place.admin, place.village_id, day=5, hour=9, notice_days=1, now=NOW
        )
    await proposal_on_agenda(sessions, place, "修路")
    clock = Clock()
    jobs = runtime(sessions, clock)
    clock.travel_to(datetime(2026, 12, 3, 12, tzinfo=UTC))  # 20:00 on the 3rd: too early
    assert await jobs.run("council_notice") == {}
    clock.travel_to(datetime(2026, 12, 4, 2, tzinfo=UTC))  # 10:00 on the 4th: a day ahead
    assert await jobs.run("council_notice") == {f"2026-12/v{place.village_id}": 0}
    rows = await notices(sessions, f"2026-12/v{place.village_id}")
    assert [r.chat_id for r in rows] == [place.group_id]  # no participants yet: the group only


# --- participants --------------------------------------------------------------------------


async def test_participants_are_people_of_the_village(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    other = await make_place(sessions)
    async with unit_of_work(sessions) as session:
        found = await council.candidates(session, place.village_id, "居民")
        assert {p.id for p in found} == {a.person_id for a in place.residents}  # not pending
        with pytest.raises(NotFound):
            await council.add_member(
                session,
                place.admin,
                place.village_id,
                other.residents[0].person_id,
                MemberCategory.BOARD,
                NOW,
            )
        with pytest.raises(NotAllowed):
            await council.add_member(
                session,
                other.admin,
                place.village_id,
                place.residents[0].person_id,
                MemberCategory.BOARD,
                NOW,
            )
        member = await council.add_member(
            session,
            place.admin,
            place.village_id,
            place.residents[0].person_id,
            MemberCategory.BOARD,
            NOW,
        )
        with pytest.raises(AlreadyDone):
            await council.add_member(
                session,
                place.admin,
                place.village_id,
                place.residents[0].person_id,
                MemberCategory.PARTY_REP,
                NOW,
            )
        assert len(await council.members(session, place.village_id)) == 1
        await council.remove_member(session, place.admin, member.id or 0)
        assert await council.members(session, place.village_id) == []


# --- merging -------------------------------------------------------------------------------


async def test_a_merged_proposal_cannot_be_put_on_the_agenda(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    target = await proposal_on_agenda(sessions, place, "修路", author=0)
    duplicate = await proposal_on_agenda(sessions, place, "路坏了", author=1, accept=False)
    async with unit_of_work(sessions) as session:
        await council.follow(session, place.residents[2], duplicate, NOW)
        with pytest.raises(NotAllowed):
            await council.merge_proposal(session, place.residents[0], duplicate, target, NOW)
        with pytest.raises(RuleError):
            await council.merge_proposal(session, place.admin, duplicate, duplicate, NOW)
        merged, into = await council.merge_proposal(session, place.admin, duplicate, target, NOW)
        assert merged.status == ProposalStatus.MERGED and merged.merged_into_id == target
        with pytest.raises(AlreadyDone):
            await votes.screen_proposal(
                session, place.admin, duplicate, accept=True, answer=None, now=NOW
            )
        with pytest.raises(AlreadyDone):
            await council.merge_proposal(session, place.admin, duplicate, target, NOW)
        # The duplicate's author and follower now follow the target (its own author anyway).
        people = {p.id for p in await council.interested(session, into)}
        expected = {place.residents[i].person_id for i in (0, 1, 2)}
        assert people == expected
        # A follow press on the merged one's old card follows the target.
        again = await council.follow(session, place.residents[3], duplicate, NOW)
        assert again.id == target


# --- decisions and projects ----------------------------------------------------------------


async def test_only_admins_record_decisions_and_move_projects(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    decided = await proposal_on_agenda(sessions, place, "修路")
    deferred = await proposal_on_agenda(sessions, place, "装灯")
    dropped = await proposal_on_agenda(sessions, place, "建亭")
    clock = Clock()
    clock.travel_to(MEETING - timedelta(days=1))
    await runtime(sessions, clock).run("council_notice")
    async with unit_of_work(sessions) as session:
        items = {
            v.proposal.id: v.item.id or 0
            for v in await council.items_to_record(session, place.admin, MEETING)
        }
        assert set(items) == {decided, deferred, dropped}
        assert (
            await council.items_to_record(session, place.admin, MEETING - timedelta(hours=1)) == []
        )
        with pytest.raises(RuleError):  # before the meeting
            await council.record_item(
                session,
                place.admin,
                items[decided],
                ItemOutcome.DECIDED,
                decision="年内修好",
                now=MEETING - timedelta(hours=1),
            )
        with pytest.raises(NotAllowed):
            await council.record_item(
                session,
                place.residents[0],
                items[decided],
                ItemOutcome.DECIDED,
                decision="年内修好",
                now=MEETING,
            )
        with pytest.raises(RuleError):  # decided needs its text
            await council.record_item(
                session,
                place.admin,
                items[decided],
                ItemOutcome.DECIDED,
                decision=" ",
                now=MEETING,
            )
        recorded = await council.record_item(
            session,
            place.admin,
            items[decided],
            ItemOutcome.DECIDED,
            decision="年内修好",
            now=MEETING,
        )
        assert recorded.project is not None and recorded.project.status == ProjectStatus.PLANNED
        with pytest.raises(AlreadyDone):
            await council.record_item(
                session,
                place.admin,
                items[decided],
                ItemOutcome.DROPPED,
                decision=None,
                now=MEETING,
            )
        await council.record_item(
            session, place.admin, items[deferred], ItemOutcome.DEFERRED, decision=None, now=MEETING
        )
        await council.record_item(
            session, place.admin, items[dropped], ItemOutcome.DROPPED, decision=None, now=MEETING
        )
        assert (await votes.get_proposal(session, decided)).status == ProposalStatus.DECIDED
        assert (await votes.get_proposal(session, deferred)).status == ProposalStatus.ON_AGENDA
        assert (await votes.get_proposal(session, dropped)).status == ProposalStatus.DROPPED
        assert [p.id for p in await council.agenda(session, place.village_id)] == [deferred]
        project_id = recorded.project.id or 0

    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):
            await council.change_project(
                session,
                place.residents[0],
                project_id,
                ProjectStatus.IN_PROGRESS,
                note=None,
                now=MEETING,
            )
        with pytest.raises(AlreadyDone):  # planned cannot jump to done
            await council.change_project(
                session, place.admin, project_id, ProjectStatus.DONE, note=None, now=MEETING
            )
        await council.change_project(
            session, place.admin, project_id, ProjectStatus.IN_PROGRESS, note="开工", now=MEETING
        )
        with pytest.raises(NotAllowed):
            await council.add_note(session, place.residents[0], project_id, "x", MEETING)
        await council.add_note(session, place.admin, project_id, "完成一半", MEETING)

    # Two admins pressing Done at once: done once.
    async def done() -> object:
        async with unit_of_work(sessions) as session:
            return await council.change_project(
                session, place.admin, project_id, ProjectStatus.DONE, note=None, now=MEETING
            )

    outcomes = await asyncio.gather(done(), done(), return_exceptions=True)
    assert sum(isinstance(o, AlreadyDone) for o in outcomes) == 1, outcomes
    async with sessions() as session:
        project = await council.get_project(session, project_id)
        assert project.status == ProjectStatus.DONE and project.done_at is not None
        notes = await council.notes_of(session, project_id)
        assert [n.status for n in notes] == [
            ProjectStatus.PLANNED,
            ProjectStatus.IN_PROGRESS,
            None,
            ProjectStatus.DONE,
        ]


async def test_a_vote_that_passed_becomes_a_project(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    passing = await proposal_on_agenda(sessions, place, "修路")
    failing = await proposal_on_agenda(sessions, place, "拆亭")
    vote_ids = []
    async with unit_of_work(sessions) as session:
        for proposal_id in (passing, failing):
            vote = await votes.create_vote(
                session,
                place.admin,
                village_id=place.village_id,
                question="同意吗？",
                options=["同意", "不同意", "弃权"],
                deadline=NOW + timedelta(days=1),
                secret=False,
                quorum_percent=None,
                proposal_id=proposal_id,
                now=NOW,
            )
            await votes.post_cards(session, vote, "card", {"inline_keyboard": []}, now=NOW)
            options = [o.id or 0 for o in await votes.options_of(session, vote.id or 0)]
            vote_ids.append((vote.id or 0, options))
    (yes_vote, yes_opts), (no_vote, no_opts) = vote_ids
    await press(sessions, place, place.residents[0], yes_vote, yes_opts[0])
    await press(sessions, place, place.residents[1], yes_vote, yes_opts[0])
    await press(sessions, place, place.residents[2], yes_vote, yes_opts[1])
    await press(sessions, place, place.residents[0], no_vote, no_opts[0])
    await press(sessions, place, place.residents[1], no_vote, no_opts[1])  # a tie: not passed
    clock = Clock()
    clock.travel_to(NOW + timedelta(days=1))
    await runtime(sessions, clock).run("vote_close")
    async with sessions() as session:
        rows = (await session.exec(select(Project))).all()
        made = [p for p in rows if p.proposal_id in (passing, failing)]
        assert [p.proposal_id for p in made] == [passing]
        assert made[0].vote_id == yes_vote and "2/3" in made[0].decision
        told = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.chat_id == place.residents[0].telegram_id
                )
            )
        ).all()
        assert any("修路" in str(r.payload) for r in told)  # the author hears it is planned
