"""Keeps aiogram's parsed-answer classes alive for the life of the process.

aiogram reads every Bot API answer with pydantic's `Response[T]` for the method's result type.
pydantic caches such parametrised classes only weakly, so the garbage collector drops them
between calls, and the next call builds the class again: 20–35 ms of CPU on a small server,
which under load happened on nearly every update (measured with bench/report_flow.py).
Holding one strong reference per result type makes that cost once per type per process.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

# result type -> Response[result type]; shared by every bot, as pydantic's cache is
_KEPT: dict[Any, type[Response[Any]]] = {}


def keep(result_type: Any) -> None:
    if result_type not in _KEPT:
        _KEPT[result_type] = Response[result_type]  # type: ignore[valid-type]


def kept_count() -> int:
    return len(_KEPT)


class KeepResponseTypes(BaseRequestMiddleware):
    """Before each call, makes sure its `Response[...]` class is held (a dict lookup)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        keep(method.__returning__)
        return await make_request(bot, method)
