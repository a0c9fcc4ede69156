"""Names of statuses and roles in a person's language, shared by several features."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from storage.errors import N_
from storage.models.org import LeftReason, MembershipStatus, Role, WorkerKind
from views.i18n import tr

STATUS_NAMES = {
    MembershipStatus.PENDING: N_("waiting for approval"),
    MembershipStatus.APPROVED: N_("approved"),
    MembershipStatus.REJECTED: N_("not approved"),
    MembershipStatus.LEFT: N_("left"),
}
ROLE_NAMES = {
    Role.REVIEWER: N_("points reviewer"),
    Role.VILLAGE_ADMIN: N_("village admin"),
}
WORKER_NAMES = {
    WorkerKind.FULL_TIME: N_("full-time grid worker"),
    WorkerKind.PART_TIME: N_("part-time grid worker"),
}


def status_name(status: MembershipStatus, locale: str | None = None) -> str:
    return tr(locale, STATUS_NAMES[status])


def role_name(role: Role, kind: WorkerKind | None = None, locale: str | None = None) -> str:
    text = (
        WORKER_NAMES[kind or WorkerKind.FULL_TIME]
        if role == Role.GRID_WORKER
        else ROLE_NAMES[role]
    )
    return tr(locale, text)


class DecideMembership(CallbackData, prefix="mb"):
    membership_id: int
    approve: bool


class BindGroup(CallbackData, prefix="bind"):
    village_id: int
    grid_id: int  # 0 = the whole village; -1 = pick the village first (see handlers/org_groups.py)


# --- a village over the years: roles that end, residents and households that change --------


class EndRole(CallbackData, prefix="er"):
    """/roles: `pick` a role to end, `ok` to confirm (after the reason)."""

    action: str
    assignment_id: int


class RoleLink(CallbackData, prefix="rl"):
    """/roles: list the unused role links of a village (`invite_id` 0) or withdraw one."""

    village_id: int
    invite_id: int


class Leave(CallbackData, prefix="lv"):
    """/me: leave the village, asked twice (`step` 1, then 2)."""

    step: int


class Resident(CallbackData, prefix="rd"):
    """/residents: act on a resident (`away`, `dead`, `move`) or confirm (`away!`, `dead!`)."""

    action: str
    membership_id: int


class HouseholdAct(CallbackData, prefix="hh"):
    """/households: `show` one, `merge` it (then `into` the kept one), `grid` (then `to`)."""

    action: str
    household_id: int
    other: int = 0


class TenantRule(CallbackData, prefix="tn"):
    """/tenants: turn the village's `vote` or `earn` rule for tenants over."""

    village_id: int
    what: str


class AuditPage(CallbackData, prefix="au"):
    """/audit: a village's trail from `offset`, of one `kind` ("" = all), about `person`
    (0 = anyone)."""

    village_id: int
    offset: int
    kind: str = ""
    person: int = 0


AUDIT_KIND_NAMES = {
    "roles": N_("roles"),
    "membership": N_("residents and households"),
    "points": N_("points"),
    "reports": N_("reports"),
    "votes": N_("votes and proposals"),
}

# What each audit action is called in /audit; an action not named here shows as recorded.
AUDIT_ACTION_NAMES = {
    "role.grant": N_("role given"),
    "role.invite": N_("role link made"),
    "role.end": N_("role ended"),
    "role.withdraw": N_("role link withdrawn"),
    "membership.approve": N_("joined"),
    "membership.reject": N_("request not approved"),
    "membership.leave": N_("left the village"),
    "membership.moved_away": N_("moved away (迁出)"),
    "membership.deceased": N_("deceased (已故)"),
    "membership.move": N_("moved household"),
    "household.rename": N_("household renamed"),
    "household.merge": N_("households merged"),
    "household.split": N_("household split"),
    "household.move": N_("household moved to another grid"),
    "tenants.rule": N_("tenant rule changed"),
    "grid.invite": N_("grid invite made"),
    "task.report": N_("report filed"),
    "task.accept": N_("task accepted"),
    "task.resolve": N_("task resolved"),
    "task.release": N_("task returned to the grid"),
    "task.close": N_("task closed"),
    "task.reopen": N_("task reopened"),
    "notice.send": N_("notice sent"),
    "vote.create": N_("vote put"),
    "vote.rule": N_("voting rule changed"),
    "vote.cast": N_("ballot cast"),
    "vote.change": N_("ballot changed"),
    "vote.close": N_("vote closed"),
    "vote.merge_ballot": N_("ballot merged with its household's"),
    "points.award": N_("points recorded"),
    "points.claim": N_("points claim decided"),
}

LEFT_NAMES = {
    LeftReason.MOVED_AWAY: N_("moved away (迁出)"),
    LeftReason.DECEASED: N_("deceased (已故)"),
    LeftReason.LEFT: N_("left"),
}


def audit_action_name(action: str, locale: str | None = None) -> str:
    name = AUDIT_ACTION_NAMES.get(action)
    return tr(locale, name) if name else action
