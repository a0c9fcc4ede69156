"""Who may do what around the monthly council and its projects: pure checks, tested alone."""

from __future__ import annotations

from storage.models.council import Project
from storage.models.votes import Proposal, ProposalStatus
from storage.permissions.org import Actor, OrgPermissions

FOLLOWABLE = frozenset(
    {ProposalStatus.NEW, ProposalStatus.ON_AGENDA, ProposalStatus.VOTING, ProposalStatus.DECIDED}
)


class CouncilPermissions:
    """Every press is checked here again: a button is a suggestion, never a permission."""

    @staticmethod
    def can_configure(actor: Actor, village_id: int) -> bool:
        """Set the council's day and time and choose its participants: the village's admins."""
        return OrgPermissions.can_administer(actor, village_id)

    @staticmethod
    def can_merge(actor: Actor, proposal: Proposal, into: Proposal) -> bool:
        return (
            OrgPermissions.can_administer(actor, proposal.village_id)
            and proposal.village_id == into.village_id
            and proposal.id != into.id
        )

    @staticmethod
    def can_record_decision(actor: Actor, village_id: int) -> bool:
        """Record what the council decided on an item: the village's admins only."""
        return OrgPermissions.can_administer(actor, village_id)

    @staticmethod
    def can_change_project(actor: Actor, project: Project) -> bool:
        """Move a project on or add a progress note: the village's admins only."""
        return OrgPermissions.can_administer(actor, project.village_id)

    @staticmethod
    def can_follow(actor: Actor, proposal: Proposal) -> bool:
        """Approved residents (and admins) of the proposal's village, while it is still alive."""
        residence = actor.residence
        lives_there = (
            actor.is_approved_resident
            and residence is not None
            and residence.village_id == proposal.village_id
        )
        return proposal.status in FOLLOWABLE and (
            lives_there or OrgPermissions.can_administer(actor, proposal.village_id)
        )
