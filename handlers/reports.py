"""Residents' reports (随手拍): /report in private (category, description, photos and place,
anonymity, confirm), /myreports, following a report, "is it fixed?", and reports in a bound
group chat made by replying to the bot."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, reports, voice
from storage import reports_neighbours as neighbours
from storage.errors import N_
from storage.models.org import Person
from storage.permissions.org import Actor
from storage.permissions.reports import ReportPermissions
from storage.settings import Settings
from views.home import home_row
from views.i18n import _, locale_of
from views.keyboards import (
    FlowAction,
    Pick,
    button,
    cancel_row,
    confirm_keyboard,
    flow_button,
    keyboard,
    picker,
)
from views.replies import edit_after_press
from views.reports import (
    Follow,
    FollowUp,
    MyReport,
    Rate,
    category_label,
    category_name,
    follow_keyboard,
    notify_change,
    public_card,
    push_task,
    rating_keyboard,
    reporter_card,
    status_label,
)
from views.reports_neighbours import (
    HintFollow,
    followed_instead_text,
    hint_keyboard,
    hint_text,
    neighbours_button,
)

router = Router(name="reports")
GROUP_CHATS = {"group", "supergroup"}
MY_REPORT_BUTTONS = 10


class ReportFlow(StatesGroup):
    category = State()
    description = State()
    extras = State()
    hints = State()  # neighbours' open reports that look alike
    privacy = State()
    confirm = State()


class ReportForm(TypedDict, total=False):
    category_id: int
    category: str
    description: str
    location: str
    latitude: float | None
    longitude: float | None
    photos: list[list]
    anonymous: bool
    voice: list  # [file id, seconds, size, words] of a spoken description
    quick: bool  # typed outside a flow: straight from the kind to the check
    hinted: bool  # the duplicate hint was shown (once a report)


@router.message(Command("report"), F.chat.type == "private")
async def start_report(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """Step 1: what kind of problem (or first see what neighbours reported)."""
    if not ReportPermissions.can_report(actor) or actor.residence is None:
        await message.answer(
            _("Only residents who have joined a village can report problems. See /me.")
        )
        return
    await state.clear()
    found = await reports.categories(session, actor.residence.village_id)
    await state.set_state(ReportFlow.category)
    await state.set_data(ReportForm(photos=[], location="", latitude=None, longitude=None))
    await message.answer(
        _("Report a problem. What kind of problem is it?"),
        reply_markup=picker(
            "rcat",
            [(c.id or 0, category_name(c.code, c.name)) for c in found],
            extra=[neighbours_button(None)],
        ),
    )


@router.callback_query(ReportFlow.category, Pick.filter(F.what == "rcat"))
async def pick_category(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    now: datetime,
) -> None:
    """Step 2: describe it."""
    village_id = actor.residence.village_id if actor.residence else 0
    category = await reports.category_choice(session, village_id, callback_data.value)
    label = category_name(category.code, category.name)
    await state.update_data(category_id=category.id, category=label)
    form: ReportForm = await state.get_data()  # type: ignore[assignment]
    if form.get("quick") and form.get("description"):
        if await offer_hints(query, session, actor, state, settings, now):
            return
        await state.set_state(ReportFlow.confirm)
        await edit_after_press(query, check_text(form), reply_markup=quick_keyboard())
        return
    await state.set_state(ReportFlow.description)
    await edit_after_press(
        query,
        _(
            "{category}. Please describe the problem in a few words (at most {limit}), "
            "or hold the microphone and say it (up to one minute)."
        ).format(category=hd.quote(label), limit=reports.DESCRIPTION_MAX),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(ReportFlow.description, F.text)
async def receive_description(message: Message, state: FSMContext) -> None:
    """Step 3: photos and place, both optional."""
    description = reports.clean_description(message.text)
    await state.update_data(description=description)
    await state.set_state(ReportFlow.extras)
    await message.answer(
        _(
            "Where is it? Type the place (for example 村东桥头), share a location, and add "
            "photos if you like. Press Next when done."
        ),
        reply_markup=extras_keyboard(),
    )


@router.message(ReportFlow.description, F.voice)
async def receive_spoken_description(message: Message, state: FSMContext) -> None:
    """A voice note as the description: kept as it is (and its words, if a speech-to-text
    hook is installed); the grid's workers hear it with the card."""
    sound = message.voice
    assert sound is not None
    spoken = await voice.transcribe(voice.check(sound.file_id, sound.duration, sound.file_size))
    await state.update_data(
        description="",
        voice=voice.as_kept(spoken),
    )
    await state.set_state(ReportFlow.extras)
    await message.answer(
        _("🎤 Voice note kept ({length}).").format(length=voice.length(spoken.duration))
        + "\n"
        + _(
            "Where is it? Type the place (for example 村东桥头), share a location, and add "
            "photos if you like. Press Next when done."
        ),
        reply_markup=extras_keyboard(),
    )


def described(form: ReportForm) -> str:
    """The description as the check shows it: the words, or the voice note's length."""
    spoken = voice.from_kept(form.get("voice"))
    if spoken is None:
        return hd.quote(form.get("description", ""))
    text = _("🎤 Voice note ({length})").format(length=voice.length(spoken.duration))
    return text + (f" “{hd.quote(spoken.transcript)}”" if spoken.transcript else "")


def check_text(form: ReportForm) -> str:
    place = form.get("location") or (
        _("(a shared location)") if form.get("latitude") is not None else _("not given")
    )
    return _(
        "Please check:\nKind: {category}\nProblem: {description}\nPlace: {place}\n"
        "Photos: {photos}\nName shown: {named}\n\nSend this report?"
    ).format(
        category=hd.quote(form["category"]),
        description=described(form),
        place=hd.quote(place),
        photos=len(form.get("photos", [])),
        named=_("no (anonymous)") if form.get("anonymous") else _("yes"),
    )


def quick_keyboard() -> InlineKeyboardMarkup:
    """Send now (named or anonymous), or add a place and photos first."""
    return keyboard(
        [flow_button(_("✔ Send report"), "confirm")],
        [flow_button(_("🔒 Send anonymously"), "anonymous")],
        [flow_button(_("📍 Add a place or photos first"), "more")],
        cancel_row(),
    )


@router.callback_query(ReportFlow.confirm, FlowAction.filter(F.action == "more"))
async def add_extras(query: CallbackQuery, state: FSMContext) -> None:
    """From the quick check back to the place and photos."""
    await state.update_data(quick=False)
    await state.set_state(ReportFlow.extras)
    await edit_after_press(
        query,
        _(
            "Where is it? Type the place (for example 村东桥头), share a location, and add "
            "photos if you like. Press Next when done."
        ),
        reply_markup=extras_keyboard(),
    )


def extras_keyboard() -> object:
    return keyboard([flow_button(_("Next ▶"), "next")], cancel_row())


@router.message(ReportFlow.extras, F.photo)
async def receive_photo(message: Message, state: FSMContext) -> None:
    """A photo: the largest size is kept, if Telegram lets a bot have it."""
    form: ReportForm = await state.get_data()  # type: ignore[assignment]
    photos = list(form.get("photos", []))
    largest = (message.photo or [])[-1]
    reports.check_photo(largest.file_size, len(photos))
    photos.append([largest.file_id, largest.file_size])
    await state.update_data(photos=photos)
    await message.answer(
        _("Photo added ({count}). Add more, type the place, or press Next.").format(
            count=len(photos)
        ),
        reply_markup=extras_keyboard(),
    )


@router.message(ReportFlow.extras, F.location)
async def receive_location(message: Message, state: FSMContext) -> None:
    location = message.location
    assert location is not None
    await state.update_data(latitude=location.latitude, longitude=location.longitude)
    await message.answer(
        _("Location added. Type the place too if you like, or press Next."),
        reply_markup=extras_keyboard(),
    )


@router.message(ReportFlow.extras, F.text)
async def receive_place(message: Message, state: FSMContext) -> None:
    place = org.require_text(message.text, reports.LOCATION_MAX)
    await state.update_data(location=place)
    await message.answer(
        _("Place: {place}. Add photos, or press Next.").format(place=hd.quote(place)),
        reply_markup=extras_keyboard(),
    )


@router.callback_query(ReportFlow.extras, FlowAction.filter(F.action == "next"))
async def check_neighbours(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    now: datetime,
) -> None:
    """Step 4: neighbours' open reports that look alike, if any; else on to the name."""
    if await offer_hints(query, session, actor, state, settings, now):
        return
    await ask_privacy(query, state)


async def offer_hints(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    now: datetime,
) -> bool:
    """Show up to three open reports of the grid that look like this one (once a report);
    False when there are none."""
    form: ReportForm = await state.get_data()  # type: ignore[assignment]
    if form.get("hinted"):
        return False
    spoken = voice.from_kept(form.get("voice"))
    hints = await neighbours.similar_open_reports(
        session,
        actor,
        category_id=form.get("category_id"),
        text=form.get("description") or (spoken.transcript if spoken else "") or "",
        place=form.get("location", ""),
        now=now,
        tz=settings.tz,
    )
    if not hints:
        return False
    await state.update_data(hinted=True)
    await state.set_state(ReportFlow.hints)
    await edit_after_press(query, hint_text(hints, None), reply_markup=hint_keyboard(hints, None))
    return True


@router.callback_query(ReportFlow.hints, FlowAction.filter(F.action == "notsame"))
async def carry_on(query: CallbackQuery, state: FSMContext) -> None:
    """不是，继续报事: on to the next step (the check, when it was typed outside a flow)."""
    form: ReportForm = await state.get_data()  # type: ignore[assignment]
    if form.get("quick"):
        await state.set_state(ReportFlow.confirm)
        await edit_after_press(query, check_text(form), reply_markup=quick_keyboard())
        return
    await ask_privacy(query, state)


@router.callback_query(ReportFlow.hints, HintFollow.filter())
async def follow_instead(
    query: CallbackQuery,
    callback_data: HintFollow,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    """就是这个，关注它: follow the neighbour's report instead of filing; the wizard ends."""
    view = await neighbours.follow_instead(session, actor, callback_data.task_id, now)
    await state.clear()
    await edit_after_press(
        query,
        followed_instead_text(view.task.number, view.grid.name, None),
        toast=_("Thank you."),
        reply_markup=keyboard(home_row()),
    )


async def ask_privacy(query: CallbackQuery, state: FSMContext) -> None:
    """Step 5: may neighbours see who reported it?"""
    await state.set_state(ReportFlow.privacy)
    await edit_after_press(
        query,
        _(
            "May your name be shown with this report in the village's groups? "
            "Your grid worker always sees who reported it."
        ),
        reply_markup=keyboard(
            [flow_button(_("Show my name"), "named")],
            [flow_button(_("🔒 Stay anonymous"), "anonymous")],
            cancel_row(),
        ),
    )


@router.callback_query(ReportFlow.privacy, FlowAction.filter(F.action.in_({"named", "anonymous"})))
async def review_report(
    query: CallbackQuery, callback_data: FlowAction, state: FSMContext
) -> None:
    """Step 6: check and send."""
    anonymous = callback_data.action == "anonymous"
    await state.update_data(anonymous=anonymous)
    form: ReportForm = await state.get_data()  # type: ignore[assignment]
    await state.set_state(ReportFlow.confirm)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            check_text(form), reply_markup=confirm_keyboard(_("✔ Send report"), back=False)
        )


@router.callback_query(
    ReportFlow.confirm, FlowAction.filter(F.action.in_({"confirm", "anonymous"}))
)
async def submit_report(
    query: CallbackQuery,
    callback_data: FlowAction,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
    now: datetime,
) -> None:
    """File it, push it to the grid's workers, and give the resident its number."""
    if callback_data.action == "anonymous":
        await state.update_data(anonymous=True)
    form: ReportForm = await state.get_data()  # type: ignore[assignment]
    view = await reports.file_report(
        session,
        actor,
        category_id=form["category_id"],
        description=form["description"],
        location=form.get("location", ""),
        latitude=form.get("latitude"),
        longitude=form.get("longitude"),
        anonymous=form.get("anonymous", False),
        photos=[(p[0], p[1]) for p in form.get("photos", [])],
        spoken=voice.from_kept(form.get("voice")),
        now=now,
        reporter=person,
    )
    await state.clear()
    await push_task(session, view, settings.tz, header=N_("📣 New report"))
    await edit_after_press(
        query,
        _(
            "Your report <b>{number}</b> is filed and sent to the workers of {grid}. "
            "I will tell you here of every change. See /myreports."
        ).format(number=view.task.number, grid=hd.quote(view.grid.name)),
        toast=_("Sent."),
        reply_markup=keyboard(home_row()),
    )


@router.message(Command("myreports"), F.chat.type == "private")
async def list_my_reports(message: Message, session: AsyncSession, person: Person) -> None:
    """The resident's reports with their status; each opens its own page."""
    text, markup = await my_reports(session, person)
    await message.answer(text, reply_markup=markup)


async def my_reports(
    session: AsyncSession, person: Person
) -> tuple[str, InlineKeyboardMarkup | None]:
    found = await reports.reports_of(session, person.id or 0)
    if not found:
        return _("You have not reported anything yet. Use /report."), None
    lines = [_("<b>Your reports</b>")]
    for task in found:
        view = await reports.task_view(session, task.id or 0)
        lines.append(
            f"{task.number} · {category_label(view, None)} · {status_label(task.status, None)}"
            f" — {hd.quote(task.description[:40])}"
        )
    lines.append(_("Tap one to see where it stands and what happened when."))
    buttons = [
        button(
            f"{task.number} · {status_label(task.status, None)}",
            MyReport(task_id=task.id or 0).pack(),
        )
        for task in found[:MY_REPORT_BUTTONS]
    ]
    return "\n".join(lines), keyboard(*(buttons[i : i + 2] for i in range(0, len(buttons), 2)))


@router.callback_query(MyReport.filter())
async def show_my_report(
    query: CallbackQuery,
    callback_data: MyReport,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
) -> None:
    """A report's page for the person who filed it (or its grid's workers); ◀ back to the list."""
    if not callback_data.task_id:
        text, markup = await my_reports(session, person)
        await edit_after_press(query, text, reply_markup=markup)
        return
    view = await reports.task_view(session, callback_data.task_id)
    if not ReportPermissions.can_view(actor, view.task):
        await query.answer(_("Only the person who reported it can see this."), show_alert=True)
        return
    steps = await reports.history(session, view.task)
    back = button(_("◀ Back"), MyReport(task_id=0).pack())
    await edit_after_press(
        query,
        reporter_card(view, steps, locale_of(person), settings.tz),
        reply_markup=keyboard([back]),
    )


@router.message(Command("follow"), F.chat.type == "private")
async def follow_by_number(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """/follow R-2026-00042: hear of a report someone else made about the same problem."""
    if not command.args or actor.residence is None:
        await message.answer(
            _("Send /follow with the report's number, for example /follow R-2026-00042.")
        )
        return
    task = await reports.task_by_number(session, actor.residence.village_id, command.args)
    view = await reports.follow(session, actor, task.id or 0, now)
    await message.answer(
        _("You now follow {number}. I will tell you of every change.").format(
            number=view.task.number
        )
    )


@router.callback_query(Follow.filter())
async def follow_button(
    query: CallbackQuery,
    callback_data: Follow,
    session: AsyncSession,
    actor: Actor | None,
    now: datetime,
) -> None:
    """The follow button on a report's public page in a group."""
    if actor is None:
        await query.answer(
            _("Only residents of this village can follow its reports."), show_alert=True
        )
        return
    view = await reports.follow(session, actor, callback_data.task_id, now)
    await query.answer(
        _("You now follow {number}. I will tell you of every change.").format(
            number=view.task.number
        ),
        show_alert=True,
    )


@router.callback_query(FollowUp.filter())
async def answer_follow_up(
    query: CallbackQuery,
    callback_data: FollowUp,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """Is it fixed? Yes closes it and offers a rating; no reopens it for the same grid."""
    view, _reward = await reports.answer_follow_up(
        session, actor, callback_data.task_id, fixed=callback_data.fixed, now=now, tz=settings.tz
    )
    await notify_change(session, view, exclude=actor.person_id)
    await query.answer(_("Thank you."))
    if not isinstance(query.message, Message):
        return
    if callback_data.fixed:
        await query.message.edit_text(
            _("Glad it is fixed: {number} is closed. How well was it handled?").format(
                number=view.task.number
            ),
            reply_markup=rating_keyboard(view.id),  # type: ignore[arg-type]
        )
    else:
        await push_task(
            session, view, settings.tz, header=N_("🔁 Reopened: the resident says it is not fixed")
        )
        await query.message.edit_text(
            _(
                "Sorry it is not fixed. {number} is reopened; the grid's workers have it again."
            ).format(number=view.task.number)
        )


@router.callback_query(Rate.filter())
async def rate_report(
    query: CallbackQuery, callback_data: Rate, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    view = await reports.rate(session, actor, callback_data.task_id, callback_data.stars, now)
    await edit_after_press(
        query,
        _("Thank you for rating {number}: {stars}").format(
            number=view.task.number, stars="⭐" * callback_data.stars
        ),
        toast=_("Thank you."),
    )


# --- in a bound group ----------------------------------------------------------------------


@router.message(Command("report"), F.chat.type.in_(GROUP_CHATS))
async def report_in_group(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person | None,
) -> None:
    """/report R-…: the report's public page; /report alone: how to report here."""
    binding = await org.binding_of(session, message.chat.id)
    if binding is None:
        await message.reply(_("This group is not bound to a village. See /bindgroup."))
        return
    locale = locale_of(person)
    if command.args:
        task = await reports.task_by_number(session, binding.village_id, command.args)
        view = await reports.task_view(session, task.id or 0)
        await message.reply(public_card(view, locale), reply_markup=follow_keyboard(view, locale))
        return
    await message.reply(
        _(
            "To report a problem here, reply to this message with a short description. "
            "For photos and anonymity, send me /report in a private chat."
        )
    )


@router.message(
    F.chat.type.in_(GROUP_CHATS),
    F.reply_to_message.from_user.is_bot,
    F.text,
    ~F.text.startswith("/"),
    StateFilter(None),
)
async def report_by_reply(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    settings: Settings,
    now: datetime,
) -> None:
    """A resident replied to the bot in a bound group: that text is a report of "other"."""
    bot_user = message.bot and await message.bot.me()
    replied = message.reply_to_message
    if not bot_user or replied is None or replied.from_user is None:
        return
    if replied.from_user.id != bot_user.id:
        return
    binding = await org.binding_of(session, message.chat.id)
    if binding is None or actor is None or actor.residence is None:
        await message.reply(_("Only residents who have joined a village can report problems."))
        return
    if actor.residence.village_id != binding.village_id:
        await message.reply(_("Only residents of this village can report here."))
        return
    found = await reports.categories(session, binding.village_id)
    other = next((c for c in found if c.code == "other"), found[-1] if found else None)
    if other is None:
        return
    view = await reports.file_report(
        session,
        actor,
        category_id=other.id or 0,
        description=message.text or "",
        grid_id=binding.grid_id,
        now=now,
        reporter=person,
    )
    await push_task(session, view, settings.tz, header=N_("📣 New report"))
    locale = locale_of(person)
    await message.reply(
        _("Thank you. Report {number} is filed; the grid's workers have it.").format(
            number=view.task.number
        )
        + "\n\n"
        + public_card(view, locale),
        reply_markup=follow_keyboard(view, locale),
    )
