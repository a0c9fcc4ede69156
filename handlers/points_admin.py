"""Village admins run the points system: the catalogue (/catalogue), the quarterly rewards
(/rewards), the weekly time and the exposure list (/pointsettings), and the month's workbook
for the notice board (/pointsexport, also open to the points group)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from exports.points import month_xlsx
from storage import org, periods, points
from storage.errors import N_, NotAllowed
from storage.models.points import CapPeriod, RewardStatus
from storage.permissions.org import Actor
from storage.settings import Settings
from views.dates import month_title, quarter_title
from views.i18n import _
from views.keyboards import FlowAction, Pick, button, cancel_row, flow_button, keyboard, picker
from views.points import (
    ExportMonth,
    HandOver,
    ItemAction,
    RetireTier,
    cap_text,
    category_code,
    category_label,
    item_label,
)
from views.replies import edit_after_press, send_after_press

router = Router(name="points_admin")

CAPS = {
    0: (None, None),
    1: (1, CapPeriod.WEEK),
    2: (2, CapPeriod.WEEK),
    3: (1, CapPeriod.MONTH),
    4: (4, CapPeriod.MONTH),
}
WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


class Cataloguing(StatesGroup):
    category = State()
    item = State()
    points = State()
    new_category = State()
    new_name = State()
    new_points = State()
    new_evidence = State()
    new_cap = State()


class Rewarding(StatesGroup):
    threshold = State()
    reward = State()


class Scheduling(StatesGroup):
    weekday = State()
    time = State()


class NewItemForm(TypedDict, total=False):
    village_id: int
    category: str
    name: str
    points: int
    evidence: bool
    item_id: int


def managed_village(actor: Actor | None) -> int:
    """The village an admin runs (the first, when several)."""
    villages = sorted(actor.admin_villages()) if actor else []
    if not villages:
        raise NotAllowed(N_("Only village admins can do this."))
    return villages[0]


# --- /catalogue ----------------------------------------------------------------------------


@router.message(Command("catalogue"), F.chat.type == "private")
async def show_catalogue(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, locale: str
) -> None:
    """The village's items by category; buttons to change, retire or add one."""
    village_id = managed_village(actor)
    items = await points.catalogue(session, village_id)
    lines = [_("<b>Points catalogue</b> ({count} items)").format(count=len(items))]
    current = None
    for item in items:
        if item.category != current:
            current = item.category
            lines.append(f"\n<b>{hd.quote(category_label(item.category, locale))}</b>")
        extras = [cap_text(item)] + ([_("evidence")] if item.evidence_required else [])
        extra = "; ".join(e for e in extras if e)
        lines.append(
            f"{item.code} {hd.quote(item_label(item, locale))}"
            + (f" — {hd.quote(extra)}" if extra else "")
        )
    await state.set_state(Cataloguing.category)
    await state.set_data(NewItemForm(village_id=village_id))
    codes = [c["code"] for c in points.categories()] + [points.UNCATEGORISED]
    used = {item.category for item in items}
    markup = picker(
        "kcat",
        [(i, category_label(c, locale)) for i, c in enumerate(codes) if c in used],
        extra=[flow_button(_("➕ Add an item"), "new")],
    )
    await message.answer(
        "\n".join(lines) + "\n\n" + _("To change or retire an item, pick its category."),
        reply_markup=markup,
    )


@router.callback_query(Cataloguing.category, Pick.filter(F.what == "kcat"))
async def pick_catalogue_category(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    state: FSMContext,
    locale: str,
) -> None:
    """The items of a category, as buttons."""
    form: NewItemForm = await state.get_data()  # type: ignore[assignment]
    items = await points.catalogue(
        session, form["village_id"], category=category_code(callback_data.value)
    )
    await state.set_state(Cataloguing.item)
    await edit_after_press(
        query,
        _("Which item?"),
        reply_markup=picker(
            "kitem", [(i.id or 0, item_label(i, locale)) for i in items], columns=1
        ),
    )


@router.callback_query(Cataloguing.item, Pick.filter(F.what == "kitem"))
async def show_catalogue_item(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, locale: str
) -> None:
    """One item, with Change points and Retire."""
    item = await points.get_item(session, callback_data.value)
    await edit_after_press(
        query,
        _("{code} {item}\n{cap}").format(
            code=item.code, item=hd.quote(item_label(item, locale)), cap=cap_text(item)
        ),
        reply_markup=keyboard(
            [
                button(_("✏ Change points"), ItemAction(item_id=item.id or 0, action="p").pack()),
                button(_("🗄 Retire"), ItemAction(item_id=item.id or 0, action="r").pack()),
            ],
            cancel_row(),
        ),
    )


@router.callback_query(ItemAction.filter(F.action == "r"))
async def retire_item(
    query: CallbackQuery,
    callback_data: ItemAction,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    """Retire: no new claims; its history stays."""
    item = await points.retire_item(session, actor, callback_data.item_id, now)
    await state.clear()
    await edit_after_press(
        query,
        _("{name} is retired. Points already recorded for it stay.").format(
            name=hd.quote(item.name)
        ),
        toast=_("Retired."),
    )


@router.callback_query(ItemAction.filter(F.action == "p"))
async def ask_item_points(
    query: CallbackQuery,
    callback_data: ItemAction,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    """Change points: ask for the new value."""
    item = await points.get_item(session, callback_data.item_id)
    if not points.Can.can_manage(actor, item.village_id):
        raise NotAllowed(N_("Only village admins can change the points catalogue."))
    await state.set_state(Cataloguing.points)
    await state.update_data(item_id=item.id)
    await edit_after_press(
        query,
        _("New points for {name}? A number, negative for a deduction (now {points}).").format(
            name=hd.quote(item.name), points=item.points
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Cataloguing.points, F.text)
async def change_item_points(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, now: datetime
) -> None:
    """Save the new value; claims already made keep theirs."""
    form: NewItemForm = await state.get_data()  # type: ignore[assignment]
    item = await points.change_item_points(
        session, actor, form["item_id"], message.text or "", now
    )
    await state.clear()
    await message.answer(
        _("{name} is now worth {points:+d} points. Claims already made keep their value.").format(
            name=hd.quote(item.name), points=item.points
        )
    )


@router.callback_query(Cataloguing.category, FlowAction.filter(F.action == "new"))
async def start_new_item(query: CallbackQuery, state: FSMContext, locale: str) -> None:
    """Add an item, step 1: its category."""
    await state.set_state(Cataloguing.new_category)
    await query.answer()
    codes = [c["code"] for c in points.categories()]
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _("New item. Which category?"),
            reply_markup=picker(
                "ncat", [(i, category_label(c, locale)) for i, c in enumerate(codes)]
            ),
        )


@router.callback_query(Cataloguing.new_category, Pick.filter(F.what == "ncat"))
async def pick_new_item_category(
    query: CallbackQuery, callback_data: Pick, state: FSMContext
) -> None:
    """Step 2: its name."""
    await state.update_data(category=category_code(callback_data.value))
    await state.set_state(Cataloguing.new_name)
    await edit_after_press(
        query,
        _("Its name, as residents will see it (at most {limit} characters)?").format(
            limit=points.ITEM_NAME_MAX
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Cataloguing.new_name, F.text)
async def receive_new_item_name(message: Message, state: FSMContext) -> None:
    """Step 3: its points."""
    await state.update_data(name=org.require_text(message.text, points.ITEM_NAME_MAX))
    await state.set_state(Cataloguing.new_points)
    await message.answer(
        _("How many points? A negative number for a deduction, for example -3."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Cataloguing.new_points, F.text)
async def receive_new_item_points(message: Message, state: FSMContext) -> None:
    """Step 4: evidence needed?"""
    await state.update_data(points=points.check_points(message.text or ""))
    await state.set_state(Cataloguing.new_evidence)
    await message.answer(
        _("Must a claim bring evidence (a photo or a note)?"),
        reply_markup=keyboard(
            [flow_button(_("Yes"), "yes"), flow_button(_("No"), "no")], cancel_row()
        ),
    )


@router.callback_query(Cataloguing.new_evidence, FlowAction.filter(F.action.in_({"yes", "no"})))
async def pick_new_item_evidence(
    query: CallbackQuery, callback_data: FlowAction, state: FSMContext
) -> None:
    """Step 5: a cap."""
    await state.update_data(evidence=callback_data.action == "yes")
    await state.set_state(Cataloguing.new_cap)
    await edit_after_press(
        query,
        _("How often may one person claim it?"),
        reply_markup=cap_picker(),
    )


def cap_picker() -> InlineKeyboardMarkup:
    return picker(
        "ncap",
        [
            (0, _("No limit")),
            (1, _("at most {count} a week").format(count=1)),
            (2, _("at most {count} a week").format(count=2)),
            (3, _("at most {count} a month").format(count=1)),
            (4, _("at most {count} a month").format(count=4)),
        ],
        columns=1,
    )


@router.callback_query(Cataloguing.new_cap, Pick.filter(F.what == "ncap"))
async def add_item(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
    locale: str,
) -> None:
    """Add it to the catalogue."""
    form: NewItemForm = await state.get_data()  # type: ignore[assignment]
    count, per = CAPS.get(callback_data.value, (None, None))
    item = await points.add_item(
        session,
        actor,
        form["village_id"],
        category=form["category"],
        name=form["name"],
        points=form["points"],
        evidence=form["evidence"],
        cap_count=count,
        cap_period=per,
        now=now,
    )
    await state.clear()
    await edit_after_press(
        query,
        _("Added {code} {item} to the catalogue. Residents can claim it now.").format(
            code=item.code, item=hd.quote(item_label(item, locale))
        ),
        toast=_("Added."),
    )


# --- /rewards ------------------------------------------------------------------------------


@router.message(Command("rewards"), F.chat.type == "private")
async def show_rewards(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """Reward tiers, and the rewards still owed with a Handed over button each."""
    village_id = managed_village(actor)
    await state.clear()
    levels = await points.tiers(session, village_id)
    owed = await points.grants(session, village_id, status=RewardStatus.OWED)
    lines = [_("<b>Quarterly rewards</b>")]
    lines += [
        _("≥ {threshold} points: {reward}").format(
            threshold=t.threshold, reward=hd.quote(t.reward)
        )
        for t in levels
    ] or [_("No reward tiers yet.")]
    lines.append(_("<b>Still to hand over ({count})</b>").format(count=len(owed)))
    lines += [
        _("{quarter} · {household} ({grid}): {reward}").format(
            quarter=quarter_title(v.grant.quarter),
            household=hd.quote(v.household),
            grid=hd.quote(v.grid),
            reward=hd.quote(v.grant.reward),
        )
        for v in owed
    ] or [_("Nothing owed.")]
    rows = [
        [
            button(
                _("✔ Handed: {household}").format(household=v.household),
                HandOver(grant_id=v.grant.id or 0).pack(),
            )
        ]
        for v in owed[:10]
    ]
    rows += [
        [
            button(
                _("🗑 Remove ≥ {threshold}").format(threshold=t.threshold),
                RetireTier(tier_id=t.id or 0).pack(),
            )
        ]
        for t in levels
    ]
    rows.append([flow_button(_("➕ Add a reward tier"), "tier")])
    await message.answer("\n".join(lines), reply_markup=keyboard(*rows))


@router.callback_query(HandOver.filter())
async def hand_over(
    query: CallbackQuery,
    callback_data: HandOver,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Mark one reward handed over (once)."""
    await points.hand_over(session, actor, callback_data.grant_id, now)
    await query.answer(_("Marked as handed over."))
    if isinstance(query.message, Message):
        await query.message.answer(_("Marked as handed over. /rewards shows what is still owed."))


@router.callback_query(RetireTier.filter())
async def retire_tier(
    query: CallbackQuery,
    callback_data: RetireTier,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Remove a tier for the coming quarters; rewards already earned stay owed."""
    await points.retire_tier(session, actor, callback_data.tier_id, now)
    await query.answer(_("Removed."))
    if isinstance(query.message, Message):
        await query.message.answer(_("Tier removed. Rewards already earned stay owed."))


@router.callback_query(FlowAction.filter(F.action == "tier"))
async def start_new_tier(query: CallbackQuery, actor: Actor, state: FSMContext) -> None:
    """A new tier, step 1: the threshold."""
    managed_village(actor)
    await state.set_state(Rewarding.threshold)
    await send_after_press(
        query,
        _("From how many points in a quarter? For example 60."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Rewarding.threshold, F.text)
async def receive_tier_threshold(message: Message, state: FSMContext) -> None:
    """Step 2: the reward."""
    text = (message.text or "").strip()
    if not text.isdigit() or int(text) <= 0:
        await message.answer(_("Please send a whole number, for example 60."))
        return
    await state.update_data(threshold=int(text))
    await state.set_state(Rewarding.reward)
    await message.answer(
        _("What do these households get? For example 生活用品 A."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Rewarding.reward, F.text)
async def add_tier(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, now: datetime
) -> None:
    """Save the tier."""
    data = await state.get_data()
    tier = await points.add_tier(
        session, actor, managed_village(actor), data["threshold"], message.text or "", now
    )
    await state.clear()
    await message.answer(
        _(
            "Tier added: ≥ {threshold} points a quarter → {reward}. At each quarter's start "
            "I list the households that reached it."
        ).format(threshold=tier.threshold, reward=hd.quote(tier.reward))
    )


# --- /pointsettings ------------------------------------------------------------------------


@router.message(Command("pointsettings"), F.chat.type == "private")
async def show_point_settings(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """The weekly confirmation time and the exposure list, with buttons to change them."""
    village_id = managed_village(actor)
    await state.clear()
    current = await points.settings_of(session, village_id)
    await message.answer(
        settings_text(current),
        reply_markup=keyboard(
            [flow_button(_("🗓 Change the weekly time"), "weekly")],
            [flow_button(_("📢 Exposure list on / off"), "exposure")],
        ),
    )


def settings_text(current: points.PointsSettings) -> str:
    return _(
        "<b>Points settings</b>\nWeekly confirmation: {day} {hour:02d}:{minute:02d}\n"
        "Monthly praise list: the 1st at {monthly:02d}:00\nExposure list: {exposure}"
    ).format(
        day=_(WEEKDAYS[current.weekly_weekday]),
        hour=current.weekly_hour,
        minute=current.weekly_minute,
        monthly=current.monthly_hour,
        exposure=_("on") if current.exposure else _("off"),
    )


@router.callback_query(FlowAction.filter(F.action == "exposure"))
async def toggle_exposure(
    query: CallbackQuery, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    """Turn the exposure list (反向曝光) on or off."""
    village_id = managed_village(actor)
    current = await points.settings_of(session, village_id)
    changed = await points.change_settings(
        session, actor, village_id, now, exposure=not current.exposure
    )
    await edit_after_press(query, settings_text(changed), toast=_("Saved."))


@router.callback_query(FlowAction.filter(F.action == "weekly"))
async def ask_weekday(query: CallbackQuery, actor: Actor, state: FSMContext) -> None:
    """The weekly time, step 1: the day."""
    managed_village(actor)
    await state.set_state(Scheduling.weekday)
    await edit_after_press(
        query,
        _("On which day is the week confirmed?"),
        reply_markup=picker("wday", [(i, _(d)) for i, d in enumerate(WEEKDAYS)], columns=4),
    )


@router.callback_query(Scheduling.weekday, Pick.filter(F.what == "wday"))
async def pick_weekday(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    """Step 2: the time."""
    await state.update_data(weekday=callback_data.value)
    await state.set_state(Scheduling.time)
    await edit_after_press(
        query,
        _("At what time? For example 20:00."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Scheduling.time, F.text)
async def save_weekly_time(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, now: datetime
) -> None:
    """Save the weekly time."""
    data = await state.get_data()
    changed = await points.change_settings(
        session,
        actor,
        managed_village(actor),
        now,
        weekly_weekday=int(data["weekday"]),
        weekly_time=message.text or "",
    )
    await state.clear()
    await message.answer(settings_text(changed))


# --- /pointsexport -------------------------------------------------------------------------


@router.message(Command("pointsexport"), F.chat.type == "private")
async def offer_export(message: Message, actor: Actor, now: datetime, settings: Settings) -> None:
    """Last month or this month, as an .xlsx for the notice board."""
    villages = sorted(actor.admin_villages() | actor.reviewer_villages())
    if not villages:
        await message.answer(_("Only village admins and the points group can export points."))
        return
    this_month = periods.month_key(now.astimezone(settings.tz).date())
    last_month = periods.shift("monthly", this_month, -1)
    await message.answer(
        _("Which month?"),
        reply_markup=keyboard(
            [
                button(
                    month_title(month, None),
                    ExportMonth(village_id=villages[0], month=month).pack(),
                )
                for month in (last_month, this_month)
            ]
        ),
    )


@router.callback_query(ExportMonth.filter())
async def send_export(
    query: CallbackQuery,
    callback_data: ExportMonth,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    locale: str,
    now: datetime,
) -> None:
    """The month's workbook, sent as a document."""
    if not points.Can.can_export(actor, callback_data.village_id):
        raise NotAllowed(N_("Only village admins and the points group can export points."))
    data = await month_xlsx(
        session,
        callback_data.village_id,
        callback_data.month,
        settings.tz,
        locale,
        now.astimezone(settings.tz).date(),
    )
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(data, filename=f"points-{callback_data.month}.xlsx"),
            caption=_("Points of {month}, for the notice board (三务公开栏).").format(
                month=month_title(callback_data.month, locale)
            ),
        )
