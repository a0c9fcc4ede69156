"""A textbook peer of linli's /report, for bench/report_flow.py to run beside linli.

The same six updates as linli's wizard, with the same buttons (the driver cannot tell them
apart): /report -> a category ("pk:rcat:<id>") -> the description -> Next ("fl:next") ->
Show my name / Stay anonymous ("fl:named" / "fl:anonymous") -> Send ("fl:confirm"). Written the
way aiogram's documentation and the common templates write it:

- aiogram's FSM: a StatesGroup, `state.update_data`, MemoryStorage (or RedisStorage);
- a middleware that opens one SQLAlchemy AsyncSession per update from an async_sessionmaker
  and commits when the handler returns;
- plain ORM models on their own DeclarativeBase, tables made with `metadata.create_all` in the
  peer's own database (an SQLite file, or a PostgreSQL database of its own), engines with
  SQLAlchemy's defaults;
- on Send, the report is added and committed, the grid worker is told with
  `bot.send_message`, and the resident's message is edited (the middleware's commit then has
  nothing left to do). A first version flushed for the report's number and left the commit to
  the middleware, as many examples do: on SQLite it then held the write lock across its three
  Bot API calls, and with --rtt-ms 60 reports of 40 residents at once failed with "database is
  locked" (pysqlite's 5 s busy timeout). Committing first is what a working textbook bot does.

What it leaves out, and linli does not: the person and their residence (who may report, in
which grid), an audit row, the outbox (the push goes out inside the update, at no pace), the
per-person isolation of updates (aiogram's default: none), conversations that survive a
restart without Redis, and the update ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram.utils.text_decorations import html_decoration as hd
from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CATEGORIES = ("Hazard", "Environment", "Roads", "Dispute", "Help needed", "Other")


# --- models ----------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Category(Base):
    __tablename__ = "peer_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))


class Report(Base):
    __tablename__ = "peer_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    category_id: Mapped[int] = mapped_column(ForeignKey("peer_category.id"))
    description: Mapped[str] = mapped_column(String(500))
    location: Mapped[str] = mapped_column(String(64), default="")
    anonymous: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- the wizard ------------------------------------------------------------------------


class ReportForm(StatesGroup):
    category = State()
    description = State()
    extras = State()
    privacy = State()
    confirm = State()


class Pick(CallbackData, prefix="pk"):
    what: str
    value: int


class FlowAction(CallbackData, prefix="fl"):
    action: str


def flow_keyboard(*actions: tuple[str, str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for text, action in actions:
        builder.button(text=text, callback_data=FlowAction(action=action))
    builder.adjust(1)
    return builder.as_markup()


def make_router(worker_id: int) -> Router:
    router = Router(name="reports")

    @router.message(Command("report"), F.chat.type == "private")
    async def start_report(message: Message, state: FSMContext, session: AsyncSession) -> None:
        """Step 1: what kind of problem."""
        categories = (await session.scalars(select(Category).order_by(Category.id))).all()
        builder = InlineKeyboardBuilder()
        for category in categories:
            builder.button(text=category.name, callback_data=Pick(what="rcat", value=category.id))
        builder.button(text="✖ Cancel", callback_data=FlowAction(action="cancel"))
        builder.adjust(2)
        await state.clear()
        await state.set_state(ReportForm.category)
        await message.answer(
            "Report a problem. What kind is it?", reply_markup=builder.as_markup()
        )

    @router.callback_query(ReportForm.category, Pick.filter(F.what == "rcat"))
    async def pick_category(
        callback: CallbackQuery, callback_data: Pick, state: FSMContext, session: AsyncSession
    ) -> None:
        """Step 2: describe it."""
        category = await session.get(Category, callback_data.value)
        if category is None:
            await callback.answer("No such category.", show_alert=True)
            return
        await state.update_data(category_id=category.id, category=category.name)
        await state.set_state(ReportForm.description)
        await callback.answer()
        await callback.message.edit_text(  # type: ignore[union-attr]
            f"{hd.quote(category.name)}. Please describe the problem in a few words.",
            reply_markup=flow_keyboard(("✖ Cancel", "cancel")),
        )

    @router.message(ReportForm.description, F.text)
    async def receive_description(message: Message, state: FSMContext) -> None:
        """Step 3: the place, optional."""
        await state.update_data(description=(message.text or "")[:500])
        await state.set_state(ReportForm.extras)
        await message.answer(
            "Where is it? Type the place, or press Next.",
            reply_markup=flow_keyboard(("Next ▶", "next"), ("✖ Cancel", "cancel")),
        )

    @router.message(ReportForm.extras, F.text)
    async def receive_place(message: Message, state: FSMContext) -> None:
        await state.update_data(location=(message.text or "")[:64])
        await message.answer(
            f"Place: {hd.quote(message.text or '')}. Press Next.",
            reply_markup=flow_keyboard(("Next ▶", "next"), ("✖ Cancel", "cancel")),
        )

    @router.callback_query(ReportForm.extras, FlowAction.filter(F.action == "next"))
    async def ask_privacy(callback: CallbackQuery, state: FSMContext) -> None:
        """Step 4: may neighbours see who reported it?"""
        await state.set_state(ReportForm.privacy)
        await callback.answer()
        await callback.message.edit_text(  # type: ignore[union-attr]
            "May your name be shown with this report?",
            reply_markup=flow_keyboard(
                ("Show my name", "named"),
                ("🔒 Stay anonymous", "anonymous"),
                ("✖ Cancel", "cancel"),
            ),
        )

    @router.callback_query(
        ReportForm.privacy, FlowAction.filter(F.action.in_({"named", "anonymous"}))
    )
    async def review_report(
        callback: CallbackQuery, callback_data: FlowAction, state: FSMContext
    ) -> None:
        """Step 5: check and send."""
        anonymous = callback_data.action == "anonymous"
        data = await state.update_data(anonymous=anonymous)
        await state.set_state(ReportForm.confirm)
        await callback.answer()
        await callback.message.edit_text(  # type: ignore[union-attr]
            f"Please check:\nKind: {hd.quote(data['category'])}\n"
            f"Problem: {hd.quote(data['description'])}\n"
            f"Place: {hd.quote(data.get('location') or 'not given')}\n"
            f"Name shown: {'no' if anonymous else 'yes'}\n\nSend this report?",
            reply_markup=flow_keyboard(("✔ Send report", "confirm"), ("✖ Cancel", "cancel")),
        )

    @router.callback_query(ReportForm.confirm, FlowAction.filter(F.action == "confirm"))
    async def submit_report(
        callback: CallbackQuery, state: FSMContext, session: AsyncSession, bot: Bot
    ) -> None:
        """File it, tell the grid worker, and give the resident its number."""
        data = await state.get_data()
        report = Report(
            user_id=callback.from_user.id,
            category_id=data["category_id"],
            description=data["description"],
            location=data.get("location", ""),
            anonymous=data.get("anonymous", False),
            created_at=datetime.now(UTC),
        )
        session.add(report)
        await session.commit()  # before the messages: see the module's docstring
        await state.clear()
        who = "anonymous" if report.anonymous else hd.quote(callback.from_user.full_name)
        await bot.send_message(
            worker_id,
            f"📣 New report #{report.id} ({hd.quote(data['category'])}) from {who}:\n"
            f"{hd.quote(report.description)}",
            reply_markup=flow_keyboard(("Accept", f"accept{report.id}")),
        )
        await callback.answer("Sent.")
        await callback.message.edit_text(  # type: ignore[union-attr]
            f"Your report <b>#{report.id}</b> is filed and sent to your grid worker."
        )

    @router.callback_query(FlowAction.filter(F.action == "cancel"))
    async def cancel(callback: CallbackQuery, state: FSMContext) -> None:
        await state.clear()
        await callback.answer()
        await callback.message.edit_text("Cancelled.")  # type: ignore[union-attr]

    return router


class DbSessionMiddleware(BaseMiddleware):
    """One session per update; committed when the handler returns."""

    def __init__(self, session_pool: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.session_pool = session_pool

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.session_pool() as session:
            data["session"] = session
            result = await handler(event, data)
            await session.commit()
            return result


# --- assembly --------------------------------------------------------------------------


@dataclass
class Peer:
    bot: Bot
    dp: Dispatcher
    engine: AsyncEngine
    storage: BaseStorage

    async def close(self) -> None:
        await self.storage.close()
        await self.bot.session.close()
        await self.engine.dispose()


async def create_peer(
    *, token: str, api_base: str, database_url: str, worker_id: int, redis_url: str | None = None
) -> Peer:
    """The peer's bot and dispatcher, its tables made and its categories filled in."""
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    session_pool = async_sessionmaker(engine, expire_on_commit=False)
    async with session_pool() as session:
        if not (await session.scalars(select(Category.id))).first():
            session.add_all(Category(name=name) for name in CATEGORIES)
            await session.commit()
    storage: BaseStorage = (
        RedisStorage.from_url(redis_url, key_builder=DefaultKeyBuilder(prefix="peer_fsm"))
        if redis_url
        else MemoryStorage()
    )
    dp = Dispatcher(storage=storage)
    dp.update.middleware(DbSessionMiddleware(session_pool=session_pool))
    dp.include_router(make_router(worker_id))
    bot = Bot(
        token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    return Peer(bot=bot, dp=dp, engine=engine, storage=storage)


@asynccontextmanager
async def peer_database(backend: str, folder: Path, server_url: str) -> AsyncIterator[str]:
    """The peer's own empty database (an SQLite file, or a new PostgreSQL database, dropped
    after); yields its async URL."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'peer.db'}"
        return
    parsed = make_url(server_url).set(drivername="postgresql+asyncpg")
    name = f"peer_bench_{uuid.uuid4().hex[:12]}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
