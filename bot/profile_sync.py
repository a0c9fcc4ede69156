"""What one bot process forgets about people, the others forget too (Redis publish/subscribe).

Each process keeps profiles in memory (storage.profiles) and forgets people when a
transaction of its own touches them. Webhook workers and the scheduler are separate
processes, so with REDIS_URL set each one also publishes what it forgot and listens for
what the others forgot. Whenever the subscription (re)starts, a process forgets everyone:
it may have missed something while it was not listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from storage import profiles

CHANNEL = "linli:profiles:forget"
RETRY_AFTER = 2.0  # seconds between attempts to subscribe again

log = logging.getLogger("linli.profiles")


class ProfileSync:
    def __init__(self, redis_url: str) -> None:
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2.0)
        self.origin = uuid.uuid4().hex  # our own messages come back to us: skip them
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[object]] = set()
        self._publish_failing = False

    async def start(self) -> None:
        if self._task is None:
            profiles.publish.append(self.publish)
            self._task = asyncio.create_task(self._listen(), name="profile-sync")

    async def close(self) -> None:
        if self.publish in profiles.publish:
            profiles.publish.remove(self.publish)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        await self.redis.aclose()

    def publish(self, telegram_ids: set[int], person_ids: set[int]) -> None:
        """Called when a transaction ends (inside the event loop): sends without waiting."""
        message = json.dumps(
            {"from": self.origin, "telegram": sorted(telegram_ids), "person": sorted(person_ids)}
        )
        try:
            task = asyncio.get_running_loop().create_task(self._send(message))
        except RuntimeError:  # no loop (a synchronous tool): nobody to tell from here
            return
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, message: str) -> None:
        try:
            await self.redis.publish(CHANNEL, message)
        except (RedisError, OSError) as exc:
            if not self._publish_failing:  # once until a publish works again
                log.warning("could not publish forgotten profiles: %s", exc)
            self._publish_failing = True
        else:
            self._publish_failing = False

    async def _listen(self) -> None:
        lost = False
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    profiles.forget_everywhere({profiles.EVERYONE}, set())
                    if lost:
                        log.warning("profile sync: Redis is back")
                        lost = False
                    self.listening.set()
                    async for message in pubsub.listen():
                        self._receive(message)
            except (RedisError, OSError) as exc:
                self.listening.clear()
                if not lost:  # once per outage, not at every attempt
                    log.warning(
                        "profile sync lost Redis (%s); retrying every %s s", exc, RETRY_AFTER
                    )
                    lost = True
                await asyncio.sleep(RETRY_AFTER)

    def _receive(self, message: dict[str, object]) -> None:
        if message.get("type") != "message":
            return
        try:
            data = json.loads(message["data"])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        if data.get("from") == self.origin:
            return
        profiles.forget_everywhere(set(data.get("telegram", ())), set(data.get("person", ())))
