"""One cheap check per router before aiogram tries its handlers one by one.

aiogram offers an update to each router in turn, and each router to each of its handlers in
turn: a press of a report's button was checked against some 70 handlers of the routers before
`reports`, each check copying the update's data twice and unpacking the button's data once
more. A router's precheck is what every one of its handlers requires anyway, read off their
filters once at start-up: the button's prefix (a `CallbackData` filter), a command's "/" (a
`Command` filter) or the conversation state (a `State` or `StateFilter`). An update that
fails it could match no handler of the router, so the router is skipped as a whole; one that
passes is checked handler by handler, as before. A router with a handler whose filters say
none of this (a catch-all) gets no precheck.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message, TelegramObject

_UNKNOWN = object()  # a filter that says nothing about the state


class Precheck(Protocol):
    def accepts(self, event: TelegramObject, raw_state: str | None) -> bool: ...


class PrecheckedRouter(Router):
    """A router that skips an update its precheck refuses before aiogram's own propagation
    (its outer middlewares, root filters and handlers; these routers have no middlewares or
    root filters of their own)."""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.prechecks: dict[str, Precheck] = {}

    def add_prechecks(self) -> None:
        """Reads the prechecks off the handlers; called once they are all registered."""
        buttons = _button_precheck(self.callback_query.handlers)
        if buttons is not None:
            self.prechecks["callback_query"] = buttons
        messages = _message_precheck(self.message.handlers)
        if messages is not None:
            self.prechecks["message"] = messages

    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        precheck = self.prechecks.get(update_type)
        if precheck is not None and not precheck.accepts(event, kwargs.get("raw_state")):
            return UNHANDLED
        return await super().propagate_event(update_type, event, **kwargs)


@dataclass(frozen=True, slots=True)
class ButtonPrefix:
    """The press's data begins with one of these prefixes (before the separator), and the
    conversation is in a state that a handler of that prefix takes (None: any state)."""

    separator: str
    states_by_prefix: dict[str, frozenset[str | None] | None]

    def accepts(self, event: TelegramObject, raw_state: str | None) -> bool:
        data = event.data if isinstance(event, CallbackQuery) else None
        if not data:
            return False
        prefix = data.split(self.separator, 1)[0]
        if prefix not in self.states_by_prefix:
            return False
        states = self.states_by_prefix[prefix]
        return states is None or raw_state in states


@dataclass(frozen=True, slots=True)
class CommandOrState:
    """The message is a command (its first word starts with one of `command_prefixes`), or
    the conversation is in one of `states` (None: no conversation)."""

    command_prefixes: str
    states: frozenset[str | None]

    def accepts(self, event: TelegramObject, raw_state: str | None) -> bool:
        if raw_state in self.states:
            return True
        if not self.command_prefixes or not isinstance(event, Message):
            return False
        first = (event.text or event.caption or "").lstrip()[:1]
        return bool(first) and first in self.command_prefixes


def _button_precheck(handlers: Iterable[HandlerObject]) -> ButtonPrefix | None:
    separators: set[str] = set()
    states_by_prefix: dict[str, set[str | None] | None] = {}
    for handler in handlers:
        filters = _filters(handler)
        found = [f for f in filters if isinstance(f, CallbackQueryFilter)]
        if not found:
            return None
        separators.add(found[0].callback_data.__separator__)
        prefix = found[0].callback_data.__prefix__
        allowed = _states(filters)
        if allowed is _UNKNOWN:
            states_by_prefix[prefix] = None  # a handler of this prefix takes any state
        elif states_by_prefix.get(prefix, set()) is not None:
            states_by_prefix.setdefault(prefix, set()).update(allowed)  # type: ignore[union-attr, arg-type]
    if len(separators) != 1 or not states_by_prefix:
        return None
    return ButtonPrefix(
        separators.pop(),
        {p: None if s is None else frozenset(s) for p, s in states_by_prefix.items()},
    )


def _message_precheck(handlers: Iterable[HandlerObject]) -> CommandOrState | None:
    command_prefixes: set[str] = set()
    states: set[str | None] = set()
    seen = False
    for handler in handlers:
        seen = True
        filters = _filters(handler)
        commands = [f for f in filters if isinstance(f, Command)]
        if commands:
            command_prefixes.update(commands[0].prefix)
            continue
        allowed = _states(filters)
        if allowed is _UNKNOWN:
            return None
        states.update(allowed)  # type: ignore[arg-type]
    if not seen:
        return None
    return CommandOrState("".join(sorted(command_prefixes)), frozenset(states))


def _states(filters: list[object]) -> frozenset[str | None] | object:
    """The states one of these filters allows, if one says (never "any state")."""
    for check in filters:
        if isinstance(check, State):
            names = [check.state]
        elif isinstance(check, StateFilter):
            names = []
            for allowed in check.states:
                if isinstance(allowed, State):
                    names.append(allowed.state)
                elif allowed is None or isinstance(allowed, str):
                    names.append(allowed)
                else:  # a StatesGroup: not worth reading
                    names = None
                    break
            if names is None:
                continue
        else:
            continue
        if "*" not in names:
            return frozenset(names)
    return _UNKNOWN


def _filters(handler: HandlerObject) -> list[object]:
    """The handler's filters as written (a magic filter, a Filter, a function)."""
    return [_original(f) for f in handler.filters or ()]


def _original(check: FilterObject) -> object:
    if check.magic is not None:
        return check.magic
    callback = check.callback
    return getattr(callback, "__wrapped__", callback)  # run_inline wraps synchronous ones
