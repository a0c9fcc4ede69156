"""A router's precheck (handlers.prechecks) skips only updates none of its handlers could take:
read off the filters of a small router, and of every feature router, handler by handler."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, Message, User

from handlers import feature_routers
from handlers.prechecks import PrecheckedRouter, _states
from views.keyboards import FlowAction, Pick

USER = User(id=1, is_bot=False, first_name="A")


class Flow(StatesGroup):
    pick = State()
    text = State()


def press(data: str) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=USER, chat_instance="c", data=data)


def message(text: str) -> Message:
    return Message(
        message_id=1, date=datetime(2026, 12, 1, tzinfo=UTC), chat=Chat(id=1, type="private"),
        text=text,
    )  # fmt: skip


async def nothing(*_args: object) -> None:
    return None


def small_router() -> PrecheckedRouter:
    router = PrecheckedRouter(name="small")
    router.callback_query.register(nothing, Flow.pick, Pick.filter(F.what == "x"))
    router.callback_query.register(nothing, FlowAction.filter(F.action == "next"))
    router.message.register(nothing, Command("go"))
    router.message.register(nothing, Flow.text, F.text)
    router.add_prechecks()
    return router


def test_a_press_is_checked_by_its_prefix_and_state() -> None:
    buttons = small_router().prechecks["callback_query"]
    assert buttons.accepts(press("pk:x:1"), Flow.pick.state)
    assert not buttons.accepts(press("pk:x:1"), Flow.text.state)  # Pick only in Flow.pick
    assert not buttons.accepts(press("pk:x:1"), None)
    assert buttons.accepts(press("fl:next"), None)  # FlowAction in any state
    assert buttons.accepts(press("fl:next"), Flow.text.state)
    assert not buttons.accepts(press("vt:1"), Flow.pick.state)
    assert not buttons.accepts(press("pkx:1"), Flow.pick.state)
    assert not buttons.accepts(message("pk:x:1"), Flow.pick.state)


def test_a_message_is_checked_as_a_command_or_by_its_state() -> None:
    messages = small_router().prechecks["message"]
    assert messages.accepts(message("/go"), None)
    assert messages.accepts(message("  /other"), Flow.pick.state)  # Command decides the rest
    assert messages.accepts(message("hello"), Flow.text.state)
    assert not messages.accepts(message("hello"), None)
    assert not messages.accepts(message("hello"), Flow.pick.state)
    assert not messages.accepts(message(""), None)


def test_a_router_with_a_catch_all_gets_no_precheck() -> None:
    router = PrecheckedRouter(name="open")
    router.message.register(nothing, F.text)
    router.callback_query.register(nothing)
    router.add_prechecks()
    assert router.prechecks == {}
    anywhere = PrecheckedRouter(name="anywhere")
    anywhere.message.register(nothing, StateFilter("*"), F.text)
    anywhere.add_prechecks()
    assert anywhere.prechecks == {}


def test_every_feature_handler_passes_its_routers_precheck() -> None:
    """For each handler, an update its own filters name (its button's prefix in each state it
    takes; a command; a message in each state it takes) passes its router's precheck."""
    checked = 0
    for router in feature_routers():
        assert isinstance(router, PrecheckedRouter)
        for kind, precheck in router.prechecks.items():
            for handler in router.observers[kind].handlers:
                filters = [f.magic or getattr(f.callback, "__wrapped__", f.callback)
                           for f in handler.filters or ()]  # fmt: skip
                allowed = _states(filters)
                states = ["Some:state", None] if not isinstance(allowed, frozenset) else allowed
                if kind == "callback_query":
                    data = next(f for f in filters if isinstance(f, CallbackQueryFilter))
                    update: object = press(data.callback_data.__prefix__ + ":1")
                elif any(isinstance(f, Command) for f in filters):
                    update, states = message("/anything"), ["Some:state", None]
                else:
                    update = message("some words")
                for state in states:
                    assert precheck.accepts(update, state), (router.name, handler.callback)  # type: ignore[arg-type]
                    checked += 1
    assert checked > 300
