"""Joining a village: a grid invite link (/invite), the resident's short form, and the grid
workers' approve / reject buttons (also listed by /pending)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.deep_linking import create_start_link
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, outbox
from storage.errors import AlreadyDone
from storage.models.org import Person
from storage.permissions.org import Actor
from views.i18n import _, locale_of, tr
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
from views.org import DecideMembership
from views.replies import edit_after_press

router = Router(name="join")

GRID_LINK_PREFIX = "g_"
SKIP_WORDS = {"skip", "跳过"}


class Join(StatesGroup):
    name = State()
    household = State()
    household_label = State()
    phone = State()
    confirm = State()


class JoinForm(TypedDict, total=False):
    code: str
    village: str
    grid: str
    grid_id: int
    name: str
    household_id: int | None
    household_label: str
    tenant: bool
    phone: str | None


# --- invite links --------------------------------------------------------------------------


@router.message(Command("invite"), F.chat.type == "private")
async def start_invite(
    message: Message, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    """A grid invite link; asks which grid when the person may invite to several."""
    grids = await org.invitable_grids(session, actor)
    if not grids:
        await message.answer(_("Only grid workers and village admins can invite residents."))
        return
    if len(grids) == 1:
        await send_invite_link(message, session, actor, grids[0][1].id or 0, now)
        return
    await message.answer(
        _("Invite residents to which grid?"),
        reply_markup=picker(
            "invite", [(g.id or 0, f"{v.name} · {g.name}") for v, g in grids], columns=1
        ),
    )


@router.callback_query(Pick.filter(F.what == "invite"))
async def pick_invite_grid(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    """The grid was chosen: make the link (permission checked again in storage)."""
    if isinstance(query.message, Message):
        await send_invite_link(query.message, session, actor, callback_data.value, now, edit=True)
    await query.answer()


async def send_invite_link(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    grid_id: int,
    now: datetime,
    *,
    edit: bool = False,
) -> None:
    invite = await org.create_grid_invite(session, actor, grid_id, now)
    grid = await org.get_grid(session, grid_id)
    village = await org.get_village(session, grid.village_id)
    link = await create_start_link(message.bot, GRID_LINK_PREFIX + invite.code)  # type: ignore[arg-type]
    text = _(
        "Invite link for residents of {village} · {grid}:\n{link}\n\n"
        "Share it in the grid's group or send it to residents. It works for 30 days; "
        "each request comes to the grid's workers to approve."
    ).format(village=hd.quote(village.name), grid=hd.quote(grid.name), link=link)
    await (message.edit_text(text) if edit else message.answer(text))


# --- the resident's form -------------------------------------------------------------------


@router.message(
    CommandStart(deep_link=True, magic=F.args.startswith(GRID_LINK_PREFIX)),
    F.chat.type == "private",
)
async def open_grid_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    now: datetime,
) -> None:
    """Step 1: a resident opened an invite: welcome them and ask their name."""
    await state.clear()
    code = (command.args or "").removeprefix(GRID_LINK_PREFIX)
    invite = await org.valid_invite(session, code, now)
    await org.ensure_not_member(session, person)
    grid = await org.get_grid(session, invite.grid_id or 0)
    village = await org.get_village(session, grid.village_id)
    await state.set_state(Join.name)
    await state.set_data(
        JoinForm(code=code, village=village.name, grid=grid.name, grid_id=grid.id or 0)
    )
    await message.answer(
        _(
            "Welcome! You are joining <b>{village} · {grid}</b>.\n\n"
            "What is your name? Please write it as your neighbours know you."
        ).format(village=hd.quote(village.name), grid=hd.quote(grid.name)),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Join.name, F.text)
async def receive_name(message: Message, state: FSMContext, session: AsyncSession) -> None:
    """Step 2: which household."""
    name = org.require_text(message.text, org.NAME_MAX)
    await state.update_data(name=name)
    await ask_household(message, state, session)


async def ask_household(
    message: Message, state: FSMContext, session: AsyncSession, fragment: str = ""
) -> None:
    form: JoinForm = await state.get_data()  # type: ignore[assignment]
    households = await org.households_of(session, form["grid_id"], fragment=fragment)
    await state.set_state(Join.household)
    if fragment:
        text = (
            _("Households with “{fragment}”: tap yours, or type another part of it.")
            if households
            else _("No household has “{fragment}” yet. Add it as yours, or type it differently.")
        ).format(fragment=hd.quote(fragment))
        extra = [flow_button(_("➕ Add “{label}”").format(label=fragment), "typed")]
    else:
        text = _(
            "Which household are you in? Tap it, or type part of it (for example 3组12) to "
            "find it; add yours if it is not listed."
        )
        extra = [flow_button(_("➕ My household is not listed"), "new")]
    await message.answer(
        text,
        reply_markup=picker(
            "household", [(h.id or 0, h.label) for h in households], columns=3, extra=extra
        ),
    )


@router.message(Join.household, F.text)
async def search_household(message: Message, state: FSMContext, session: AsyncSession) -> None:
    """Typed text while the households are shown: a search, which can become a new label."""
    fragment = org.require_text(message.text, org.HOUSEHOLD_LABEL_MAX)
    await state.update_data(household_label=fragment)
    await ask_household(message, state, session, fragment)


@router.callback_query(Join.household, FlowAction.filter(F.action == "typed"))
async def add_typed_household(
    query: CallbackQuery, state: FSMContext, session: AsyncSession
) -> None:
    """The typed text as a new household (the same as an existing one once normalised)."""
    form: JoinForm = await state.get_data()  # type: ignore[assignment]
    label = org.require_text(form.get("household_label"), org.HOUSEHOLD_LABEL_MAX)
    await state.update_data(household_id=None, household_label=label)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(_("Household: {label}").format(label=hd.quote(label)))
        await ask_phone(query.message, state)


@router.callback_query(Join.household, Pick.filter(F.what == "household"))
async def pick_household(
    query: CallbackQuery, callback_data: Pick, state: FSMContext, session: AsyncSession
) -> None:
    """An existing household: checked to be in this grid, then on to the phone."""
    form: JoinForm = await state.get_data()  # type: ignore[assignment]
    household = await org.household_in_grid(session, form["grid_id"], callback_data.value)
    await state.update_data(household_id=household.id, household_label=household.label)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _("Household: {label}").format(label=hd.quote(household.label))
        )
        await ask_phone(query.message, state)


@router.callback_query(Join.household, FlowAction.filter(F.action == "new"))
async def ask_household_label(query: CallbackQuery, state: FSMContext) -> None:
    """A new household: ask for its label."""
    await state.set_state(Join.household_label)
    await edit_after_press(
        query,
        _("Please send your household's label, for example 3组 12号."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Join.household_label, F.text)
async def receive_household_label(message: Message, state: FSMContext) -> None:
    label = org.require_text(message.text, org.HOUSEHOLD_LABEL_MAX)
    await state.update_data(household_id=None, household_label=label)
    await ask_phone(message, state)


async def ask_phone(message: Message, state: FSMContext) -> None:
    await state.set_state(Join.phone)
    markup = ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)],
            [KeyboardButton(text=_("Skip"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await message.answer(
        _(
            "You may share your phone number so your grid worker can reach you. "
            "Tap the button, type the number, or tap Skip."
        ),
        reply_markup=markup,
    )


@router.message(Join.phone, F.contact)
async def receive_contact(message: Message, state: FSMContext) -> None:
    """The shared contact must be the person's own."""
    contact = message.contact
    if contact is None or (message.from_user and contact.user_id != message.from_user.id):
        await message.answer(_("Please share your own number, or tap Skip."))
        return
    await state.update_data(phone=org.clean_phone(contact.phone_number))
    await review_join(message, state)


@router.message(Join.phone, F.text)
async def receive_phone_text(message: Message, state: FSMContext) -> None:
    text = (message.text or "").strip()
    skipping = text.lower() in SKIP_WORDS or text == _("Skip")
    await state.update_data(phone=None if skipping else org.clean_phone(text))
    await review_join(message, state)


async def review_join(message: Message, state: FSMContext) -> None:
    """Last step: show everything and ask to submit."""
    await state.set_state(Join.confirm)
    await message.answer(_("Thank you."), reply_markup=ReplyKeyboardRemove())
    text, markup = await review_text(state)
    await message.answer(text, reply_markup=markup)


async def review_text(state: FSMContext) -> tuple[str, InlineKeyboardMarkup]:
    form: JoinForm = await state.get_data()  # type: ignore[assignment]
    tenant = form.get("tenant", False)
    markup = confirm_keyboard(_("✔ Send"), back=False)
    markup.inline_keyboard.insert(
        0,
        [
            flow_button(
                _("☑ I rent here (tenant)") if tenant else _("☐ I rent here (tenant)"), "tenant"
            )
        ],
    )
    text = _(
        "Please check:\nName: {name}\nVillage: {village} · {grid}\nHousehold: {household}\n"
        "Phone: {phone}\n\nSend this to your grid worker?"
    ).format(
        name=hd.quote(form["name"]),
        village=hd.quote(form["village"]),
        grid=hd.quote(form["grid"]),
        household=hd.quote(form["household_label"]),
        phone=hd.quote(form.get("phone") or _("not given")),
    )
    if tenant:
        text += "\n" + _("You join as a tenant (租户) of this household.")
    return text, markup


@router.callback_query(Join.confirm, FlowAction.filter(F.action == "tenant"))
async def toggle_tenant(query: CallbackQuery, state: FSMContext) -> None:
    """A tenant (租户) of the household, or one of its family: the village decides whether
    tenants share the household's vote and points."""
    form: JoinForm = await state.get_data()  # type: ignore[assignment]
    await state.update_data(tenant=not form.get("tenant", False))
    text, markup = await review_text(state)
    await edit_after_press(query, text, reply_markup=markup)


@router.callback_query(Join.confirm, FlowAction.filter(F.action == "confirm"))
async def submit_join(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, person: Person, now: datetime
) -> None:
    """Save the request (pending) and push it to the grid's workers."""
    form: JoinForm = await state.get_data()  # type: ignore[assignment]
    membership = await org.request_membership(
        session,
        person,
        invite_code=form["code"],
        full_name=form["name"],
        household_id=form.get("household_id"),
        household_label=form.get("household_label"),
        phone=form.get("phone"),
        now=now,
        tenant=form.get("tenant", False),
    )
    await state.clear()
    view = await org.membership_view(session, membership.id or 0)
    await push_membership_request(session, view)
    await edit_after_press(
        query,
        _(
            "Your request to join {village} · {grid} is sent. A grid worker will check it; "
            "I will tell you here when it is decided."
        ).format(village=hd.quote(form["village"]), grid=hd.quote(form["grid"])),
        toast=_("Sent."),
    )


# --- deciding ------------------------------------------------------------------------------


def request_text(view: org.MembershipView, locale: str) -> str:
    return tr(
        locale,
        "New resident asks to join {village} · {grid}:\n<b>{name}</b>, {household}"
        "\nPhone: {phone}",
        village=hd.quote(view.village.name),
        grid=hd.quote(view.grid.name),
        name=hd.quote(view.person.full_name),
        household=hd.quote(view.household.label),
        phone=hd.quote(view.person.phone or tr(locale, "not given")),
    )


def decision_keyboard(membership_id: int, locale: str) -> InlineKeyboardMarkup:
    return keyboard(
        [
            button(
                tr(locale, "✔ Approve"),
                DecideMembership(membership_id=membership_id, approve=True).pack(),
            ),
            button(
                tr(locale, "✖ Reject"),
                DecideMembership(membership_id=membership_id, approve=False).pack(),
            ),
        ]
    )


async def push_membership_request(session: AsyncSession, view: org.MembershipView) -> None:
    """Every worker of the grid gets the request (the village admins when it has none)."""
    deciders = await org.grid_deciders(session, view.village.id or 0, view.grid.id or 0)
    for decider in deciders:
        locale = locale_of(decider)
        outbox.enqueue(
            session,
            decider.telegram_id,
            request_text(view, locale),
            reply_markup=decision_keyboard(view.membership.id or 0, locale).model_dump(
                exclude_none=True
            ),
        )


@router.callback_query(DecideMembership.filter())
async def decide_request(
    query: CallbackQuery,
    callback_data: DecideMembership,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    now: datetime,
) -> None:
    """Approve or reject: checked again, done once, the resident told in their language."""
    try:
        view = await org.decide_membership(
            session, actor, callback_data.membership_id, approve=callback_data.approve, now=now
        )
    except AlreadyDone:
        await query.answer(_("This request has already been decided."), show_alert=True)
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        return
    resident = view.person
    locale = locale_of(resident)
    place = {"village": hd.quote(view.village.name), "grid": hd.quote(view.grid.name)}
    if callback_data.approve:
        note = _("✔ Approved by {name}.")
        text = tr(
            locale,
            "Welcome! Your request to join {village} · {grid} was approved. "
            "See /help for what you can do.",
            **place,
        )
    else:
        note = _("✖ Rejected by {name}.")
        text = tr(
            locale,
            "Your request to join {village} · {grid} was not approved. "
            "If this is a mistake, please talk to your grid worker.",
            **place,
        )
    outbox.enqueue(session, resident.telegram_id, text)
    await edit_after_press(
        query,
        request_text(view, locale_of(person))
        + "\n\n"
        + note.format(name=hd.quote(person.full_name)),
        toast=_("Done."),
    )


@router.message(Command("pending"), F.chat.type == "private")
async def list_pending(
    message: Message, session: AsyncSession, actor: Actor, person: Person
) -> None:
    """Join requests this person may decide, each with its buttons."""
    views = await org.pending_for(session, actor)
    if not views:
        await message.answer(_("No join requests are waiting for you."))
        return
    locale = locale_of(person)
    for view in views[:20]:
        await message.answer(
            request_text(view, locale),
            reply_markup=decision_keyboard(view.membership.id or 0, locale),
        )
    if len(views) > 20:
        await message.answer(
            _("…and {count} more. Decide these first.").format(count=len(views) - 20)
        )
