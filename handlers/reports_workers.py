"""The per-worker figures (管理考核) beside /gridstats: for a chosen month, each grid worker's
tasks received, accepted and resolved in time, reopened, median times, residents approved and
notices sent. Village admins see their village; a district admin every village."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, reports
from storage.periods import month_bounds, month_key, shift
from storage.permissions.org import Actor
from storage.settings import Settings
from views.i18n import _
from views.keyboards import button, keyboard
from views.points import month_title
from views.reports import WorkerStats, worker_lines

router = Router(name="workers")

VILLAGES_MAX = 20


@router.message(Command("workerstats"), F.chat.type == "private")
async def show_worker_stats(
    message: Message, session: AsyncSession, actor: Actor, settings: Settings, now: datetime
) -> None:
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only this village's admins can see its figures."))
        return
    for village in villages[:VILLAGES_MAX]:
        await send_worker_stats(message, session, actor, settings, now, village.id or 0, 0)


@router.callback_query(WorkerStats.filter())
async def page_worker_stats(
    query: CallbackQuery,
    callback_data: WorkerStats,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await send_worker_stats(
            query.message,
            session,
            actor,
            settings,
            now,
            callback_data.village_id,
            max(0, min(callback_data.back, 24)),
        )


async def send_worker_stats(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
    village_id: int,
    back: int,
) -> None:
    village = await org.get_village(session, village_id)
    month = shift("monthly", month_key(now.astimezone(settings.tz).date()), -back)
    start, end = month_bounds(month, settings.tz)
    figures = await reports.worker_figures(session, actor, village_id, start, end)
    title = _("<b>{village}, {month}: each grid worker</b>").format(
        village=hd.quote(village.name), month=month_title(month, None)
    )
    pager = [
        button(_("◀ Previous month"), WorkerStats(village_id=village_id, back=back + 1).pack())
    ]
    if back:
        pager.append(
            button(_("Next month ▶"), WorkerStats(village_id=village_id, back=back - 1).pack())
        )
    await message.answer("\n".join([title, *worker_lines(figures)]), reply_markup=keyboard(pager))
