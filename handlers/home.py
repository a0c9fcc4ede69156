"""The home screen: /start, its buttons (each runs the command it names, so a button and a
typed command do the same thing), the ⚙ sub-menu, and the persistent keyboard under the text
box. Tried early, so a tap on that keyboard leaves any flow and starts the one it names."""

from __future__ import annotations

from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.filters import CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, MessageEntity, ReplyKeyboardRemove

from storage import org
from storage.models.org import Person
from storage.permissions import home as entries_of
from storage.permissions.org import Actor
from storage.profiles import Profile
from views.home import (
    Home,
    admin_keyboard,
    home_keyboard,
    home_text,
    keys_shown,
    quick_entry,
    quick_keyboard,
)
from views.i18n import _
from views.replies import edit_after_press

router = Router(name="home")
# what a handler receives that a command run for a button must not be given again
_OWN_KEYS = frozenset({"handler", "event_router", "callback_data", "command", "raw_state"})


@router.message(CommandStart(magic=F.args.is_(None)), F.chat.type == "private", StateFilter("*"))
async def show_home(
    message: Message, actor: Actor | None, profile: Profile | None, state: FSMContext
) -> None:
    """A plain /start: the keyboard under the text box (unless the person hid it), then the
    home screen's buttons."""
    await state.clear()
    shown = keys_shown(profile)
    if shown:
        await message.answer(
            _("Hello! The buttons below are always here; tap 🏠 to come back."),
            reply_markup=quick_keyboard(actor),
        )
    await message.answer(home_text(profile), reply_markup=home_keyboard(actor, keys_shown=shown))


@router.message(F.chat.type == "private", F.text.func(quick_entry).as_("entry"), StateFilter("*"))
async def quick_key(message: Message, entry: str, state: FSMContext, **data: Any) -> None:
    """A tap on the persistent keyboard: the flow it names, from the start."""
    await state.clear()
    await run_command(message, entry, state=state, **data)


@router.callback_query(Home.filter(), StateFilter("*"))
async def home_press(
    query: CallbackQuery,
    callback_data: Home,
    actor: Actor | None,
    profile: Profile | None,
    person: Person | None,
    state: FSMContext,
    **data: Any,
) -> None:
    """A home button: home again, the ⚙ sub-menu, hide or show the keyboard, or run its
    command."""
    go = callback_data.go
    if go == "start":
        await state.clear()
        await edit_after_press(
            query,
            home_text(profile),
            reply_markup=home_keyboard(actor, keys_shown=keys_shown(profile)),
        )
        return
    if go in ("hide", "show"):
        await switch_keys(query, actor, person, shown=go == "show")
        return
    if go == "admin":
        if not entries_of.admin_entries(actor):
            await query.answer(_("Only village admins can use this."), show_alert=True)
            return
        await edit_after_press(
            query, _("⚙ Manage: what would you like to do?"), reply_markup=admin_keyboard(actor)
        )
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await state.clear()
    message = query.message.model_copy(update={"from_user": query.from_user}).as_(query.bot)
    await run_command(
        message, go, state=state, actor=actor, profile=profile, person=person, **data
    )


async def switch_keys(
    query: CallbackQuery, actor: Actor | None, person: Person | None, *, shown: bool
) -> None:
    """Hide the keyboard under the text box, or bring it back; remembered for the person, so
    later messages (/start, /cancel) leave it as they chose."""
    if person is not None:
        org.set_keys_hidden(person, not shown)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await query.message.edit_reply_markup(reply_markup=home_keyboard(actor, keys_shown=shown))
    if shown:
        await query.message.answer(
            _("The buttons are back below the text box."), reply_markup=quick_keyboard(actor)
        )
        return
    await query.message.answer(
        _(
            "The buttons below are hidden, and they stay hidden. To bring them back, tap "
            "⌨ Show the buttons below on the home screen (🏠)."
        ),
        reply_markup=ReplyKeyboardRemove(),
    )


async def run_command(message: Message, command: str, **data: Any) -> Any:
    """Hand the person's chat a `/command` as if they had typed it, within this update (its
    transaction, its person, its conversation): the command's own handler answers and checks."""
    if command == "start":
        actor, profile, state = data.get("actor"), data.get("profile"), data["state"]
        await show_home(message, actor, profile, state)
        return None
    text = "/" + command
    typed = message.model_copy(
        update={
            "text": text,
            "entities": [MessageEntity(type="bot_command", offset=0, length=len(text))],
            "caption": None,
            "photo": None,
            "voice": None,
            "reply_markup": None,
        }
    ).as_(message.bot)
    dispatcher: Dispatcher = data["dispatcher"]
    given = {k: v for k, v in data.items() if k not in _OWN_KEYS}
    return await dispatcher.propagate_event("message", typed, **given)
