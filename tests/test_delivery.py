"""The delivery loop: Telegram's pace (unit tests on a fake monotonic clock) and sending the
outbox through a fake Bot API server over real HTTP, on every test database."""

from __future__ import annotations

import asyncio
import base64
import math
import random
import socket
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import event
from sqlmodel import col, select

from bot.delivery import Delivery, Limits, Pace, cut_train
from sandbox.bot_api import FakeBotAPI
from storage import outbox
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.models.common import OutboxMessage, OutboxStatus

# --- Pace: pure bookkeeping over a monotonic clock -------------------------------------------


def test_default_limits_are_telegrams() -> None:
    limits = Limits()
    assert (limits.per_second, limits.per_group_per_minute, limits.private_interval) == (
        30,
        20,
        1.0,
    )
    assert limits.group_window == 60.0


def test_private_chat_one_message_per_second() -> None:
    pace = Pace()
    assert pace.ready_at(7, 100.0) == 100.0
    pace.record(7, 100.0)
    assert pace.ready_at(7, 100.2) == 101.0
    assert pace.ready_at(8, 100.2) == 100.2  # another chat is not held back
    pace.record(7, 101.0)
    assert pace.ready_at(7, 101.5) == 102.0


def test_a_send_in_flight_blocks_its_chat_until_it_answers() -> None:
    pace = Pace()
    pace.start(7)
    assert pace.ready_at(7, 0.0) == math.inf
    pace.record(7, 0.4)  # answered at 0.4: the second counts from there
    assert pace.ready_at(7, 0.5) == 1.4
    pace.start(9)
    pace.release(9)  # never sent
    assert pace.ready_at(9, 0.5) == 0.5


def test_group_twenty_messages_per_rolling_minute() -> None:
    pace = Pace()
    group = -1001
    for second in range(20):
        assert pace.ready_at(group, float(second)) == float(second)
        pace.record(group, float(second))
    assert pace.ready_at(group, 20.0) == 60.0  # the 21st waits for the first to leave the window
    pace.record(group, 60.0)
    assert pace.ready_at(group, 60.0) == 61.0
    assert pace.ready_at(-1002, 60.0) == 60.0  # other groups have their own window
    # A group is not held to the private chat's one per second.
    pace2 = Pace()
    pace2.record(group, 0.0)
    assert pace2.ready_at(group, 0.01) == 0.01


def test_thirty_messages_per_second_overall() -> None:
    pace = Pace()
    for n in range(30):
        now = n * 0.01
        assert pace.ready_at(n + 1, now) == now
        pace.record(n + 1, now)
    assert pace.ready_at(999, 0.5) == pytest.approx(1.0)  # the first leaves the window at 1.0
    assert pace.ready_at(999, 1.0) == pytest.approx(1.0)
    # Sends in flight count as sent now.
    pace = Pace()
    for chat in range(1, 31):
        pace.start(chat)
    assert pace.ready_at(999, 0.0) == math.inf
    pace.record(1, 0.2)
    assert pace.ready_at(999, 0.3) == pytest.approx(1.2)


def test_hold_after_retry_after() -> None:
    pace = Pace()
    pace.hold(7, 10.0)
    assert pace.ready_at(7, 1.0) == 10.0
    assert pace.ready_at(8, 1.0) == 1.0
    pace.hold(7, 5.0)  # a shorter hold does not shorten the longer one
    assert pace.ready_at(7, 1.0) == 10.0
    assert pace.ready_at(7, 10.0) == 10.0
    pace.hold(-5, 3.0)
    assert pace.ready_at(-5, 0.0) == 3.0


def test_room_for_a_train_is_what_the_pace_lets_go_one_after_another() -> None:
    pace = Pace()
    assert pace.room(7, 10) == 1  # a private chat: one a second
    assert Pace(Limits(private_interval=0)).room(7, 10) == 10  # no pace: the train's length
    group = -1001
    for second in range(17):
        pace.record(group, float(second))
    assert pace.room(group, 10) == 3  # 20 a minute, 17 sent
    pace.start(group)
    assert pace.room(group, 10) == 2  # one of them is on its way
    busy = Pace(Limits(private_interval=0))
    for chat in range(1, 29):
        busy.record(chat, 0.0)
    busy.ready_at(99, 0.5)  # (prunes the second's window)
    assert busy.room(99, 10) == 2  # 30 a second overall, 28 sent in this one
    busy.start(99)
    busy.start(99)
    assert busy.room(99, 10) == 0  # the second is full: a train stops growing


def test_a_train_is_cut_before_a_row_another_sender_took() -> None:
    train = [OutboxMessage(id=n, chat_id=7, method="sendMessage", payload={}) for n in range(1, 5)]
    kept, behind = cut_train(train, claimed={1, 3, 4})  # 2 taken between the scan and the claim
    assert [r.id for r in kept] == [1]
    assert [r.id for r in behind] == [3, 4]  # given back: they must not overtake 2
    kept, behind = cut_train(train, claimed={1, 2, 3, 4})
    assert ([r.id for r in kept], behind) == ([1, 2, 3, 4], [])


def test_greedy_sender_never_exceeds_default_limits() -> None:
    """Simulate a sender that always sends as soon as Pace allows, with random answer delays,
    and check every window against Telegram's numbers."""
    rng = random.Random(7)
    pace = Pace()
    chats = [-1, -2, -3, *range(1, 60)]
    queue = deque(rng.choice(chats) for _ in range(2000))
    now = 0.0
    in_flight: list[tuple[float, int]] = []  # (answer time, chat)
    sent: list[tuple[float, int]] = []
    while queue or in_flight:
        for answer, chat in sorted(in_flight):
            if answer <= now:
                pace.record(chat, answer)
                sent.append((answer, chat))
        in_flight = [(a, c) for a, c in in_flight if a > now]
        busy = {c for _, c in in_flight}
        wake = [a for a, _ in in_flight]
        for chat in list(queue)[:200]:
            if chat in busy or len(in_flight) >= 8:
                continue
            ready = pace.ready_at(chat, now)
            if ready <= now:
                queue.remove(chat)
                pace.start(chat)
                in_flight.append((now + rng.uniform(0.001, 0.05), chat))
                wake.append(in_flight[-1][0])
            elif ready != math.inf:
                wake.append(ready)
            busy.add(chat)  # later messages to the chat keep their turn
        now = max(min(wake, default=now), now + 1e-6)
    sent.sort()
    times = [t for t, _ in sent]
    per_chat: dict[int, list[float]] = defaultdict(list)
    for t, chat in sent:
        per_chat[chat].append(t)
    for i in range(len(times) - 30):
        assert times[i + 30] - times[i] >= 1.0 - 1e-9
    for chat, stamps in per_chat.items():
        if chat < 0:
            for i in range(len(stamps) - 20):
                assert stamps[i + 20] - stamps[i] >= 60.0 - 1e-9
        else:
            for a, b in zip(stamps, stamps[1:], strict=False):
                assert b - a >= 1.0 - 1e-9
    assert len(sent) == 2000


# --- Delivery through a fake Bot API server --------------------------------------------------

# Fast private chats so tests don't wait a second per message; everything else is Telegram's.
FAST = Limits(private_interval=0.05)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Running:
    """A Delivery running in a task; stopped and awaited at the end of the test."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.task = asyncio.create_task(delivery.run())

    async def stop(self) -> None:
        self.delivery.stop()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def start(bot: Bot, sessions: SessionFactory, clock: Clock) -> AsyncIterator[Any]:
    running: list[Running] = []

    def start(limits: Limits = FAST, **options: Any) -> Delivery:
        options.setdefault("poll_interval", 0.2)
        delivery = Delivery(bot, sessions, clock, limits=limits, **options)
        running.append(Running(delivery))
        return delivery

    yield start
    for item in running:
        await item.stop()


async def enqueue(sessions: SessionFactory, *messages: tuple[Any, ...], **params: Any) -> None:
    """Enqueue (chat_id, text) pairs in one transaction."""
    async with unit_of_work(sessions) as session:
        for chat_id, text in messages:
            outbox.enqueue(session, chat_id, text, **params)


async def rows(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        return list((await session.exec(query)).all())


def texts(fake: FakeBotAPI, chat_id: int) -> list[str | None]:
    return [m.text for m in fake.sent(chat_id)]


def calls_to(fake: FakeBotAPI, chat_id: int, method: str = "sendMessage") -> list[Any]:
    return [c for c in fake.calls if c.chat_id == chat_id and c.method == method]


async def test_messages_to_many_chats_arrive_in_order(fake, sessions, start) -> None:
    users = [fake.user(1000 + n, f"U{n}").id for n in range(4)]
    groups = [fake.group(-1001000 - n, f"G{n}").id for n in range(2)]
    chats = users + groups
    await enqueue(sessions, *[(chat, f"m{n} to {chat}") for n in range(5) for chat in chats])
    delivery = start()
    assert await delivery.drain(10)
    for chat in chats:
        assert texts(fake, chat) == [f"m{n} to {chat}" for n in range(5)]
    stored = await rows(sessions)
    assert {r.status for r in stored} == {OutboxStatus.SENT}
    assert all(r.message_id and r.sent_at and r.attempts == 1 for r in stored)
    # Never two sends in flight to one chat: each call starts after the previous one answered.
    assert len(fake.calls) == 30


async def test_wake_sends_new_rows_at_once(fake, sessions, start) -> None:
    alice = fake.user(1001, "Alice").id
    delivery = start(poll_interval=30)  # the poll alone would take half a minute
    await asyncio.sleep(0.1)  # it has looked once and now sleeps: only the wake sends the row
    await enqueue(sessions, (alice, "hello"))
    delivery.wake()
    message = await fake.wait_for_message(alice, timeout=2)
    assert message.text == "hello"


async def test_rows_for_a_chat_in_flight_wait_for_its_send_without_a_pass(
    fake, sessions, start
) -> None:
    """A worker gets a push while the one before is on its way: no pass (a transaction) is
    spent looking at the outbox, the end of that send brings the next, and all arrive in
    order."""
    worker = fake.user(1002, "Worker").id
    fake.rtt_ms = 300  # each send takes 0.3 s
    delivery = start(limits=Limits(private_interval=0), poll_interval=30)
    begins: list[int] = []

    def began(*_: object) -> None:
        begins.append(1)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "begin", began)
    try:
        await enqueue(sessions, (worker, "push 0"))
        delivery.wake({worker})
        await fake.wait_for_call("sendMessage", lambda c: c.chat_id == worker)
        await asyncio.sleep(0.1)  # the pass that started it has ended (and its heartbeat)
        before = len(begins)
        for n in range(1, 6):  # while push 0 is on its way
            await enqueue(sessions, (worker, f"push {n}"))  # one transaction each
            delivery.wake({worker})
        assert len(begins) - before == 5  # the five enqueues: no pass of the loop among them
        assert await delivery.drain(10)
    finally:
        event.remove(engine, "begin", began)
        fake.rtt_ms = 0
    assert texts(fake, worker) == [f"push {n}" for n in range(6)]


async def test_a_chats_due_rows_go_as_trains_one_claim_each(
    fake, sessions, start, monkeypatch
) -> None:
    """With no pace to wait for, one claim takes up to `train` rows of a chat, sent in order
    one at a time, their outcomes recorded together: a pass a train, not a pass a message."""
    worker = fake.user(1002, "Worker").id
    claims: list[int] = []
    claim_due = outbox.claim_due

    async def counted(session: Any, ids: Any, now: Any) -> set[int]:
        if ids:
            claims.append(len(ids))
        return await claim_due(session, ids, now)

    monkeypatch.setattr(outbox, "claim_due", counted)
    await enqueue(sessions, *[(worker, f"push {n}") for n in range(12)])
    delivery = start(limits=Limits(private_interval=0), train=5)
    assert await delivery.drain(10)
    assert texts(fake, worker) == [f"push {n}" for n in range(12)]
    assert claims == [5, 5, 2]
    stored = await rows(sessions)
    assert {(r.status, r.attempts) for r in stored} == {(OutboxStatus.SENT, 1)}
    sends = calls_to(fake, worker)  # never two in flight to the chat
    assert all(a.at <= b.at for a, b in zip(sends, sends[1:], strict=False))


async def test_a_retry_in_a_train_gives_back_the_rows_after_it(
    fake, sessions, start, clock
) -> None:
    """The first row of a train is put back for a retry: the rows behind it are given back at
    once (their attempt not counted) and wait for it; all arrive in order after the backoff."""
    alice = fake.user(1001, "Alice").id
    fake.fail_next("sendMessage", chat_id=alice, error_code=500)
    await enqueue(sessions, *[(alice, f"m{n}") for n in range(4)])
    delivery = start(limits=Limits(private_interval=0), train=4)
    await fake.wait_for_call("sendMessage", lambda call: call.status == 500)
    await asyncio.sleep(0.3)  # time for a send that should not happen before the backoff
    assert texts(fake, alice) == []
    first, *behind = await rows(sessions)
    assert first.status == OutboxStatus.PENDING and first.attempts == 1 and first.last_error
    assert [(r.status, r.attempts) for r in behind] == [(OutboxStatus.PENDING, 0)] * 3
    assert all(r.next_attempt_at is not None and r.next_attempt_at <= clock.now() for r in behind)
    clock.advance(timedelta(seconds=3))  # past the 2 s backoff
    assert await delivery.drain(5, everything=True)
    assert texts(fake, alice) == [f"m{n}" for n in range(4)]


async def test_a_stop_mid_train_sends_no_more_and_gives_the_rest_back(
    fake, sessions, bot, clock
) -> None:
    alice = fake.user(1001, "Alice").id
    await enqueue(sessions, *[(alice, f"m{n}") for n in range(3)])
    fake.set_latency("sendMessage", 0.3)
    delivery = Delivery(bot, sessions, clock, limits=Limits(private_interval=0), stop_grace=2)
    task = asyncio.create_task(delivery.run())
    await fake.wait_for_call("sendMessage")
    delivery.stop()  # while the train's first send is in flight
    await asyncio.wait_for(task, 5)
    fake.set_latency("sendMessage", 0)
    first, *rest = await rows(sessions)
    assert (first.status, first.attempts, texts(fake, alice)) == (OutboxStatus.SENT, 1, ["m0"])
    assert [(r.status, r.attempts) for r in rest] == [(OutboxStatus.PENDING, 0)] * 2
    async with sessions() as session:  # due again at once, not after their lease
        assert [r.id for r in await outbox.due(session, clock.now())] == [r.id for r in rest]


async def test_retry_after_is_obeyed(fake, sessions, start) -> None:
    alice = fake.user(1001, "Alice").id
    bob = fake.user(1002, "Bob").id
    fake.fail_next("sendMessage", chat_id=alice, error_code=429, retry_after=1)
    await enqueue(sessions, (alice, "first"), (alice, "second"), (bob, "to bob"))
    delivery = start()
    await fake.wait_for_message(bob, timeout=2)  # other chats are not held up
    assert await delivery.drain(5, everything=True)
    assert texts(fake, alice) == ["first", "second"]
    first, retry, second = calls_to(fake, alice)
    assert first.status == 429 and retry.ok and second.ok
    assert retry.at - first.at >= 1.0
    row = (await rows(sessions))[0]
    assert row.status == OutboxStatus.SENT and row.attempts == 2


async def test_server_error_is_retried_with_backoff(fake, sessions, start, clock) -> None:
    alice = fake.user(1001, "Alice").id
    fake.fail_next("sendMessage", chat_id=alice, error_code=500)
    await enqueue(sessions, (alice, "first"), (alice, "second"))
    delivery = start()
    await fake.wait_for_call("sendMessage", lambda call: call.status == 500)
    await asyncio.sleep(0.3)  # time for a send that should not happen before the backoff
    assert texts(fake, alice) == []  # the first is put back; the second waits its turn
    row = (await rows(sessions))[0]
    assert row.status == OutboxStatus.PENDING and row.last_error
    assert row.next_attempt_at > clock.now()
    clock.advance(timedelta(seconds=3))  # past the 2 s backoff
    assert await delivery.drain(5, everything=True)
    assert texts(fake, alice) == ["first", "second"]
    assert [r.status for r in await rows(sessions)] == [OutboxStatus.SENT] * 2


async def test_network_error_is_retried(fake, sessions, start, clock) -> None:
    alice = fake.user(1001, "Alice").id
    await enqueue(sessions, (alice, "hello"))
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = Bot(
        "123:abc",
        session=AiohttpSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")),
    )
    try:
        delivery = Delivery(nowhere, sessions, clock, limits=FAST, poll_interval=0.2)
        task = asyncio.create_task(delivery.run())
        assert await delivery.drain(5)
        delivery.stop()
        await asyncio.wait_for(task, 5)
    finally:
        await nowhere.session.close()
    [row] = await rows(sessions)
    assert row.status == OutboxStatus.PENDING and row.attempts == 1 and row.last_error
    clock.advance(timedelta(seconds=3))
    assert await start().drain(5, everything=True)
    assert texts(fake, alice) == ["hello"]


async def test_blocked_chat_fails_and_is_not_retried(fake, sessions, start, clock) -> None:
    alice = fake.user(1001, "Alice").id
    bob = fake.user(1002, "Bob").id
    fake.block_chat(alice)
    await enqueue(sessions, (alice, "one"), (alice, "two"), (bob, "hi"))
    delivery = start()
    assert await delivery.drain(5)
    clock.advance(timedelta(hours=1))
    assert await delivery.drain(5, everything=True)
    stored = await rows(sessions)
    assert [r.status for r in stored] == [OutboxStatus.FAILED] * 2 + [OutboxStatus.SENT]
    assert stored[0].last_error == "Forbidden: bot was blocked by the user"
    assert len(calls_to(fake, alice)) == 2  # one call each, never again
    assert texts(fake, bob) == ["hi"]


async def test_chat_not_found_fails(fake, sessions, start) -> None:
    await enqueue(sessions, (555, "nobody"))
    delivery = start()
    assert await delivery.drain(5, everything=True)
    [row] = await rows(sessions)
    assert row.status == OutboxStatus.FAILED
    assert row.last_error == "Bad Request: chat not found"
    assert len(fake.calls) == 1


async def test_message_not_modified_counts_as_sent(fake, sessions, start) -> None:
    alice = fake.user(1001, "Alice").id
    await enqueue(sessions, (alice, "same"))
    delivery = start()
    assert await delivery.drain(5)
    message_id = (await rows(sessions))[0].message_id
    await enqueue(sessions, (alice, "same"), method="editMessageText", message_id=message_id)
    delivery.wake()
    assert await delivery.drain(5, everything=True)
    edit = (await rows(sessions))[1]
    assert edit.status == OutboxStatus.SENT and edit.last_error is None
    assert calls_to(fake, alice, "editMessageText")[0].status == 400


async def test_bad_token_stops_delivery_and_keeps_the_outbox(fake, sessions, bot, clock):
    alice = fake.user(1001, "Alice").id
    fake.fail_next("sendMessage", error_code=401)
    await enqueue(sessions, (alice, "one"), (alice, "two"))
    delivery = Delivery(bot, sessions, clock, limits=FAST)
    await asyncio.wait_for(delivery.run(), 5)  # returns by itself
    assert len(fake.calls) == 1
    assert {r.status for r in await rows(sessions)} == {OutboxStatus.PENDING}
    async with sessions() as session:
        assert len(await outbox.due(session, clock.now())) == 2  # ready for the right token


async def test_rows_of_a_crashed_sender_are_sent_once(fake, sessions, start, clock) -> None:
    users = [fake.user(1000 + n, f"U{n}").id for n in range(3)]
    await enqueue(sessions, *[(chat, f"to {chat}") for chat in users])
    # A sender claimed two rows and died before sending: one lease ran out, one has not yet.
    async with unit_of_work(sessions) as session:
        first, second, _ = await outbox.due(session, clock.now())
        assert await outbox.claim(session, first, clock.now() - timedelta(minutes=2))
        assert await outbox.claim(session, second, clock.now())
    delivery = start()
    assert await delivery.drain(5)
    assert [len(fake.sent(chat)) for chat in users] == [1, 0, 1]
    clock.advance(outbox.CLAIM_LEASE + timedelta(seconds=1))
    assert await delivery.drain(5, everything=True)
    assert [texts(fake, chat) for chat in users] == [[f"to {chat}"] for chat in users]
    assert {r.status for r in await rows(sessions)} == {OutboxStatus.SENT}


async def test_a_new_delivery_sends_what_the_old_one_left(fake, sessions, start, bot, clock):
    users = [fake.user(1000 + n, f"U{n}").id for n in range(3)]
    group = fake.group(-1001, "G").id
    await enqueue(sessions, *[(chat, f"m{n}") for n in range(3) for chat in [*users, group]])
    first = Delivery(bot, sessions, clock, limits=Limits(private_interval=0.3))
    task = asyncio.create_task(first.run())
    await fake.wait_for_message(group, lambda m: m.text == "m1", timeout=5)
    first.stop()  # the process goes away with most of the outbox still pending
    await asyncio.wait_for(task, 5)
    sent_before = len(fake.sent())
    assert 0 < sent_before < 12
    delivery = start()
    assert await delivery.drain(5, everything=True)
    for chat in [*users, group]:
        assert texts(fake, chat) == ["m0", "m1", "m2"]
    assert {r.status for r in await rows(sessions)} == {OutboxStatus.SENT}


async def test_a_stop_lets_the_send_in_flight_finish_and_record_it(fake, sessions, bot, clock):
    alice = fake.user(1001, "Alice").id
    await enqueue(sessions, (alice, "slow"))
    fake.set_latency("sendMessage", 0.3)
    delivery = Delivery(bot, sessions, clock, limits=FAST, stop_grace=2)
    task = asyncio.create_task(delivery.run())
    await fake.wait_for_call("sendMessage")
    delivery.stop()  # while the send is in flight
    await asyncio.wait_for(task, 5)
    [row] = await rows(sessions)
    assert (row.status, row.attempts, texts(fake, alice)) == (OutboxStatus.SENT, 1, ["slow"])


async def test_a_stop_gives_back_the_claim_of_a_send_it_cannot_wait_for(
    fake, sessions, start, bot, clock
) -> None:
    """Cut off after its grace, the send's row is due again at once (not after its lease),
    its attempt not counted; a row that was sent keeps its outcome."""
    alice, bob = fake.user(1001, "Alice").id, fake.user(1002, "Bob").id
    await enqueue(sessions, (alice, "quick"), (bob, "hanging"))
    fake.set_latency("sendMessage", 30, chat_id=bob)
    delivery = Delivery(bot, sessions, clock, limits=FAST, stop_grace=0.2)
    task = asyncio.create_task(delivery.run())
    await fake.wait_for_message(alice, timeout=5)
    await fake.wait_for_call("sendMessage", lambda c: c.chat_id == bob)
    delivery.stop()
    await asyncio.wait_for(task, 2)
    quick, hanging = await rows(sessions)
    assert (quick.status, quick.attempts) == (OutboxStatus.SENT, 1)
    assert (hanging.status, hanging.attempts) == (OutboxStatus.PENDING, 0)
    async with sessions() as session:
        assert [r.id for r in await outbox.due(session, clock.now())] == [hanging.id]
        assert await outbox.release(session, [quick.id or 0, hanging.id or 0], clock.now()) == 0
    fake.set_latency("sendMessage", 0, chat_id=bob)
    assert await start().drain(5)
    assert texts(fake, bob) == ["hanging"]


async def test_photo_is_sent_as_a_file(fake, sessions, start) -> None:
    alice = fake.user(1001, "Alice").id
    await enqueue(
        sessions,
        (alice, "a <b>photo</b>"),
        method="sendPhoto",
        photo_b64=PNG,
        filename="report.png",
        fallback_text="text instead",
    )
    delivery = start()
    assert await delivery.drain(5, everything=True)
    [message] = fake.sent(alice)
    assert message.method == "sendPhoto" and message.caption == "a photo"
    assert message.params["_file_bytes"] == base64.b64decode(PNG)
    assert "fallback_text" not in message.params and "filename" not in message.params


async def test_photo_falls_back_to_text_when_the_server_lacks_it(fake, sessions, start) -> None:
    alice = fake.user(1001, "Alice").id
    bob = fake.user(1002, "Bob").id
    fake.disable_method("sendPhoto")
    photo = {"method": "sendPhoto", "photo_b64": PNG, "filename": "r.png"}
    await enqueue(sessions, (alice, "caption"), fallback_text="<i>text</i> instead", **photo)
    await enqueue(sessions, (bob, "caption"), **photo)
    delivery = start()
    assert await delivery.drain(5, everything=True)
    [message] = fake.sent(alice)
    assert message.method == "sendMessage" and message.text == "text instead"
    alice_row, bob_row = await rows(sessions)
    assert alice_row.status == OutboxStatus.SENT and alice_row.message_id == message.message_id
    assert bob_row.status == OutboxStatus.FAILED and bob_row.last_error == "Not Found"
    assert fake.sent(bob) == []


async def test_default_limits_cause_no_flood_errors(sessions, clock) -> None:
    """Telegram's real limits, enforced by the server: a burst to one group, five messages to
    one private chat and one each to 40 others all go through without a single 429."""
    async with FakeBotAPI(enforce_limits=True) as api:
        group = api.group(-1001, "G").id
        alice = api.user(1, "Alice").id
        others = [api.user(100 + n, f"U{n}").id for n in range(40)]
        messages = [(group, f"g{n}") for n in range(20)] + [(alice, f"a{n}") for n in range(5)]
        messages += [(chat, "hi") for chat in others]
        random.Random(3).shuffle(messages)
        expected = {chat: [text for c, text in messages if c == chat] for chat in (alice, group)}
        await enqueue(sessions, *messages)
        bot = Bot("123:abc", session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        delivery = Delivery(bot, sessions, clock)
        task = asyncio.create_task(delivery.run())
        try:
            assert await delivery.drain(15, everything=True)
        finally:
            delivery.stop()
            await asyncio.wait_for(task, 5)
            await bot.session.close()
        assert api.violations == 0
        assert all(call.ok for call in api.calls)
        assert len(api.calls) == 65
        assert texts(api, alice) == expected[alice]
        assert texts(api, group) == expected[group]
        alice_times = [c.at for c in calls_to(api, alice)]
        assert all(b - a >= 1.0 for a, b in zip(alice_times, alice_times[1:], strict=False))


async def test_scaled_limits_are_kept_end_to_end(fake, sessions, start) -> None:
    group = fake.group(-1001, "G").id
    alice = fake.user(1001, "Alice").id
    limits = Limits(per_group_per_minute=3, group_window=0.5, private_interval=0.2)
    await enqueue(sessions, *[(group, f"g{n}") for n in range(7)])
    await enqueue(sessions, *[(alice, f"a{n}") for n in range(4)])
    delivery = start(limits)
    assert await delivery.drain(10)
    assert texts(fake, group) == [f"g{n}" for n in range(7)]
    group_times = [c.at for c in calls_to(fake, group)]
    for a, b in zip(group_times, group_times[3:], strict=False):
        assert b - a >= 0.5
    assert group_times[-1] - group_times[0] < 1.5  # and not much slower than that
    alice_times = [c.at for c in calls_to(fake, alice)]
    assert all(b - a >= 0.2 for a, b in zip(alice_times, alice_times[1:], strict=False))
