"""What people see when an operation is refused or fails. The transaction is already rolled
back by the database middleware: nothing was changed."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from storage.errors import RuleError, Term
from views.i18n import tr

router = Router(name="errors")
log = logging.getLogger("linli.errors")


@router.errors(ExceptionTypeFilter(RuleError))
async def explain_refusal(event: ErrorEvent, locale: str | None = None) -> bool:
    """A rule said no: tell the person why, in their language."""
    error = event.exception
    assert isinstance(error, RuleError)
    params = {
        key: tr(locale, value) if isinstance(value, Term) else value
        for key, value in error.params.items()
    }
    await answer(event, tr(locale, error.message, **params))
    return True


@router.errors()
async def report_failure(event: ErrorEvent, locale: str | None = None) -> bool:
    """Anything else: log it, apologise, and say that nothing was changed."""
    log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
    try:
        await answer(
            event,
            tr(locale, "Sorry, something went wrong and nothing was changed. Please try again."),
        )
    except TelegramAPIError:
        log.warning("could not tell the person about the failure")
    return True


async def answer(event: ErrorEvent, text: str) -> None:
    update = event.update
    query = update.callback_query
    if query is not None:
        try:
            await query.answer(text, show_alert=True)
        except TelegramBadRequest:  # the handler had already answered the press: write instead
            chat_id = query.message.chat.id if query.message else query.from_user.id
            await query.bot.send_message(chat_id, text)  # type: ignore[union-attr]
    elif update.message is not None and update.message.chat.type == "private":
        await update.message.answer(text)
    elif update.message is not None:
        await update.message.reply(text)
