"""Names of statuses and roles in a person's language, shared by several features."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from storage.errors import N_
from storage.models.org import MembershipStatus, Role, WorkerKind
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
