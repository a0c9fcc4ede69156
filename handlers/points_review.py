"""The points group (积分管理小组): review claims one card at a time (/review), record points
directly (/award), and decide appeals against deductions."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, outbox, points, voice
from storage.errors import N_, AlreadyDone
from storage.models.org import Person
from storage.models.voice import VoiceOf
from storage.permissions.org import Actor
from storage.settings import Settings
from views.i18n import _, locale_of, tr
from views.keyboards import (
    FlowAction,
    Pick,
    button,
    cancel_row,
    confirm_keyboard,
    keyboard,
    picker,
)
from views.points import (
    DecideAppeal,
    ReviewClaim,
    category_code,
    category_label,
    category_picker,
    item_label,
    item_picker,
    notify_entry,
)
from views.replies import edit_after_press, send_after_press

router = Router(name="points_review")


class Reviewing(StatesGroup):
    reason = State()


class Awarding(StatesGroup):
    grid = State()
    household = State()
    person = State()
    category = State()
    item = State()
    reason = State()
    confirm = State()


class AwardForm(TypedDict, total=False):
    village_id: int
    household_id: int
    household: str
    person_id: int | None
    person: str
    item_id: int
    reason: str


# --- /review -------------------------------------------------------------------------------


@router.message(Command("review"), F.chat.type == "private")
async def start_review(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, locale: str
) -> None:
    """The first pending claim this reviewer may decide."""
    await state.clear()
    await send_next_card(message, session, actor, [], locale)


async def send_next_card(
    message: Message, session: AsyncSession, actor: Actor, skipped: list[int], locale: str
) -> None:
    view = await points.next_for_review(session, actor, skipped)
    if view is None:
        await message.answer(
            _("No claims are waiting for you. Thank you!")
            if not skipped
            else _("No more claims, apart from those you skipped. Send /review to see them again.")
        )
        return
    claim = view.claim
    if claim.photo_file_id:
        with contextlib.suppress(TelegramAPIError):  # an extra; the card says it is attached
            await message.answer_photo(claim.photo_file_id)
    spoken = await voice.notes_of(session, VoiceOf.CLAIM, claim.id or 0)
    for note in spoken:
        with contextlib.suppress(TelegramAPIError):  # an extra, like the photo
            await message.answer_voice(note.file_id, duration=note.duration)
    lines = [
        _("<b>Claim #{id}</b> from {name}, {household}").format(
            id=claim.id,
            name=hd.quote(view.person.full_name),
            household=hd.quote(view.household.label),
        ),
        hd.quote(item_label(view.item, locale)),
    ]
    if view.filer is not None:
        lines.append(
            _("Filed by {name} on their behalf").format(name=hd.quote(view.filer.full_name))
        )
    if claim.note:
        lines.append(_("Note: {note}").format(note=hd.quote(claim.note)))
    if claim.photo_file_id:
        lines.append(_("📷 Photo attached"))
    lines += [
        _("🎤 Voice note ({length})").format(length=voice.length(note.duration)) for note in spoken
    ]
    claim_id = claim.id or 0
    markup = keyboard(
        [
            button(_("✔ Approve"), ReviewClaim(claim_id=claim_id, action="a").pack()),
            button(_("✖ Reject"), ReviewClaim(claim_id=claim_id, action="r").pack()),
        ],
        [button(_("⏭ Skip"), ReviewClaim(claim_id=claim_id, action="s").pack())],
    )
    await message.answer("\n".join(lines), reply_markup=markup)


@router.callback_query(ReviewClaim.filter(F.action == "a"))
async def approve_claim(
    query: CallbackQuery,
    callback_data: ReviewClaim,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
    settings: Settings,
    locale: str,
) -> None:
    """Approve: the points go into the ledger once; the resident is told."""
    try:
        view, entry = await points.approve_claim(
            session, actor, callback_data.claim_id, now, settings.tz
        )
    except AlreadyDone as done:
        await query.answer(tr(locale, done.message), show_alert=True)
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        return
    resident_locale = locale_of(view.person)
    outbox.enqueue(
        session,
        view.person.telegram_id,
        tr(
            resident_locale,
            "Your claim #{id} is approved: {points:+d} points for {item}. See /mypoints.",
            id=view.claim.id,
            points=entry.points,
            item=hd.quote(view.item.name),
        ),
    )
    tell_filer(
        session,
        view,
        N_("⭐ The claim #{id} you filed for {who} is approved: {points:+d} points for {item}."),
    )
    await query.answer(_("Approved."))
    await close_card(query, _("✔ Approved."))
    skipped = list((await state.get_data()).get("skipped", []))
    if isinstance(query.message, Message):
        await send_next_card(query.message, session, actor, skipped, locale)


@router.callback_query(ReviewClaim.filter(F.action == "r"))
async def ask_reject_reason(
    query: CallbackQuery,
    callback_data: ReviewClaim,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    """Reject: a reason is required; ask for it."""
    view = await points.claim_view(session, callback_data.claim_id)
    claim = view.claim
    if not view.may_decide(actor):
        await query.answer(_("You cannot decide this claim."), show_alert=True)
        return
    await state.set_state(Reviewing.reason)
    await state.update_data(claim_id=claim.id)
    await send_after_press(
        query,
        _("Why is claim #{id} rejected? The resident will see your reason.").format(id=claim.id),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Reviewing.reason, F.text)
async def reject_claim(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
    locale: str,
) -> None:
    """Reject with the reason; the resident is told; on to the next card."""
    data = await state.get_data()
    view = await points.reject_claim(
        session, actor, int(data["claim_id"]), message.text or "", now
    )
    await state.set_state(None)
    resident_locale = locale_of(view.person)
    outbox.enqueue(
        session,
        view.person.telegram_id,
        tr(
            resident_locale,
            "Your claim #{id} ({item}) was not approved. Reason: {reason}",
            id=view.claim.id,
            item=hd.quote(view.item.name),
            reason=hd.quote(view.claim.reason or ""),
        ),
    )
    tell_filer(
        session,
        view,
        N_("⭐ The claim #{id} you filed for {who} ({item}) was not approved. Reason: {reason}"),
    )
    await message.answer(_("✖ Claim #{id} rejected.").format(id=view.claim.id))
    await send_next_card(message, session, actor, list(data.get("skipped", [])), locale)


@router.callback_query(ReviewClaim.filter(F.action == "s"))
async def skip_claim(
    query: CallbackQuery,
    callback_data: ReviewClaim,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    locale: str,
) -> None:
    """Leave this claim for now (for another reviewer, or later)."""
    skipped = [*list((await state.get_data()).get("skipped", [])), callback_data.claim_id]
    await state.update_data(skipped=skipped[-50:])
    await query.answer(_("Skipped."))
    await close_card(query, _("⏭ Skipped."))
    if isinstance(query.message, Message):
        await send_next_card(query.message, session, actor, skipped, locale)


def tell_filer(session: AsyncSession, view: points.ClaimView, text: str) -> None:
    """The cadre who filed the claim for the resident (代报) hears the decision too."""
    if view.filer is None or view.filer.id == view.person.id:
        return
    locale = locale_of(view.filer)
    outbox.enqueue(
        session,
        view.filer.telegram_id,
        tr(
            locale,
            text,
            id=view.claim.id,
            who=hd.quote(view.person.full_name),
            points=view.claim.points,
            item=hd.quote(view.item.name),
            reason=hd.quote(view.claim.reason or ""),
        ),
    )


async def close_card(query: CallbackQuery, note: str) -> None:
    if isinstance(query.message, Message) and query.message.text:
        await query.message.edit_text(hd.quote(query.message.text) + "\n\n" + note)


# --- /award --------------------------------------------------------------------------------


@router.message(Command("award"), F.chat.type == "private")
async def start_award(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """Step 1: which grid (reviewers only)."""
    villages = sorted(actor.reviewer_villages())
    if not villages:
        await message.answer(_("Only members of the points group can record points."))
        return
    village_id = villages[0]
    grids = await org.grids_of(session, village_id)
    await state.set_state(Awarding.grid)
    await state.set_data(AwardForm(village_id=village_id))
    await message.answer(
        _("Record points. Which grid is the household in?"),
        reply_markup=picker("agrid", [(g.id or 0, g.name) for g in grids]),
    )


@router.callback_query(Awarding.grid, Pick.filter(F.what == "agrid"))
async def pick_award_grid(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, state: FSMContext
) -> None:
    """Step 2: which household."""
    form: AwardForm = await state.get_data()  # type: ignore[assignment]
    grid = await org.get_grid(session, callback_data.value)
    if grid.village_id != form["village_id"]:
        await query.answer(_("That grid no longer exists."), show_alert=True)
        return
    households = await org.households_of(session, callback_data.value)
    await state.set_state(Awarding.household)
    await edit_after_press(
        query,
        _("Which household?"),
        reply_markup=picker("ahh", [(h.id or 0, h.label) for h in households], columns=3),
    )


@router.callback_query(Awarding.household, Pick.filter(F.what == "ahh"))
async def pick_award_household(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, state: FSMContext
) -> None:
    """Step 3: one member, or the whole household."""
    form: AwardForm = await state.get_data()  # type: ignore[assignment]
    household = await points.household_in_village(session, form["village_id"], callback_data.value)
    members = await points.household_members(session, callback_data.value)
    await state.update_data(household_id=household.id, household=household.label)
    await state.set_state(Awarding.person)
    await edit_after_press(
        query,
        _("{household}: for whom?").format(household=hd.quote(household.label)),
        reply_markup=picker(
            "aper",
            [(0, _("The whole household")), *[(p.id or 0, p.full_name) for p in members]],
        ),
    )


@router.callback_query(Awarding.person, Pick.filter(F.what == "aper"))
async def pick_award_person(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    state: FSMContext,
    locale: str,
) -> None:
    """Step 4: the category of the catalogue."""
    form: AwardForm = await state.get_data()  # type: ignore[assignment]
    person = await session.get(Person, callback_data.value) if callback_data.value else None
    await state.update_data(
        person_id=person.id if person else None,
        person=person.full_name if person else form.get("household", ""),
    )
    await state.set_state(Awarding.category)
    await edit_after_press(
        query,
        _("Which kind of item?"),
        reply_markup=await category_picker(session, form["village_id"], "acat", locale),
    )


@router.callback_query(Awarding.category, Pick.filter(F.what == "acat"))
async def pick_award_category(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    state: FSMContext,
    locale: str,
) -> None:
    """Step 5: the item (its points, positive or negative)."""
    form: AwardForm = await state.get_data()  # type: ignore[assignment]
    code = category_code(callback_data.value)
    await state.set_state(Awarding.item)
    await edit_after_press(
        query,
        _("{category}: which item?").format(category=category_label(code, locale)),
        reply_markup=await item_picker(session, form["village_id"], code, "aitem", locale),
    )


@router.callback_query(Awarding.item, Pick.filter(F.what == "aitem"))
async def pick_award_item(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, state: FSMContext
) -> None:
    """Step 6: the reason, which the household will read."""
    item = await points.get_item(session, callback_data.value)
    await state.update_data(item_id=item.id)
    await state.set_state(Awarding.reason)
    await edit_after_press(
        query,
        _("What happened? Write the reason the household will read (when, where)."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Awarding.reason, F.text)
async def receive_award_reason(
    message: Message, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    """Step 7: confirm."""
    reason = org.require_text(message.text, points.REASON_MAX)
    await state.update_data(reason=reason)
    form: AwardForm = await state.get_data()  # type: ignore[assignment]
    item = await points.get_item(session, form["item_id"])
    await state.set_state(Awarding.confirm)
    await message.answer(
        _("Record {item} for {who} ({household})?\nReason: {reason}").format(
            item=hd.quote(item_label(item, locale)),
            who=hd.quote(form.get("person", "")),
            household=hd.quote(form.get("household", "")),
            reason=hd.quote(reason),
        ),
        reply_markup=confirm_keyboard(_("✔ Record"), back=False),
    )


@router.callback_query(Awarding.confirm, FlowAction.filter(F.action == "confirm"))
async def record_award(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
    settings: Settings,
) -> None:
    """Record the entry and tell the household (a deduction comes with an Appeal button)."""
    form: AwardForm = await state.get_data()  # type: ignore[assignment]
    entry = await points.award(
        session,
        actor,
        household_id=form["household_id"],
        person_id=form.get("person_id"),
        item_id=form["item_id"],
        reason=form["reason"],
        now=now,
        tz=settings.tz,
    )
    await state.clear()
    await notify_entry(session, entry)
    await edit_after_press(
        query,
        _("Recorded {points:+d} points for {household}. The household is told.").format(
            points=entry.points, household=hd.quote(form.get("household", ""))
        ),
        toast=_("Recorded."),
    )


# --- appeals -------------------------------------------------------------------------------


@router.callback_query(DecideAppeal.filter())
async def decide_appeal(
    query: CallbackQuery,
    callback_data: DecideAppeal,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    settings: Settings,
    locale: str,
) -> None:
    """Withdraw the deduction (a correcting entry) or keep it; the appellant is told."""
    try:
        appeal, entry, _correction = await points.decide_appeal(
            session,
            actor,
            callback_data.appeal_id,
            uphold=callback_data.uphold,
            now=now,
            tz=settings.tz,
        )
    except AlreadyDone as done:
        await query.answer(tr(locale, done.message), show_alert=True)
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        return
    appellant = await session.get(Person, appeal.person_id)
    if appellant is not None:
        appellant_locale = locale_of(appellant)
        text = (
            N_("Your appeal is accepted: the deduction of {points} points is withdrawn.")
            if callback_data.uphold
            else N_("Your appeal was considered; the deduction of {points} points stands.")
        )
        outbox.enqueue(
            session, appellant.telegram_id, tr(appellant_locale, text, points=entry.points)
        )
    await query.answer(_("Done."))
    await close_card(
        query, _("✔ Deduction withdrawn.") if callback_data.uphold else _("✖ Deduction kept.")
    )
