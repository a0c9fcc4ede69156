"""What a person's home screen and "/" menu hold: the entries their roles allow, most used
first. Pure functions of an `Actor`; the words and buttons are in views/home.py."""

from __future__ import annotations

from storage.models.org import MembershipStatus
from storage.permissions.org import Actor

# Each entry is the command it runs (so a button and a typed command do the same thing).
RESIDENT = ("report", "claim", "mypoints", "propose", "agenda", "me")
WORKER = ("tasks", "pending", "notice", "behalf")
REVIEWER = ("review",)
ADMIN = ("admin",)  # the ⚙ sub-menu
STRANGER = ("me", "language")

# The ⚙ sub-menu of a village admin (a district admin has newvillage first).
ADMIN_MENU = (
    "appoint",
    "invite",
    "proposals",
    "vote",
    "council",
    "award",
    "newtask",
    "gridstats",
    "catalogue",
    "rewards",
    "pointsettings",
    "reportsettings",
    "gridpost",
    "voterule",
    "pointsexport",
    "projects",
)
DISTRICT_MENU = ("newvillage", "appoint", "gridstats")

# The persistent keyboard under the text box: the few most used, with 🏠 first.
QUICK_MAX = 4

# Beside the home entries, the "/" menu lists these (every command keeps working).
MENU_RESIDENT = ("myreports", "reports", "myclaims", "leaderboard", "follow")
MENU_EVERYONE = ("start", "help", "language", "cancel")


def is_worker(actor: Actor) -> bool:
    return bool(actor.worker_grids())


def is_admin(actor: Actor) -> bool:
    return bool(actor.admin_villages()) or actor.is_district_admin


def home_entries(actor: Actor | None) -> list[str]:
    """The big buttons of the home screen, in order."""
    if actor is None:
        return list(STRANGER)
    entries: list[str] = []
    if actor.is_approved_resident:
        entries += RESIDENT
    if is_worker(actor) or is_admin(actor):
        entries += WORKER
    if actor.reviewer_villages():
        entries += REVIEWER
    if is_admin(actor):
        entries += ADMIN
    if not entries:
        return list(STRANGER)
    if "me" not in entries:
        entries.append("me")
    return entries


def admin_entries(actor: Actor | None) -> list[str]:
    """The ⚙ sub-menu; empty for someone who is no admin."""
    if actor is None or not is_admin(actor):
        return []
    if actor.admin_villages():
        return list(ADMIN_MENU) + (["newvillage"] if actor.is_district_admin else [])
    return list(DISTRICT_MENU)


def quick_entries(actor: Actor | None) -> list[str]:
    """The persistent keyboard: home, then the first entries of the home screen."""
    entries = [e for e in home_entries(actor) if e not in ("admin", "language")]
    return ["start", *entries[: QUICK_MAX - 1]]


def menu_commands(actor: Actor | None) -> list[str]:
    """The person's "/" menu: home, their home entries, the admin's commands, the rest."""
    commands = ["start"]
    resident = actor is not None and actor.is_approved_resident
    for entry in [*home_entries(actor), *admin_entries(actor)]:
        if entry != "admin" and entry not in commands:
            commands.append(entry)
        if entry == "me" and resident:
            commands += [c for c in MENU_RESIDENT if c not in commands]
    commands += [c for c in MENU_EVERYONE if c not in commands]
    return commands


def default_menu_commands() -> list[str]:
    """The "/" menu of everyone the bot has not set one for: a resident's."""
    commands = ["start", *RESIDENT, *MENU_RESIDENT, *MENU_EVERYONE]
    return list(dict.fromkeys(commands))


def menu_key(actor: Actor | None, locale: str) -> tuple[str, ...]:
    """What a person's menu depends on: it is set again when this changes."""
    return (locale, *menu_commands(actor))


def standing(actor: Actor | None) -> str:
    """Where a person stands, for the hint of what they can do next: stranger (not joined,
    rejected, or left), pending (their request waits), resident (approved)."""
    if actor is None or actor.residence is None:
        return "stranger"
    if actor.residence.status == MembershipStatus.APPROVED:
        return "resident"
    if actor.residence.status == MembershipStatus.PENDING:
        return "pending"
    return "stranger"
