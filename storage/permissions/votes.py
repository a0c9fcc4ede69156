"""Who may do what in consultation and voting: pure checks, tested without Telegram."""

from __future__ import annotations

from storage.models.votes import Proposal, Vote, VoteStatus
from storage.permissions.org import Actor, OrgPermissions


class VotePermissions:
    """Every press on a vote card is checked here again, never trusted."""

    @staticmethod
    def can_manage(actor: Actor, village_id: int) -> bool:
        """Set the voting rule, put a vote, screen proposals: the village's admins."""
        return OrgPermissions.can_administer(actor, village_id)

    @staticmethod
    def lives_in_village(actor: Actor, vote: Vote) -> bool:
        residence = actor.residence
        return (
            actor.is_approved_resident
            and residence is not None
            and residence.village_id == vote.village_id
        )

    @classmethod
    def can_vote(cls, actor: Actor, vote: Vote, *, listed: bool = False) -> bool:
        """Approved residents of the vote's village (of its grids, when it names some; on its
        roll, `listed`, when it is for its agenda item's participants), while it is open."""
        return (
            vote.status == VoteStatus.OPEN
            and cls.lives_in_village(actor, vote)
            and (not vote.grid_ids or actor.residence.grid_id in vote.grid_ids)  # type: ignore[union-attr]
            and (not vote.stakeholders or listed)
        )

    @staticmethod
    def can_propose(actor: Actor) -> bool:
        return actor.is_approved_resident

    @classmethod
    def can_see_author(cls, actor: Actor, proposal: Proposal) -> bool:
        """An anonymous proposal's author is known to the village admins and to the author."""
        return (
            not proposal.anonymous
            or actor.person_id == proposal.author_id
            or cls.can_manage(actor, proposal.village_id)
        )
