"""The /export menu (三务公开栏): what an admin can take to the notice board, the periods it
covers, and the callback data of its buttons."""

from __future__ import annotations

from datetime import date

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup

from storage import periods
from storage.errors import N_
from views.dates import month_title, year_title
from views.i18n import tr
from views.keyboards import button, cancel_row, keyboard

# kind: (button text, period kind, file name stem, extension)
KINDS: dict[str, tuple[str, periods.Kind, str, str]] = {
    "pdf": (N_("📄 Month's notice (PDF, to print)"), "monthly", "notice", "pdf"),
    "points": (N_("🏅 Points sheet"), "monthly", "points", "xlsx"),
    "reports": (N_("🧭 Reports received and fixed"), "monthly", "reports", "xlsx"),
    "votes": (N_("🗳 Vote results"), "yearly", "votes", "xlsx"),
    "council": (N_("📋 Council decisions"), "yearly", "council", "xlsx"),
    "record": (N_("🔒 Who voted (for the admins, not for posting)"), "yearly", "voters", "xlsx"),
}


class BoardVillage(CallbackData, prefix="bv"):
    village_id: int


class BoardKind(CallbackData, prefix="bk"):
    village_id: int
    kind: str


class BoardFile(CallbackData, prefix="bf"):
    village_id: int
    kind: str
    period: str


def villages_keyboard(villages: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    return keyboard(
        *[[button(name, BoardVillage(village_id=vid).pack())] for vid, name in villages],
        cancel_row(),
    )


def kinds_keyboard(village_id: int, locale: str | None) -> InlineKeyboardMarkup:
    return keyboard(
        *[
            [button(tr(locale, text), BoardKind(village_id=village_id, kind=kind).pack())]
            for kind, (text, _p, _s, _e) in KINDS.items()
        ],
        cancel_row(),
    )


def recent_periods(kind: periods.Kind, today: date) -> list[str]:
    """Last month first (what the board posts on the 1st), then this month and the one before;
    this year and last year."""
    current = periods.key_of(kind, today)
    if kind == "monthly":
        return [periods.shift(kind, current, -1), current, periods.shift(kind, current, -2)]
    return [current, periods.shift(kind, current, -1)]


def period_name(kind: periods.Kind, key: str, locale: str | None) -> str:
    return month_title(key, locale) if kind == "monthly" else year_title(key, locale)


def periods_keyboard(
    village_id: int, kind: str, today: date, locale: str | None
) -> InlineKeyboardMarkup:
    period_kind = KINDS[kind][1]
    return keyboard(
        [
            button(
                period_name(period_kind, key, locale),
                BoardFile(village_id=village_id, kind=kind, period=key).pack(),
            )
            for key in recent_periods(period_kind, today)
        ],
        [button(tr(locale, "◀ Back"), BoardVillage(village_id=village_id).pack())],
        cancel_row(),
    )


def file_name(kind: str, village: str, period: str) -> str:
    _t, _p, stem, extension = KINDS[kind]
    return f"{village}-{stem}-{period}.{extension}"


def caption(kind: str, village: str, period: str, locale: str | None) -> str:
    text, period_kind, _s, _e = KINDS[kind]
    what = tr(locale, text).split(" ", 1)[-1]
    name = period_name(period_kind, period, locale)
    if kind == "record":
        return tr(
            locale,
            "{village} · {what}, {period}. Keep it in the office: it is not for the notice board.",
            village=village,
            what=what,
            period=name,
        )
    return tr(
        locale,
        "{village} · {what}, {period}, ready for the notice board.",
        village=village,
        what=what,
        period=name,
    )
