"""Points for residents: claim points against the catalogue (/claim), follow the claims
(/myclaims), see the balance (/mypoints) and the month's ranking (/leaderboard), and appeal a
deduction once."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import behalf, org, outbox, points, voice
from storage.models.org import Person
from storage.models.points import ClaimStatus
from storage.permissions.org import Actor
from storage.settings import Settings
from views.home import home_row, next_step
from views.i18n import _, locale_of, tr
from views.keyboards import (
    FlowAction,
    Pick,
    button,
    cancel_row,
    confirm_keyboard,
    flow_button,
    keyboard,
)
from views.points import (
    STATUS_NAMES,
    AppealEntry,
    RetractClaim,
    cap_text,
    category_code,
    category_label,
    category_picker,
    entry_reason,
    item_label,
    item_picker,
    push_appeal,
)
from views.replies import edit_after_press, send_after_press
from views.shop import open_shop_markup

router = Router(name="points")


class Claiming(StatesGroup):
    category = State()
    item = State()
    evidence = State()
    confirm = State()


class Appealing(StatesGroup):
    text = State()


class ClaimForm(TypedDict, total=False):
    village_id: int
    item_id: int
    note: str
    photo: str | None
    voice: list  # a spoken note: file id, seconds, size, words
    who: str  # filed by a cadre for a resident (代报, handlers/home_behalf.py): their name
    for_person_id: int | None


# --- shared: categories and items as buttons ------------------------------------------------


def home_village(actor: Actor | None) -> int | None:
    if actor is None or not actor.is_approved_resident or actor.residence is None:
        return None
    return actor.residence.village_id


# --- /claim --------------------------------------------------------------------------------


@router.message(Command("claim"), F.chat.type == "private")
async def start_claim(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, locale: str
) -> None:
    """Step 1: pick a category of the village's catalogue."""
    village_id = home_village(actor)
    if village_id is None:
        await message.answer(_("Only approved residents of this village can claim points."))
        return
    await state.set_state(Claiming.category)
    await state.set_data(ClaimForm(village_id=village_id))
    await message.answer(
        _("Claim points. Which kind of thing did you do?"),
        reply_markup=await category_picker(session, village_id, "ccat", locale, claims=True),
    )


@router.callback_query(Claiming.category, Pick.filter(F.what == "ccat"))
async def pick_claim_category(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    state: FSMContext,
    locale: str,
) -> None:
    """Step 2: pick the item."""
    form: ClaimForm = await state.get_data()  # type: ignore[assignment]
    await state.set_state(Claiming.item)
    await edit_after_press(
        query,
        _("{category}: which item?").format(
            category=category_label(category_code(callback_data.value), locale)
        ),
        reply_markup=await item_picker(
            session,
            form["village_id"],
            category_code(callback_data.value),
            "citem",
            locale,
            claims=True,
        ),
    )


@router.callback_query(Claiming.item, Pick.filter(F.what == "citem"))
async def pick_claim_item(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    state: FSMContext,
    locale: str,
) -> None:
    """Step 3: the evidence the item asks for, or an optional note."""
    item = await points.get_item(session, callback_data.value)
    await state.update_data(item_id=item.id, note="", photo=None, voice=None)
    await state.set_state(Claiming.evidence)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    limits = cap_text(item)
    head = item_label(item, locale) + (f" · {limits}" if limits else "")
    if item.evidence_required:
        text = _(
            "{item}\nThis item needs evidence: send a photo (with a caption if you like) "
            "or write a note saying what you did, when and where."
        )
        markup = keyboard(cancel_row())
    else:
        text = _("{item}\nAdd a short note if you like, or press Skip.")
        markup = keyboard([flow_button(_("Skip"), "skip")], cancel_row())
    spoken = _("You can also hold the microphone and say it (up to one minute).")
    await query.message.edit_text(
        text.format(item=hd.quote(head)) + "\n" + spoken, reply_markup=markup
    )


@router.message(Claiming.evidence, F.photo)
async def receive_claim_photo(
    message: Message, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    """A photo as evidence; its caption is the note."""
    photo = message.photo[-1].file_id if message.photo else None
    await state.update_data(
        photo=photo, note=org.clean_text(message.caption, points.NOTE_MAX) or ""
    )
    await review_claim(message, session, state, locale)


@router.message(Claiming.evidence, F.voice)
async def receive_claim_voice(
    message: Message, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    """A voice note as the note: the reviewer hears it with the card."""
    sound = message.voice
    assert sound is not None
    spoken = await voice.transcribe(voice.check(sound.file_id, sound.duration, sound.file_size))
    await state.update_data(note="", voice=voice.as_kept(spoken))
    await review_claim(message, session, state, locale)


@router.message(Claiming.evidence, F.text)
async def receive_claim_note(
    message: Message, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    """A note as evidence."""
    note = org.require_text(message.text, points.NOTE_MAX)
    await state.update_data(note=note)
    await review_claim(message, session, state, locale)


@router.callback_query(Claiming.evidence, FlowAction.filter(F.action == "skip"))
async def skip_claim_note(
    query: CallbackQuery, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    """No note."""
    await query.answer()
    if isinstance(query.message, Message):
        await review_claim(query.message, session, state, locale)


async def review_claim(
    message: Message, session: AsyncSession, state: FSMContext, locale: str
) -> None:
    form: ClaimForm = await state.get_data()  # type: ignore[assignment]
    item = await points.get_item(session, form["item_id"])
    await state.set_state(Claiming.confirm)
    lines = [_("Please check your claim:"), hd.quote(item_label(item, locale))]
    if form.get("who"):
        lines[0] = _("Please check the claim for {who}:").format(who=hd.quote(form["who"]))
    if form.get("note"):
        lines.append(_("Note: {note}").format(note=hd.quote(form["note"])))
    if form.get("photo"):
        lines.append(_("📷 Photo attached"))
    if form.get("voice"):
        lines.append(_("🎤 Voice note ({length})").format(length=voice.length(form["voice"][1])))
    lines.append(_("Send it to the points group?"))
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("✔ Send"), back=False))


@router.callback_query(Claiming.confirm, FlowAction.filter(F.action == "confirm"))
async def submit_claim(
    query: CallbackQuery,
    session: AsyncSession,
    state: FSMContext,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    """Save the claim (pending) and say what happens next. Filed by a cadre for a resident
    (代报), the claim is the resident's, and they are told of it."""
    form: ClaimForm = await state.get_data()  # type: ignore[assignment]
    spoken = voice.from_kept(form.get("voice"))
    if not form.get("who"):
        claim = await points.make_claim(
            session,
            actor,
            form["item_id"],
            note=form.get("note"),
            photo_file_id=form.get("photo"),
            now=now,
            tz=settings.tz,
            spoken=spoken,
        )
        await state.clear()
        await edit_after_press(
            query,
            _(
                "Your claim #{id} ({points:+d}) is with the points group. I will tell you "
                "when it is decided. See /myclaims."
            ).format(id=claim.id, points=claim.points),
            toast=_("Sent."),
            reply_markup=keyboard(home_row()),
        )
        return
    claim = await behalf.file_claim_for(
        session,
        actor,
        for_person_id=form.get("for_person_id"),
        item_id=form["item_id"],
        note=form.get("note"),
        photo_file_id=form.get("photo"),
        now=now,
        tz=settings.tz,
        spoken=spoken,
    )
    await state.clear()
    view = await points.claim_view(session, claim.id or 0)
    resident_locale = locale_of(view.person)
    outbox.enqueue(
        session,
        view.person.telegram_id,
        tr(
            resident_locale,
            "⭐ {name} claimed points for you: #{id} {item} ({points:+d}). The points group "
            "will review it; I will tell you here when it is decided.",
            name=hd.quote(view.filer.full_name if view.filer else ""),
            id=claim.id,
            item=hd.quote(item_label(view.item, resident_locale)),
            points=claim.points,
        ),
    )
    await edit_after_press(
        query,
        _(
            "Filed for {who}: claim #{id} ({points:+d}) is with the points group. When it "
            "is decided, I will tell you and {who} here. Someone else in the group reviews "
            "it, not you."
        ).format(who=hd.quote(view.person.full_name), id=claim.id, points=claim.points),
        toast=_("Sent."),
        reply_markup=keyboard(home_row()),
    )


# --- /myclaims -----------------------------------------------------------------------------


@router.message(Command("myclaims"), F.chat.type == "private")
async def list_my_claims(
    message: Message, session: AsyncSession, person: Person, locale: str
) -> None:
    """The person's recent claims with their status; pending ones can be retracted."""
    views = await points.claims_of(session, person.id or 0)
    if not views:
        await message.answer(_("You have no claims yet. Start one with /claim."))
        return
    lines = [_("<b>Your claims</b>")]
    buttons = []
    for view in views:
        claim = view.claim
        line = _("#{id} {item}: {status}").format(
            id=claim.id,
            item=hd.quote(item_label(view.item, locale)),
            status=tr(locale, STATUS_NAMES[claim.status]),
        )
        if claim.reason:
            line += _(" — {reason}").format(reason=hd.quote(claim.reason))
        if view.filer is not None:
            line += " · " + _("Filed by {name} on their behalf").format(
                name=hd.quote(view.filer.full_name)
            )
        lines.append(line)
        if claim.status == ClaimStatus.PENDING and len(buttons) < 5:
            buttons.append(
                [
                    button(
                        _("↩ Retract #{id}").format(id=claim.id),
                        RetractClaim(claim_id=claim.id or 0).pack(),
                    )
                ]
            )
    await message.answer("\n".join(lines), reply_markup=keyboard(*buttons) if buttons else None)


@router.callback_query(RetractClaim.filter())
async def retract_claim(
    query: CallbackQuery,
    callback_data: RetractClaim,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Take a pending claim back; it counts nothing."""
    await points.retract_claim(session, actor, callback_data.claim_id, now)
    await query.answer(_("Claim #{id} retracted.").format(id=callback_data.claim_id))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)


# --- /mypoints -----------------------------------------------------------------------------


@router.message(Command("mypoints"), F.chat.type == "private")
async def show_my_points(
    message: Message,
    session: AsyncSession,
    person: Person,
    actor: Actor,
    now: datetime,
    settings: Settings,
    locale: str,
) -> None:
    """This week, month, quarter and year, for the person and the household; the last entries;
    past years."""
    household_id = actor.residence.household_id if actor.is_approved_resident else None
    mine = await points.totals(session, now, settings.tz, person_id=person.id)
    lines = [
        _("<b>Your points</b>"),
        _("Week {weekly} · month {monthly} · quarter {quarterly} · year {yearly}").format(**mine),
    ]
    if household_id is not None:
        home = await points.totals(session, now, settings.tz, household_id=household_id)
        lines += [
            _("<b>Your household</b>"),
            _("Week {weekly} · month {monthly} · quarter {quarterly} · year {yearly}").format(
                **home
            ),
        ]
    recent = await points.recent_entries(
        session, person_id=person.id or 0, household_id=household_id
    )
    if recent:
        lines.append(_("<b>Latest entries</b>"))
        for view in recent:
            at = view.entry.at.astimezone(settings.tz) if view.entry.at.tzinfo else view.entry.at
            lines.append(
                f"{at:%m-%d} {hd.quote(view.person or view.household)} "
                f"{hd.quote(entry_reason(view.entry))} {view.entry.points:+d}"
            )
    if household_id is not None:
        archive = await points.past_years(session, household_id)
        if archive:
            lines.append(_("<b>Past years (household)</b>"))
            lines += [
                _("{year}: {points} points, rank {rank}").format(
                    year=y.year, points=y.points, rank=y.rank
                )
                for y in archive
            ]
    if not mine["yearly"] and not recent:
        lines.append(
            _("No points yet. Tap ⭐ Claim points (or send /claim) to claim a good deed.")
            if household_id is not None
            else _("No points yet.") + " " + next_step(actor)
        )
    shop = open_shop_markup(actor)
    rows = [*(shop.inline_keyboard if shop else []), home_row()]
    await message.answer("\n".join(lines), reply_markup=keyboard(*rows))


# --- /leaderboard --------------------------------------------------------------------------


@router.message(Command("leaderboard"))
async def show_leaderboard(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    now: datetime,
    settings: Settings,
) -> None:
    """This month's ranking: the group's village or grid, or the person's village."""
    grid_id = None
    if message.chat.type == "private":
        village_id = home_village(actor) or min(actor.villages(), default=None) if actor else None
    else:
        binding = await org.binding_of(session, message.chat.id)
        village_id = binding.village_id if binding else None
        grid_id = binding.grid_id if binding else None
    if village_id is None:
        await message.answer(
            next_step(actor)
            if message.chat.type == "private"
            else _("This chat is not part of a village yet.")
        )
        return
    ranked = await points.leaderboard(session, village_id, now, settings.tz, grid_id=grid_id)
    village = await org.get_village(session, village_id)
    place = hd.quote(village.name)
    if grid_id is not None:
        place += " · " + hd.quote((await org.get_grid(session, grid_id)).name)
    lines = [_("<b>{place} · this month's points</b>").format(place=place)]
    lines += [
        _("{rank}. {household} ({grid}) — {points} points").format(
            rank=r.rank, household=hd.quote(r.label), grid=hd.quote(r.grid), points=r.points
        )
        for r in ranked
    ] or [_("No points yet this month.")]
    await message.answer("\n".join(lines))


# --- appeals -------------------------------------------------------------------------------


@router.callback_query(AppealEntry.filter())
async def start_appeal(
    query: CallbackQuery,
    callback_data: AppealEntry,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    """Appeal a deduction: ask why (checked again when sent)."""
    entry = await points.appealable(session, actor, callback_data.entry_id)
    await state.set_state(Appealing.text)
    await state.set_data({"entry_id": entry.id})
    await send_after_press(
        query,
        _(
            "Why should the deduction be withdrawn? Write it in one message; "
            "another member of the points group will decide. You can appeal once."
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Appealing.text, F.text)
async def submit_appeal(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, now: datetime
) -> None:
    """Record the appeal and send it to the other reviewers."""
    data = await state.get_data()
    appeal = await points.appeal(session, actor, int(data["entry_id"]), message.text or "", now)
    entry = await points.get_entry(session, appeal.entry_id)
    village = await org.get_village(session, entry.village_id)
    reviewers = await push_appeal(session, appeal, entry, village.name)
    await state.clear()
    await message.answer(
        _(
            "Your appeal is sent to {count} members of the points group. "
            "I will tell you the decision."
        ).format(count=reviewers)
    )
