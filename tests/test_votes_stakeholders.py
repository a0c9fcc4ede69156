"""A vote limited to an agenda item's participants (利益相关方): its proposal's author, its
followers and the council's participants, on a roll written when the vote is put. The rules
in storage, on SQLite and PostgreSQL: who is on the roll, an outsider (and a late follower)
refused, insiders counted, counts, reminders and the close following the roll, one ballot per
household, and the checks when the vote is put."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import council, votes
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, RuleError
from storage.models.common import OutboxMessage
from storage.models.council import MemberCategory
from storage.models.org import Grid, Membership, MembershipStatus
from storage.models.votes import StakeholderKind, Vote, VoteStatus, VoteVoter
from storage.permissions.org import Actor, Residence
from storage.permissions.votes import VotePermissions
from tests.test_votes import NOW, SHANGHAI, runtime
from tests.village_builder import BuiltVillage, VillagePlan
from views.i18n import PoI18n
from views.votes import card_text, result_text

OPTIONS = ["同意", "不同意", "弃权"]


@dataclass
class Item:
    """A village with an agenda item and the people around it."""

    v: BuiltVillage
    proposal_id: int
    code: str

    def actor(self, name: str) -> Actor:
        return self.v.actor(name)


async def make_item(sessions: SessionFactory, *, per_household: bool = False) -> Item:
    """提议人 (the author) shares household 1号 with 同户人; 关注人 follows the item and 代表
    is a residents' representative on the council; 书记 (an admin with no home) is on the
    council too; 旁人 and 后来人 are residents with nothing to do with the item."""
    plan = VillagePlan("议题村{base}").grid("一网格")
    for label in ("1号", "2号", "3号", "4号", "5号"):
        plan.household(label, grid="一网格")
    plan.resident("提议人", home="1号").resident("同户人", home="1号")
    plan.resident("关注人", home="2号").resident("代表", home="3号")
    plan.resident("旁人", home="4号").resident("后来人", home="5号")
    plan.admin("书记").group()
    async with unit_of_work(sessions) as session:
        v = await plan.build(session)
        admin = v.actor("书记")
        if per_household:
            await votes.set_rule(session, admin, v.village_id, per_household=True, now=NOW)
        proposal = await votes.submit_proposal(
            session,
            v.actor("提议人"),
            title="修村东的桥",
            body="桥面裂了。",
            anonymous=False,
            year=2026,
            now=NOW,
        )
        await votes.screen_proposal(
            session, admin, proposal.id or 0, accept=True, answer=None, now=NOW
        )
        await council.follow(session, v.actor("关注人"), proposal.id or 0, NOW)
        for name, category in (
            ("代表", MemberCategory.RESIDENT_REP),
            ("书记", MemberCategory.COMMITTEE),
        ):
            await council.add_member(
                session, admin, v.village_id, v.person(name).id or 0, category, NOW
            )
    return Item(v, proposal.id or 0, votes.proposal_code(proposal))


async def put_vote(
    sessions: SessionFactory, item: Item, *, max_picks: int = 1, options: list[str] = OPTIONS
) -> tuple[int, list[int]]:
    async with unit_of_work(sessions) as session:
        vote = await votes.create_vote(
            session,
            item.actor("书记"),
            village_id=item.v.village_id,
            question="修村东的桥吗？",
            options=options,
            deadline=NOW + timedelta(days=3),
            secret=False,
            quorum_percent=None,
            now=NOW,
            proposal_id=item.proposal_id,
            max_picks=max_picks,
            stakeholders=True,
        )
        await votes.post_cards(session, vote, "card", {"inline_keyboard": []}, now=NOW)
        option_ids = [o.id or 0 for o in await votes.options_of(session, vote.id or 0)]
    return vote.id or 0, option_ids


async def press(
    sessions: SessionFactory, item: Item, name: str, vote_id: int, option_id: int
) -> votes.Cast:
    async with unit_of_work(sessions) as session:
        actor = await item.v.load_actor(session, name)
        return await votes.cast(
            session,
            actor,
            vote_id=vote_id,
            option_id=option_id,
            chat_id=item.v.group_id,
            now=NOW + timedelta(minutes=5),
        )


async def confirm(sessions: SessionFactory, item: Item, name: str, vote_id: int) -> object:
    """✔ 确认 on a pick-several card: the draft becomes the ballot."""
    async with unit_of_work(sessions) as session:
        actor = await item.v.load_actor(session, name)
        return await votes.confirm(
            session,
            actor,
            vote_id=vote_id,
            chat_id=item.v.group_id,
            now=NOW + timedelta(minutes=6),
        )


def test_only_those_on_the_roll_may_vote_in_a_stakeholders_vote() -> None:
    """The pure check: on the roll (`listed`) and an approved resident, while open."""
    vote = Vote(village_id=1, question="q", deadline=NOW, stakeholders=True)
    home = Residence(1, 1, 1, 1, MembershipStatus.APPROVED)
    resident = Actor(person_id=1, telegram_id=1, residence=home)
    assert VotePermissions.can_vote(resident, vote, listed=True)
    assert not VotePermissions.can_vote(resident, vote)
    vote.status = VoteStatus.CLOSED
    assert not VotePermissions.can_vote(resident, vote, listed=True)
    everyone = Vote(village_id=1, question="q", deadline=NOW)
    assert VotePermissions.can_vote(resident, everyone)  # no roll: the whole village


async def test_the_participants_are_the_author_the_followers_and_the_council(
    sessions: SessionFactory,
) -> None:
    item = await make_item(sessions)
    async with unit_of_work(sessions) as session:
        # another resident's duplicate merged into the item: its author follows the item
        duplicate = await votes.submit_proposal(
            session,
            item.actor("同户人"),
            title="桥不能走了",
            body="",
            anonymous=True,
            year=2026,
            now=NOW,
        )
        await council.merge_proposal(
            session, item.actor("书记"), duplicate.id or 0, item.proposal_id, NOW
        )
        proposal = await votes.get_proposal(session, item.proposal_id)
        found = await votes.item_participants(session, proposal)
    names = {p.id: n for n, p in item.v.people.items()}
    assert [(names[p], kind) for p, kind in found] == [
        ("提议人", StakeholderKind.AUTHOR),
        ("关注人", StakeholderKind.FOLLOWER),
        ("同户人", StakeholderKind.FOLLOWER),
        ("代表", StakeholderKind.COUNCIL),
        ("书记", StakeholderKind.COUNCIL),
    ]


async def test_an_outsider_is_refused_and_the_participants_are_counted(
    sessions: SessionFactory,
) -> None:
    item = await make_item(sessions)
    async with sessions() as session:
        # what the create-vote review shows: 3 of the 4 participants live in the village
        assert await votes.participants_count(session, item.proposal_id) == 3
    vote_id, (agree, disagree, _abstain) = await put_vote(sessions, item)
    async with sessions() as session:
        roll = (await session.exec(select(VoteVoter).where(VoteVoter.vote_id == vote_id))).all()
    assert len(roll) == 4  # the admin is on it, but has no home here to vote from

    with pytest.raises(NotAllowed) as refused:
        await press(sessions, item, "旁人", vote_id, agree)
    assert "concerned by its agenda item" in refused.value.message
    # following the item once the vote has begun does not put anyone on the roll
    async with unit_of_work(sessions) as session:
        late = await item.v.load_actor(session, "后来人")
        await council.follow(session, late, item.proposal_id, NOW + timedelta(minutes=1))
    with pytest.raises(NotAllowed):
        await press(sessions, item, "后来人", vote_id, agree)
    with pytest.raises(NotAllowed):  # the author's household mate is not on the roll
        await press(sessions, item, "同户人", vote_id, agree)
    with pytest.raises(NotAllowed):  # on the roll, but a role is not a home
        await press(sessions, item, "书记", vote_id, agree)

    await press(sessions, item, "提议人", vote_id, agree)
    await press(sessions, item, "关注人", vote_id, disagree)
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        assert await votes.eligible_count(session, vote) == 3
        assert await votes.voter_count(session, vote_id) == 2
        assert [p.full_name for p in await votes.non_voters(session, vote)] == ["代表"]
        voted = {p.full_name for p, _ballot in await votes.voters_of(session, vote_id)}
        view = await votes.vote_view(session, vote_id)
    assert voted == {"提议人", "关注人"}
    PoI18n().activate()
    text = card_text(view, "zh", SHANGHAI)
    assert f"投票人：议题 {item.code} 的相关居民" in text
    assert "已投票：2 / 3" in text
    english = card_text(view, "en", SHANGHAI)
    assert f"the residents concerned by agenda item {item.code}" in english


async def test_reminders_and_the_close_follow_the_roll(sessions: SessionFactory) -> None:
    item = await make_item(sessions)
    vote_id, (agree, _disagree, _abstain) = await put_vote(sessions, item)
    await press(sessions, item, "提议人", vote_id, agree)
    clock = Clock()
    clock.travel_to(NOW + timedelta(days=2, hours=1))
    jobs = runtime(sessions, clock)
    assert await jobs.run("vote_reminder") == {f"v{vote_id}": 2}
    async with sessions() as session:
        rows = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.batch == f"vote_reminder:v{vote_id}")
            )
        ).all()
    told = {r.chat_id for r in rows}
    assert told == {item.v.person(n).telegram_id for n in ("关注人", "代表")}

    # one of the roll leaves the village before the close: no longer counted
    async with unit_of_work(sessions) as session:
        membership = (
            await session.exec(
                select(Membership).where(Membership.person_id == item.v.person("代表").id)
            )
        ).one()
        membership.status = MembershipStatus.LEFT
        session.add(membership)
    clock.travel_to(NOW + timedelta(days=3, minutes=1))
    assert await jobs.run("vote_close") == {f"v{vote_id}": 1}
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        view = await votes.vote_view(session, vote_id)
    assert vote.status == VoteStatus.CLOSED and vote.eligible == 2 and vote.turnout == 1
    text = result_text(view, "zh", SHANGHAI)
    assert "参与：1 / 2" in text and f"议题 {item.code} 的相关居民" in text


async def test_one_ballot_per_household_among_the_participants(
    sessions: SessionFactory,
) -> None:
    """Per household, with two picks of four: the roll's households vote once each; a second
    participant of the author's household is refused, the outsider still too."""
    item = await make_item(sessions, per_household=True)
    async with unit_of_work(sessions) as session:
        mate = await item.v.load_actor(session, "同户人")
        await council.follow(session, mate, item.proposal_id, NOW)  # before the vote: listed
    vote_id, o = await put_vote(
        sessions, item, max_picks=2, options=["修桥面", "加护栏", "装路灯", "都不修"]
    )
    await press(sessions, item, "提议人", vote_id, o[0])
    await press(sessions, item, "提议人", vote_id, o[1])
    await confirm(sessions, item, "提议人", vote_id)
    with pytest.raises(AlreadyDone) as household:
        await press(sessions, item, "同户人", vote_id, o[2])
    assert "household" in household.value.message
    with pytest.raises(AlreadyDone):
        await confirm(sessions, item, "同户人", vote_id)
    with pytest.raises(NotAllowed):
        await press(sessions, item, "旁人", vote_id, o[2])
    with pytest.raises(NotAllowed):
        await confirm(sessions, item, "旁人", vote_id)
    await press(sessions, item, "代表", vote_id, o[1])
    await press(sessions, item, "关注人", vote_id, o[3])  # a draft only: not a vote
    await confirm(sessions, item, "代表", vote_id)
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        # households 1号 (the author and the mate), 2号 (the follower), 3号 (the council's)
        assert await votes.eligible_count(session, vote) == 3
        assert await votes.voter_count(session, vote_id) == 2
        assert await votes.tally(session, vote_id) == {o[0]: 1, o[1]: 2}
        assert [p.full_name for p in await votes.non_voters(session, vote)] == ["关注人"]


async def test_putting_a_stakeholders_vote_is_checked(sessions: SessionFactory) -> None:
    item = await make_item(sessions)
    admin = item.actor("书记")

    async def create(**rules: object) -> Vote:
        async with unit_of_work(sessions) as session:
            return await votes.create_vote(
                session,
                admin,
                village_id=item.v.village_id,
                question="修桥吗？",
                options=OPTIONS,
                deadline=NOW + timedelta(days=3),
                secret=False,
                quorum_percent=None,
                now=NOW,
                stakeholders=True,
                **rules,  # type: ignore[arg-type]
            )

    with pytest.raises(RuleError) as no_item:
        await create()
    assert "agenda item" in no_item.value.message
    second = await _second_grid(sessions, item)
    with pytest.raises(RuleError) as both:
        await create(proposal_id=item.proposal_id, grid_ids=[second])
    assert "not both" in both.value.message

    # an item whose people all left: nobody could vote
    async with unit_of_work(sessions) as session:
        for name in ("提议人", "关注人", "代表"):
            membership = (
                await session.exec(
                    select(Membership).where(Membership.person_id == item.v.person(name).id)
                )
            ).one()
            membership.status = MembershipStatus.LEFT
            session.add(membership)
    with pytest.raises(RuleError) as nobody:
        await create(proposal_id=item.proposal_id)
    assert "approved resident" in nobody.value.message
    async with sessions() as session:
        proposal = await votes.get_proposal(session, item.proposal_id)
    assert proposal.status.value == "on_agenda"  # refused: nothing changed


async def _second_grid(sessions: SessionFactory, item: Item) -> int:
    async with unit_of_work(sessions) as session:
        grid = Grid(village_id=item.v.village_id, name="二网格")
        session.add(grid)
        await session.flush()
        return grid.id or 0
