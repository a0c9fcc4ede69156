"""Setting up a village: a district admin names it and its grids (/newvillage)."""

from __future__ import annotations

import re
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org
from storage.permissions.org import Actor, OrgPermissions
from views.i18n import _
from views.keyboards import FlowAction, cancel_row, confirm_keyboard, flow_button, keyboard
from views.replies import edit_after_press

router = Router(name="village")

GRID_SEPARATORS = re.compile(r"[\n,，、;；]+")


class NewVillage(StatesGroup):
    name = State()
    grids = State()
    confirm = State()


class NewVillageForm(TypedDict, total=False):
    name: str
    grids: list[str]


@router.message(Command("newvillage"), F.chat.type == "private")
async def start_new_village(message: Message, actor: Actor, state: FSMContext) -> None:
    """Step 1: the village's name (district admins only)."""
    if not OrgPermissions.can_create_village(actor):
        await message.answer(_("Only district admins can create villages."))
        return
    await state.set_state(NewVillage.name)
    await state.set_data(NewVillageForm(grids=[]))
    await message.answer(
        _("New village. What is its name? (at most {limit} characters)").format(
            limit=org.PLACE_NAME_MAX
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(NewVillage.name, F.text)
async def receive_village_name(message: Message, state: FSMContext) -> None:
    """Step 2: its grids, several per message."""
    name = org.require_text(message.text, org.PLACE_NAME_MAX)
    await state.update_data(name=name)
    await state.set_state(NewVillage.grids)
    await message.answer(
        _(
            "Now send the names of {village}'s grids: one per line, or one per message. "
            "Press Done when all are in."
        ).format(village=hd.quote(name)),
        reply_markup=keyboard([flow_button(_("Done"), "done")], cancel_row()),
    )


@router.message(NewVillage.grids, F.text)
async def receive_grid_names(message: Message, state: FSMContext) -> None:
    """Collect grid names until Done."""
    form: NewVillageForm = await state.get_data()  # type: ignore[assignment]
    typed = [part for part in GRID_SEPARATORS.split(message.text or "") if part.strip()]
    grids = org.unique_names([*form.get("grids", []), *typed])
    if len(grids) > org.GRIDS_MAX:
        await message.answer(
            _("At most {limit} grids at once, please.").format(limit=org.GRIDS_MAX)
        )
        return
    await state.update_data(grids=grids)
    await message.answer(
        _("Grids so far ({count}): {names}\nSend more, or press Done.").format(
            count=len(grids), names=hd.quote("、".join(grids))
        ),
        reply_markup=keyboard([flow_button(_("Done"), "done")], cancel_row()),
    )


@router.callback_query(NewVillage.grids, FlowAction.filter(F.action == "done"))
async def review_new_village(query: CallbackQuery, state: FSMContext) -> None:
    """Step 3: show what will be created."""
    form: NewVillageForm = await state.get_data()  # type: ignore[assignment]
    if not form.get("grids"):
        await query.answer(_("Send at least one grid name first."), show_alert=True)
        return
    await state.set_state(NewVillage.confirm)
    await edit_after_press(
        query,
        _("Create this village?\n<b>{village}</b>\nGrids: {names}").format(
            village=hd.quote(form["name"]), names=hd.quote("、".join(form["grids"]))
        ),
        reply_markup=confirm_keyboard(_("✔ Create")),
    )


@router.callback_query(NewVillage.confirm, FlowAction.filter(F.action == "back"))
async def back_to_grids(query: CallbackQuery, state: FSMContext) -> None:
    """Back: add or retype grids."""
    await state.update_data(grids=[])
    await state.set_state(NewVillage.grids)
    await edit_after_press(
        query,
        _("Send the grid names again: one per line, or one per message."),
        reply_markup=keyboard([flow_button(_("Done"), "done")], cancel_row()),
    )


@router.callback_query(NewVillage.confirm, FlowAction.filter(F.action == "confirm"))
async def create_village(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, actor: Actor
) -> None:
    """Create it, and say what comes next."""
    form: NewVillageForm = await state.get_data()  # type: ignore[assignment]
    village = await org.create_village(session, actor, form["name"], form["grids"])
    await state.clear()
    await edit_after_press(
        query,
        _(
            "Village <b>{village}</b> is set up with {count} grids.\n"
            "Next: /appoint its admins and grid workers, then /invite residents."
        ).format(village=hd.quote(village.name), count=len(form["grids"])),
        toast=_("Created."),
    )
