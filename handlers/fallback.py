"""The catch-all, registered last: whatever no feature handled gets a short, kind answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandStart, StateFilter
from aiogram.types import CallbackQuery, Message

from views.i18n import _

router = Router(name="fallback")


@router.message(CommandStart(deep_link=True), F.chat.type == "private")
async def unknown_link(message: Message) -> None:
    """A start link that is not ours, or was cut short when copied."""
    await message.answer(_("This link is not valid. Please ask for a new one."))


@router.message(StateFilter("*"), F.chat.type == "private", ~StateFilter(None))
async def unexpected_in_flow(message: Message) -> None:
    """Inside a flow, a sticker, photo or anything else the step cannot use."""
    await message.answer(
        _(
            "I cannot use that here. Please answer as the message above asks, "
            "or send /cancel to stop."
        )
    )


@router.message(F.chat.type == "private", F.text.startswith("/"))
async def unknown_command(message: Message) -> None:
    await message.answer(_("I do not know that command. See /help."))


@router.message(F.chat.type == "private")
async def idle_message(message: Message) -> None:
    await message.answer(_("Please tap a button, or send /start for your home screen."))


@router.callback_query()
async def expired_button(query: CallbackQuery) -> None:
    """A button from an old message, a finished flow, or forged data."""
    await query.answer(_("This button has expired."), show_alert=True)
