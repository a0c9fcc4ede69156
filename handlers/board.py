"""/export: the village admins take the notice board's files from the bot (三务公开栏): the
month's PDF notice, the points, reports, votes and council sheets, and the admins' own record
of who voted. Each press is checked again; the file comes as a document."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from exports.council import decisions_xlsx
from exports.points import month_xlsx
from exports.reports import reports_xlsx
from exports.votes import vote_record_xlsx, votes_xlsx
from storage import org
from storage.errors import N_, NotAllowed, RuleError
from storage.permissions.org import Actor, OrgPermissions
from storage.settings import Settings
from views.board import (
    KINDS,
    BoardFile,
    BoardKind,
    BoardVillage,
    caption,
    file_name,
    kinds_keyboard,
    periods_keyboard,
    recent_periods,
    villages_keyboard,
)
from views.board_pdf import month_notice, month_pdf
from views.i18n import _
from views.replies import edit_after_press

router = Router(name="board")
ONLY_ADMINS = N_("Only the village admins can take files for the notice board.")


def check(actor: Actor, village_id: int) -> None:
    if not OrgPermissions.can_administer(actor, village_id):
        raise NotAllowed(ONLY_ADMINS)


@router.message(Command("export"), F.chat.type == "private")
async def offer_exports(
    message: Message, session: AsyncSession, actor: Actor, locale: str
) -> None:
    """Step 1: the village (when the admin has several), then what to take."""
    villages = [
        (v.id or 0, v.name)
        for v in await org.administered_villages(session, actor)
        if OrgPermissions.can_administer(actor, v.id or 0)
    ]
    if not villages:
        await message.answer(_(ONLY_ADMINS))
        return
    if len(villages) > 1:
        await message.answer(_("Which village?"), reply_markup=villages_keyboard(villages))
        return
    await message.answer(
        _("{village}: what would you like for the notice board?").format(village=villages[0][1]),
        reply_markup=kinds_keyboard(villages[0][0], locale),
    )


@router.callback_query(BoardVillage.filter())
async def pick_kind(
    query: CallbackQuery,
    callback_data: BoardVillage,
    session: AsyncSession,
    actor: Actor,
    locale: str,
) -> None:
    check(actor, callback_data.village_id)
    village = await org.get_village(session, callback_data.village_id)
    await edit_after_press(
        query,
        _("{village}: what would you like for the notice board?").format(village=village.name),
        reply_markup=kinds_keyboard(callback_data.village_id, locale),
    )


@router.callback_query(BoardKind.filter())
async def pick_period(
    query: CallbackQuery,
    callback_data: BoardKind,
    actor: Actor,
    now: datetime,
    settings: Settings,
    locale: str,
) -> None:
    check(actor, callback_data.village_id)
    if callback_data.kind not in KINDS:
        raise RuleError(N_("That button is out of date. Please send /export again."))
    await edit_after_press(
        query,
        _("Which period?"),
        reply_markup=periods_keyboard(
            callback_data.village_id,
            callback_data.kind,
            now.astimezone(settings.tz).date(),
            locale,
        ),
    )


@router.callback_query(BoardFile.filter())
async def send_file(
    query: CallbackQuery,
    callback_data: BoardFile,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    settings: Settings,
    locale: str,
) -> None:
    """Make the file and send it as a document (the button names a recent period only)."""
    check(actor, callback_data.village_id)
    kind, period = callback_data.kind, callback_data.period
    if kind not in KINDS or period not in recent_periods(
        KINDS[kind][1], now.astimezone(settings.tz).date()
    ):
        raise RuleError(N_("That button is out of date. Please send /export again."))
    village = await org.get_village(session, callback_data.village_id)
    today = now.astimezone(settings.tz).date()
    tz = settings.tz
    if kind == "pdf":
        notice = await month_notice(session, village.id or 0, period, tz, today, locale)
        data = month_pdf(notice, locale)
    elif kind == "points":
        data = await month_xlsx(session, village.id or 0, period, tz, locale, today)
    elif kind == "reports":
        data = await reports_xlsx(session, village, period, tz, locale, today)
    elif kind == "votes":
        data, _count = await votes_xlsx(session, village, int(period), tz, locale, today)
    elif kind == "council":
        data, _count = await decisions_xlsx(session, village, int(period), tz, locale, today)
    else:
        data = await vote_record_xlsx(session, village, int(period), tz, locale, today)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(data, filename=file_name(kind, village.name, period)),
            caption=caption(kind, village.name, period, locale),
        )
