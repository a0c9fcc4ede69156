"""Grid notices (宣传上级政策) through the outbox with a delivery count, /gridstats figures with
a chart, and a village's report settings (/reportsettings)."""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, outbox, reports, votes
from storage.models.common import OutboxStatus
from storage.models.org import Person, Village
from storage.models.reports import ReportCategory
from storage.models.votes import VoteStatus
from storage.periods import month_bounds, month_key, shift
from storage.permissions.org import Actor
from storage.permissions.reports import ReportPermissions
from storage.settings import Settings
from views.charts import grid_chart, trend_chart, turnout_chart
from views.dates import month_title
from views.i18n import _, locale_of, tr
from views.keyboards import (
    Button,
    FlowAction,
    Pick,
    button,
    cancel_row,
    confirm_keyboard,
    keyboard,
    picker,
)
from views.replies import edit_after_press
from views.reports import (
    CategoryAct,
    GridStats,
    NoticeStatus,
    SettingAct,
    WorkerStats,
    category_name,
)

router = Router(name="grid")
NOTICE_MAX = 1500


class Notice(StatesGroup):
    target = State()
    text = State()
    confirm = State()


class NoticeForm(TypedDict, total=False):
    village_id: int
    grid_id: int | None
    target: str
    text: str


class Setting(StatesGroup):
    category = State()
    reward = State()


# --- notices -------------------------------------------------------------------------------


@router.message(Command("notice"), F.chat.type == "private")
async def start_notice(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """Step 1: to whom — the worker's grid, or (admins) the whole village or a grid."""
    choices: list[tuple[int, str]] = []
    for village in await org.administered_villages(session, actor):
        choices.append(
            (-(village.id or 0), _("{village} (whole village)").format(village=village.name))
        )
        choices += [
            (g.id or 0, f"{village.name} · {g.name}")
            for g in await org.grids_of(session, village.id or 0)
        ]
    known = {value for value, _label in choices}
    for grid_id in sorted(actor.worker_grids()):
        if grid_id not in known:
            grid = await org.get_grid(session, grid_id)
            choices.append((grid_id, grid.name))
    if not choices:
        await message.answer(_("Only grid workers and village admins can send notices."))
        return
    await state.clear()
    await state.set_state(Notice.target)
    await message.answer(
        _("Send a notice to whom?"), reply_markup=picker("ntarget", choices[:30], columns=1)
    )


@router.callback_query(Notice.target, Pick.filter(F.what == "ntarget"))
async def pick_notice_target(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    """Step 2: the text (checked again: the sender may write there)."""
    if callback_data.value < 0:
        village = await org.get_village(session, -callback_data.value)
        village_id, grid_id, target = village.id or 0, None, village.name
    else:
        grid = await org.get_grid(session, callback_data.value)
        village_id, grid_id, target = grid.village_id, grid.id, grid.name
    if not ReportPermissions.can_send_notice(actor, village_id, grid_id):
        await query.answer(
            _("Grid workers can send notices to their grid; village admins to the village."),
            show_alert=True,
        )
        return
    await state.update_data(village_id=village_id, grid_id=grid_id, target=target)
    await state.set_state(Notice.text)
    await edit_after_press(
        query,
        _("Notice to {target}. Please send its text (at most {limit} characters).").format(
            target=hd.quote(target), limit=NOTICE_MAX
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Notice.text, F.text)
async def receive_notice_text(message: Message, state: FSMContext) -> None:
    text = org.require_text(message.text, NOTICE_MAX, lines=True)
    await state.update_data(text=text)
    form: NoticeForm = await state.get_data()  # type: ignore[assignment]
    await state.set_state(Notice.confirm)
    await message.answer(
        _("Send this notice to {target}?\n\n{text}").format(
            target=hd.quote(form["target"]), text=hd.quote(text)
        ),
        reply_markup=confirm_keyboard(_("✔ Send"), back=False),
    )


@router.callback_query(Notice.confirm, FlowAction.filter(F.action == "confirm"))
async def send_notice(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    now: datetime,
) -> None:
    """Into the outbox, one message each, at Telegram's pace; the sender can check delivery."""
    form: NoticeForm = await state.get_data()  # type: ignore[assignment]
    audience = await reports.notice_audience(
        session, actor, form["village_id"], form.get("grid_id"), now
    )
    batch = f"notice-{person.id}-{secrets.token_hex(4)}"
    sender = hd.quote(person.full_name or "—")
    body = hd.quote(form["text"])
    for resident in audience.residents:
        heading = tr(locale_of(resident), "📢 Notice from {name}", name=sender)
        outbox.enqueue(session, resident.telegram_id, f"<b>{heading}</b>\n\n{body}", batch=batch)
    for chat in audience.chats:
        heading = tr(None, "📢 Notice from {name}", name=sender)
        outbox.enqueue(session, chat.chat_id, f"<b>{heading}</b>\n\n{body}", batch=batch)
    await state.clear()
    await edit_after_press(
        query,
        (
            _(
                "The notice is on its way to {residents} residents and {groups} groups. "
                "Press the button to see how many were delivered."
            )
            if audience.chats
            else _(
                "The notice is on its way to {residents} residents; no group chat is linked "
                "here, so none gets it. Press the button to see how many were delivered."
            )
        ).format(residents=len(audience.residents), groups=len(audience.chats)),
        reply_markup=keyboard([button(_("📊 Delivery status"), NoticeStatus(batch=batch).pack())]),
        toast=_("Sent."),
    )


@router.callback_query(NoticeStatus.filter())
async def show_delivery(
    query: CallbackQuery, callback_data: NoticeStatus, session: AsyncSession, person: Person
) -> None:
    """Delivered, failed, still waiting: only for the notice's sender."""
    if callback_data.batch.split("-")[1:2] != [str(person.id)]:
        await query.answer(_("This button has expired."), show_alert=True)
        return
    counts = await outbox.batch_counts(session, callback_data.batch)
    await query.answer(
        _("Delivered: {sent}. Failed: {failed}. Waiting: {pending}.").format(
            sent=counts[OutboxStatus.SENT],
            failed=counts[OutboxStatus.FAILED],
            pending=counts[OutboxStatus.PENDING],
        ),
        show_alert=True,
    )


# --- figures -------------------------------------------------------------------------------


def hours(value: float | None) -> str:
    """A median time as a cadre writes it: 不到1小时, 2.5小时, 30小时."""
    if value is None:
        return "—"
    if value < 1:
        return _("under 1 h")
    shown = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return _("{hours} h").format(hours=shown)


@router.message(Command("gridstats"), F.chat.type == "private")
async def show_grid_stats(
    message: Message, session: AsyncSession, actor: Actor, settings: Settings, now: datetime
) -> None:
    """This month's figures per grid, for village admins."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only this village's admins can see its figures."))
        return
    for village in villages[:3]:
        await send_grid_stats(message, session, actor, settings, now, village.id or 0, 0)


@router.callback_query(GridStats.filter())
async def page_grid_stats(
    query: CallbackQuery,
    callback_data: GridStats,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await send_grid_stats(
            query.message,
            session,
            actor,
            settings,
            now,
            callback_data.village_id,
            max(0, min(callback_data.back, 24)),
        )


async def send_grid_stats(
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
    figures = await reports.grid_figures(session, actor, village_id, start, end, now)
    lines = [
        _("<b>{village}, {month}: reports per grid</b>").format(
            village=hd.quote(village.name), month=month_title(month, None)
        )
    ]
    for number, entry in enumerate(figures, start=1):
        rate = "—" if entry.reopen_rate is None else f"{entry.reopen_rate:.0%}"
        lines.append(
            _(
                "{n}. {grid}: received {received} · to accept {accept} · to resolve {resolve}"
                " · overdue {overdue} · reopened {rate} · duplicates avoided {avoided}"
            ).format(
                n=number,
                grid=hd.quote(entry.grid.name),
                received=entry.received,
                accept=hours(entry.median_accept_hours),
                resolve=hours(entry.median_resolve_hours),
                overdue=entry.overdue,
                rate=rate,
                avoided=entry.avoided,
            )
        )
    lines.append(_("Times are medians. The charts below show the same figures."))
    pager = keyboard(
        [button(_("◀ Previous month"), GridStats(village_id=village_id, back=back + 1).pack())],
        [button(_("👷 Each grid worker"), WorkerStats(village_id=village_id, back=back).pack())],
    )
    await message.answer("\n".join(lines), reply_markup=pager)
    charts = await grid_charts(session, actor, settings, village, month, figures)
    for name, chart in charts:
        # A server without photos: the text above carries the figures.
        with contextlib.suppress(TelegramAPIError):
            await message.answer_photo(BufferedInputFile(chart, filename=name))


async def grid_charts(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    village: Village,
    month: str,
    figures: list[reports.GridFigures],
) -> list[tuple[str, bytes]]:
    """The month per grid; the six months up to it, received and fixed; the year's votes'
    turnout. A chart with nothing to show is left out."""
    charts = []
    if any(entry.received for entry in figures):
        charts.append(
            (
                f"gridstats-{month}.png",
                grid_chart(village.name, month_title(month, None), figures),
            )
        )
    keys = [shift("monthly", month, n) for n in range(-5, 1)]
    trend = await reports.monthly_trend(
        session,
        actor,
        village.id or 0,
        [(key, *month_bounds(key, settings.tz)) for key in keys],
    )
    if any(received or fixed for _key, received, fixed in trend):
        charts.append((f"trend-{month}.png", trend_chart(village.name, trend)))
    year = month.partition("-")[0]
    start, end = month_bounds(f"{year}-01", settings.tz)[0], month_bounds(month, settings.tz)[1]
    closed = [
        await votes.vote_view(session, vote.id or 0)
        for vote in await votes.votes_of_year(session, village.id or 0, start, end)
        if vote.status == VoteStatus.CLOSED
    ]
    if closed:
        charts.append((f"turnout-{year}.png", turnout_chart(village.name, year, closed[-8:])))
    return charts


# --- settings ------------------------------------------------------------------------------


@router.message(Command("reportsettings"), F.chat.type == "private")
async def show_report_settings(message: Message, session: AsyncSession, actor: Actor) -> None:
    """The village's categories, the points item a valid report earns, the digest hour."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only this village's admins can change its report settings."))
        return
    for village in villages[:3]:
        text, markup = await settings_view(session, village.id or 0)
        await message.answer(text, reply_markup=markup)


async def settings_view(
    session: AsyncSession, village_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The settings card: each category opens its own card (times, removal)."""
    village = await org.get_village(session, village_id)
    current = await reports.settings_of(session, village_id)
    found = await reports.categories(session, village_id)
    names = "、".join(hd.quote(category_name(c.code, c.name)) for c in found)
    rows = [
        [
            button(
                _("⚙ {category} · {accept} h / {resolve} h").format(
                    category=category_name(c.code, c.name),
                    accept=c.accept_hours,
                    resolve=c.resolve_hours,
                ),
                CategoryAct(village_id=village_id, category_id=c.id or 0, action="open").pack(),
            )
        ]
        for c in found
    ]
    rows.append(
        [button(_("➕ Add a category"), SettingAct(village_id=village_id, action="add").pack())]
    )
    rows.append(
        [button(_("🎁 Points item"), SettingAct(village_id=village_id, action="reward").pack())]
    )
    rows.append(
        [
            button(
                ("✓ " if hour == current.digest_hour else "⏰ ") + f"{hour}:00",
                SettingAct(village_id=village_id, action="hour", value=hour).pack(),
            )
            for hour in (7, 8, 9, 17)
        ]
    )
    text = _(
        "<b>Report settings of {village}</b>\nCategories: {names}\n"
        "Points item for a valid report: {item}\nWorkers' daily digest at: {hour}:00"
    ).format(
        village=hd.quote(village.name),
        names=names,
        item=hd.quote(current.reward_item_code or _("none")),
        hour=current.digest_hour,
    )
    text += "\n" + _("Tap a category to change its times to accept and to resolve, or remove it.")
    return text, keyboard(*rows)


@router.callback_query(SettingAct.filter(F.action == "hour"))
async def change_digest_hour(
    query: CallbackQuery,
    callback_data: SettingAct,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """The hour of the workers' daily digest."""
    await reports.configure(
        session, actor, callback_data.village_id, now, digest_hour=callback_data.value
    )
    text, markup = await settings_view(session, callback_data.village_id)
    # the choice already ticked leaves the card as it is (bot/edits.py)
    await edit_after_press(query, text, toast=_("Saved."), reply_markup=markup)


def hours_label(hours: int) -> str:
    if hours % 24 == 0 and hours >= 48:
        return _("{days} days").format(days=hours // 24)
    return _("{hours} h").format(hours=hours)


def category_card(category: ReportCategory) -> tuple[str, InlineKeyboardMarkup]:
    """One category: its two times as choices (the current one ticked), and removal."""
    village_id, category_id = category.village_id, category.id or 0

    def choices(action: str, options: tuple[int, ...], current: int) -> list[Button]:
        return [
            button(
                ("✓ " if hours == current else "") + hours_label(hours),
                CategoryAct(
                    village_id=village_id, category_id=category_id, action=action, value=hours
                ).pack(),
            )
            for hours in options
        ]

    text = _(
        "<b>{category}</b>\nTime to accept: {accept} (first row of times)\n"
        "Time to resolve: {resolve} (second row)\n\n"
        "A task not accepted in time is pushed again to the grid and to you; one not resolved "
        "in time comes to you. New times apply to reports filed from now on."
    ).format(
        category=hd.quote(category_name(category.code, category.name)),
        accept=hours_label(category.accept_hours),
        resolve=hours_label(category.resolve_hours),
    )
    markup = keyboard(
        choices("accept", reports.ACCEPT_HOURS_CHOICES, category.accept_hours),
        choices("resolve", reports.RESOLVE_HOURS_CHOICES, category.resolve_hours),
        [
            button(
                _("🗑 Remove this category"),
                CategoryAct(
                    village_id=village_id, category_id=category_id, action="remove"
                ).pack(),
            )
        ],
        [button(_("◀ Back"), SettingAct(village_id=village_id, action="back").pack())],
    )
    return text, markup


async def check_configure(query: CallbackQuery, actor: Actor, village_id: int) -> bool:
    """Re-check on every press: only the village's admins change its settings."""
    if ReportPermissions.can_configure(actor, village_id):
        return True
    await query.answer(
        _("Only this village's admins can change its report settings."), show_alert=True
    )
    return False


async def category_to_configure(
    query: CallbackQuery, session: AsyncSession, actor: Actor, callback_data: CategoryAct
) -> ReportCategory | None:
    """The pressed category, if this person may configure its village (checked on every
    press); None when they were told they may not."""
    if not await check_configure(query, actor, callback_data.village_id):
        return None
    return await reports.get_category(session, callback_data.village_id, callback_data.category_id)


@router.callback_query(SettingAct.filter(F.action == "back"))
async def back_to_settings(
    query: CallbackQuery, callback_data: SettingAct, session: AsyncSession, actor: Actor
) -> None:
    if not await check_configure(query, actor, callback_data.village_id):
        return
    text, markup = await settings_view(session, callback_data.village_id)
    await edit_after_press(query, text, reply_markup=markup)


@router.callback_query(CategoryAct.filter(F.action == "open"))
async def open_category(
    query: CallbackQuery, callback_data: CategoryAct, session: AsyncSession, actor: Actor
) -> None:
    """A category's card."""
    category = await category_to_configure(query, session, actor, callback_data)
    if category is None:
        return
    text, markup = category_card(category)
    await edit_after_press(query, text, reply_markup=markup)


@router.callback_query(CategoryAct.filter(F.action.in_({"accept", "resolve"})))
async def change_category_hours(
    query: CallbackQuery,
    callback_data: CategoryAct,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """A new time to accept or to resolve; the card shows it at once."""
    hours = {f"{callback_data.action}_hours": callback_data.value}
    category = await reports.set_category_hours(
        session, actor, callback_data.village_id, callback_data.category_id, now, **hours
    )
    text, markup = category_card(category)
    # the choice already ticked leaves the card as it is (bot/edits.py)
    await edit_after_press(query, text, toast=_("Saved."), reply_markup=markup)


@router.callback_query(CategoryAct.filter(F.action == "remove"))
async def ask_remove_category(
    query: CallbackQuery, callback_data: CategoryAct, session: AsyncSession, actor: Actor
) -> None:
    """Removing asks first: a slip of the finger should not take a category away."""
    category = await category_to_configure(query, session, actor, callback_data)
    if category is None:
        return
    again = callback_data.model_copy(update={"action": "removeok"}).pack()
    back = callback_data.model_copy(update={"action": "open"}).pack()
    await edit_after_press(
        query,
        _(
            "Remove the category {category}? Residents will no longer see it; reports filed "
            "under it keep it."
        ).format(category=hd.quote(category_name(category.code, category.name))),
        reply_markup=keyboard([button(_("🗑 Yes, remove it"), again)], [button(_("◀ Back"), back)]),
    )


@router.callback_query(CategoryAct.filter(F.action == "removeok"))
async def remove_category(
    query: CallbackQuery,
    callback_data: CategoryAct,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    await reports.remove_category(
        session, actor, callback_data.village_id, callback_data.category_id, now
    )
    text, markup = await settings_view(session, callback_data.village_id)
    await edit_after_press(query, text, toast=_("Removed."), reply_markup=markup)


@router.callback_query(SettingAct.filter(F.action.in_({"add", "reward"})))
async def ask_setting_text(
    query: CallbackQuery, callback_data: SettingAct, state: FSMContext, actor: Actor
) -> None:
    if not ReportPermissions.can_configure(actor, callback_data.village_id):
        await query.answer(
            _("Only this village's admins can change its report settings."), show_alert=True
        )
        return
    adding = callback_data.action == "add"
    await state.set_state(Setting.category if adding else Setting.reward)
    await state.set_data({"village_id": callback_data.village_id})
    await query.answer()
    if isinstance(query.message, Message):
        prompt = (
            _("Send the new category's name (at most {limit} characters).").format(
                limit=reports.CATEGORY_NAME_MAX
            )
            if adding
            else _(
                "Send the code of the points catalogue item a valid report earns "
                "(see /catalogue), for example E02, or - for none."
            )
        )
        await query.message.answer(prompt, reply_markup=keyboard(cancel_row()))


@router.message(Setting.category, F.text)
async def receive_category(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    data = await state.get_data()
    await reports.add_category(session, actor, data["village_id"], message.text or "", now)
    await state.clear()
    await message.answer(_("Saved."))
    text, markup = await settings_view(session, data["village_id"])
    await message.answer(text, reply_markup=markup)


@router.message(Setting.reward, F.text)
async def receive_reward_item(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    data = await state.get_data()
    code = (message.text or "").strip()
    await reports.configure(
        session, actor, data["village_id"], now, reward_item_code="" if code == "-" else code
    )
    await state.clear()
    await message.answer(_("Saved."))
    text, markup = await settings_view(session, data["village_id"])
    await message.answer(text, reply_markup=markup)
