"""The calls an update held until its commit: which keep their order and which go side by
side (bot.after_commit). A recording stand-in for the bot: each call takes 50 ms."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageText,
    SendMessage,
    SetMyCommands,
)
from aiogram.types import BotCommand, BotCommandScopeChat

from bot.after_commit import HeldCalls

ROUND_TRIP = 0.05


class Recorder:
    """Awaited like a Bot; records when each call began and ended (in round trips)."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[int, int]] = {}
        self.started = asyncio.get_running_loop().time()

    def _now(self) -> int:
        return round((asyncio.get_running_loop().time() - self.started) / ROUND_TRIP)

    async def __call__(self, method: Any) -> bool:
        begun = self._now()
        await asyncio.sleep(ROUND_TRIP)
        self.spans[label(method)] = (begun, self._now())
        return True


def label(method: Any) -> str:
    if isinstance(method, AnswerCallbackQuery):
        return "answer"
    if isinstance(method, SetMyCommands):
        return "menu"
    if isinstance(method, SendMessage):
        return f"send {method.text}"
    return f"{type(method).__name__} {method.message_id} {getattr(method, 'text', '')}".strip()


async def test_new_messages_and_each_messages_edits_keep_their_order_the_rest_goes_beside():
    bot = Recorder()
    held = HeldCalls()
    for method in (
        AnswerCallbackQuery(callback_query_id="1"),
        EditMessageText(chat_id=7, message_id=10, text="a"),
        SendMessage(chat_id=7, text="first"),
        EditMessageText(chat_id=7, message_id=10, text="b"),
        SendMessage(chat_id=7, text="second"),
        DeleteMessage(chat_id=7, message_id=11),
        SetMyCommands(
            commands=[BotCommand(command="start", description="home")],
            scope=BotCommandScopeChat(chat_id=7),
        ),
    ):
        held.calls.append((bot, method))  # type: ignore[arg-type]
    assert await held.send() == 7
    spans = bot.spans
    # new messages one after another, and the two edits of message 10
    assert spans["send first"] == (0, 1) and spans["send second"] == (1, 2)
    assert spans["EditMessageText 10 a"] == (0, 1) and spans["EditMessageText 10 b"] == (1, 2)
    # the answer, the other message's deletion and the menu wait for nothing
    assert spans["answer"] == spans["DeleteMessage 11"] == spans["menu"] == (0, 1)
    assert held.calls == []


async def test_calls_of_one_kind_go_one_after_another():
    bot = Recorder()
    held = HeldCalls()
    for text in ("one", "two", "three"):
        held.calls.append((bot, SendMessage(chat_id=7, text=text)))  # type: ignore[arg-type]
    assert await held.send() == 3
    assert [bot.spans[f"send {t}"] for t in ("one", "two", "three")] == [(0, 1), (1, 2), (2, 3)]
