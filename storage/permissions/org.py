"""Who may do what in the organisation: pure checks over an `Actor`, tested without Telegram."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.models.org import MembershipStatus, Role


@dataclass(frozen=True)
class RoleHeld:
    role: Role
    village_id: int
    grid_id: int | None = None


@dataclass(frozen=True)
class Residence:
    membership_id: int
    village_id: int
    grid_id: int
    household_id: int
    status: MembershipStatus
    tenant: bool = False


@dataclass(frozen=True)
class Actor:
    """The person behind an update, with everything the permission checks need."""

    person_id: int
    telegram_id: int
    is_district_admin: bool = False
    roles: frozenset[RoleHeld] = field(default_factory=frozenset)
    residence: Residence | None = None

    def admin_villages(self) -> set[int]:
        return {r.village_id for r in self.roles if r.role == Role.VILLAGE_ADMIN}

    def worker_grids(self) -> set[int]:
        return {r.grid_id for r in self.roles if r.role == Role.GRID_WORKER and r.grid_id}

    def reviewer_villages(self) -> set[int]:
        return {r.village_id for r in self.roles if r.role == Role.REVIEWER}

    def villages(self) -> set[int]:
        """Every village the person has a role or an approved home in."""
        found = {r.village_id for r in self.roles}
        if self.residence and self.residence.status == MembershipStatus.APPROVED:
            found.add(self.residence.village_id)
        return found

    @property
    def is_approved_resident(self) -> bool:
        return bool(self.residence and self.residence.status == MembershipStatus.APPROVED)


class OrgPermissions:
    """Organisation rules. Every button press is checked here again, never trusted."""

    @staticmethod
    def can_create_village(actor: Actor) -> bool:
        return actor.is_district_admin

    @staticmethod
    def can_administer(actor: Actor, village_id: int) -> bool:
        return actor.is_district_admin or village_id in actor.admin_villages()

    @classmethod
    def can_appoint(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_administer(actor, village_id)

    @classmethod
    def can_invite(cls, actor: Actor, village_id: int, grid_id: int) -> bool:
        return cls.can_administer(actor, village_id) or grid_id in actor.worker_grids()

    @classmethod
    def can_decide_membership(cls, actor: Actor, village_id: int, grid_id: int) -> bool:
        return cls.can_invite(actor, village_id, grid_id)

    @classmethod
    def can_bind_group(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_administer(actor, village_id)

    @classmethod
    def can_end_role(cls, actor: Actor, village_id: int) -> bool:
        """Village admins end any role of their village, another admin's too; district admins
        any role of any village."""
        return cls.can_administer(actor, village_id)

    @classmethod
    def can_manage_residents(cls, actor: Actor, village_id: int, grid_id: int) -> bool:
        """Mark a resident moved away or deceased, move them, change their household: the
        grid's workers and the village admins."""
        return cls.can_invite(actor, village_id, grid_id)

    @classmethod
    def can_see_audit(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_administer(actor, village_id)

    @classmethod
    def can_set_tenant_rule(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_administer(actor, village_id)
