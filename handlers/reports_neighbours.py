"""What neighbours reported: /reports (and 📣 报事 → 👀 看看邻居报的) lists the grid's open and
recently fixed reports with a 关注 button each and pages; /gridpost turns a grid's weekly
报事进展 post on or off (also from /tasks)."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import reports_neighbours as neighbours
from storage.models.org import Person
from storage.permissions.org import Actor
from storage.permissions.reports import ReportPermissions
from storage.settings import Settings
from views.home import home_row, next_step
from views.i18n import _, locale_of
from views.keyboards import keyboard
from views.replies import edit_after_press
from views.reports_neighbours import (
    NeighbourFollow,
    NeighbourPage,
    PostToggle,
    grid_reports_keyboard,
    grid_reports_text,
    post_changed_text,
    post_choices_keyboard,
    post_choices_text,
)

router = Router(name="neighbours")


def not_a_resident(actor: Actor | None) -> str:
    """Why someone cannot see the grid's reports, and what they can do next."""
    refusal = _("Only residents who have joined a village can see its reports.")
    return refusal + "\n" + next_step(actor)


@router.message(Command("reports"), F.chat.type == "private", StateFilter("*"))
async def list_grid_reports(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    settings: Settings,
    state: FSMContext,
    now: datetime,
) -> None:
    """The open and recently fixed reports of the resident's grid."""
    await state.clear()
    if actor is None or not ReportPermissions.can_see_grid_reports(actor):
        await message.answer(not_a_resident(actor), reply_markup=keyboard(home_row()))
        return
    result = await neighbours.grid_reports(session, actor, now, settings.tz)
    locale = locale_of(person)
    await message.answer(
        grid_reports_text(result, locale), reply_markup=grid_reports_keyboard(result, locale)
    )


@router.callback_query(NeighbourPage.filter(), StateFilter("*"))
async def page_grid_reports(
    query: CallbackQuery,
    callback_data: NeighbourPage,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    settings: Settings,
    state: FSMContext,
    now: datetime,
) -> None:
    """A page of the list (from the report wizard's first step too: it leaves the wizard)."""
    await state.clear()
    if actor is None or not ReportPermissions.can_see_grid_reports(actor):
        await query.answer(not_a_resident(actor), show_alert=True)
        return
    result = await neighbours.grid_reports(session, actor, now, settings.tz, callback_data.page)
    locale = locale_of(person)
    await edit_after_press(
        query,
        grid_reports_text(result, locale),
        reply_markup=grid_reports_keyboard(result, locale),
    )


@router.callback_query(NeighbourFollow.filter())
async def follow_from_list(
    query: CallbackQuery,
    callback_data: NeighbourFollow,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    settings: Settings,
    now: datetime,
) -> None:
    """关注: checked again (still the person's grid, still open, not followed yet); the list
    shows it followed."""
    if actor is None:
        await query.answer(not_a_resident(actor), show_alert=True)
        return
    view = await neighbours.follow_from_list(session, actor, callback_data.task_id, now)
    result = await neighbours.grid_reports(session, actor, now, settings.tz, callback_data.page)
    locale = locale_of(person)
    await edit_after_press(
        query,
        grid_reports_text(result, locale),
        toast=_("You now follow {number}. I will tell you of every change.").format(
            number=view.task.number
        ),
        reply_markup=grid_reports_keyboard(result, locale),
    )


# --- the weekly post -----------------------------------------------------------------------


@router.message(Command("gridpost"), F.chat.type == "private")
async def show_post_choices(
    message: Message, session: AsyncSession, actor: Actor | None, person: Person | None
) -> None:
    """The grids whose weekly 报事进展 post this person may turn on or off."""
    choices = await neighbours.post_choices(session, actor) if actor is not None else []
    if not choices:
        await message.answer(
            _("Only this grid's workers and the village admins can change its weekly post.")
        )
        return
    locale = locale_of(person)
    await message.answer(
        post_choices_text(choices, locale), reply_markup=post_choices_keyboard(choices, locale)
    )


@router.callback_query(PostToggle.filter())
async def toggle_post(
    query: CallbackQuery,
    callback_data: PostToggle,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    now: datetime,
) -> None:
    """On or off (checked again: the grid's workers or its village's admins); the card shows
    it at once and says what happens next."""
    if actor is None:
        await query.answer(
            _("Only this grid's workers and the village admins can change its weekly post."),
            show_alert=True,
        )
        return
    on = bool(callback_data.on)
    await neighbours.set_weekly_post(session, actor, callback_data.grid_id, on, now)
    choices = await neighbours.post_choices(session, actor)
    locale = locale_of(person)
    choice = next(c for c in choices if c.grid.id == callback_data.grid_id)
    await edit_after_press(
        query,
        post_changed_text(choice.grid.name, on, choice.groups, locale)
        + "\n\n"
        + post_choices_text(choices, locale),
        toast=_("Saved."),
        reply_markup=post_choices_keyboard(choices, locale),
    )
