"""Appointing people: a village admin makes a one-time role link (/appoint); opening it grants
the role and tells the admin."""

from __future__ import annotations

from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, outbox
from storage.errors import N_
from storage.models.org import Person, Role, WorkerKind
from storage.permissions.org import Actor
from views.home import next_step
from views.i18n import _, locale_of, tr
from views.keyboards import Pick, picker
from views.org import role_name
from views.replies import edit_after_press

router = Router(name="roles")

ROLE_LINK_PREFIX = "r_"
ROLE_CHOICES = (Role.GRID_WORKER, Role.REVIEWER, Role.VILLAGE_ADMIN)
ROLE_CHOICE_LABELS = {
    Role.GRID_WORKER: N_("Grid worker"),
    Role.REVIEWER: N_("Points reviewer (积分管理小组)"),
    Role.VILLAGE_ADMIN: N_("Village admin"),
}
KIND_CHOICES = (WorkerKind.FULL_TIME, WorkerKind.PART_TIME)


class Appoint(StatesGroup):
    village = State()
    role = State()
    grid = State()
    kind = State()


class AppointForm(TypedDict, total=False):
    village_id: int
    role: str
    grid_id: int


@router.message(Command("appoint"), F.chat.type == "private")
async def start_appoint(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor
) -> None:
    """Step 1: which village (skipped when there is one)."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(
            _(
                "There is no village yet. Create one first: ⚙ Manage → New village "
                "(or send /newvillage)."
            )
            if actor.is_district_admin
            else _("Only village admins can appoint people.") + " " + next_step(actor)
        )
        return
    await state.set_data(AppointForm())
    if len(villages) == 1:
        await state.update_data(village_id=villages[0].id)
        await ask_role(message, state)
        return
    await state.set_state(Appoint.village)
    await message.answer(
        _("Appoint someone in which village?"),
        reply_markup=picker("village", [(v.id or 0, v.name) for v in villages]),
    )


async def ask_role(message: Message, state: FSMContext, *, edit: bool = False) -> None:
    await state.set_state(Appoint.role)
    markup = picker(
        "role", [(i, _(ROLE_CHOICE_LABELS[r])) for i, r in enumerate(ROLE_CHOICES)], columns=1
    )
    text = _("Which role should the link give?")
    await (
        message.edit_text(text, reply_markup=markup)
        if edit
        else message.answer(text, reply_markup=markup)
    )


@router.callback_query(Appoint.village, Pick.filter(F.what == "village"))
async def pick_appoint_village(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    """Step 2: the role."""
    allowed = {v.id for v in await org.administered_villages(session, actor)}
    if callback_data.value not in allowed:
        await query.answer(_("Only this village's admins can appoint people."), show_alert=True)
        return
    await state.update_data(village_id=callback_data.value)
    await query.answer()
    if isinstance(query.message, Message):
        await ask_role(query.message, state, edit=True)


@router.callback_query(Appoint.role, Pick.filter(F.what == "role"))
async def pick_role(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: object,
) -> None:
    """Step 3: a grid for a grid worker; otherwise the link is made now."""
    if not 0 <= callback_data.value < len(ROLE_CHOICES):
        await query.answer(_("This button has expired."), show_alert=True)
        return
    role = ROLE_CHOICES[callback_data.value]
    await state.update_data(role=role.value)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if role != Role.GRID_WORKER:
        await finish_appoint(query.message, state, session, actor, now)
        return
    form: AppointForm = await state.get_data()  # type: ignore[assignment]
    grids = await org.grids_of(session, form["village_id"])
    await state.set_state(Appoint.grid)
    await query.message.edit_text(
        _("Which grid will they work in?"),
        reply_markup=picker("grid", [(g.id or 0, g.name) for g in grids]),
    )


@router.callback_query(Appoint.grid, Pick.filter(F.what == "grid"))
async def pick_worker_grid(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    """Step 4: full-time or part-time."""
    await state.update_data(grid_id=callback_data.value)
    await state.set_state(Appoint.kind)
    await edit_after_press(
        query,
        _("Full-time or part-time?"),
        reply_markup=picker(
            "kind",
            [(i, role_name(Role.GRID_WORKER, kind)) for i, kind in enumerate(KIND_CHOICES)],
            columns=1,
        ),
    )


@router.callback_query(Appoint.kind, Pick.filter(F.what == "kind"))
async def pick_worker_kind(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: object,
) -> None:
    """Last step for a grid worker: make the link."""
    if not 0 <= callback_data.value < len(KIND_CHOICES):
        await query.answer(_("This button has expired."), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await finish_appoint(
            query.message, state, session, actor, now, kind=KIND_CHOICES[callback_data.value]
        )


async def finish_appoint(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: object,
    kind: WorkerKind | None = None,
) -> None:
    form: AppointForm = await state.get_data()  # type: ignore[assignment]
    role = Role(form["role"])
    invite = await org.create_role_invite(
        session,
        actor,
        village_id=form["village_id"],
        role=role,
        grid_id=form.get("grid_id"),
        worker_kind=kind,
        now=now,
    )  # type: ignore[arg-type]
    await state.clear()
    link = await create_start_link(message.bot, ROLE_LINK_PREFIX + invite.code)  # type: ignore[arg-type]
    await message.edit_text(
        _(
            "One-time link for a {role}:\n{link}\n\nSend it to the person. It works once, "
            "for 7 days. I will tell you when it is used."
        ).format(role=role_name(role, kind), link=link)
    )


@router.message(
    CommandStart(deep_link=True, magic=F.args.startswith(ROLE_LINK_PREFIX)),
    F.chat.type == "private",
)
async def redeem_role_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    person: Person,
    now: object,
) -> None:
    """Someone opened a role link: grant the role, tell them and the admin who made it."""
    await state.clear()
    code = (command.args or "").removeprefix(ROLE_LINK_PREFIX)
    appointment = await org.redeem_role_invite(session, person, code, now)  # type: ignore[arg-type]
    assignment = appointment.assignment
    place = hd.quote(appointment.village.name)
    if appointment.grid is not None:
        place += f" · {hd.quote(appointment.grid.name)}"
    await message.answer(
        _("You are now {role} of {place}. See /help for what you can do.").format(
            role=role_name(assignment.role, assignment.worker_kind), place=place
        )
    )
    by = appointment.appointed_by
    if by is not None and by.id != person.id:
        locale = locale_of(by)
        outbox.enqueue(
            session,
            by.telegram_id,
            tr(
                locale,
                "{name} used your link and is now {role} of {place}.",
                name=hd.quote(person.full_name),
                place=place,
                role=role_name(assignment.role, assignment.worker_kind, locale),
            ),
        )
