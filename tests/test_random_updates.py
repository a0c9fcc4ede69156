"""Property test: many random and malformed updates (odd texts, unknown commands, forged and
stale buttons, stickers, contacts, photos, group messages) never make a handler fail, never
produce a message Telegram would refuse (bad HTML, too long), and leave the database consistent."""

from __future__ import annotations

import itertools
import logging
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from storage.models.common import OutboxMessage, OutboxStatus
from storage.models.org import Membership, MembershipStatus, Person
from tests.harness import SPARE_DISTRICT_ADMIN_ID, World

USERS = [SPARE_DISTRICT_ADMIN_ID, 9001, 9002, 9003]
GROUP_ID = -9_900_001
COMMANDS = [
    "/start",
    "/start g_",
    "/start r_",
    "/start zzz",
    "/start g_" + "x" * 70,
    "/help",
    "/me",
    "/language",
    "/cancel",
    "/invite",
    "/appoint",
    "/pending",
    "/newvillage",
    "/bindgroup",
    "/nosuch",
    "/me@linli_test_bot",
    "/start@other_bot",
    "/report",
    "/myreports",
    "/tasks",
    "/reportsettings",
    "/council",
]
FORGED = [
    "mb:1:1",
    "mb:999999:0",
    "mb:x:y",
    "pk:household:1",
    "pk:village:-5",
    "pk:role:99",
    "pk:kind:7",
    "pk:invite:1",
    "fl:confirm",
    "fl:done",
    "fl:back",
    "fl:new",
    "fl:cancel",
    "bind:1:0",
    "bind:999:999",
    "lang:xx",
    "lang:en",
    "lang:zh",
    "rc:1:1:open:0",
    "rc:1:1:accept:2",
    "rc:1:999:removeok:0",
    "rs:1:back:0",
    "rs:1:hour:99",
    "tk:1:1",
    "tk:999:0",
    "ta:kind:1",
    "mr:1",
    "mr:0",
    "cc:day:1:0",
    "pk:council_day:31",
    "",
    "::::",
    "a" * 64,
]
update_ids = itertools.count(900_000_000)

texts = st.one_of(
    st.sampled_from(COMMANDS),
    st.text(min_size=1, max_size=50),
    st.text(alphabet="<>&\"'/ 张三李四\n", min_size=1, max_size=30),
    st.builds(lambda n: "长" * n, st.integers(min_value=30, max_value=5000)),
)
kinds = st.sampled_from(
    [
        "text",
        "text",
        "text",
        "press",
        "press",
        "sticker",
        "contact",
        "photo",
        "group_text",
        "location",
    ]
)
actions = st.lists(
    st.tuples(st.sampled_from(USERS), kinds, texts, st.sampled_from(FORGED)),
    min_size=1,
    max_size=12,
)


def user_dict(user_id: int) -> dict[str, object]:
    return {"id": user_id, "is_bot": False, "first_name": f"U{user_id}<b>&"}


def message(user_id: int, chat: dict[str, object], **content: object) -> dict[str, object]:
    return {
        "message_id": next(update_ids) % 1_000_000,
        "date": int(time.time()),
        "from": user_dict(user_id),
        "chat": chat,
        **content,
    }


def build(user_id: int, kind: str, text: str, data: str) -> dict[str, object]:
    private = {"id": user_id, "type": "private", "first_name": "U"}
    group = {"id": GROUP_ID, "type": "supergroup", "title": "随机群"}
    if kind == "press":
        bot_message = message(4242, private, text="old")
        bot_message["from"] = {"id": 4242, "is_bot": True, "first_name": "bot"}
        return {
            "callback_query": {
                "id": str(next(update_ids)),
                "from": user_dict(user_id),
                "chat_instance": "1",
                "data": data,
                "message": bot_message,
            }
        }
    content: dict[str, object]
    if kind == "sticker":
        content = {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        }
    elif kind == "contact":
        content = {
            "contact": {
                "phone_number": text[:20],
                "first_name": "x",
                "user_id": user_id if len(text) % 2 else user_id + 1,
            }
        }
    elif kind == "photo":
        content = {
            "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
            "caption": text[:100],
        }
    elif kind == "location":
        content = {"location": {"latitude": 36.6, "longitude": 117.1}}
    else:
        content = {"text": text}
        if text.startswith("/"):
            word = text.split(maxsplit=1)[0] if text.split() else text
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
    chat = group if kind == "group_text" else private
    return {"message": message(user_id, chat, **content)}


@pytest.fixture
def failures(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR, logger="linli")
    caplog.set_level(logging.ERROR, logger="aiogram")
    return caplog


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=actions)
async def test_random_updates_never_break_the_bot(
    world: World, failures: pytest.LogCaptureFixture, steps: list[tuple[int, str, str, str]]
) -> None:
    for user_id in USERS:
        world.fake.user(user_id, f"U{user_id}")
    world.fake.group(GROUP_ID, "随机群")
    failures.clear()
    started = time.monotonic()
    sender = world.fake.user(USERS[1])
    for user_id, kind, text, data in steps:
        await sender.send_update(build(user_id, kind, text, data))
    await world.fake.wait_idle(0.3)  # every update handled, every answer and send made
    errors = [r.getMessage() for r in failures.records if r.levelno >= logging.ERROR]
    assert errors == [], errors
    # Forged presses point at messages the bot never sent: their edits are refused (and sent
    # anew, see bot/edits.py). Any other refusal (bad HTML, too long, ...) is a bug.
    refused = [
        c
        for c in world.fake.calls
        if c.at >= started
        and c.status not in (None, 200)
        and "message to edit not found" not in (c.error or "")
    ]
    assert refused == [], [(c.method, c.error) for c in refused]
    # The database is shared with the other end-to-end tests: look at these users' rows only.
    ours = col(Person.telegram_id).in_(USERS)
    async with world.app.sessions() as session:
        # One place per person at a time; an approved person's household is their membership's.
        places = (
            await session.exec(
                select(Membership.person_id, func.count())
                .join(Person, col(Person.id) == col(Membership.person_id))
                .where(
                    ours,
                    col(Membership.status).in_(
                        [MembershipStatus.PENDING, MembershipStatus.APPROVED]
                    ),
                )
                .group_by(col(Membership.person_id))
            )
        ).all()
        assert all(count == 1 for _person, count in places), places
        approved = (
            await session.exec(
                select(Membership, Person)
                .join(Person, col(Person.id) == col(Membership.person_id))
                .where(ours, Membership.status == MembershipStatus.APPROVED)
            )
        ).all()
        assert all(p.household_id == m.household_id for m, p in approved)
        failed = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.status == OutboxStatus.FAILED,
                    col(OutboxMessage.chat_id).in_([*USERS, GROUP_ID]),
                )
            )
        ).all()
        assert failed == []
