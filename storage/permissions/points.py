"""Who may do what in the points system: pure checks, tested without Telegram."""

from __future__ import annotations

from storage.models.points import EntryKind, PointEntry
from storage.permissions.org import Actor, OrgPermissions


class PointsPermissions:
    """The points group (reviewers) decides; residents claim and appeal; admins set things up."""

    @staticmethod
    def can_claim(actor: Actor, village_id: int) -> bool:
        return bool(
            actor.is_approved_resident
            and actor.residence
            and actor.residence.village_id == village_id
        )

    @staticmethod
    def can_review(actor: Actor, village_id: int) -> bool:
        return village_id in actor.reviewer_villages()

    @staticmethod
    def is_own(actor: Actor, person_id: int | None, household_id: int) -> bool:
        """The thing is the actor's own, or their household's."""
        home = actor.residence.household_id if actor.is_approved_resident else None
        return person_id == actor.person_id or (home is not None and home == household_id)

    @classmethod
    def can_decide_claim(
        cls,
        actor: Actor,
        village_id: int,
        person_id: int,
        household_id: int,
        filed_by: int | None = None,
    ) -> bool:
        """A reviewer of the village, for a claim that is not theirs or their household's, nor
        one they filed for someone (代报)."""
        return (
            cls.can_review(actor, village_id)
            and not cls.is_own(actor, person_id, household_id)
            and actor.person_id != filed_by
        )

    @classmethod
    def can_award(cls, actor: Actor, village_id: int, household_id: int) -> bool:
        return cls.can_review(actor, village_id) and not cls.is_own(actor, None, household_id)

    @staticmethod
    def is_appealable(entry: PointEntry) -> bool:
        """A deduction may be appealed; a correction (an upheld appeal's) may not."""
        return entry.points < 0 and entry.kind != EntryKind.CORRECTION

    @classmethod
    def can_appeal(cls, actor: Actor, entry: PointEntry) -> bool:
        return cls.is_appealable(entry) and cls.is_own(actor, entry.person_id, entry.household_id)

    @classmethod
    def can_decide_appeal(
        cls, actor: Actor, village_id: int, recorded_by: int | None, household_id: int
    ) -> bool:
        return (
            cls.can_review(actor, village_id)
            and actor.person_id != recorded_by
            and not cls.is_own(actor, None, household_id)
        )

    @staticmethod
    def can_manage(actor: Actor, village_id: int) -> bool:
        """The catalogue, reward tiers, the schedule and handing rewards over."""
        return OrgPermissions.can_administer(actor, village_id)

    @classmethod
    def can_export(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_manage(actor, village_id) or cls.can_review(actor, village_id)

    @staticmethod
    def can_retract(actor: Actor, claim_person_id: int) -> bool:
        return actor.person_id == claim_person_id
