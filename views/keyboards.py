"""Small keyboard builders shared by the features. Texts come translated from the caller."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from views.i18n import _

Button = InlineKeyboardButton


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def keyboard(*rows: Sequence[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows if row])


def flow_button(text: str, action: str) -> InlineKeyboardButton:
    return button(text, FlowAction(action=action).pack())


def cancel_row() -> list[InlineKeyboardButton]:
    return [flow_button(_("✖ Cancel"), "cancel")]


def picker(
    what: str,
    items: Iterable[tuple[int, str]],
    *,
    columns: int = 2,
    extra: Sequence[InlineKeyboardButton] = (),
) -> InlineKeyboardMarkup:
    """Buttons for a list of choices, `columns` a row, then `extra` and Cancel."""
    buttons = [button(label, Pick(what=what, value=value).pack()) for value, label in items]
    rows = [buttons[i : i + columns] for i in range(0, len(buttons), columns)]
    return keyboard(*rows, list(extra), cancel_row())


def confirm_keyboard(confirm_text: str, *, back: bool = True) -> InlineKeyboardMarkup:
    row = [flow_button(confirm_text, "confirm")]
    if back:
        row.append(flow_button(_("◀ Back"), "back"))
    return keyboard(row, cancel_row())


class FlowAction(CallbackData, prefix="fl"):
    """A step of the current wizard: confirm, back, skip, done, new, cancel."""

    action: str


class Pick(CallbackData, prefix="pk"):
    """A choice inside the current wizard (a village, grid, household, role...)."""

    what: str
    value: int


class Language(CallbackData, prefix="lang"):
    code: str
