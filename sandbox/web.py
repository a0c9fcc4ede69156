"""The sandbox's page: one static HTML+JS page (sandbox/static/) and a small JSON API over the
local Bot API server's state. What a persona does on the page (types, taps a button, sends a
photo, a file or a voice note, shares a contact or a place) becomes an update the server hands
to the bot, exactly as Telegram would.

GET  /                       the page
GET  /api/state              personas, chats, jobs, the version of what is shown
GET  /api/wait?version=N     long poll: returns once something changed (or after 25 s)
GET  /api/chat?persona=K&chat=ID   the messages of one chat as that persona sees them
POST /api/send               {persona, chat, text} | {persona, chat, contact: true}
                             | {persona, chat, latitude, longitude}
POST /api/press              {persona, chat, message_id, data}: the toast or alert it got
POST /api/upload             multipart: persona, chat, kind (photo|document|voice), file
GET  /api/file/{file_id}     the bytes of a photo or document (?download=1: as an attachment)
POST /api/clock              {job, at}: run a job as if at that local time
POST /api/reset              a fresh database and the demo village again
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from sandbox.bot_api import SentMessage
from sandbox.demo import GRID_GROUP, PERSONAS, VILLAGE_GROUP
from schedules import all_jobs
from views.pictures import FONT_FILE

if TYPE_CHECKING:
    from sandbox.run import Sandbox

STATIC = Path(__file__).parent / "static"
WAIT_SECONDS = 25.0
PRESS_TIMEOUT = 10.0
MAX_UPLOAD = 20 * 1024 * 1024
SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox")


async def start_page(sandbox: Sandbox, host: str, port: int) -> web.AppRunner:
    app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
    app[SANDBOX] = sandbox
    app.router.add_get("/", page)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/font.otf", font)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/wait", wait)
    app.router.add_get("/api/chat", chat)
    app.router.add_post("/api/send", send)
    app.router.add_post("/api/press", press)
    app.router.add_post("/api/upload", upload)
    app.router.add_get("/api/file/{file_id}", file)
    app.router.add_post("/api/clock", clock)
    app.router.add_post("/api/reset", reset)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def font(_request: web.Request) -> web.FileResponse:
    """The project's own CJK font (the one the praise pictures use), so that the page reads
    right on a machine without Chinese fonts."""

    return web.FileResponse(FONT_FILE, headers={"Cache-Control": "max-age=86400"})


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _chats_of(persona_id: int) -> list[dict[str, Any]]:
    return [
        {"id": persona_id, "kind": "private", "title": "邻里（机器人）"},
        {"id": VILLAGE_GROUP[0], "kind": "group", "title": VILLAGE_GROUP[1]},
        {"id": GRID_GROUP[0], "kind": "group", "title": GRID_GROUP[1]},
    ]


async def state(request: web.Request) -> web.Response:

    sandbox = _sandbox(request)
    personas = [
        {
            "key": p.key,
            "id": p.telegram_id,
            "name": p.name,
            "role_zh": p.role_zh,
            "role_en": p.role_en,
            "chats": _chats_of(p.telegram_id),
        }
        for p in PERSONAS
    ]
    jobs = [{"name": j.name, "description": j.description} for j in all_jobs().values()]
    return web.json_response(
        {
            "personas": personas,
            "jobs": jobs,
            "bot": {"username": sandbox.fake.username, "name": sandbox.fake.first_name},
            "version": sandbox.fake.version,
            "generation": sandbox.generation,
            "timezone": sandbox.base.bot_timezone,
        }
    )


async def wait(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    try:
        version = int(request.query.get("version", "-1"))
        generation = int(request.query.get("generation", "-1"))
    except ValueError as error:
        raise web.HTTPBadRequest(text="version and generation are numbers") from error
    if generation == sandbox.generation:
        fake = sandbox.fake
        version = await fake.wait_version(version, WAIT_SECONDS)
    return web.json_response({"version": sandbox.fake.version, "generation": sandbox.generation})


def _media(sm: SentMessage) -> dict[str, Any] | None:
    media = sm.media or {}
    if "photo" in media:
        return {"kind": "photo", "file_id": media["photo"][-1]["file_id"]}
    for kind in ("document", "voice", "audio", "video"):
        if kind in media:
            found = media[kind]
            return {
                "kind": kind,
                "file_id": found.get("file_id"),
                "file_name": found.get("file_name"),
                "mime_type": found.get("mime_type"),
            }
    return None


def _bot_message(sm: SentMessage) -> dict[str, Any]:
    raw = sm.raw_text
    is_html = isinstance(sm.parse_mode, str) and sm.parse_mode.lower() == "html"
    shown = raw if is_html and raw is not None else html.escape(sm.text or sm.caption or "")
    markup = sm.reply_markup if isinstance(sm.reply_markup, dict) else {}
    return {
        "id": sm.message_id,
        "from": "bot",
        "html": shown or "",
        "media": _media(sm),
        "inline": markup.get("inline_keyboard"),
        "keyboard": markup.get("keyboard"),
        "remove_keyboard": bool(markup.get("remove_keyboard")),
        "edited": sm.edited,
        "date": sm.date,
    }


def _user_message(message: dict[str, Any]) -> dict[str, Any]:
    sender = message.get("from", {})
    shown: dict[str, Any] = {
        "id": message["message_id"],
        "from": "user",
        "sender_id": sender.get("id"),
        "sender": sender.get("first_name", ""),
        "text": message.get("text") or message.get("caption") or "",
        "date": message.get("date"),
    }
    if "photo" in message:
        shown["media"] = {"kind": "photo", "file_id": message["photo"][-1]["file_id"]}
    elif "voice" in message:
        voice = message["voice"]
        shown["media"] = {
            "kind": "voice",
            "file_id": voice["file_id"],
            "duration": voice.get("duration"),
        }
    elif "document" in message:
        document = message["document"]
        shown["media"] = {
            "kind": "document",
            "file_id": document["file_id"],
            "file_name": document.get("file_name"),
        }
    elif "location" in message:
        place = message["location"]
        shown["text"] = f"📍 {place['latitude']:.5f}, {place['longitude']:.5f}"
    elif "contact" in message:
        shown["text"] = f"📱 {message['contact']['phone_number']}"
    return shown


def _persona(request: web.Request, key: str | None) -> Any:
    sandbox = _sandbox(request)
    user = sandbox.users.get(key or "")
    if user is None:
        raise web.HTTPBadRequest(text=f"no persona {key!r}")
    return user


def _chat_id(user: Any, value: Any) -> int:
    try:
        chat_id = int(value)
    except (TypeError, ValueError) as error:
        raise web.HTTPBadRequest(text="chat is a chat id") from error
    if chat_id not in {c["id"] for c in _chats_of(user.id)}:
        raise web.HTTPBadRequest(text="not one of this persona's chats")
    return chat_id


async def chat(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    user = _persona(request, request.query.get("persona"))
    chat_id = _chat_id(user, request.query.get("chat"))
    messages = [
        _bot_message(obj) if who == "bot" else _user_message(obj)
        for who, obj in sandbox.fake.chat_log(chat_id)
    ]
    return web.json_response({"chat": chat_id, "messages": messages, "me": user.id})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError) as error:
        raise web.HTTPBadRequest(text="a JSON body, please") from error
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="a JSON object, please")
    return body


async def send(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    user = _persona(request, body.get("persona"))
    chat_id = _chat_id(user, body.get("chat"))
    group = sandbox.groups.get(chat_id)
    if body.get("contact"):
        update_id = await user.send_contact(
            body.get("phone") or f"1380000{user.id:04d}"[-11:], chat=group
        )
    elif "latitude" in body and "longitude" in body:
        update_id = await user.send_location(
            float(body["latitude"]), float(body["longitude"]), chat=group
        )
    else:
        text = str(body.get("text") or "").strip()
        if not text:
            raise web.HTTPBadRequest(text="nothing to send")
        update_id = await user.send(text[:4096], chat=group)
    return web.json_response({"update_id": update_id})


async def press(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    user = _persona(request, body.get("persona"))
    chat_id = _chat_id(user, body.get("chat"))
    message = sandbox.fake.message(chat_id, int(body.get("message_id") or 0))
    if message is None:
        raise web.HTTPNotFound(text="that message is gone")
    try:
        update_id = await user.press(message, data=str(body.get("data") or ""))
    except AssertionError as error:
        raise web.HTTPNotFound(text=str(error)) from error
    try:
        answer = await sandbox.fake.callback_answer(update_id, timeout=PRESS_TIMEOUT)
    except TimeoutError:
        return web.json_response({"text": None, "show_alert": False, "answered": False})
    params = answer.params
    return web.json_response(
        {
            "text": params.get("text"),
            "show_alert": bool(params.get("show_alert")),
            "answered": True,
        }
    )


async def upload(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    form = await request.post()
    user = _persona(request, str(form.get("persona") or ""))
    chat_id = _chat_id(user, form.get("chat"))
    kind = str(form.get("kind") or "")
    sent = form.get("file")
    if kind not in ("photo", "document", "voice") or not isinstance(sent, web.FileField):
        raise web.HTTPBadRequest(text="kind (photo, document or voice) and a file, please")
    data = sent.file.read()
    if not data:
        raise web.HTTPBadRequest(text="the file is empty")
    update_id = await user.send_file(
        kind,
        data,
        filename=sent.filename or "",
        mime_type=sent.content_type,
        caption=str(form.get("caption") or "") or None,
        duration=int(float(str(form.get("duration") or 1))),
        chat=sandbox.groups.get(chat_id),
    )
    return web.json_response({"update_id": update_id})


async def file(request: web.Request) -> web.Response:
    found = _sandbox(request).fake.file(request.match_info["file_id"])
    if found is None:
        raise web.HTTPNotFound(text="no such file (or it has no bytes)")
    name, data, mime = found
    if mime is None:
        guessed = {
            "png": "image/png",
            "jpg": "image/jpeg",
            "jpeg": "image/jpeg",
            "pdf": "application/pdf",
        }
        mime = guessed.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    disposition = "attachment" if request.query.get("download") else "inline"
    headers = {"Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(name)}"}
    return web.Response(body=data, content_type=mime, headers=headers)


def _quote(name: str) -> str:

    return quote(name, safe="")


async def clock(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request)

    name = str(body.get("job") or "")
    if name not in all_jobs():
        raise web.HTTPBadRequest(text=f"no job named {name!r}")
    at: datetime | None = None
    if body.get("at"):
        try:
            at = datetime.fromisoformat(str(body["at"]))
        except ValueError as error:
            raise web.HTTPBadRequest(text="at: a time such as 2026-12-06T20:00") from error
        if at.tzinfo is None:
            at = at.replace(tzinfo=sandbox.base.tz)
    result = await sandbox.run_job(name, at)
    return web.json_response({"job": name, "result": json.loads(json.dumps(result, default=str))})


async def reset(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    await sandbox.reset()
    return web.json_response({"generation": sandbox.generation})
