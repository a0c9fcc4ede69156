"""A fake Telegram Bot API server over real HTTP, for end-to-end tests of the bot.

The real aiogram ``Bot`` talks to it exactly as it talks to api.telegram.org::

    fake = FakeBotAPI()
    base = await fake.start()                       # "http://127.0.0.1:PORT"
    bot = Bot("123:abc", session=AiohttpSession(api=TelegramAPIServer.from_base(base)))
    alice = fake.user(1001, "Alice")
    mark = fake.mark()
    await alice.send("/start")                      # an update for getUpdates (or the webhook)
    reply = await fake.wait_for_message(alice.id, after=mark)
    await alice.press(reply, "Join")                # a callback_query for the inline button
    ...
    await fake.stop()

Everything is kept in memory.  The server is deliberately strict where real Telegram is
strict (malformed HTML, over-long texts, 64-byte callback data, "message is not modified",
unknown chats, answering a callback query twice), because those are real production bugs.

Notes on semantics:

* ``SentMessage.text`` / ``caption`` hold the text *as the user sees it*: for
  ``parse_mode="HTML"`` the tags are stripped and entities (``&lt;`` ...) decoded.
  ``SentMessage.raw_text`` holds the text exactly as the bot sent it.  MarkdownV2/Markdown
  texts are not parsed or validated.
* Waiting helpers raise ``TimeoutError`` (with a description of what *was* seen).
* A position from ``mark()`` covers calls, sent messages and edits; pass it as ``after=``.
* Rate limits are always *measured* (``violations``); with ``enforce_limits=True`` the
  offending requests are also rejected with 429.
* Webhook URLs may be plain ``http://`` (real Telegram requires https).
* ``rtt_ms`` (default 0) delays every answer by that many milliseconds, as a network round
  trip would: the call takes effect (and is recorded) when it arrives, and its answer reaches
  the bot ``rtt_ms`` later, so a bot's calls overlap as they do over a real network.  A long
  poll waits as before; its answer, too, arrives ``rtt_ms`` later.  File downloads alike.

Standalone (for running bot.py against it)::

    python -m sandbox.bot_api --port 8081 --rtt-ms 60     # prints its base URL; Ctrl-C stops
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import itertools
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["ApiCall", "ApiError", "FakeBotAPI", "FakeGroup", "FakeUser", "SentMessage"]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024

_ALLOWED_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    ]
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")
_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_TOKEN_RE = re.compile(r"^[0-9]+:.+$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

# Form fields whose string value must never be JSON-decoded ("123" stays a string).
_TEXT_FIELDS = frozenset(
    [
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "emoji",
        "action",
        "language_code",
        "inline_message_id",
        "photo",
        "document",
        "video",
        "audio",
        "voice",
        "animation",
        "sticker",
        "video_note",
        "thumbnail",
        "file_id",
        "title",
        "description",
        "short_description",
        "name",
        "query",
        "business_connection_id",
        "message_effect_id",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "question",
        "address",
        "foursquare_id",
        "explanation",
        "custom_emoji_id",
        "ip_address",
        "certificate",
    ]
)
# Methods that put something into a chat: blocked/kicked chats answer 403 to these.
_SEND_METHODS = frozenset(
    m.lower()
    for m in [
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendChatAction",
        "sendLocation",
        "sendContact",
        "sendSticker",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendPoll",
        "sendDice",
        "sendVenue",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "editMessageMedia",
    ]
)
_TRUE_METHODS = frozenset(
    m.lower()
    for m in [
        "logOut",
        "close",
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
        "pinChatMessage",
        "unpinChatMessage",
        "unpinAllChatMessages",
        "leaveChat",
        "setMessageReaction",
    ]
)
# Update types Telegram does not deliver unless explicitly listed in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_ERROR_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def _bad(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# Methods that may send, change or remove a message (the others wake no message waiter).
_TOUCH_MESSAGES = ("send", "edit", "delete", "forward", "copy", "stop")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


def _normalize(params: dict[str, Any]) -> dict[str, Any]:
    """Decode form strings the way Telegram does: JSON for everything but free-text fields."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and key not in _TEXT_FIELDS:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


_HTML_SPECIAL_RE = re.compile("[<&]")


def _parse_html(text: str) -> tuple[str, list[tuple[str, int, int]]]:
    """Parse Telegram-flavoured HTML; return (plain text, [(tag, start, end)]).

    Raises ApiError with Telegram's wording for unsupported, unclosed or mismatched tags.
    """
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    entities: list[tuple[str, int, int]] = []
    pos = 0
    length = 0  # characters emitted so far

    def fail(detail: str) -> ApiError:
        return _bad(f"can't parse entities: {detail}")

    while pos < len(text):
        special = _HTML_SPECIAL_RE.search(text, pos)  # copy plain text up to the next < or &
        stop = special.start() if special else len(text)
        if stop > pos:
            out.append(text[pos:stop])
            length += stop - pos
            pos = stop
            continue
        char = text[pos]
        if char == "<":
            offset = len(text[:pos].encode())
            end = text.find(">", pos)
            if end < 0:
                raise fail(f"Unclosed start tag at byte offset {offset}")
            inner = text[pos + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise fail(f"Unexpected end tag at byte offset {offset}")
                if name != stack[-1][0]:
                    raise fail(
                        f"Unmatched end tag at byte offset {offset}, expected "
                        f'"</{stack[-1][0]}>", found "</{name}>"'
                    )
                tag, start = stack.pop()
                entities.append((tag, start, length))
            else:
                match = _TAG_NAME_RE.match(inner)
                name = match.group(0).lower() if match else ""
                if name not in _ALLOWED_TAGS or inner.rstrip().endswith("/"):
                    raise fail(f'Unsupported start tag "{name}" at byte offset {offset}')
                if name == "span" and "tg-spoiler" not in inner:
                    raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
                stack.append((name, length))
            pos = end + 1
            continue
        if char == "&":
            match = _ENTITY_RE.match(text, pos)
            if match:
                ref = match.group(1)
                decoded: str | None
                if ref.startswith(("#x", "#X")):
                    decoded = chr(int(ref[2:], 16))
                elif ref.startswith("#"):
                    decoded = chr(int(ref[1:]))
                else:
                    decoded = _NAMED_ENTITIES.get(ref)
                if decoded is not None:
                    out.append(decoded)
                    length += 1
                    pos = match.end()
                    continue
        out.append(char)
        length += 1
        pos += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), sorted(entities, key=lambda e: (e[1], e[2], e[0]))


def _inline(markup: Any) -> dict | None:
    """The part of reply_markup that a Message carries (only inline keyboards)."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _flat_buttons(markup: Any) -> list[Any]:
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [button for row in rows for button in row]


# ----------------------------------------------------------------------------------------
# records


@dataclass(eq=False)
class ApiCall:
    """One request the bot made.  ``status`` is None while it is still being answered."""

    method: str
    params: dict[str, Any]
    at: float
    chat_id: int | None
    status: int | None = None
    result: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent, kept up to date with later edits and deletion.

    ``text``/``caption`` are what the user sees (HTML parsed); ``raw_text`` is the text or
    caption exactly as last sent/edited; ``params`` are the parameters of the send call.
    """

    message_id: int
    chat_id: int
    text: str | None
    reply_markup: dict | None
    method: str
    params: dict[str, Any]
    edited: bool = False
    deleted: bool = False
    caption: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    date: int = 0
    edit_date: int | None = None
    media: dict[str, Any] | None = None  # e.g. {"photo": [...]} or {"document": {...}}
    entities: list[tuple[str, int, int]] = field(default_factory=list)

    def buttons(self) -> list[str]:
        """Flattened button texts (inline keyboard, or reply keyboard if that was sent)."""
        return [
            b if isinstance(b, str) else b.get("text", "")
            for b in _flat_buttons(self.reply_markup)
        ]

    def button_data(self) -> dict[str, str]:
        """Inline button text -> callback_data (or url for url buttons)."""
        out: dict[str, str] = {}
        for button in _flat_buttons(_inline(self.reply_markup)):
            value = button.get("callback_data", button.get("url"))
            if value is not None:
                out[button.get("text", "")] = value
        return out


@dataclass
class _Failure:
    method: str
    chat_id: int | None
    code: int
    description: str
    retry_after: int | None
    remaining: int
    body: str | None = None  # an answer outside the Bot API's shape, sent as it is


class _RawAnswer(Exception):
    """An answer that is not Bot API JSON (a proxy's error page, an emulator's own body)."""

    def __init__(self, code: int, body: str) -> None:
        super().__init__(code, body)
        self.code = code
        self.body = body


class _Bucket:
    """Token bucket: `capacity` burst, refilled at `rate` tokens per second."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.last = time.monotonic()

    def wait_time(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class _Poll:
    terminated: str | None = None
    done: bool = False


@dataclass
class _StoredFile:
    file_id: str
    unique_id: str
    size: int
    path: str
    data: bytes | None = None  # None: synthesized on download (user-sent files)
    mime_type: str | None = None
    name: str | None = None


# ----------------------------------------------------------------------------------------
# users and groups


class FakeUser:
    """A Telegram user who talks to the bot; every action becomes an update."""

    def __init__(
        self,
        api: FakeBotAPI,
        user_id: int,
        first_name: str,
        language_code: str | None,
        username: str | None,
    ) -> None:
        self.api = api
        self.id = user_id
        self.first_name = first_name or f"User{user_id}"
        self.language_code = language_code
        self.username = username

    def as_dict(self) -> dict[str, Any]:
        """The Telegram ``User`` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat_dict(self) -> dict[str, Any]:
        """The private ``Chat`` with this user."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def _message(self, chat: FakeGroup | None, **content: Any) -> dict[str, Any]:
        chat_obj = chat.chat_dict() if chat else self.chat_dict()
        return {
            "message_id": self.api._new_message_id(chat_obj["id"]),
            "from": self.as_dict(),
            "chat": chat_obj,
            "date": int(time.time()),
            **content,
        }

    async def send(
        self,
        text: str,
        *,
        chat: FakeGroup | None = None,
        reply_to: SentMessage | None = None,
    ) -> int:
        """Send a text message (to the private chat, or to `chat`); return the update_id."""
        if not text:
            raise ValueError("Telegram users cannot send empty messages")
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            word = text.split(maxsplit=1)[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(word)}
            ]
        if reply_to is not None:
            content["reply_to_message"] = self.api._message_obj(reply_to)
        return self.api._user_message(self._message(chat, **content))

    async def send_contact(self, phone: str, *, chat: FakeGroup | None = None) -> int:
        """Share a contact (by default the user's own, as with a request_contact button)."""
        contact = {"phone_number": phone, "first_name": self.first_name, "user_id": self.id}
        return self.api._user_message(self._message(chat, contact=contact))

    async def send_sticker(self, *, chat: FakeGroup | None = None) -> int:
        """Send a (regular, static) sticker."""
        stored = self.api._register_file(size=20_000, prefix="CAACAgIA", ext="webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\N{THUMBS UP SIGN}",
            "file_size": stored.size,
        }
        return self.api._user_message(self._message(chat, sticker=sticker))

    async def send_photo(
        self,
        caption: str | None = None,
        *,
        file_size: int = 50_000,
        chat: FakeGroup | None = None,
    ) -> int:
        """Send a photo (two sizes; the largest has `file_size` bytes and can be downloaded)."""
        thumb = self.api._register_file(size=1_500, prefix="AgACAgIA", ext="jpg")
        full = self.api._register_file(size=file_size, prefix="AgACAgIA", ext="jpg")
        photo = [
            {
                "file_id": thumb.file_id,
                "file_unique_id": thumb.unique_id,
                "width": 90,
                "height": 67,
                "file_size": thumb.size,
            },
            {
                "file_id": full.file_id,
                "file_unique_id": full.unique_id,
                "width": 1280,
                "height": 960,
                "file_size": full.size,
            },
        ]
        content: dict[str, Any] = {"photo": photo}
        if caption is not None:
            content["caption"] = caption
        return self.api._user_message(self._message(chat, **content))

    async def send_file(
        self,
        kind: str,
        data: bytes,
        *,
        filename: str = "",
        mime_type: str | None = None,
        caption: str | None = None,
        duration: int = 1,
        chat: FakeGroup | None = None,
    ) -> int:
        """Send a real file as a "photo", a "document" or a "voice" note; the bot can download
        these very bytes."""
        if not data:
            raise ValueError("Telegram users cannot send empty files")
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        if kind == "photo":
            stored = self.api._register_file(
                size=len(data), prefix="AgACAgIA", ext="jpg", data=data
            )
        elif kind == "voice":
            stored = self.api._register_file(
                size=len(data), prefix="AwACAgIA", ext="oga", data=data
            )
        elif kind == "document":
            stored = self.api._register_file(size=len(data), prefix="BQACAgIA", ext=ext, data=data)
        else:
            raise ValueError(f"cannot send a {kind!r}")
        stored.mime_type = mime_type
        stored.name = filename or stored.path.rsplit("/", 1)[-1]
        ids = {"file_id": stored.file_id, "file_unique_id": stored.unique_id}
        content: dict[str, Any]
        if kind == "photo":
            content = {"photo": [{**ids, "width": 1280, "height": 960, "file_size": len(data)}]}
        elif kind == "voice":
            voice = {**ids, "duration": max(int(duration), 1), "file_size": len(data)}
            content = {"voice": {**voice, "mime_type": mime_type or "audio/ogg"}}
        else:
            document = {**ids, "file_name": stored.name, "file_size": len(data)}
            if mime_type:
                document["mime_type"] = mime_type
            content = {"document": document}
        if caption:
            content["caption"] = caption
        return self.api._user_message(self._message(chat, **content))

    # --- voice notes (issue 13: buttons first) -------------------------------------------
    async def send_voice(
        self, duration: int = 5, *, file_size: int | None = None, chat: FakeGroup | None = None
    ) -> int:
        """Send a voice note of `duration` seconds (OGG/Opus, ~2 kB a second by default)."""
        size = file_size if file_size is not None else 2_000 * max(1, duration)
        stored = self.api._register_file(size=size, prefix="AwACAgIA", ext="oga")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": stored.size,
        }
        return self.api._user_message(self._message(chat, voice=voice))

    # --- end of voice notes --------------------------------------------------------------

    async def send_location(self, lat: float, lon: float, *, chat: FakeGroup | None = None) -> int:
        """Share a location."""
        location = {"latitude": lat, "longitude": lon}
        return self.api._user_message(self._message(chat, location=location))

    async def press(
        self,
        message: SentMessage,
        button_text: str | None = None,
        *,
        data: str | None = None,
    ) -> int:
        """Press an inline button of `message` (or forge one with `data`); return update_id.

        The button is found by exact text, else by substring.  Raises AssertionError (listing
        the buttons) if there is no such callback button or the message was deleted.
        """
        api = self.api
        current = api._messages.get((message.chat_id, message.message_id))
        if current is None or current.deleted:
            raise AssertionError(f"message {message.message_id} in {message.chat_id} is gone")
        if data is None:
            buttons = _flat_buttons(_inline(current.reply_markup))
            texts = [b.get("text") for b in buttons]
            found = [b for b in buttons if b.get("text") == button_text]
            if not found and button_text is not None:
                found = [b for b in buttons if button_text in b.get("text", "")]
            if button_text is None and len(buttons) == 1:
                found = buttons
            if not found:
                raise AssertionError(f"no button {button_text!r} in message; buttons: {texts}")
            if "callback_data" not in found[0]:
                raise AssertionError(f"button {found[0]!r} has no callback_data")
            data = found[0]["callback_data"]
        query_id = str(secrets.randbits(63))
        update_id = api._add_update(
            "callback_query",
            {
                "id": query_id,
                "from": self.as_dict(),
                "message": api._message_obj(current),
                "chat_instance": f"{abs(current.chat_id) * 7919 % 10**12}",
                "data": data,
            },
        )
        api._callbacks[query_id] = {"answered": False, "update_id": update_id}
        api._callback_by_update[update_id] = query_id
        return update_id

    async def send_update(self, update: dict[str, Any]) -> int:
        """Deliver a raw update (its update_id is filled in); for unusual/malformed updates."""
        return self.api._add_raw_update(update)

    async def answer_of(self, update_id: int, *, timeout: float = 5.0) -> ApiCall:
        """The answerCallbackQuery call for the press that produced `update_id`."""
        return await self.api.callback_answer(update_id, timeout=timeout)

    async def block_bot(self) -> int:
        """Block the bot: my_chat_member member -> kicked, and sends answer 403 from now on."""
        self.api.block_chat(self.id)
        return self.api._my_chat_member(self.chat_dict(), self, "member", "kicked")

    async def unblock_bot(self) -> int:
        """Unblock (restart) the bot: my_chat_member kicked -> member."""
        self.api.unblock_chat(self.id)
        return self.api._my_chat_member(self.chat_dict(), self, "kicked", "member")


class FakeGroup:
    """A supergroup.  The bot may post unless it was removed with `remove_bot`."""

    def __init__(self, api: FakeBotAPI, chat_id: int, title: str) -> None:
        self.api = api
        self.id = chat_id
        self.title = title
        self.bot_status: str | None = None  # None: unspecified (sending allowed)

    def chat_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": "supergroup", "title": self.title}

    async def add_bot(self, by: FakeUser) -> int:
        """`by` adds the bot: my_chat_member left -> member."""
        old = self.bot_status if self.bot_status in ("kicked", "left") else "left"
        self.bot_status = "member"
        return self.api._my_chat_member(self.chat_dict(), by, old, "member")

    async def remove_bot(self, by: FakeUser) -> int:
        """`by` removes the bot: my_chat_member member -> kicked."""
        self.bot_status = "kicked"
        return self.api._my_chat_member(self.chat_dict(), by, "member", "kicked")


# ----------------------------------------------------------------------------------------
# the server


class FakeBotAPI:
    """In-memory Telegram Bot API served over HTTP on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        *,
        bot_id: int = 4242,
        username: str = "linli_test_bot",
        first_name: str = "Linli Test Bot",
        enforce_limits: bool = False,
        rtt_ms: float = 0,
    ) -> None:
        self.bot_id = bot_id
        self.rtt_ms = rtt_ms
        self.username = username
        self.first_name = first_name
        self.enforce_limits = enforce_limits
        self.base_url = ""
        self.calls: list[ApiCall] = []
        self.violations = 0
        self.callback_answers: dict[str, dict[str, Any]] = {}  # query id -> answer params
        self.webhook_deliveries: list[dict[str, Any]] = []  # {"update_id", "status", "error"}

        self.version = 0  # moves on whenever a message may have been sent, edited or deleted
        self._events: list[tuple[str, Any]] = []  # ("call", ApiCall) | ("msg", SentMessage)
        self._events_base = 0  # absolute position of _events[0] (reset_records drops events)
        self._changed = asyncio.Event()
        # Waiters for one chat's messages wake only when that chat may have changed, so many
        # users waiting at once do not all wake on every call.
        self._chat_changed: dict[int, asyncio.Event] = {}
        self._last_activity = time.monotonic()
        self._inflight = 0

        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, FakeUser] = {}
        self._groups: dict[int, FakeGroup] = {}
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._sent_order: list[SentMessage] = []
        self._sent_since = 0
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_mid: dict[int, int] = {}
        self._member_status: dict[tuple[int, int], str] = {}

        self._pending: list[dict[str, Any]] = []
        self._updates: dict[int, dict[str, Any]] = {}  # every update made, by id
        self._update_ids = itertools.count(100_001)
        self._delivered_max = 0
        self._polled = False
        self._poll: _Poll | None = None
        self._allowed_updates: list[str] | None = None
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._callback_by_update: dict[int, str] = {}

        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}

        self._webhook: dict[str, Any] | None = None
        self._webhook_target: str | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None

        self._failures: list[_Failure] = []
        self._blocked: set[int] = set()
        self._disabled: set[str] = set()
        self._latency: dict[tuple[str, int | None], float] = {}
        self._global_bucket = _Bucket(30, 30)
        self._chat_buckets: dict[int, _Bucket] = {}

        self._runner: web.AppRunner | None = None
        self._closing = False
        self._handlers: dict[str, Callable[..., Any]] = {
            name.removeprefix("_m_").replace("_", ""): getattr(self, name)
            for name in dir(self)
            if name.startswith("_m_")
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve on `port` (default: a free one) of `host`; return the base URL."""
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls return, webhook delivery stops."""
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @staticmethod
    def token_ok(token: str) -> bool:
        """Any token of the form "<digits>:<anything>" is accepted."""
        return bool(_TOKEN_RE.match(token))

    # ---------------------------------------------------------------- people and chats

    def user(
        self,
        user_id: int,
        first_name: str = "",
        *,
        language_code: str | None = None,
        username: str | None = None,
    ) -> FakeUser:
        """Create (or return the existing) user; their private chat becomes known."""
        if user_id in self._users:
            return self._users[user_id]
        user = FakeUser(self, user_id, first_name, language_code, username)
        self._users[user_id] = user
        self._chats[user_id] = user.chat_dict()
        return user

    def group(self, chat_id: int, title: str) -> FakeGroup:
        """Create (or return the existing) supergroup; `chat_id` should be negative."""
        if chat_id in self._groups:
            return self._groups[chat_id]
        group = FakeGroup(self, chat_id, title)
        self._groups[chat_id] = group
        self._chats[chat_id] = group.chat_dict()
        return group

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers: creator/administrator/member/restricted/left/kicked."""
        self._member_status[(chat_id, user_id)] = status

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        error_code: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
        times: int = 1,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (to `chat_id`, if given) with an error.

        429 always carries parameters.retry_after (default 1).  If only error_code is
        given, the description is the standard one for that code.  With `body` the answer is
        that text instead of Bot API JSON (HTML, or JSON without "ok"), as a proxy's error
        page or an emulator answers; "{path}" in it becomes the request's path, token and all.
        """
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            if description == "Internal Server Error":
                description = f"Too Many Requests: retry after {retry_after}"
        elif description == "Internal Server Error" and error_code in _ERROR_NAMES:
            description = _ERROR_NAMES[error_code]
        self._failures.append(
            _Failure(method.lower(), chat_id, error_code, description, retry_after, times, body)
        )

    def block_chat(self, chat_id: int) -> None:
        """Every send/edit to this chat answers 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def disable_method(self, method: str) -> None:
        """Answer 404 Not Found to `method` from now on."""
        self._disabled.add(method.lower())

    def enable_method(self, method: str) -> None:
        self._disabled.discard(method.lower())

    def set_latency(self, method: str, seconds: float, *, chat_id: int | None = None) -> None:
        """Answer `method` (to `chat_id`, if given) only after `seconds`, as a slow network or
        a busy Telegram does; 0 undoes it. The call is recorded when it arrives, and what it
        sends is stored when it is answered."""
        key = (method.lower(), chat_id)
        if seconds > 0:
            self._latency[key] = seconds
        else:
            self._latency.pop(key, None)

    def reset_faults(self) -> None:
        """Forget fail_next, blocked chats, disabled methods and latencies."""
        self._failures.clear()
        self._blocked.clear()
        self._disabled.clear()
        self._latency.clear()

    def set_webhook_target(self, url: str | None) -> None:
        """POST webhook updates here instead of the URL given to setWebhook (None: undo).

        Lets the bot register its public URL while the test receives on localhost.
        """
        self._webhook_target = url

    # ---------------------------------------------------------------- inspection

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent (since reset_records), not deleted, edits applied."""
        return [
            m
            for m in self._sent_order[self._sent_since :]
            if not m.deleted and (chat_id is None or m.chat_id == chat_id)
        ]

    def last(self, chat_id: int) -> SentMessage:
        """The latest not-deleted message the bot sent to `chat_id`."""
        messages = self.sent(chat_id)
        if not messages:
            raise AssertionError(f"the bot sent nothing to {chat_id}")
        return messages[-1]

    def chat_log(self, chat_id: int) -> list[tuple[str, Any]]:
        """What is in a chat, oldest first: ("bot", SentMessage) and ("user", message dict)."""
        found: list[tuple[int, str, Any]] = [
            (mid, "user", message)
            for (cid, mid), message in self._user_messages.items()
            if cid == chat_id
        ]
        found += [
            (sm.message_id, "bot", sm)
            for (cid, _mid), sm in self._messages.items()
            if cid == chat_id and not sm.deleted
        ]
        return [(who, obj) for _mid, who, obj in sorted(found, key=lambda f: f[0])]

    def message(self, chat_id: int, message_id: int) -> SentMessage | None:
        """A message the bot sent (as it is now), unless deleted."""
        found = self._messages.get((chat_id, message_id))
        return None if found is None or found.deleted else found

    def file(self, file_id: str) -> tuple[str, bytes, str | None] | None:
        """(file name, bytes, MIME type) of a file the bot or a user sent, if it has bytes."""
        stored = self._files.get(file_id)
        if stored is None or stored.data is None:
            return None
        return stored.name or stored.path.rsplit("/", 1)[-1], stored.data, stored.mime_type

    async def wait_version(self, version: int, timeout: float) -> int:
        """Once `version` has moved on (or after `timeout` seconds): the version now."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.version == version and not self._closing:
                    await self._changed.wait()
        return self.version

    def mark(self) -> int:
        """A position in the event log, for after=..."""
        return self._events_base + len(self._events)

    def stats(self) -> dict[str, int]:
        """Number of calls per method (since reset_records)."""
        return dict(Counter(call.method for call in self.calls))

    def reset_records(self) -> None:
        """Forget recorded calls, events, sent() view and violations (not chats or users)."""
        self._events_base += len(self._events)
        self._events.clear()
        self.calls.clear()
        self._sent_since = len(self._sent_order)
        self.violations = 0
        self.callback_answers.clear()
        self.webhook_deliveries.clear()

    def shown(self, chat_ids: set[int], *, since: int = 0) -> list[tuple[str, str]]:
        """(method, text) of everything the bot showed in these chats from `self.calls[since:]`:
        texts and captions sent or edited, their buttons, and the toasts of presses made by
        these users."""
        out: list[tuple[str, str]] = []
        for call in self.calls[since:]:
            params = call.params
            if call.method == "answerCallbackQuery":
                query = self._callbacks.get(str(params.get("callback_query_id")))
                update = self._updates.get(query["update_id"]) if query else None
                who = (update or {}).get("callback_query", {}).get("from", {}).get("id")
                if who in chat_ids and params.get("text"):
                    out.append((call.method, str(params["text"])))
                continue
            if call.chat_id not in chat_ids:
                continue
            albums = [m for m in params.get("media") or [] if isinstance(m, dict)]
            texts = [params.get("text"), params.get("caption")]
            texts += [m.get("caption") for m in albums]
            out.extend((call.method, str(text)) for text in texts if text)
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            for button in _flat_buttons(markup):
                text = button if isinstance(button, str) else button.get("text", "")
                if text:
                    out.append((f"{call.method} button", text))
        return out

    def update(self, update_id: int) -> dict[str, Any]:
        """The update made with this id, as it was delivered (to deliver it again)."""
        return self._updates[update_id]

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by getUpdates (or not yet delivered to the webhook)."""
        return list(self._pending)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> SentMessage:
        """First message to `chat_id` sent or edited since mark `after`, matching predicate.

        The predicate sees the message's current state.  Deleted messages are skipped.
        """

        def find() -> SentMessage | None:
            for kind, obj in self._events[max(after - self._events_base, 0) :]:
                if (
                    kind == "msg"
                    and obj.chat_id == chat_id
                    and not obj.deleted
                    and (predicate is None or predicate(obj))
                ):
                    return obj
            return None

        def describe() -> str:
            seen = [
                (m.message_id, m.text if m.text is not None else m.caption)
                for m in self.sent(chat_id)
            ]
            return f"a message to {chat_id}; the bot has sent it: {seen[-10:]}"

        return await self._wait(find, timeout, describe, chat_id=chat_id)

    async def assert_no_message(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        within: float = 0.5,
        after: int | None = None,
    ) -> None:
        """Raise AssertionError if such a message is sent/edited within `within` seconds."""
        start = self.mark() if after is None else after
        try:
            msg = await self.wait_for_message(chat_id, predicate, timeout=within, after=start)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message to {chat_id}: {msg.text or msg.caption!r}")

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> ApiCall:
        """First call of `method` (case-insensitive) since mark `after` matching predicate."""
        wanted = method.lower()

        def find() -> ApiCall | None:
            for kind, obj in self._events[max(after - self._events_base, 0) :]:
                if (
                    kind == "call"
                    and obj.method.lower() == wanted
                    and (predicate is None or predicate(obj))
                ):
                    return obj
            return None

        def describe() -> str:
            return f"a {method} call; recent calls: {[c.method for c in self.calls[-15:]]}"

        return await self._wait(find, timeout, describe)

    async def callback_answer(self, update_id: int, *, timeout: float = 5.0) -> ApiCall:
        """The answerCallbackQuery call answering the press that produced `update_id`."""
        query_id = self._callback_by_update[update_id]
        return await self.wait_for_call(
            "answerCallbackQuery",
            lambda c: str(c.params.get("callback_query_id")) == query_id,
            timeout=timeout,
        )

    async def wait_idle(self, seconds: float = 0.3, *, timeout: float = 10.0) -> None:
        """Return once the bot made no request (getUpdates aside) for `seconds`.

        Also waits while a request is being answered or, if the bot polls or has a webhook,
        while updates are waiting to be picked up.
        """
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            undelivered = any(u["update_id"] > self._delivered_max for u in self._pending)
            busy = self._inflight > 0 or (
                undelivered and (self._polled or self._webhook is not None)
            )
            quiet = now - self._last_activity
            if not busy and quiet >= seconds:
                return
            if now >= deadline:
                raise TimeoutError(f"bot not idle after {timeout}s (busy={busy})")
            await asyncio.sleep(0.02 if busy else max(seconds - quiet, 0.01))

    async def _wait(
        self,
        find: Callable[[], Any],
        timeout: float,
        describe: Callable[[], str],
        *,
        chat_id: int | None = None,
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            # grab the event before checking, so no change can slip through
            if chat_id is None:
                event = self._changed
            else:
                event = self._chat_changed.setdefault(chat_id, asyncio.Event())
            found = find()
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {describe()}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):  # no task per wake-up, unlike wait_for
                    await event.wait()

    def _notify(self, chat_id: int | None = None, *, messages: bool = True) -> None:
        """Wake the general waiters and, when messages may have changed, the waiters of chat_id
        (of every chat when it is None)."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        if not messages:
            return
        self.version += 1
        if chat_id is None:
            waiting, self._chat_changed = self._chat_changed, {}
            for chat_event in waiting.values():
                chat_event.set()
        elif (chat_event := self._chat_changed.pop(chat_id, None)) is not None:
            chat_event.set()

    # ---------------------------------------------------------------- updates

    def _new_message_id(self, chat_id: int) -> int:
        self._next_mid[chat_id] = self._next_mid.get(chat_id, 0) + 1
        return self._next_mid[chat_id]

    def _user_message(self, message: dict[str, Any]) -> int:
        chat = message["chat"]
        self._chats.setdefault(chat["id"], chat)
        self._user_messages[(chat["id"], message["message_id"])] = message
        self.version += 1
        return self._add_update("message", message)

    def _add_update(self, kind: str, payload: dict[str, Any]) -> int:
        return self._enqueue({kind: payload})

    def _add_raw_update(self, update: dict[str, Any]) -> int:
        update = dict(update)
        self._learn_chats(update)
        update_id = self._enqueue(update)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:  # a raw press can be answered, once
            self._callbacks[str(query["id"])] = {"answered": False, "update_id": update_id}
            self._callback_by_update[update_id] = str(query["id"])
        return update_id

    def _enqueue(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **{k: v for k, v in update.items() if k != "update_id"}}
        kinds = [k for k in update if k != "update_id"]
        allowed = self._allowed_updates
        # Like Telegram: updates of types the bot did not subscribe to are never stored.
        if kinds and (
            (allowed and kinds[0] not in allowed) or (not allowed and kinds[0] in _OPT_IN_UPDATES)
        ):
            return update_id
        self._pending.append(update)
        self._updates[update_id] = update
        self._last_activity = time.monotonic()
        self._notify(messages=False)
        return update_id

    def _learn_chats(self, obj: Any) -> None:
        if isinstance(obj, dict):
            chat = obj.get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                self._chats.setdefault(chat["id"], chat)
            for value in obj.values():
                self._learn_chats(value)
        elif isinstance(obj, list):
            for value in obj:
                self._learn_chats(value)

    def _my_chat_member(self, chat: dict[str, Any], by: FakeUser, old: str, new: str) -> int:
        def member(status: str) -> dict[str, Any]:
            obj: dict[str, Any] = {"status": status, "user": self._bot_user()}
            if status == "kicked":
                obj["until_date"] = 0
            return obj

        return self._add_update(
            "my_chat_member",
            {
                "chat": chat,
                "from": by.as_dict(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def _register_file(
        self, *, size: int, prefix: str, ext: str, data: bytes | None = None
    ) -> _StoredFile:
        token = secrets.token_urlsafe(24)
        folder = {"jpg": "photos", "webp": "stickers"}.get(ext, "documents")
        stored = _StoredFile(
            file_id=f"{prefix}{token}",
            unique_id=f"AQAD{token[:12]}",
            size=size,
            path=f"{folder}/file_{len(self._files)}.{ext}",
            data=data,
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.path] = stored
        return stored

    # ---------------------------------------------------------------- HTTP plumbing

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            params, files = await _read_request(request)
        except (ValueError, aiohttp.ClientError):
            params, files = {}, {}
        call = self._record(request.match_info["method"], params)
        status, body = await self._execute(
            call, files, token=request.match_info["token"], request=request
        )
        await self._round_trip(long_poll=call.method.lower() == "getupdates")
        if isinstance(body, str):
            kind = "application/json" if body.lstrip().startswith("{") else "text/html"
            return web.Response(text=body, status=status, content_type=kind)
        return web.json_response(body, status=status)

    async def _round_trip(self, *, long_poll: bool = False) -> None:
        """The network's share of a call: its answer arrives `rtt_ms` after it took effect.
        Until then the call counts as in flight (wait_idle waits for it)."""
        if self.rtt_ms <= 0:
            return
        if long_poll:
            await asyncio.sleep(self.rtt_ms / 1000)
            return
        self._inflight += 1
        try:
            await asyncio.sleep(self.rtt_ms / 1000)
        finally:
            self._inflight -= 1
            self._last_activity = time.monotonic()

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._file_paths.get(request.match_info["path"])
        await self._round_trip()
        if not self.token_ok(request.match_info["token"]) or stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        data = stored.data if stored.data is not None else bytes(stored.size)
        return web.Response(body=data, content_type="application/octet-stream")

    def _record(self, method: str, params: dict[str, Any]) -> ApiCall:
        call = ApiCall(method, params, time.monotonic(), _as_int(params.get("chat_id")))
        self.calls.append(call)
        self._events.append(("call", call))
        if method.lower() != "getupdates":
            self._last_activity = call.at
        self._notify(messages=False)  # nothing has been sent or edited yet
        return call

    async def _execute(
        self,
        call: ApiCall,
        files: dict[str, tuple[str, bytes]],
        *,
        token: str,
        request: web.Request | None = None,
    ) -> tuple[int, dict[str, Any] | str]:
        long_poll = call.method.lower() == "getupdates"
        if not long_poll:
            self._inflight += 1
        body: dict[str, Any] | str
        try:
            result = await self._run(call, files, token, request)
        except _RawAnswer as raw:
            call.status, call.error = raw.code, raw.body
            body = raw.body
        except ApiError as err:
            call.status, call.error = err.code, err.description
            body = {
                "ok": False,
                "error_code": err.code,
                "description": err.description,
            }
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
        else:
            call.status, call.result = 200, result
            body = {"ok": True, "result": result}
        finally:
            if not long_poll:
                self._inflight -= 1
                self._last_activity = time.monotonic()
            self._notify(call.chat_id, messages=call.method.lower().startswith(_TOUCH_MESSAGES))
        return call.status, body

    async def _run(
        self,
        call: ApiCall,
        files: dict[str, tuple[str, bytes]],
        token: str,
        request: web.Request | None,
    ) -> Any:
        if not self.token_ok(token):
            raise ApiError(401, "Unauthorized")
        name = call.method.lower()
        handler = self._handlers.get(name)
        if name in self._disabled or (handler is None and name not in _TRUE_METHODS):
            raise ApiError(404, "Not Found")
        for failure in self._failures:
            if failure.method == name and failure.chat_id in (None, call.chat_id):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                if failure.body is not None:
                    path = request.path if request is not None else ""
                    raise _RawAnswer(failure.code, failure.body.replace("{path}", path))
                raise ApiError(failure.code, failure.description, failure.retry_after)
        delay = self._latency.get((name, call.chat_id), self._latency.get((name, None)))
        if delay:
            await asyncio.sleep(delay)
        if handler is None:
            return True
        if name == "getupdates":
            return await handler(call.params, request)
        result = handler(call.params, files) if name in _FILE_METHODS else handler(call.params)
        if inspect.isawaitable(result):
            result = await result
        return result

    # ---------------------------------------------------------------- validation helpers

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _chat(self, params: dict[str, Any], *, sending: bool = False) -> int:
        chat_id = _as_int(params.get("chat_id"))
        if chat_id is None or chat_id not in self._chats:
            raise _bad("chat not found")
        if sending:
            if chat_id in self._blocked:
                raise ApiError(403, BLOCKED)
            group = self._groups.get(chat_id)
            if group is not None and group.bot_status == "kicked":
                raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
            if group is not None and group.bot_status == "left":
                raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return chat_id

    def _rate_check(self, chat_id: int) -> None:
        """Telegram's flood limits; measured always, enforced with enforce_limits."""
        bucket = self._chat_buckets.get(chat_id)
        if bucket is None:
            # private chats: ~1 msg/s with a small burst; groups: 20 messages per minute
            bucket = _Bucket(3, 1.0) if chat_id > 0 else _Bucket(20, 20 / 60)
            self._chat_buckets[chat_id] = bucket
        now = time.monotonic()
        wait = max(self._global_bucket.wait_time(now), bucket.wait_time(now))
        if wait > 0:
            self.violations += 1
            if self.enforce_limits:
                retry_after = max(1, math.ceil(wait))
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        self._global_bucket.tokens -= 1
        bucket.tokens -= 1

    @staticmethod
    def _render(
        text: Any, parse_mode: Any, *, limit: int, caption: bool = False
    ) -> tuple[str, list[tuple[str, int, int]]]:
        text = "" if text is None else str(text)
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            plain, entities = _parse_html(text)
        else:
            plain, entities = text, []
        if not caption and not plain.strip():
            raise _bad("message text is empty")
        if _utf16_len(plain) > limit:
            raise _bad("message caption is too long" if caption else "message is too long")
        return plain, entities

    @staticmethod
    def _check_markup(markup: Any) -> dict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('can\'t parse inline keyboard button: field "inline_keyboard"')
            buttons = [b for row in rows for b in row]
            if len(buttons) > 100:
                raise _bad("reply markup is too long")
            for button in buttons:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise _bad("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                    raise _bad("BUTTON_URL_INVALID")
        return markup

    def _check_reply(self, chat_id: int, params: dict[str, Any]) -> None:
        reply = params.get("reply_parameters")
        target = reply.get("message_id") if isinstance(reply, dict) else None
        target = target or params.get("reply_to_message_id")
        if target is None:
            return
        if isinstance(reply, dict) and reply.get("allow_sending_without_reply"):
            return
        key = (chat_id, target)
        sent = self._messages.get(key)
        if key not in self._user_messages and (sent is None or sent.deleted):
            raise _bad("message to be replied not found")

    def _message_obj(self, sm: SentMessage) -> dict[str, Any]:
        """The Telegram Message object for a bot message, as it is now."""
        obj: dict[str, Any] = {
            "message_id": sm.message_id,
            "from": self._bot_user(),
            "chat": self._chats.get(
                sm.chat_id, {"id": sm.chat_id, "type": "private", "first_name": "?"}
            ),
            "date": sm.date,
        }
        if sm.text is not None:
            obj["text"] = sm.text
        if sm.media:
            obj.update(sm.media)
        if sm.caption is not None:
            obj["caption"] = sm.caption
        if _inline(sm.reply_markup) is not None:
            obj["reply_markup"] = sm.reply_markup
        if sm.edit_date is not None:
            obj["edit_date"] = sm.edit_date
        return obj

    def _store(self, sm: SentMessage) -> dict[str, Any]:
        self._messages[(sm.chat_id, sm.message_id)] = sm
        self._sent_order.append(sm)
        self._events.append(("msg", sm))
        return self._message_obj(sm)

    def _bot_message(self, params: dict[str, Any], *, allow_user: bool = False) -> SentMessage:
        """The bot message an edit/delete refers to."""
        verb = "delete" if allow_user else "edit"
        if params.get("inline_message_id") is not None:
            raise _bad("MESSAGE_ID_INVALID")
        chat_id = _as_int(params.get("chat_id"))
        message_id = _as_int(params.get("message_id"))
        if chat_id is None or chat_id not in self._chats:
            raise _bad("chat not found")
        sm = self._messages.get((chat_id, message_id or 0))
        if sm is None or sm.deleted:
            if not allow_user and (chat_id, message_id) in self._user_messages:
                raise _bad("message can't be edited")
            raise _bad(f"message to {verb} not found")
        return sm

    def _edited(self, sm: SentMessage) -> dict[str, Any]:
        sm.edited = True
        sm.edit_date = int(time.time())
        self._events.append(("msg", sm))
        return self._message_obj(sm)

    def _resolve_file(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]], key: str
    ) -> tuple[str, bytes | None, _StoredFile | None]:
        """(filename, uploaded bytes or None, existing file or None) for a file parameter."""
        value = params.get(key)
        if value is None and key in files:
            value = f"attach://{key}"
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {key} in the request")
        if value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad(f"invalid file HTTP URL specified: {value}")
            filename, data = upload
            if not data:
                raise _bad("file must be non-empty")
            if len(data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            return filename, data, None
        if re.match(r"^https?://", value):
            return value.rsplit("/", 1)[-1] or key, None, None
        stored = self._files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return stored.path.rsplit("/", 1)[-1], None, stored

    def _media_message(
        self,
        method: str,
        params: dict[str, Any],
        kind: str,
        filename: str,
        data: bytes | None,
        stored: _StoredFile | None,
        *,
        chat_id: int,
        media_group_id: str | None = None,
    ) -> SentMessage:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        if stored is None:
            size = len(data) if data is not None else 100_000
            stored = self._register_file(
                size=size,
                prefix="AgACAgIA" if kind == "photo" else "BQACAgIA",
                ext="jpg" if kind == "photo" else ext,
                data=data,
            )
            stored.name = filename
        if kind == "photo":
            media: dict[str, Any] = {
                "photo": [
                    {
                        "file_id": stored.file_id,
                        "file_unique_id": stored.unique_id,
                        "width": 800,
                        "height": 600,
                        "file_size": stored.size,
                    },
                ]
            }
        else:
            mime = {
                "pdf": "application/pdf",
                "csv": "text/csv",
                "txt": "text/plain",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "json": "application/json",
                "zip": "application/zip",
            }.get(ext)
            document: dict[str, Any] = {
                "file_id": stored.file_id,
                "file_unique_id": stored.unique_id,
                "file_name": filename,
                "file_size": stored.size,
            }
            if mime:
                document["mime_type"] = mime
                stored.mime_type = stored.mime_type or mime
            media = {kind: document}
        if media_group_id is not None:
            media["media_group_id"] = media_group_id
        raw = params.get("caption")
        caption = None
        entities: list[tuple[str, int, int]] = []
        if raw:
            caption, entities = self._render(
                raw, params.get("parse_mode"), limit=MAX_CAPTION, caption=True
            )
        markup = self._check_markup(params.get("reply_markup"))
        stored_params = dict(params)
        if data is not None:
            stored_params["_file_bytes"] = data
            stored_params["_filename"] = filename
        return SentMessage(
            message_id=self._new_message_id(chat_id),
            chat_id=chat_id,
            text=None,
            reply_markup=markup,
            method=method,
            params=stored_params,
            caption=caption,
            raw_text=raw,
            parse_mode=params.get("parse_mode"),
            date=int(time.time()),
            media=media,
            entities=entities,
        )

    # ---------------------------------------------------------------- Bot API methods
    # Handler names: "_m_" + the method name in snake case; the dispatcher key drops "_".

    def _m_get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_get_updates(
        self, params: dict[str, Any], request: web.Request | None
    ) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._polled = True
        offset = _as_int(params.get("offset")) or 0
        limit = min(max(_as_int(params.get("limit")) or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = allowed
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        if self._poll is not None and not self._poll.done:
            self._poll.terminated = (
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running"
            )
        poll = self._poll = _Poll()
        deadline = time.monotonic() + timeout
        try:
            while True:
                event = self._changed
                if poll.terminated:
                    raise ApiError(409, poll.terminated)
                if self._closing:
                    return []
                updates = self._pending[:limit]
                if updates:
                    self._delivered_max = max(self._delivered_max, updates[-1]["update_id"])
                    self._last_activity = time.monotonic()
                    return updates
                remaining = deadline - time.monotonic()
                # A client that gave up (e.g. a stopped dispatcher) no longer counts as poller.
                transport = request.transport if request is not None else None
                if remaining <= 0 or (
                    request is not None and (transport is None or transport.is_closing())
                ):
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 0.25))
        finally:
            poll.done = True

    def _m_set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._m_delete_webhook(params)
        if not re.match(r"^https?://\S+$", url):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = allowed
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": _as_int(params.get("max_connections")) or 40,
            "last_error_date": None,
            "last_error_message": None,
        }
        if self._poll is not None and not self._poll.done:
            self._poll.terminated = "Conflict: terminated by setWebhook request"
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._webhook_worker())
        return True

    def _m_delete_webhook(self, params: dict[str, Any]) -> bool:
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _m_get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._webhook is not None:
            info["url"] = self._webhook["url"]
            info["max_connections"] = self._webhook["max_connections"]
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates:
                info["allowed_updates"] = self._allowed_updates
            if self._webhook["last_error_date"] is not None:
                info["last_error_date"] = self._webhook["last_error_date"]
                info["last_error_message"] = self._webhook["last_error_message"]
        return info

    def _m_send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params, sending=True)
        plain, entities = self._render(
            params.get("text"), params.get("parse_mode"), limit=MAX_TEXT
        )
        markup = self._check_markup(params.get("reply_markup"))
        self._check_reply(chat_id, params)
        self._rate_check(chat_id)
        return self._store(
            SentMessage(
                message_id=self._new_message_id(chat_id),
                chat_id=chat_id,
                text=plain,
                reply_markup=markup,
                method="sendMessage",
                params=params,
                raw_text=params.get("text"),
                parse_mode=params.get("parse_mode"),
                date=int(time.time()),
                entities=entities,
            )
        )

    def _m_send_photo(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        chat_id = self._chat(params, sending=True)
        filename, data, stored = self._resolve_file(params, files, "photo")
        sm = self._media_message(
            "sendPhoto", params, "photo", filename, data, stored, chat_id=chat_id
        )
        self._check_reply(chat_id, params)
        self._rate_check(chat_id)
        return self._store(sm)

    def _m_send_document(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        chat_id = self._chat(params, sending=True)
        filename, data, stored = self._resolve_file(params, files, "document")
        sm = self._media_message(
            "sendDocument", params, "document", filename, data, stored, chat_id=chat_id
        )
        self._check_reply(chat_id, params)
        self._rate_check(chat_id)
        return self._store(sm)

    def _m_send_media_group(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        chat_id = self._chat(params, sending=True)
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad("wrong number of media files specified (must be 2-10)")
        group_id = str(secrets.randbits(48))
        messages = []
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("photo", "document"):
                raise _bad("unsupported media type in this fake")
            filename, data, stored = self._resolve_file(
                {"media": item.get("media")}, files, "media"
            )
            method = "sendPhoto" if kind == "photo" else "sendDocument"
            messages.append(
                self._media_message(
                    method,
                    {**params, **item},
                    kind,
                    filename,
                    data,
                    stored,
                    chat_id=chat_id,
                    media_group_id=group_id,
                )
            )
        self._rate_check(chat_id)
        return [self._store(sm) for sm in messages]

    # --- voice notes (issue 13: buttons first) -------------------------------------------
    def _m_send_voice(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        """sendVoice: an uploaded file or a known file id (a voice note a user sent)."""
        chat_id = self._chat(params, sending=True)
        filename, data, stored = self._resolve_file(params, files, "voice")
        sm = self._media_message(
            "sendVoice", params, "document", filename, data, stored, chat_id=chat_id
        )
        document = (sm.media or {}).pop("document", {})
        duration = _as_int(params.get("duration")) or 0
        sm.media = {"voice": {**document, "duration": duration, "mime_type": "audio/ogg"}}
        self._check_reply(chat_id, params)
        self._rate_check(chat_id)
        return self._store(sm)

    # --- end of voice notes --------------------------------------------------------------

    def _m_edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        sm = self._bot_message(params)
        self._chat(params, sending=True)
        if sm.text is None:
            raise _bad("there is no text in the message to edit")
        plain, entities = self._render(
            params.get("text"), params.get("parse_mode"), limit=MAX_TEXT
        )
        markup = _inline(self._check_markup(params.get("reply_markup")))
        if (plain, entities, markup) == (sm.text, sm.entities, _inline(sm.reply_markup)):
            raise ApiError(400, NOT_MODIFIED)
        sm.text, sm.entities, sm.reply_markup = plain, entities, markup
        sm.raw_text, sm.parse_mode = params.get("text"), params.get("parse_mode")
        return self._edited(sm)

    def _m_edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        sm = self._bot_message(params)
        self._chat(params, sending=True)
        if sm.media is None:
            raise _bad("there is no caption in the message to edit")
        raw = params.get("caption")
        caption, entities = (
            (None, [])
            if not raw
            else self._render(raw, params.get("parse_mode"), limit=MAX_CAPTION, caption=True)
        )
        markup = _inline(self._check_markup(params.get("reply_markup")))
        if (caption, entities, markup) == (sm.caption, sm.entities, _inline(sm.reply_markup)):
            raise ApiError(400, NOT_MODIFIED)
        sm.caption, sm.entities, sm.reply_markup = caption, entities, markup
        sm.raw_text, sm.parse_mode = raw, params.get("parse_mode")
        return self._edited(sm)

    def _m_edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        sm = self._bot_message(params)
        self._chat(params, sending=True)
        markup = _inline(self._check_markup(params.get("reply_markup")))
        if markup == _inline(sm.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        sm.reply_markup = markup
        return self._edited(sm)

    def _m_delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = _as_int(params.get("chat_id"))
        message_id = _as_int(params.get("message_id"))
        if chat_id is not None and self._user_messages.pop((chat_id, message_id), None):
            return True
        sm = self._bot_message(params, allow_user=True)
        sm.deleted = True
        return True

    def _m_answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        query = self._callbacks.get(query_id)
        if query is None or query["answered"]:
            raise ApiError(400, QUERY_TOO_OLD)
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query["answered"] = True
        self.callback_answers[query_id] = params
        return True

    def _m_send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat(params, sending=True)
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params)] = commands
        return True

    def _m_get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._commands.get(self._commands_key(params), [])

    def _m_delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _m_set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        chat_id = _as_int(params.get("chat_id"))
        if chat_id is not None and chat_id not in self._chats:
            raise _bad("chat not found")
        self._menu_buttons[chat_id] = params.get("menu_button") or {"type": "default"}
        return True

    def _m_get_chat_menu_button(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _as_int(params.get("chat_id"))
        return self._menu_buttons.get(chat_id, self._menu_buttons.get(None, {"type": "default"}))

    def _m_get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        return {
            **self._chats[chat_id],
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        user_id = _as_int(params.get("user_id"))
        if user_id == self.bot_id:
            user = self._bot_user()
            group = self._groups.get(chat_id)
            status = self._member_status.get((chat_id, user_id)) or (
                group.bot_status if group and group.bot_status else "member"
            )
        elif user_id in self._users:
            user = self._users[user_id].as_dict()
            status = self._member_status.get((chat_id, user_id), "member")
        else:
            raise _bad("user not found")
        return _chat_member(user, status)

    def _m_get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": stored.size,
            "file_path": stored.path,
        }

    # ---------------------------------------------------------------- webhook delivery

    async def _webhook_worker(self) -> None:
        """Deliver pending updates one by one to the webhook, retrying failures."""
        while self._webhook is not None and not self._closing:
            event = self._changed
            if not self._pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 1.0)
                continue
            update = self._pending[0]
            self._delivered_max = max(self._delivered_max, update["update_id"])
            if await self._post_update(update):
                with contextlib.suppress(ValueError):
                    self._pending.remove(update)
                self._last_activity = time.monotonic()
                self._notify()
            else:
                await asyncio.sleep(0.2)

    async def _post_update(self, update: dict[str, Any]) -> bool:
        hook = self._webhook
        if hook is None:
            return False
        url = self._webhook_target or hook["url"]
        headers = {}
        if hook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
        if self._client is None:
            self._client = aiohttp.ClientSession()
        record: dict[str, Any] = {"update_id": update["update_id"], "status": None, "error": None}
        self.webhook_deliveries.append(record)
        try:
            async with self._client.post(
                url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp:
                record["status"] = resp.status
                if resp.status != 200:
                    record["error"] = f"Wrong response from the webhook: {resp.status}"
                else:
                    await self._webhook_reply(resp)
        except (aiohttp.ClientError, TimeoutError) as err:
            record["error"] = f"Connection failed: {type(err).__name__}"
        if record["error"]:
            hook["last_error_date"] = int(time.time())
            hook["last_error_message"] = record["error"]
            return False
        return True

    async def _webhook_reply(self, resp: aiohttp.ClientResponse) -> None:
        """Execute a method returned in the webhook response body (aiogram can do this)."""
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if resp.content_type.startswith("multipart/"):
            reader = aiohttp.MultipartReader(resp.headers, resp.content)
            await _read_multipart(reader, params, files)
        else:
            with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                body = await resp.json(content_type=None)
                if isinstance(body, dict):
                    params = body
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            call = self._record(method, _normalize(params))
            await self._execute(call, files, token="0:webhook")


_FILE_METHODS = frozenset({"sendphoto", "senddocument", "sendmediagroup", "sendvoice"})


def _chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            dict.fromkeys(
                [
                    "can_be_edited",
                    "is_anonymous",
                    "can_manage_video_chats",
                    "can_promote_members",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                ],
                False,
            )
        )
        member.update(
            dict.fromkeys(
                [
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_restrict_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_send_welcome_messages",
                    "can_pin_messages",
                ],
                True,
            )
        )
    elif status == "restricted":
        member.update(
            dict.fromkeys(
                [
                    "can_send_messages",
                    "can_send_audios",
                    "can_send_documents",
                    "can_send_photos",
                    "can_send_videos",
                    "can_send_video_notes",
                    "can_send_voice_notes",
                    "can_send_polls",
                    "can_send_other_messages",
                    "can_add_web_page_previews",
                    "can_react_to_messages",
                    "can_edit_tag",
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_manage_topics",
                ],
                False,
            )
        )
        member.update(is_member=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0
    return member


async def _read_multipart(
    reader: aiohttp.MultipartReader,
    params: dict[str, Any],
    files: dict[str, tuple[str, bytes]],
) -> None:
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            files[part.name] = (part.filename, bytes(await part.read(decode=True)))
        else:
            params[part.name] = await part.text()


async def _read_request(
    request: web.Request,
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Parameters (query string, urlencoded form, multipart form or JSON) and uploads."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, bytes]] = {}
    if request.method == "POST" and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype.startswith("multipart/"):
            await _read_multipart(await request.multipart(), params, files)
        else:
            params.update(await request.post())
    return _normalize(params), files


# ----------------------------------------------------------------------------------------
# standalone


async def _serve(port: int, rtt_ms: float) -> None:
    api = FakeBotAPI(rtt_ms=rtt_ms)
    await api.start(port)
    print(f"{api.base_url}  (fake Bot API, rtt {rtt_ms:g} ms; Ctrl-C stops)", flush=True)  # noqa: T201
    try:
        await asyncio.Event().wait()
    finally:
        await api.stop()


def main(argv: list[str] | None = None) -> None:

    parser = argparse.ArgumentParser(
        prog="python -m sandbox.bot_api", description="serve the fake Telegram Bot API"
    )
    parser.add_argument("--port", type=int, default=8081, help="on 127.0.0.1 (0: a free one)")
    parser.add_argument("--rtt-ms", type=float, default=0, help="delay of every answer")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.rtt_ms))


if __name__ == "__main__":
    main()
