"""Words typed where no command or step takes them (tried just before the catch-all).

Outside a flow, an approved resident's text is offered as a report or a proposal, and carried
into that flow's description. Inside a flow that waits for a button, text matching one of the
buttons shown is that press; other text gets the buttons again."""

from __future__ import annotations

import uuid
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd

from handlers.home import run_command
from handlers.reports import ReportFlow
from handlers.votes import Propose, review_proposal
from storage import reports, votes
from storage.permissions.org import Actor
from storage.profiles import Profile
from views.home import (
    TYPED,
    FreeText,
    ShownButtons,
    free_text_keyboard,
    home_keyboard,
    home_text,
    keys_shown,
)
from views.i18n import _
from views.replies import edit_after_press

router = Router(name="home_text")


class Offered(StatesGroup):
    text = State()


@router.message(
    StateFilter(None, Offered.text), F.chat.type == "private", F.text, ~F.text.startswith("/")
)
async def offer_free_text(
    message: Message, actor: Actor | None, profile: Profile | None, state: FSMContext
) -> None:
    """Text outside a flow: a resident may send it as a report or a proposal."""
    if actor is None or not actor.is_approved_resident:
        await message.answer(
            _("I cannot take typed words here. Please tap a button below."),
            reply_markup=home_keyboard(actor, keys_shown=keys_shown(profile)),
        )
        return
    text = reports.clean_description(message.text)
    await state.set_state(Offered.text)
    await state.set_data({"text": text})
    await message.answer(
        _("Shall I send this as a report to your grid worker?\n\n“{text}”").format(
            text=hd.quote(text)
        ),
        reply_markup=free_text_keyboard(),
    )


@router.callback_query(FreeText.filter(), StateFilter("*"))
async def use_free_text(
    query: CallbackQuery,
    callback_data: FreeText,
    actor: Actor | None,
    profile: Profile | None,
    state: FSMContext,
    **data: Any,
) -> None:
    """Report it (the text is the description) or propose it (the text is the proposal)."""
    form = await state.get_data()
    text = form.get("text") if await state.get_state() == Offered.text.state else None
    if callback_data.make == "cancel" or not text:
        await state.clear()
        await edit_after_press(
            query,
            _("All right, nothing was sent.") + "\n\n" + home_text(profile),
            reply_markup=home_keyboard(actor, keys_shown=keys_shown(profile)),
        )
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    message = query.message.model_copy(update={"from_user": query.from_user}).as_(query.bot)
    await query.message.edit_reply_markup(reply_markup=None)
    await state.clear()
    if callback_data.make == "report":
        await run_command(message, "report", state=state, actor=actor, profile=profile, **data)
        if await state.get_state() == ReportFlow.category.state:
            await state.update_data(description=text, quick=True)
        return
    await run_command(message, "propose", state=state, actor=actor, profile=profile, **data)
    if await state.get_state() == Propose.title.state:
        title = text if len(text) <= votes.TITLE_MAX else text[: votes.TITLE_MAX - 1] + "…"
        await state.update_data(title=title, body=text if title != text else "")
        await review_proposal(message, state)


@router.message(~StateFilter(None), F.chat.type == "private", F.text, ~F.text.startswith("/"))
async def typed_in_flow(
    message: Message, shown_buttons: ShownButtons, state: FSMContext, **data: Any
) -> None:
    """Text where the step waits for a button: the button of that label, else the buttons
    again."""
    chat_id = message.chat.id
    found = shown_buttons.match(chat_id, message.text or "")
    if found is not None and message.from_user is not None:
        message_id, callback = found
        shown = Message(message_id=message_id, date=message.date, chat=message.chat, text="…").as_(
            message.bot
        )
        press = CallbackQuery(
            id=TYPED + uuid.uuid4().hex,
            from_user=message.from_user,
            chat_instance=TYPED,
            message=shown,
            data=callback,
        ).as_(message.bot)
        given = {k: v for k, v in data.items() if k not in ("handler", "event_router")}
        await data["dispatcher"].propagate_event("callback_query", press, state=state, **given)
        return
    last = shown_buttons.last(chat_id)
    text = _("Please tap one of the buttons below, or send /cancel to stop.")
    if last is None:
        await message.answer(_("Please tap one of the buttons above, or send /cancel to stop."))
        return
    await message.answer(text, reply_markup=InlineKeyboardMarkup.model_validate(last[1]))
