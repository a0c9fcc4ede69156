"""The sandbox's page API over real HTTP, in this process: the demo village is there (the vote
card reached both groups), a press gets its toast, a document the bot sends and a photo a
persona sends can be downloaded, the clock closes the vote, reset builds it all again, and
both listeners are on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.demo import ELDER, GRID_GROUP, RESIDENT, VILLAGE_ADMIN, VILLAGE_GROUP
from sandbox.run import Sandbox
from sandbox.web import start_page
from storage.settings import Settings


class Page:
    def __init__(self, client: aiohttp.ClientSession, base: str) -> None:
        self.client = client
        self.base = base

    async def get(self, path: str) -> Any:
        async with self.client.get(self.base + path) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()

    async def post(self, path: str, body: Any) -> Any:
        async with self.client.post(self.base + path, json=body) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()

    async def chat(self, persona: str, chat: int) -> list[dict[str, Any]]:
        return (await self.get(f"/api/chat?persona={persona}&chat={chat}"))["messages"]

    async def wait_for(
        self, persona: str, chat: int, text: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The latest message of the bot in that chat containing `text`."""
        async with asyncio.timeout(timeout):
            while True:
                found = [
                    m
                    for m in await self.chat(persona, chat)
                    if m["from"] == "bot" and text in (m["html"] or "") + str(m["media"])
                ]
                if found:
                    return found[-1]
                await asyncio.sleep(0.1)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[Page, Sandbox, Any]]:
    sandbox = Sandbox(data=tmp_path / "sandbox.db", base=Settings(_env_file=None))  # type: ignore[call-arg]
    await sandbox.start()
    runner = await start_page(sandbox, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as client:
            yield Page(client, f"http://127.0.0.1:{runner.addresses[0][1]}"), sandbox, runner
    finally:
        await runner.cleanup()
        await sandbox.stop()


async def test_the_sandbox_page_api(page: tuple[Page, Sandbox, Any]) -> None:
    api, sandbox, runner = page
    assert {host for host, *_ in runner.addresses} == {"127.0.0.1"}
    assert sandbox.fake.base_url.startswith("http://127.0.0.1:")
    state = await api.get("/api/state")
    assert [p["name"] for p in state["personas"]][-3:] == ["张德福", "孙丽", "陈晓"]
    assert {"points_weekly", "points_monthly", "vote_close"} <= {j["name"] for j in state["jobs"]}

    # the demo's vote card reached both groups; a press is answered with a toast
    await api.wait_for(ELDER.key, GRID_GROUP[0], "表决")
    card = await api.wait_for(ELDER.key, VILLAGE_GROUP[0], "表决")
    option = card["inline"][0][0]
    answer = await api.post(
        "/api/press",
        {
            "persona": ELDER.key,
            "chat": VILLAGE_GROUP[0],
            "message_id": card["id"],
            "data": option["callback_data"],
        },
    )
    assert answer["answered"] and option["text"] in answer["text"]

    # a document the bot sends can be downloaded: the month's workbook
    admin = VILLAGE_ADMIN.telegram_id
    await api.post(
        "/api/send", {"persona": VILLAGE_ADMIN.key, "chat": admin, "text": "/pointsexport"}
    )
    months = await api.wait_for(VILLAGE_ADMIN.key, admin, "导出哪个月")
    await api.post(
        "/api/press",
        {
            "persona": VILLAGE_ADMIN.key,
            "chat": admin,
            "message_id": months["id"],
            "data": months["inline"][0][0]["callback_data"],
        },
    )
    sheet = await api.wait_for(VILLAGE_ADMIN.key, admin, ".xlsx")
    async with api.client.get(
        f"{api.base}/api/file/{sheet['media']['file_id']}?download=1"
    ) as got:
        assert got.status == 200 and "attachment" in got.headers["Content-Disposition"]
        workbook = zipfile.ZipFile(io.BytesIO(await got.read()))
        assert "xl/workbook.xml" in workbook.namelist()

    # a photo a persona sends is a real photo message, its bytes downloadable
    form = aiohttp.FormData()
    for key, value in (("persona", RESIDENT.key), ("chat", str(RESIDENT.telegram_id))):
        form.add_field(key, value)
    form.add_field("kind", "photo")
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    form.add_field("file", picture, filename="road.png", content_type="image/png")
    async with api.client.post(f"{api.base}/api/upload", data=form) as sent:
        assert sent.status == 200
    mine = [m for m in await api.chat(RESIDENT.key, RESIDENT.telegram_id) if m["from"] == "user"]
    assert mine[-1]["media"]["kind"] == "photo"
    async with api.client.get(f"{api.base}/api/file/{mine[-1]['media']['file_id']}") as got:
        assert await got.read() == picture

    # the clock closes the vote as if its deadline had passed; the result is posted
    done = await api.post("/api/clock", {"job": "vote_close", "at": "2099-01-01T09:00"})
    assert done["job"] == "vote_close" and "error" not in done["result"]
    result = await api.wait_for(ELDER.key, VILLAGE_GROUP[0], "表决结果")
    assert "1 票" in result["html"]

    # a persona cannot read or act in another's private chat
    async with api.client.get(
        f"{api.base}/api/chat?persona={ELDER.key}&chat={RESIDENT.telegram_id}"
    ) as refused:
        assert refused.status == 400

    # reset: no chat history, the demo village again (its vote card posted anew)
    assert (await api.post("/api/reset", {}))["generation"] == 1
    assert await api.chat(RESIDENT.key, RESIDENT.telegram_id) == []
    card = await api.wait_for(ELDER.key, VILLAGE_GROUP[0], "表决")
    assert "已投票：0" in card["html"]
