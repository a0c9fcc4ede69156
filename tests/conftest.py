"""Shared fixtures: databases for storage tests (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set) and a session factory that leaves the tables empty after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlmodel.ext.asyncio.session import AsyncSession

from sandbox.bot_api import FakeBotAPI
from storage.db import SessionFactory, create_engine, create_session_factory
from tests.databases import BACKENDS, empty_all_tables, fresh_database, postgres_server_url
from tests.harness import TOKEN, running_world


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the PostgreSQL variants when no server is configured."""
    if postgres_server_url():
        return
    skip = pytest.mark.skip(reason="TEST_DATABASE_URL is not set")
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgres" in (
            callspec.params.get("database_url"),
            callspec.params.get("world"),
        ):
            item.add_marker(skip)


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database per backend, shared by the storage tests of the run."""
    if request.param == "postgres" and not postgres_server_url():
        pytest.skip("TEST_DATABASE_URL is not set")
    folder: Path = tmp_path_factory.mktemp("db")
    async with fresh_database(request.param, folder) as url:
        yield url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on the shared database; every table is emptied after the test."""
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await empty_all_tables(engine)
        await engine.dispose()


@pytest.fixture
async def session(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


@pytest.fixture(scope="session", params=BACKENDS)
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[object]:
    """The bot, running against the fake Bot API, shared by the end-to-end tests of a backend."""

    if request.param == "postgres" and not postgres_server_url():
        pytest.skip("TEST_DATABASE_URL is not set")
    async with running_world(request.param, tmp_path_factory.mktemp("e2e")) as world:
        yield world


@pytest.fixture
async def fake() -> AsyncIterator[object]:
    """A fake Bot API server of its own, for tests that drive a bare Bot or a part of the app."""

    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
async def bot(fake) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A plain aiogram Bot talking to `fake`."""

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()
