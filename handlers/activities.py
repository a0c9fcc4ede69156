"""Activities (组织群众活动): /activity (an admin or grid worker makes one and it is posted to
the groups), the card's 报名 / 取消报名, /activities (what is on; the organiser's buttons; past
ones with attendance), check-in by the link or the typed code, and closing with a note.

Every press is checked again in storage.activities; the words of a refusal are storage's.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from exports.activities import export_activities
from storage import activities, org, outbox, points
from storage.errors import N_, NotAllowed, RuleError
from storage.models.activities import Audience
from storage.models.org import Person
from storage.permissions.activities import ActivityPermissions
from storage.permissions.org import Actor
from storage.settings import Settings
from views.activities import (
    CHECKIN_PREFIX,
    ActivitiesOpen,
    ActRun,
    ActSign,
    ActTick,
    TagPick,
    card,
    checkin_payload,
    code_caption,
    details,
    outbox_digest,
    parse_payload,
    qr_png,
    refresh_cards,
    roster_markup,
    roster_text,
    run_markup,
    sign_markup,
    summary_text,
    tell_promoted,
    when,
)
from views.i18n import _
from views.keyboards import FlowAction, Pick, button, cancel_row, flow_button, keyboard, picker
from views.replies import edit_after_press

router = Router(name="activities")

DAYS_AHEAD = 14
HOURS = (8, 9, 10, 14, 15, 19)
DURATIONS = (1, 2, 3, 4)
CAPACITIES = (0, 10, 20, 30, 50)
ITEMS_SHOWN = 12


class NewActivity(StatesGroup):
    village = State()
    title = State()
    place = State()
    day = State()
    hour = State()
    duration = State()
    capacity = State()
    audience = State()
    item = State()
    description = State()
    confirm = State()


class Form(TypedDict, total=False):
    village_id: int
    title: str
    place: str
    day: int  # days from today
    minute: int  # minutes after midnight, local
    hours: int
    capacity: int | None
    audience: str
    grid_ids: list[int]
    tag: str | None
    item_id: int | None
    description: str
    day_before: bool  # sign-up closes the evening before


class Close(StatesGroup):
    note = State()


# --- making one ----------------------------------------------------------------------------


@router.message(Command("activity"), F.chat.type == "private")
async def start_activity(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    state: FSMContext,
    settings: Settings,
    now: datetime,
) -> None:
    """Organisers make an activity; everyone else sees what is on."""
    villages = await activities.organisable_villages(session, actor) if actor else []
    if not villages:
        await list_activities(message, session, actor, settings, now)
        return
    await state.set_state(NewActivity.village)
    await state.set_data(Form(day_before=False))
    if len(villages) == 1:
        await ask_title(message, state, villages[0])
        return
    names = [(v.id or 0, v.name) for v in await org.villages_for(session, set(villages))]
    await message.answer(
        _("An activity in which village?"), reply_markup=picker("act_village", names, columns=1)
    )


@router.callback_query(NewActivity.village, Pick.filter(F.what == "act_village"))
async def pick_village(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await ask_title(query.message, state, callback_data.value)


async def ask_title(message: Message, state: FSMContext, village_id: int) -> None:
    await state.update_data(village_id=village_id)
    await state.set_state(NewActivity.title)
    await message.answer(
        _(
            "🎉 A new activity. What is it called? (at most {limit} characters, "
            "for example 清扫村道)"
        ).format(limit=activities.TITLE_MAX),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(NewActivity.title, F.text)
async def receive_title(message: Message, state: FSMContext) -> None:
    await state.update_data(title=org.require_text(message.text, activities.TITLE_MAX))
    await state.set_state(NewActivity.place)
    await message.answer(_("Where? (for example 村委会门口)"), reply_markup=keyboard(cancel_row()))


@router.message(NewActivity.place, F.text)
async def receive_place(
    message: Message, state: FSMContext, settings: Settings, now: datetime
) -> None:
    await state.update_data(place=org.require_text(message.text, activities.PLACE_MAX))
    await state.set_state(NewActivity.day)
    today = now.astimezone(settings.tz)
    days = [
        (n, when(today + timedelta(days=n), settings.tz, None).rsplit(" ", 1)[0])
        for n in range(1, DAYS_AHEAD + 1)
    ]
    await message.answer(_("Which day?"), reply_markup=picker("act_day", days, columns=2))


@router.callback_query(NewActivity.day, Pick.filter(F.what == "act_day"))
async def pick_day(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    if not 1 <= callback_data.value <= DAYS_AHEAD:
        raise RuleError(N_("Please use the buttons."))
    await state.update_data(day=callback_data.value)
    await state.set_state(NewActivity.hour)
    hours = [(h * 60, f"{h:02d}:00") for h in HOURS]
    await edit_after_press(
        query,
        _("What time does it start? Tap one, or type a time such as 08:30."),
        reply_markup=picker("act_hour", hours, columns=3),
    )


@router.callback_query(NewActivity.hour, Pick.filter(F.what == "act_hour"))
async def pick_hour(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await ask_duration(query.message, state, callback_data.value)


@router.message(NewActivity.hour, F.text)
async def type_hour(message: Message, state: FSMContext) -> None:
    hour, minute = points.parse_time(message.text or "")
    await ask_duration(message, state, hour * 60 + minute)


async def ask_duration(message: Message, state: FSMContext, minute: int) -> None:
    if not 0 <= minute < 24 * 60:
        raise RuleError(N_("Please use the buttons."))
    await state.update_data(minute=minute)
    await state.set_state(NewActivity.duration)
    await message.answer(
        _("How long does it last?"),
        reply_markup=picker(
            "act_hours", [(h, _("{hours} h").format(hours=h)) for h in DURATIONS], columns=4
        ),
    )


@router.callback_query(NewActivity.duration, Pick.filter(F.what == "act_hours"))
async def pick_duration(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    if callback_data.value not in DURATIONS:
        raise RuleError(N_("Please use the buttons."))
    await state.update_data(hours=callback_data.value)
    await state.set_state(NewActivity.capacity)
    choices = [(c, _("No limit") if c == 0 else str(c)) for c in CAPACITIES]
    await edit_after_press(
        query,
        _("How many places? Tap one or type a number."),
        reply_markup=picker("act_cap", choices, columns=5),
    )


@router.callback_query(NewActivity.capacity, Pick.filter(F.what == "act_cap"))
async def pick_capacity(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await ask_audience(query.message, state, session, actor, callback_data.value)


@router.message(NewActivity.capacity, F.text)
async def type_capacity(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor
) -> None:
    text = (message.text or "").strip()
    if not text.isdigit():
        raise RuleError(N_("Please send a whole number, for example 3."))
    await ask_audience(message, state, session, actor, int(text))


async def ask_audience(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, capacity: int
) -> None:
    if capacity and not 1 <= capacity <= activities.CAPACITY_MAX:
        raise RuleError(
            N_("The number of places is from 1 to {limit}."), limit=activities.CAPACITY_MAX
        )
    form: Form = await state.get_data()  # type: ignore[assignment]
    await state.update_data(capacity=capacity or None)
    await state.set_state(NewActivity.audience)
    village_id = form["village_id"]
    choices: list[tuple[int, str]] = []
    if ActivityPermissions.can_organise(actor, village_id, ()):
        choices.append((0, _("The whole village")))
    choices += [
        (grid.id or 0, grid.name)
        for grid in await org.grids_of(session, village_id)
        if ActivityPermissions.can_organise(actor, village_id, [grid.id or 0])
    ]
    for n, tag in enumerate(await activities.village_tags(session, village_id)):
        choices.append((-1 - n, tag))
    await message.answer(_("Who may sign up?"), reply_markup=picker("act_who", choices))


@router.callback_query(NewActivity.audience, Pick.filter(F.what == "act_who"))
async def pick_audience(
    query: CallbackQuery, callback_data: Pick, state: FSMContext, session: AsyncSession
) -> None:
    form: Form = await state.get_data()  # type: ignore[assignment]
    value = callback_data.value
    if value == 0:
        await state.update_data(audience=Audience.VILLAGE.value, grid_ids=[], tag=None)
    elif value > 0:
        await state.update_data(audience=Audience.GRIDS.value, grid_ids=[value], tag=None)
    else:
        tags = await activities.village_tags(session, form["village_id"])
        if -1 - value >= len(tags):
            raise RuleError(N_("Please use the buttons."))
        await state.update_data(audience=Audience.TAG.value, grid_ids=[], tag=tags[-1 - value])
    await state.set_state(NewActivity.item)
    items = [i for i in await points.catalogue(session, form["village_id"]) if i.points > 0]
    choices = [(0, _("No points"))] + [
        (i.id or 0, f"{i.name} +{i.points}") for i in items[:ITEMS_SHOWN]
    ]
    await edit_after_press(
        query,
        _("Which points item is credited at check-in?"),
        reply_markup=picker("act_item", choices),
    )


@router.callback_query(NewActivity.item, Pick.filter(F.what == "act_item"))
async def pick_item(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await state.update_data(item_id=callback_data.value or None)
    await state.set_state(NewActivity.description)
    await edit_after_press(
        query,
        _("A few words for residents: what to bring, who to ask (or Skip)."),
        reply_markup=keyboard([flow_button(_("Skip"), "skip")], cancel_row()),
    )


@router.message(NewActivity.description, F.text)
async def receive_description(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    text = (message.text or "").strip()
    if len(text) > activities.DESCRIPTION_MAX:
        raise RuleError(
            N_("That is too long: at most {limit} characters, please."),
            limit=activities.DESCRIPTION_MAX,
        )
    await state.update_data(description=text)
    await review(message, state, session, settings, now, edit=False)


@router.callback_query(NewActivity.description, FlowAction.filter(F.action == "skip"))
async def skip_description(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    await state.update_data(description="")
    await query.answer()
    if isinstance(query.message, Message):
        await review(query.message, state, session, settings, now, edit=True)


def times(form: Form, settings: Settings, now: datetime) -> tuple[datetime, datetime, datetime]:
    today = now.astimezone(settings.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    day = (today + timedelta(days=form["day"])).replace(tzinfo=None)
    starts = (day + timedelta(minutes=form["minute"])).replace(tzinfo=settings.tz)
    ends = starts + timedelta(hours=form["hours"])
    deadline = starts
    if form.get("day_before"):
        deadline = (day - timedelta(hours=4)).replace(tzinfo=settings.tz)  # 20:00 the day before
    return starts, ends, deadline


async def review(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    *,
    edit: bool,
) -> None:
    form: Form = await state.get_data()  # type: ignore[assignment]
    await state.set_state(NewActivity.confirm)
    starts, ends, deadline = times(form, settings, now)
    village = await org.get_village(session, form["village_id"])
    item = await points.get_item(session, form["item_id"]) if form.get("item_id") else None
    text = _(
        "Post this activity in the groups of {village}?\n\n<b>{title}</b>\nWhen: {when}\n"
        "Where: {place}\nPlaces: {capacity}\nPoints: {points}\nSign-up closes: {deadline}\n"
        "{description}"
    ).format(
        village=hd.quote(village.name),
        title=hd.quote(form["title"]),
        when=f"{when(starts, settings.tz, None)}–{ends.strftime('%H:%M')}",
        place=hd.quote(form["place"]),
        capacity=form.get("capacity") or _("No limit"),
        points=f"{hd.quote(item.name)} +{item.points}" if item else _("No points"),
        deadline=when(deadline, settings.tz, None),
        description=hd.quote(form.get("description", "")),
    )
    markup = keyboard(
        [flow_button(_("Sign-up closes: at the start / the evening before"), "deadline")],
        [flow_button(_("✔ Post"), "confirm")],
        cancel_row(),
    )
    if edit:
        await message.edit_text(text, reply_markup=markup)
    else:
        await message.answer(text, reply_markup=markup)


@router.callback_query(NewActivity.confirm, FlowAction.filter(F.action == "deadline"))
async def toggle_deadline(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    form: Form = await state.get_data()  # type: ignore[assignment]
    await state.update_data(day_before=not form.get("day_before"))
    await query.answer()
    if isinstance(query.message, Message):
        await review(query.message, state, session, settings, now, edit=True)


@router.callback_query(NewActivity.confirm, FlowAction.filter(F.action == "confirm"))
async def post_activity(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    form: Form = await state.get_data()  # type: ignore[assignment]
    starts, ends, deadline = times(form, settings, now)
    activity = await activities.create_activity(
        session,
        actor,
        village_id=form["village_id"],
        title=form["title"],
        description=form.get("description", ""),
        place=form["place"],
        starts_at=starts,
        ends_at=ends,
        signup_deadline=deadline,
        capacity=form.get("capacity"),
        audience=Audience(form["audience"]),
        grid_ids=form.get("grid_ids", []),
        tag=form.get("tag"),
        item_id=form.get("item_id"),
        now=now,
    )
    text, markup = await card(session, activity, settings.bot_default_locale, settings.tz, now)
    groups = await activities.post_cards(
        session, activity, text, markup or {}, outbox_digest(text, markup), now
    )
    await state.clear()
    await edit_after_press(
        query,
        _(
            "The activity is posted in {count} groups. Residents sign up with its buttons; "
            "when it is full they join the waiting list and move up by themselves. Those signed "
            "up are reminded the day before. At the activity, show the check-in code or tick "
            "names; close it afterwards. The buttons are also in /activities."
        ).format(count=groups),
        toast=_("Posted."),
        reply_markup=run_markup(activity, None),
    )


# --- signing up ----------------------------------------------------------------------------


@router.callback_query(ActSign.filter())
async def press_sign(
    query: CallbackQuery,
    callback_data: ActSign,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    """报名 / 取消报名 on a card or a private list: checked in storage, answered privately."""
    if callback_data.join:
        result = await activities.sign_up(session, actor, callback_data.activity_id, now)
        text = (
            _("You are signed up for “{title}”. You will be reminded the day before.")
            if result.seat
            else _(
                "It is full: you are number {place} on the waiting list. "
                "If a place comes free you get it and are told."
            )
        ).format(title=result.activity.title, place=result.place)
    else:
        cancelled = await activities.cancel_signup(session, actor, callback_data.activity_id, now)
        if cancelled.promoted is not None:
            tell_promoted(session, cancelled.promoted, cancelled.activity, settings.tz)
        text = _("Your sign-up for “{title}” is cancelled.").format(title=cancelled.activity.title)
    await query.answer(text, show_alert=True)


# --- lists ---------------------------------------------------------------------------------


@router.callback_query(ActivitiesOpen.filter())
async def open_from_home(
    query: CallbackQuery,
    callback_data: ActivitiesOpen,
    session: AsyncSession,
    actor: Actor | None,
    state: FSMContext,
    settings: Settings,
    now: datetime,
) -> None:
    """🎉 活动 on the home screen: what is on, or (make=True) a new activity."""
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if callback_data.make:
        await start_activity(query.message, session, actor, state, settings, now)
    else:
        await list_activities(query.message, session, actor, settings, now)


@router.message(Command("activities"), F.chat.type == "private")
async def show_activities(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    await list_activities(message, session, actor, settings, now)


async def list_activities(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    """What is on (with 报名 buttons); the organiser's own with theirs; past ones for admins."""
    if actor is None or not actor.villages():
        await message.answer(_("Join your village first: open your grid's invite link."))
        return
    mine = {a.id for a in await activities.run_by(session, actor, now)}
    shown = 0
    for activity in await activities.upcoming(session, actor, now):
        lines = await details(session, activity, None, settings.tz)
        if activity.id in mine:
            markup = run_markup(activity, None)
        else:
            signup = await activities.signup_of(session, activity.id or 0, actor.person_id)
            if signup is not None and signup.status != "cancelled":
                lines.append(
                    _("You are signed up.")
                    if signup.status == "signed"
                    else _("You are on the waiting list.")
                )
            markup = (
                sign_markup(activity, None)
                if now < activities.aware(activity.signup_deadline)
                else None
            )
        await message.answer("\n".join(lines), reply_markup=markup)  # type: ignore[arg-type]
        shown += 1
    if not shown:
        await message.answer(_("No activities are coming up. New ones are posted in your group."))
    admin = sorted(actor.admin_villages())
    if admin:
        past = await activities.past(session, admin, limit=5)
        if past:
            lines = [_("<b>Past activities</b>")]
            lines += [
                _("• {title} ({when}): signed up {signed}, came {came}").format(
                    title=hd.quote(s.activity.title),
                    when=when(s.activity.starts_at, settings.tz, None),
                    signed=s.signed,
                    came=s.came,
                )
                for s in past
            ]
            lines.append(_("An .xlsx of a month: /activityexport"))
            await message.answer("\n".join(lines))


# --- check-in ------------------------------------------------------------------------------


@router.callback_query(ActRun.filter(F.action == "code"))
async def show_code(
    query: CallbackQuery,
    callback_data: ActRun,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    """The check-in code of these 5 minutes, as a QR picture with the code and the link."""
    activity = await activities.runnable(session, actor, callback_data.activity_id)
    if not activities.checkin_open(activity, now):
        raise RuleError(N_("Check-in opens an hour before the start."))
    code = activities.current_code(activity, now)
    link = await create_start_link(query.bot, checkin_payload(activity, code))  # type: ignore[arg-type]
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_photo(
            BufferedInputFile(qr_png(link), filename="checkin.png"),
            caption=code_caption(activity, code, link, now, settings.tz, None),
            reply_markup=keyboard(
                [
                    button(
                        _("🔄 New code"),
                        ActRun(activity_id=activity.id or 0, action="code").pack(),
                    )
                ]
            ),
        )


@router.message(
    CommandStart(deep_link=True, magic=F.args.startswith(CHECKIN_PREFIX)),
    F.chat.type == "private",
)
async def open_checkin_link(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    now: datetime,
    settings: Settings,
) -> None:
    parsed = parse_payload(command.args or "")
    if parsed is None or person is None:
        raise RuleError(N_("This link is not valid. Please ask for a new one."))
    activity_id, code = parsed
    done = await activities.check_in_by_code(
        session, actor, person, code, now, settings.tz, activity_id=activity_id
    )
    await message.answer(checked_in_text(done))


@router.message(StateFilter(None), F.chat.type == "private", F.text.regexp(r"^\s*\d{6}\s*$"))
async def type_code(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    now: datetime,
    settings: Settings,
) -> None:
    """Six digits typed: the check-in code of an activity on now."""
    if person is None:
        raise NotAllowed(N_("Only approved residents can check in. See /me."))
    done = await activities.check_in_by_code(
        session, actor, person, message.text or "", now, settings.tz
    )
    await message.answer(checked_in_text(done))


def checked_in_text(done: activities.CheckedIn) -> str:
    if done.points:
        return _(
            "✅ You are checked in for “{title}”. {points} points are credited to your "
            "household; they are in this week's points."
        ).format(title=done.activity.title, points=done.points)
    return _("✅ You are checked in for “{title}”. Thank you for coming!").format(
        title=done.activity.title
    )


@router.callback_query(ActRun.filter(F.action == "list"))
async def show_roster(
    query: CallbackQuery, callback_data: ActRun, session: AsyncSession, actor: Actor
) -> None:
    activity = await activities.runnable(session, actor, callback_data.activity_id)
    lines = await activities.roster(session, activity.id or 0)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            roster_text(activity, lines, None),
            reply_markup=roster_markup(activity, lines, None),  # type: ignore[arg-type]
        )


@router.callback_query(ActTick.filter())
async def tick_name(
    query: CallbackQuery,
    callback_data: ActTick,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    done = await activities.check_in_from_list(
        session, actor, callback_data.activity_id, callback_data.person_id, now, settings.tz
    )
    lines = await activities.roster(session, callback_data.activity_id)
    text = (
        _("{name} is checked in (+{points}).") if done.points else _("{name} is checked in.")
    ).format(name=done.person.full_name, points=done.points)
    await edit_after_press(
        query,
        roster_text(done.activity, lines, None),
        toast=text,
        reply_markup=roster_markup(done.activity, lines, None),
    )


# --- closing -------------------------------------------------------------------------------


@router.callback_query(ActRun.filter(F.action == "close"))
async def ask_close(
    query: CallbackQuery,
    callback_data: ActRun,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    activity = await activities.runnable(session, actor, callback_data.activity_id)
    await state.set_state(Close.note)
    await state.set_data({"activity_id": activity.id, "photos": []})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            _(
                "Closing “{title}”. Write a short note on how it went (it goes into the "
                "summary in the groups); you may send up to {count} photos first. "
                "Or close without a note."
            ).format(title=hd.quote(activity.title), count=activities.PHOTOS_MAX),
            reply_markup=keyboard(
                [flow_button(_("✔ Close without a note"), "skip")], cancel_row()
            ),
        )


@router.message(Close.note, F.photo)
async def receive_close_photo(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    photos = list(data.get("photos", []))
    if len(photos) >= activities.PHOTOS_MAX:
        raise RuleError(N_("That is enough photos; now write the note."))
    photos.append((message.photo or [])[-1].file_id)
    await state.update_data(photos=photos)
    await message.answer(
        _("Photo {count} kept. Send more, or write the note.").format(count=len(photos)),
        reply_markup=keyboard([flow_button(_("✔ Close without a note"), "skip")], cancel_row()),
    )


@router.message(Close.note, F.text)
async def receive_close_note(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    text = await close_now(session, state, actor, message.text or "", settings, now)
    await message.answer(text)


@router.callback_query(Close.note, FlowAction.filter(F.action == "skip"))
async def close_without_note(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    text = await close_now(session, state, actor, "", settings, now)
    await edit_after_press(query, text, toast=_("Closed."))


async def close_now(
    session: AsyncSession,
    state: FSMContext,
    actor: Actor,
    note: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Close it, post the summary (and the photos) to the groups, show it on the cards."""
    data = await state.get_data()
    photos = list(data.get("photos", []))
    done = await activities.close_activity(
        session, actor, int(data["activity_id"]), note, photos, now
    )
    locale = settings.bot_default_locale
    text = await summary_text(session, done.activity.id or 0, locale, settings.tz)
    chats = sorted(
        {row.chat_id for row, _id in await activities.cards_of(session, done.activity.id or 0)}
    )
    batch = f"activity_summary:{done.activity.id}"
    for chat_id in chats:
        outbox.enqueue(session, chat_id, text, batch=batch)
        for photo in photos:
            outbox.enqueue(
                session,
                chat_id,
                "",
                method="sendPhoto",
                photo=photo,
                batch=batch,
                fallback_text=_("(a photo of {title})").format(title=done.activity.title),
            )
    await refresh_cards(session, done.activity, settings.tz, now, locale)
    await state.clear()
    return _(
        "“{title}” is closed: signed up {signed}, came {came}, points given {points}. "
        "The summary is posted in {count} groups."
    ).format(
        title=done.activity.title,
        signed=done.signed,
        came=done.came,
        points=done.points,
        count=len(chats),
    )


@router.message(Command("activityexport"), F.chat.type == "private")
async def export_month(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
    locale: str,
) -> None:
    """This month's activities and attendance as an .xlsx (admins)."""
    villages = sorted(actor.admin_villages()) if actor else []
    if not villages:
        await message.answer(_("Only village admins can export activities."))
        return
    month = now.astimezone(settings.tz).strftime("%Y-%m")
    for village_id in villages[:3]:
        village = await org.get_village(session, village_id)
        buffer = io.BytesIO()
        await export_activities(session, village, month, settings.tz, buffer, locale)
        await message.answer_document(
            BufferedInputFile(buffer.getvalue(), filename=f"activities-{month}.xlsx"),
            caption=_("Activities of {month} in {village}.").format(
                month=month, village=village.name
            ),
        )


# --- the residents' groups (老年人, 青少年家庭, 新居民) ---------------------------------


async def offered_tags(session: AsyncSession, village_id: int) -> list[str]:
    kept = await activities.village_tags(session, village_id)
    return [*activities.SUGGESTED_TAGS, *(t for t in kept if t not in activities.SUGGESTED_TAGS)]


@router.message(Command("tags"), F.chat.type == "private")
async def show_tags(message: Message, session: AsyncSession, actor: Actor | None) -> None:
    """Village admins keep groups of residents, for activities only they may sign up for."""
    villages = sorted(actor.admin_villages()) if actor else []
    if not villages:
        await message.answer(_("Only village admins can keep the residents' groups."))
        return
    village_id = villages[0]
    tags = await offered_tags(session, village_id)
    await message.answer(
        _(
            "Groups of residents, for activities only they may sign up for. "
            "Pick a group to add or take out residents."
        ),
        reply_markup=keyboard(
            *[
                [button(tag, TagPick(village_id=village_id, tag=n).pack())]
                for n, tag in enumerate(tags)
            ]
        ),
    )


@router.callback_query(TagPick.filter())
async def toggle_tag(
    query: CallbackQuery,
    callback_data: TagPick,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """A tap on a group shows its residents; a tap on a name adds or takes them out."""
    village_id = callback_data.village_id
    if not ActivityPermissions.can_tag(actor, village_id):
        raise NotAllowed(N_("Only village admins can keep the residents' groups."))
    tags = await offered_tags(session, village_id)
    if not 0 <= callback_data.tag < len(tags):
        raise RuleError(N_("Please use the buttons."))
    tag = tags[callback_data.tag]
    toast = None
    if callback_data.person_id:
        listed = await activities.residents_for_tags(session, village_id, tag)
        people = {p.id: has for p, has in listed}
        if people.get(callback_data.person_id):
            await activities.remove_tag(session, actor, village_id, callback_data.person_id, tag)
            toast = _("Taken out.")
        else:
            await activities.add_tag(session, actor, village_id, callback_data.person_id, tag, now)
            toast = _("Added.")
    rows = [
        [
            button(
                ("✅ " if has else "⬜ ") + person.full_name[:30],
                TagPick(
                    village_id=village_id, tag=callback_data.tag, person_id=person.id or 0
                ).pack(),
            )
        ]
        for person, has in await activities.residents_for_tags(session, village_id, tag)
    ]
    await edit_after_press(
        query,
        _("“{tag}”: tap a name to add or take out. ✅ is in the group.").format(tag=hd.quote(tag)),
        toast=toast,
        reply_markup=keyboard(*rows),
    )
