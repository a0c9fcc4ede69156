"""Tables of consultation and voting (协商式): concerns put to the village, votes on them in the
group chats, and the ballots.

A ballot is unique per vote and voter key (`p<person id>`, or `h<household id>` when the village
votes one per household), so concurrent presses, also by two members of a household, count once.
Its picks are rows of their own (`BallotPick`): one for a single-choice vote, up to the vote's
`max_picks` for a "pick up to N of M" vote; the ballot row is what a press locks. In a
pick-several vote a press changes the ballot's draft (`BallotDraft`), and only ✔ 确认 turns the
draft into its picks: a ballot without picks (a draft only) is not a vote.

Who may vote is the village's approved residents, or those of some grids (`Vote.grid_ids`), or,
for a vote on an agenda item, only the item's participants (利益相关方, `Vote.stakeholders`):
the roll `VoteVoter` written once when the vote is put (see storage.votes.item_participants).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import JSON, Field, SQLModel

from storage.models.common import utcnow


class ProposalStatus(StrEnum):
    NEW = "new"
    ON_AGENDA = "on_agenda"
    DECLINED = "declined"
    VOTING = "voting"
    DECIDED = "decided"
    MERGED = "merged"  # into another proposal (merged_into_id); keeps its page and answer
    DROPPED = "dropped"  # by the council

    def can_become(self, other: ProposalStatus) -> bool:
        return other in PROPOSAL_TRANSITIONS[self]


PROPOSAL_TRANSITIONS: dict[ProposalStatus, frozenset[ProposalStatus]] = {
    ProposalStatus.NEW: frozenset(
        {ProposalStatus.ON_AGENDA, ProposalStatus.DECLINED, ProposalStatus.MERGED}
    ),
    ProposalStatus.ON_AGENDA: frozenset(
        {ProposalStatus.VOTING, ProposalStatus.DECIDED, ProposalStatus.DROPPED}
    ),
    ProposalStatus.VOTING: frozenset({ProposalStatus.DECIDED}),
    ProposalStatus.DECLINED: frozenset(),
    ProposalStatus.DECIDED: frozenset(),
    ProposalStatus.MERGED: frozenset(),
    ProposalStatus.DROPPED: frozenset(),
}


class VoteStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DecideRule(StrEnum):
    """Which options a vote decides: the N most picked (N = max_picks), or every option picked
    by more than half of those who voted."""

    TOP = "top"
    MAJORITY = "majority"


class StakeholderKind(StrEnum):
    """Why a person is on an agenda item's roll (the first that applies, in this order)."""

    AUTHOR = "author"  # sent the proposal
    FOLLOWER = "follower"  # followed it (or sent or followed one merged into it)
    COUNCIL = "council"  # a participant of the village's council (阳光议事会)


class VoteSettings(SQLModel, table=True):
    """A village's voting rule: one vote per person (default) or one per household."""

    __tablename__ = "vote_settings"

    village_id: int = Field(foreign_key="village.id", primary_key=True)
    per_household: bool = False
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="person.id")


class Proposal(SQLModel, table=True):
    """A resident's concern or proposal (书记信箱), numbered per village and year."""

    __table_args__ = (UniqueConstraint("village_id", "year", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    year: int
    number: int
    author_id: int = Field(foreign_key="person.id", index=True)
    title: str = Field(max_length=80)
    body: str = Field(default="", max_length=1000)
    anonymous: bool = False
    status: ProposalStatus = Field(default=ProposalStatus.NEW, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    answered_at: datetime | None = None
    answered_by: int | None = Field(default=None, foreign_key="person.id")
    answer: str | None = Field(default=None, max_length=500)
    decided_at: datetime | None = None
    merged_into_id: int | None = Field(default=None, foreign_key="proposal.id")
    photo_file_id: str | None = Field(default=None, max_length=255)  # Telegram keeps the file


class Vote(SQLModel, table=True):
    """A vote posted as a card in the village's bound groups, closed by the deadline job."""

    __table_args__ = (Index("ix_vote_status_deadline", "status", "deadline"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    proposal_id: int | None = Field(default=None, foreign_key="proposal.id", index=True)
    question: str = Field(max_length=200)
    per_household: bool = False
    secret: bool = False  # the tally shows only at the close; nobody's choice ever shows
    quorum_percent: int | None = None  # of the eligible voters (or households)
    deadline: datetime
    status: VoteStatus = Field(default=VoteStatus.OPEN, max_length=16)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    reminded_at: datetime | None = None
    closed_at: datetime | None = None
    eligible: int | None = None  # at the close
    turnout: int | None = None  # at the close
    quorum_reached: bool | None = None
    result: dict = Field(default_factory=dict, sa_type=JSON)  # option id (text) -> count
    max_picks: int = 1  # "pick up to N": approval voting when over 1
    decide_rule: DecideRule = Field(default=DecideRule.TOP, max_length=16)
    grid_ids: list = Field(default_factory=list, sa_type=JSON)  # empty: the whole village
    stakeholders: bool = False  # only the agenda item's participants (VoteVoter) may vote
    paper_voters: int | None = None  # paper ballots, entered once by an admin
    paper_at: datetime | None = None
    paper_by: int | None = None  # a person id; no foreign key, so adding it copies no table


class VoteOption(SQLModel, table=True):
    __tablename__ = "vote_option"

    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="vote.id", index=True)
    position: int
    label: str = Field(max_length=40)
    paper_count: int | None = None  # paper ballots that picked it (see Vote.paper_at)


class VoteVoter(SQLModel, table=True):
    """One person on the roll of a vote limited to its agenda item's participants, written
    when the vote is put: following the item later does not add anyone."""

    __tablename__ = "vote_voter"
    __table_args__ = (UniqueConstraint("vote_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="vote.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    kind: StakeholderKind = Field(max_length=16)


class Ballot(SQLModel, table=True):
    """One voter's current choice; changing the vote updates the row."""

    __table_args__ = (UniqueConstraint("vote_id", "voter_key"),)

    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="vote.id")
    voter_key: str = Field(max_length=24)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id")
    cast_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime | None = None


class BallotPick(SQLModel, table=True):
    """One option a ballot picks; a second press on it (in a pick-several vote) removes it."""

    __tablename__ = "ballot_pick"
    __table_args__ = (
        UniqueConstraint("ballot_id", "option_id"),
        Index("ix_ballot_pick_vote_option", "vote_id", "option_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ballot_id: int = Field(foreign_key="ballot.id")
    vote_id: int = Field(foreign_key="vote.id")
    option_id: int = Field(foreign_key="vote_option.id")
    picked_at: datetime = Field(default_factory=utcnow)


class BallotDraft(SQLModel, table=True):
    """One option a pick-several ballot's draft holds: what the voter has pressed so far. ✔ 确认
    makes the ballot's picks the draft; the draft stays, so the next press starts from the
    confirmed picks. A draft is never counted."""

    __tablename__ = "ballot_draft"
    __table_args__ = (UniqueConstraint("ballot_id", "option_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ballot_id: int = Field(foreign_key="ballot.id")
    vote_id: int = Field(foreign_key="vote.id", index=True)
    option_id: int = Field(foreign_key="vote_option.id")
    picked_at: datetime = Field(default_factory=utcnow)


class VoteCard(SQLModel, table=True):
    """The vote's message in one group: sent through the outbox, edited at a bounded rate."""

    __tablename__ = "vote_card"

    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="vote.id", index=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    outbox_id: int = Field(foreign_key="outbox.id")
    shown: str = Field(default="", max_length=64)  # a digest of the text the card shows
    edited_at: datetime | None = None
    edits: int = 0
