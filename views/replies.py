"""Answering a button press: stop the button's spinner, then show what comes next."""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery, Message


async def edit_after_press(
    query: CallbackQuery, text: str, *, toast: str | None = None, **kwargs: Any
) -> None:
    """Answer the press (with a short `toast`, if given) and put `text` in place of the message
    the button sits on."""
    await query.answer(toast)
    if isinstance(query.message, Message):  # not when Telegram no longer has it
        await query.message.edit_text(text, **kwargs)


async def send_after_press(query: CallbackQuery, text: str, **kwargs: Any) -> None:
    """Answer the press and send `text` below the message the button sits on."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, **kwargs)
