"""Filing on someone's behalf (代报): a grid worker or village admin chooses what to file (a
report, a proposal or a points claim), picks a resident by name, or takes a visitor's name,
household and phone (not for a claim: points belong to a person), then files it for them.
From the 🤝 button of their home, or /behalf. A report's steps are here; a proposal and a claim
go through the resident's own steps (handlers/votes.py, handlers/points.py), which then file
it for the person picked here."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.points import Claiming
from handlers.votes import Propose
from storage import behalf, org, outbox, reports, voice, votes
from storage.errors import N_
from storage.models.org import Person
from storage.permissions.org import Actor
from storage.settings import Settings
from views.home import home_row, label
from views.i18n import _, locale_of, tr
from views.keyboards import (
    FlowAction,
    Pick,
    cancel_row,
    flow_button,
    keyboard,
    picker,
)
from views.points import category_picker
from views.replies import edit_after_press
from views.reports import category_name, push_task

router = Router(name="home_behalf")


class Behalf(StatesGroup):
    what = State()
    search = State()
    visitor_name = State()
    visitor_household = State()
    visitor_phone = State()
    category = State()
    description = State()
    confirm = State()


class BehalfForm(TypedDict, total=False):
    what: str  # report, proposal, claim (storage.behalf.KINDS)
    for_person_id: int | None
    who: str  # as the check shows it
    visitor: list[str]  # name, household, phone
    village_id: int
    category_id: int
    category: str
    description: str
    voice: list  # file id, seconds, size, words


SEARCH_PROMPTS = {
    "report": N_(
        "File a report for someone (代报). Type the resident's name, or part of it. "
        "For a visitor who is not in the bot, tap the button."
    ),
    "proposal": N_(
        "Send a proposal for someone (代报). Type the resident's name, or part of it. "
        "For a visitor who is not in the bot, tap the button."
    ),
    "claim": N_(
        "Claim points for a resident (代报). Type the resident's name, or part of it. "
        "Points belong to a person, so the resident must be in the bot."
    ),
}


def visitor_row() -> list:
    return [flow_button(_("👤 Someone not in the bot"), "visitor")]


def what_keyboard() -> InlineKeyboardMarkup:
    return keyboard(
        [flow_button(label("report"), "report")],
        [flow_button(_("📮 Send as a proposal"), "proposal")],
        [flow_button(label("claim"), "claim")],
        cancel_row(),
    )


@router.message(Command("behalf"), F.chat.type == "private")
async def start_behalf(message: Message, actor: Actor, state: FSMContext) -> None:
    """Step 1: what to file for someone."""
    if not behalf.can_file_for_others(actor):
        await message.answer(_("Only grid workers and village admins can file for someone else."))
        return
    await state.clear()
    await state.set_state(Behalf.what)
    await state.set_data(BehalfForm())
    await message.answer(
        _(
            "File for someone (代报), for a resident or a visitor at the counter. "
            "What would you like to file for them?"
        ),
        reply_markup=what_keyboard(),
    )


@router.callback_query(Behalf.what, FlowAction.filter(F.action.in_(behalf.KINDS)))
async def pick_what(query: CallbackQuery, callback_data: FlowAction, state: FSMContext) -> None:
    """Step 2: for whom."""
    await state.update_data(what=callback_data.action)
    await state.set_state(Behalf.search)
    await edit_after_press(
        query,
        _(SEARCH_PROMPTS[callback_data.action]),
        reply_markup=keyboard(visitor_row(), cancel_row()),
    )


@router.message(Behalf.search, F.text)
async def search_resident(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """The residents of the cadre's grids or village with that name."""
    found = await behalf.find_residents(session, actor, message.text or "")
    text = (
        _("Tap the person, or type the name again.")
        if found
        else _("Nobody of your grids has that name. Type it again, or tap the button.")
    )
    await message.answer(
        text,
        reply_markup=picker(
            "bfor",
            [(f.person.id or 0, f"{f.person.full_name} · {f.household}") for f in found],
            columns=1,
            extra=visitor_row(),
        ),
    )


@router.callback_query(Behalf.search, Pick.filter(F.what == "bfor"))
async def pick_resident(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    locale: str,
) -> None:
    """A resident: checked now, and again when it is filed."""
    resident = await behalf.resident_for(session, actor, callback_data.value)
    person = await session.get(Person, callback_data.value)
    assert person is not None and resident.residence is not None
    await state.update_data(
        for_person_id=person.id,
        who=person.full_name,
        village_id=resident.residence.village_id,
    )
    await ask_what_next(query, session, state, locale)


async def ask_what_next(
    event: Message | CallbackQuery, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    """For whom is settled: a report's kind, a proposal's title, or a claim's kind of deed."""
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    what = form.get("what", "report")
    who = hd.quote(form["who"])
    if what == "report":
        await ask_category(event, session, state)
        return
    if what == "proposal":
        await state.set_state(Propose.title)
        text = _(
            "A concern or proposal of {who} for the village committee (书记信箱).\n"
            "First a short title, at most {limit} characters:"
        ).format(who=who, limit=votes.TITLE_MAX)
        markup = keyboard(cancel_row())
    else:
        await state.set_state(Claiming.category)
        text = _("Claim points for {who}. Which kind of thing did they do?").format(who=who)
        markup = await category_picker(session, form["village_id"], "ccat", locale, claims=True)
    if isinstance(event, CallbackQuery):
        await edit_after_press(event, text, reply_markup=markup)
    else:
        await event.answer(text, reply_markup=markup)


@router.callback_query(Behalf.search, FlowAction.filter(F.action == "visitor"))
async def ask_visitor_name(query: CallbackQuery, state: FSMContext) -> None:
    """A visitor not in the bot: their name first (a claim cannot be for a visitor)."""
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    behalf.check_visitor(form.get("what", "report"))
    await state.set_state(Behalf.visitor_name)
    await edit_after_press(query, _("The visitor's name?"), reply_markup=keyboard(cancel_row()))


@router.message(Behalf.visitor_name, F.text)
async def receive_visitor_name(message: Message, state: FSMContext) -> None:
    await state.update_data(visitor=[org.require_text(message.text, org.NAME_MAX), "", ""])
    await state.set_state(Behalf.visitor_household)
    await message.answer(
        _("Which household? (for example 3组 12号)"), reply_markup=keyboard(cancel_row())
    )


@router.message(Behalf.visitor_household, F.text)
async def receive_visitor_household(message: Message, state: FSMContext) -> None:
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    household = org.require_text(message.text, org.HOUSEHOLD_LABEL_MAX)
    await state.update_data(visitor=[form["visitor"][0], household, ""])
    await state.set_state(Behalf.visitor_phone)
    await message.answer(
        _("A phone number to call back? Tap Skip if there is none."),
        reply_markup=keyboard([flow_button(_("Skip"), "skip")], cancel_row()),
    )


@router.message(Behalf.visitor_phone, F.text)
@router.callback_query(Behalf.visitor_phone, FlowAction.filter(F.action == "skip"))
async def receive_visitor_phone(
    event: Message | CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    locale: str,
) -> None:
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    phone = ""
    if isinstance(event, Message):
        phone = org.require_text(event.text, behalf.VISITOR_PHONE_MAX)
    name, household, _phone = form["visitor"]
    village_id, _grid = await behalf.home_village(session, actor)
    await state.update_data(
        visitor=[name, household, phone],
        who=" · ".join(p for p in (name, household, phone) if p),
        for_person_id=None,
        village_id=village_id,
    )
    await ask_what_next(event, session, state, locale)


async def ask_category(
    event: Message | CallbackQuery, session: AsyncSession, state: FSMContext
) -> None:
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    found = await reports.categories(session, form["village_id"])
    await state.set_state(Behalf.category)
    text = _("For {who}: what kind of problem is it?").format(who=hd.quote(form["who"]))
    markup = picker("bcat", [(c.id or 0, category_name(c.code, c.name)) for c in found])
    if isinstance(event, CallbackQuery):
        await edit_after_press(event, text, reply_markup=markup)
    else:
        await event.answer(text, reply_markup=markup)


@router.callback_query(Behalf.category, Pick.filter(F.what == "bcat"))
async def pick_behalf_category(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, state: FSMContext
) -> None:
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    category = await reports.category_choice(session, form["village_id"], callback_data.value)
    label = category_name(category.code, category.name)
    await state.update_data(category_id=category.id, category=label)
    await state.set_state(Behalf.description)
    await edit_after_press(
        query,
        _("{category}. What happened? Type it, or send a voice note (up to one minute).").format(
            category=hd.quote(label)
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Behalf.description, F.text)
@router.message(Behalf.description, F.voice)
async def receive_behalf_description(message: Message, state: FSMContext) -> None:
    if message.voice is not None:
        sound = message.voice
        spoken = await voice.transcribe(
            voice.check(sound.file_id, sound.duration, sound.file_size)
        )
        await state.update_data(
            description="",
            voice=voice.as_kept(spoken),
        )
        described = _("🎤 Voice note ({length})").format(length=voice.length(spoken.duration))
    else:
        described = reports.clean_description(message.text)
        await state.update_data(description=described, voice=None)
        described = hd.quote(described)
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    await state.set_state(Behalf.confirm)
    await message.answer(
        _(
            "Please check:\nFor: {who}\nKind: {category}\nProblem: {description}\n\nSend it?"
        ).format(
            who=hd.quote(form["who"]), category=hd.quote(form["category"]), description=described
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[flow_button(_("✔ Send report"), "confirm")], cancel_row()]
        ),
    )


@router.callback_query(Behalf.confirm, FlowAction.filter(F.action == "confirm"))
async def submit_behalf(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    state: FSMContext,
    settings: Settings,
    now: datetime,
) -> None:
    """File it, push it to the grid's workers, tell the resident (if in the bot)."""
    form: BehalfForm = await state.get_data()  # type: ignore[assignment]
    spoken = voice.from_kept(form.get("voice"))
    view = await behalf.file_report_for(
        session,
        actor,
        for_person_id=form.get("for_person_id"),
        visitor=tuple(form["visitor"]) if form.get("visitor") else None,  # type: ignore[arg-type]
        category_id=form["category_id"],
        description=form.get("description", ""),
        spoken=spoken,
        now=now,
    )
    await state.clear()
    await push_task(session, view, settings.tz, header=N_("📣 New report"))
    if form.get("for_person_id") and view.reporter is not None:
        locale = locale_of(view.reporter)
        outbox.enqueue(
            session,
            view.reporter.telegram_id,
            tr(
                locale,
                "{name} filed report {number} for you: {description}\n"
                "I will tell you here of every change.",
                name=hd.quote(person.full_name),
                number=view.task.number,
                description=hd.quote(view.task.description),
            ),
        )
    await edit_after_press(
        query,
        _(
            "Filed for {who}: <b>{number}</b>, sent to the workers of {grid}. "
            "I will tell you here of every change."
        ).format(
            who=hd.quote(form["who"]), number=view.task.number, grid=hd.quote(view.grid.name)
        ),
        toast=_("Sent."),
        reply_markup=keyboard(home_row()),
    )
