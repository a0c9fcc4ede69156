"""Names of statuses and roles in a person's language, shared by several features."""

from __future__ import annotations

from storage.errors import N_
from storage.models.org import MembershipStatus, Role, WorkerKind
from storage.models.points import EntryKind, PointEntry
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

QUARTER_NAMES = {
    1: N_("Q1 {year}"),
    2: N_("Q2 {year}"),
    3: N_("Q3 {year}"),
    4: N_("Q4 {year}"),
}


def quarter_title(key: str, locale: str | None = None) -> str:
    """A quarter's key (2026-Q1) as people say it: 2026年第一季度."""
    year, _, number = key.partition("-Q")
    if not (year.isdigit() and number.isdigit() and int(number) in QUARTER_NAMES):
        return key
    return tr(locale, QUARTER_NAMES[int(number)], year=int(year))


def entry_reason(entry: PointEntry, locale: str | None = None) -> str:
    """An entry's reason as shown; a correction (an upheld appeal) is said in words."""
    if entry.kind == EntryKind.CORRECTION and entry.corrects_id is not None:
        return tr(locale, "appeal upheld: entry #{entry} cancelled", entry=entry.corrects_id)
    return entry.reason


def status_name(status: MembershipStatus, locale: str | None = None) -> str:
    return tr(locale, STATUS_NAMES[status])


def role_name(role: Role, kind: WorkerKind | None = None, locale: str | None = None) -> str:
    text = (
        WORKER_NAMES[kind or WorkerKind.FULL_TIME]
        if role == Role.GRID_WORKER
        else ROLE_NAMES[role]
    )
    return tr(locale, text)
