"""Consultation and voting (协商式): residents send proposals (/propose), admins screen them
(/proposals) and put votes in the village's groups (/vote); everyone sees /agenda.

A vote card's buttons are pressed in the group; each press is checked in storage (the group's
village, the deadline, the voter) and answered with a private toast. In a "pick up to N" vote
the presses make the voter's draft and ✔ 确认 counts it (an alert says what counts now).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import behalf, council, org, outbox, voice, votes
from storage.errors import N_, RuleError
from storage.models.org import Person
from storage.models.voice import VoiceOf
from storage.models.votes import DecideRule, Proposal, ProposalStatus, VoteStatus
from storage.permissions.org import Actor
from storage.permissions.votes import VotePermissions
from storage.settings import Settings
from views.council import MergeProposal, ScreenProposal
from views.home import home_row
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
from views.replies import edit_after_press, send_after_press
from views.reports import queue_voices
from views.votes import (
    PROPOSAL_STATUS_NAMES,
    PaperVote,
    VoteCast,
    VoteConfirm,
    VoteMine,
    VoteOpen,
    VoteRule,
    answer_line,
    card_markup,
    card_text,
    confirm_answer,
    invitation_markup,
    invitation_text,
    local_time,
    my_picks_answer,
    post_result,
    press_toast,
)

router = Router(name="votes")

DEADLINE_DAYS = (1, 3, 7, 14)
MAX_VOTE_BUTTONS = 5
STANDARD_OPTIONS = (N_("Agree"), N_("Disagree"), N_("Abstain"))


# --- voting in the group -------------------------------------------------------------------


@router.callback_query(VoteCast.filter())
async def cast_vote(
    query: CallbackQuery,
    callback_data: VoteCast,
    session: AsyncSession,
    actor: Actor | None,
    now: datetime,
) -> None:
    """A press on a vote card: checked in storage, answered with a private toast."""
    chat_id = query.message.chat.id if query.message is not None else 0
    result = await votes.cast(
        session,
        actor,
        vote_id=callback_data.vote_id,
        option_id=callback_data.option_id,
        chat_id=chat_id,
        now=now,
    )
    if result.vote.max_picks > 1:
        text = press_toast(result)
    elif result.vote.secret:
        text = (
            _("Your vote is changed. It stays secret.")
            if result.changed
            else _("Your vote is recorded. It stays secret; you can change it until the deadline.")
        )
    elif result.changed:
        text = _("Your vote is changed to: {option}.").format(option=result.option.label)
    else:
        text = _("Your vote is recorded: {option}. You can change it until the deadline.").format(
            option=result.option.label
        )
    await query.answer(text)


@router.callback_query(VoteConfirm.filter())
async def confirm_picks(
    query: CallbackQuery,
    callback_data: VoteConfirm,
    session: AsyncSession,
    actor: Actor | None,
    now: datetime,
) -> None:
    """✔ Confirm on a pick-several card: the draft is counted (checked in storage); the voter
    is told what counts now in an alert only they see."""
    chat_id = query.message.chat.id if query.message is not None else 0
    result = await votes.confirm(
        session, actor, vote_id=callback_data.vote_id, chat_id=chat_id, now=now
    )
    await query.answer(confirm_answer(result), show_alert=True)


@router.callback_query(VoteMine.filter())
async def show_my_picks(
    query: CallbackQuery, callback_data: VoteMine, session: AsyncSession, actor: Actor | None
) -> None:
    """🔍 on a pick-several card: what the presser's ballot counts and what their draft holds,
    privately (an alert only they see)."""
    vote = await votes.get_vote(session, callback_data.vote_id)
    counted = await votes.picks_of(session, actor, vote.id or 0) if actor else []
    draft = await votes.draft_of(session, actor, vote.id or 0) if actor else []
    await query.answer(my_picks_answer(vote, counted, draft), show_alert=True)


# --- the village's rule --------------------------------------------------------------------


@router.message(Command("voterule"), F.chat.type == "private")
async def show_vote_rule(message: Message, session: AsyncSession, actor: Actor) -> None:
    """One vote per person or per household: the admin's villages, each with its switch."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only village admins can change how a village votes."))
        return
    for village in villages[:10]:
        await message.answer(
            await rule_text(session, village.id or 0, village.name),
            reply_markup=rule_keyboard(village.id or 0),
        )


async def rule_text(session: AsyncSession, village_id: int, name: str) -> str:
    household = await votes.per_household(session, village_id)
    rule = _("one vote per household") if household else _("one vote per person")
    return _("{village} votes with {rule}. New votes follow this rule.").format(
        village=hd.quote(name), rule=rule
    )


def rule_keyboard(village_id: int) -> object:
    return keyboard(
        [
            button(_("Per person"), VoteRule(village_id=village_id, per_household=False).pack()),
            button(_("Per household"), VoteRule(village_id=village_id, per_household=True).pack()),
        ]
    )


@router.callback_query(VoteRule.filter())
async def set_vote_rule(
    query: CallbackQuery,
    callback_data: VoteRule,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Switch the rule (checked again in storage)."""
    await votes.set_rule(
        session,
        actor,
        callback_data.village_id,
        per_household=callback_data.per_household,
        now=now,
    )
    village = await org.get_village(session, callback_data.village_id)
    await query.answer(_("Saved."))
    if isinstance(query.message, Message):
        await query.message.edit_text(await rule_text(session, village.id or 0, village.name))


# --- putting a vote ------------------------------------------------------------------------


class NewVote(StatesGroup):
    village = State()
    item = State()
    question = State()
    options = State()
    own_options = State()
    deadline = State()
    settings = State()


class NewVoteForm(TypedDict, total=False):
    village_id: int
    proposal_id: int | None
    question: str
    options: list[str]
    days: int
    secret: bool
    quorum: int | None
    picks: int
    majority: bool
    grid_ids: list[int]
    stakeholders: bool  # only the agenda item's participants


@router.message(Command("vote"), F.chat.type == "private")
async def start_vote(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """Step 1: which village (admins only)."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only village admins can put a vote."))
        return
    await state.set_state(NewVote.village)
    await state.set_data(NewVoteForm(secret=False, quorum=None, proposal_id=None))
    if len(villages) == 1:
        await ask_item(message, session, state, villages[0].id or 0)
        return
    await message.answer(
        _("A vote in which village?"),
        reply_markup=picker("vote_village", [(v.id or 0, v.name) for v in villages], columns=1),
    )


@router.callback_query(NewVote.village, Pick.filter(F.what == "vote_village"))
async def pick_vote_village(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, state: FSMContext
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await ask_item(query.message, session, state, callback_data.value)


async def ask_item(
    message: Message, session: AsyncSession, state: FSMContext, village_id: int
) -> None:
    """Step 2: an agenda item to vote on, or a question of its own."""
    await state.update_data(village_id=village_id)
    items = await votes.proposals(session, village_id, [ProposalStatus.ON_AGENDA])
    if not items:
        await state.set_state(NewVote.question)
        await message.answer(
            _("What is the question? (at most {limit} characters)").format(
                limit=votes.QUESTION_MAX
            ),
            reply_markup=keyboard(cancel_row()),
        )
        return
    await state.set_state(NewVote.item)
    await message.answer(
        _("Which agenda item is the vote on? Or type a question of its own."),
        reply_markup=picker(
            "vote_item",
            [(p.id or 0, f"{votes.proposal_code(p)} {p.title}"[:60]) for p in items],
            columns=1,
        ),
    )


@router.callback_query(NewVote.item, Pick.filter(F.what == "vote_item"))
async def pick_vote_item(
    query: CallbackQuery, callback_data: Pick, session: AsyncSession, state: FSMContext
) -> None:
    """The item's title becomes the question."""
    form: NewVoteForm = await state.get_data()  # type: ignore[assignment]
    proposal = await votes.get_proposal(session, callback_data.value)
    if proposal.village_id != form.get("village_id"):
        await query.answer(_("That proposal no longer exists."), show_alert=True)
        return
    await state.update_data(proposal_id=proposal.id, question=proposal.title)
    await query.answer()
    if isinstance(query.message, Message):
        await ask_options(query.message, state)


@router.message(NewVote.item, F.text)
@router.message(NewVote.question, F.text)
async def receive_question(message: Message, state: FSMContext) -> None:
    """The question, typed."""
    question = org.require_text(message.text, votes.QUESTION_MAX)
    await state.update_data(question=question, proposal_id=None, stakeholders=False)
    await ask_options(message, state)


async def ask_options(message: Message, state: FSMContext) -> None:
    """Step 3: the usual three options, or the admin's own."""
    await state.set_state(NewVote.options)
    standard = " / ".join(_(label) for label in STANDARD_OPTIONS)
    await message.answer(
        _("Which options?"),
        reply_markup=keyboard(
            [flow_button(standard, "standard")],
            [flow_button(_("My own options"), "own")],
            cancel_row(),
        ),
    )


@router.callback_query(NewVote.options, FlowAction.filter(F.action == "standard"))
async def use_standard_options(
    query: CallbackQuery, state: FSMContext, settings: Settings
) -> None:
    """Agree / disagree / abstain, in the groups' language."""
    locale = settings.bot_default_locale
    await state.update_data(options=[tr(locale, label) for label in STANDARD_OPTIONS])
    await query.answer()
    if isinstance(query.message, Message):
        await ask_deadline(query.message, state)


@router.callback_query(NewVote.options, FlowAction.filter(F.action == "own"))
async def ask_own_options(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(NewVote.own_options)
    await edit_after_press(
        query,
        _(
            "Send the options, one per line: {low} to {high}, each at most {limit} characters."
        ).format(low=votes.OPTIONS_MIN, high=votes.OPTIONS_MAX, limit=votes.OPTION_MAX),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(NewVote.own_options, F.text)
async def receive_options(message: Message, state: FSMContext) -> None:
    options = votes.clean_options((message.text or "").splitlines())
    await state.update_data(options=options)
    await ask_deadline(message, state)


async def ask_deadline(message: Message, state: FSMContext) -> None:
    """Step 4: how long the vote stays open."""
    await state.set_state(NewVote.deadline)
    await message.answer(
        _("How long may people vote?"),
        reply_markup=picker(
            "vote_days",
            [(days, _("{days} days").format(days=days)) for days in DEADLINE_DAYS],
            columns=4,
        ),
    )


@router.callback_query(NewVote.deadline, Pick.filter(F.what == "vote_days"))
async def pick_deadline(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    await state.update_data(days=callback_data.value)
    await state.set_state(NewVote.settings)
    await query.answer()
    await show_vote_review(query, state, session, settings, now)


@router.callback_query(
    NewVote.settings, FlowAction.filter(F.action.in_({"secret", "quorum", "picks", "decide"}))
)
async def toggle_vote_setting(
    query: CallbackQuery,
    callback_data: FlowAction,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    """Secret on/off; quorum none -> 30% -> 50%; how many may be picked 1 -> 2 -> ... -> 1;
    decided by the most picked or by a majority of the voters."""
    form: NewVoteForm = await state.get_data()  # type: ignore[assignment]
    if callback_data.action == "secret":
        await state.update_data(secret=not form.get("secret"))
    elif callback_data.action == "picks":
        most = max(1, len(form["options"]) - 1)
        await state.update_data(picks=form.get("picks", 1) % most + 1)
    elif callback_data.action == "decide":
        await state.update_data(majority=not form.get("majority"))
    else:
        choices = votes.QUORUM_CHOICES
        now_at = choices.index(form.get("quorum")) if form.get("quorum") in choices else 0
        await state.update_data(quorum=choices[(now_at + 1) % len(choices)])
    await query.answer()
    await show_vote_review(query, state, session, settings, now)


@router.callback_query(NewVote.settings, FlowAction.filter(F.action == "grids"))
@router.callback_query(NewVote.settings, Pick.filter(F.what == "vote_grid"))
@router.callback_query(NewVote.settings, FlowAction.filter(F.action == "item_people"))
async def choose_vote_grids(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    callback_data: FlowAction | Pick,
) -> None:
    """Who may vote: the whole village, the grids ticked here (a press ticks or unticks), or
    for a vote on an agenda item only the item's participants (ticking one clears the other)."""
    form: NewVoteForm = await state.get_data()  # type: ignore[assignment]
    grids = await org.grids_of(session, form["village_id"])
    chosen = set(form.get("grid_ids", []))
    item_people = bool(form.get("stakeholders"))
    proposal_id = form.get("proposal_id")
    if isinstance(callback_data, Pick) and callback_data.value in {g.id for g in grids}:
        chosen ^= {callback_data.value}
        item_people = False
    elif isinstance(callback_data, FlowAction) and callback_data.action == "item_people":
        item_people = not item_people and proposal_id is not None
        chosen = set() if item_people else chosen
    await state.update_data(grid_ids=sorted(chosen), stakeholders=item_people)
    await query.answer()
    rows: list[list[InlineKeyboardButton]] = []
    if len(grids) > 1:
        ticks = [
            button(
                ("✓ " if g.id in chosen else "") + g.name,
                Pick(what="vote_grid", value=g.id or 0).pack(),
            )
            for g in grids
        ]
        rows += [ticks[i : i + 2] for i in range(0, len(ticks), 2)]
    if proposal_id is not None:
        count = await item_people_shown(session, proposal_id, form["village_id"])
        label = _("The residents concerned by this item ({count})").format(count=count)
        rows.append([flow_button(("✓ " if item_people else "") + label, "item_people")])
        text = (
            _(
                "Who may vote? Tick the grids, or only the residents concerned by this agenda "
                "item: its proposer, the residents who follow it and the council's "
                "participants. Nothing ticked is the whole village."
            )
            if len(grids) > 1
            else _(
                "Who may vote? The whole village, or only the residents concerned by this "
                "agenda item: its proposer, the residents who follow it and the council's "
                "participants."
            )
        )
        text += "\n" + _(
            "The list of those concerned is fixed when the vote is posted: who follows the "
            "item later cannot vote."
        )
    else:
        text = _("Who may vote? Tick the grids; none ticked is the whole village.")
    markup = keyboard(*rows, [flow_button(_("✔ Done"), "review")], cancel_row())
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


async def item_people_shown(session: AsyncSession, proposal_id: int, village_id: int) -> str:
    """How many of an item's participants could vote now: "3 people" or "2 households"."""
    count = await votes.participants_count(session, proposal_id)
    if await votes.per_household(session, village_id):
        return _("{count} households").format(count=count)
    return _("{count} people").format(count=count)


@router.callback_query(NewVote.settings, FlowAction.filter(F.action == "review"))
async def back_to_vote_review(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    await query.answer()
    await show_vote_review(query, state, session, settings, now)


async def show_vote_review(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
) -> None:
    """Step 5: what will be posted, with the secret and quorum switches."""
    form: NewVoteForm = await state.get_data()  # type: ignore[assignment]
    village = await org.get_village(session, form["village_id"])
    household = await votes.per_household(session, form["village_id"])
    deadline = now + timedelta(days=form["days"])
    quorum = form.get("quorum")
    picks = form.get("picks", 1)
    grids = await org.grids_of(session, village.id or 0)
    chosen = [g.name for g in grids if g.id in form.get("grid_ids", [])]
    proposal_id = form.get("proposal_id")
    if form.get("stakeholders") and proposal_id is not None:
        who = _("the residents concerned by this item ({count})").format(
            count=await item_people_shown(session, proposal_id, village.id or 0)
        )
    else:
        who = hd.quote("、".join(chosen)) if chosen else _("the whole village")
    text = _(
        "Post this vote in the groups of {village}?\n\n<b>{question}</b>\nOptions: {options}\n"
        "Deadline: {deadline}\nRule: {rule}\nSecret: {secret}\nQuorum: {quorum}"
    ).format(
        village=hd.quote(village.name),
        question=hd.quote(form["question"]),
        options=hd.quote(" / ".join(form["options"])),
        deadline=local_time(deadline, settings.tz),
        rule=_("one vote per household") if household else _("one vote per person"),
        secret=_("yes, the tally shows at the close") if form.get("secret") else _("no"),
        quorum=f"{quorum}%" if quorum else _("none"),
    )
    text += "\n" + _("Each may pick: {count}\nChosen: {rule}\nWho may vote: {who}").format(
        count=picks,
        rule=_("options picked by more than half of the voters")
        if form.get("majority")
        else _("the {count} most picked").format(count=picks),
        who=who,
    )
    rows = [
        [flow_button(_("Secret on/off"), "secret"), flow_button(_("Quorum"), "quorum")],
        [
            flow_button(_("How many to pick"), "picks"),
            flow_button(_("How it is decided"), "decide"),
        ],
    ]
    if len(grids) > 1 or proposal_id is not None:
        rows.append([flow_button(_("Who may vote"), "grids")])
    markup = keyboard(*rows, [flow_button(_("✔ Post"), "confirm")], cancel_row())
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


@router.callback_query(NewVote.settings, FlowAction.filter(F.action == "confirm"))
async def post_vote(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """Create the vote and put its card in every bound group of the village."""
    form: NewVoteForm = await state.get_data()  # type: ignore[assignment]
    vote = await votes.create_vote(
        session,
        actor,
        village_id=form["village_id"],
        question=form["question"],
        options=form["options"],
        deadline=now + timedelta(days=form["days"]),
        secret=bool(form.get("secret")),
        quorum_percent=form.get("quorum"),
        proposal_id=form.get("proposal_id"),
        now=now,
        max_picks=form.get("picks", 1),
        decide_rule=DecideRule.MAJORITY if form.get("majority") else DecideRule.TOP,
        grid_ids=form.get("grid_ids") or None,
        stakeholders=bool(form.get("stakeholders")),
    )
    view = await votes.vote_view(session, vote.id or 0)
    locale = settings.bot_default_locale
    cards = await votes.post_cards(
        session, vote, card_text(view, locale, settings.tz), card_markup(view, locale), now=now
    )
    await state.clear()
    done = _(
        "The vote is posted in {count} groups. It closes by itself at {deadline}; "
        "a day before, those who have not voted get a reminder, and the result is "
        "posted in the groups."
    ).format(count=len(cards), deadline=local_time(vote.deadline, settings.tz))
    if vote.stakeholders:
        invited = await votes.non_voters(session, vote)  # everyone on the roll, as yet
        for person in invited:
            outbox.enqueue(
                session,
                person.telegram_id,
                invitation_text(view, locale_of(person), settings.tz),
                reply_markup=invitation_markup(view, locale_of(person)),
                batch=f"vote_invite:v{vote.id}",
            )
        done += "\n" + _(
            "Only the {count} residents concerned by the item may vote; each of them is "
            "also told privately, with a button to vote."
        ).format(count=len(invited))
    await edit_after_press(query, done, toast=_("Posted."))


# --- paper ballots ------------------------------------------------------------------------


class PaperEntry(StatesGroup):
    count = State()
    voters = State()
    confirm = State()


class PaperForm(TypedDict, total=False):
    vote_id: int
    counts: dict[str, int]  # option id (text) -> paper ballots


@router.message(Command("paper"), F.chat.type == "private")
async def start_paper(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext, now: datetime
) -> None:
    """For villagers without Telegram: an admin enters the paper ballots of a vote, once."""
    found = await votes.paper_votes(session, actor, now)
    if not found:
        await message.answer(
            _(
                "No vote waits for paper ballots. They can be entered while a vote is open "
                "or within an hour after it closes, once."
            )
        )
        return
    await state.clear()
    rows = [[button(v.question[:60], PaperVote(vote_id=v.id or 0).pack())] for v in found[:10]]
    await message.answer(
        _("Which vote are the paper ballots for?"), reply_markup=keyboard(*rows, cancel_row())
    )


@router.callback_query(PaperVote.filter())
async def pick_paper_vote(
    query: CallbackQuery,
    callback_data: PaperVote,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    vote = await votes.get_vote(session, callback_data.vote_id)
    if vote not in await votes.paper_votes(session, actor, now):
        raise RuleError(N_("Paper ballots can be entered until an hour after the vote closes."))
    await state.set_state(PaperEntry.count)
    await state.set_data(PaperForm(vote_id=vote.id or 0, counts={}))
    await query.answer()
    if isinstance(query.message, Message):
        await ask_paper_count(query.message, session, state)


async def ask_paper_count(message: Message, session: AsyncSession, state: FSMContext) -> None:
    """One option at a time: how many paper ballots picked it."""
    form: PaperForm = await state.get_data()  # type: ignore[assignment]
    options = await votes.options_of(session, form["vote_id"])
    left = [o for o in options if str(o.id) not in form["counts"]]
    if not left:
        await state.set_state(PaperEntry.voters)
        await message.answer(
            _("How many people voted on paper in all? Send a number."),
            reply_markup=keyboard(cancel_row()),
        )
        return
    await message.answer(
        _("How many paper ballots picked “{option}”? Send a number, 0 if none.").format(
            option=hd.quote(left[0].label)
        ),
        reply_markup=keyboard(cancel_row()),
    )


def typed_number(text: str | None) -> int | None:
    """A count as people type it: ４２, 42 or " 42 "; None if it is not one."""
    digits = unicodedata.normalize("NFKC", text or "").strip()
    return int(digits) if digits.isdigit() and len(digits) <= 6 else None


@router.message(PaperEntry.count, F.text)
async def receive_paper_count(message: Message, session: AsyncSession, state: FSMContext) -> None:
    count = typed_number(message.text)
    if count is None:
        await message.answer(_("Please send a number, such as 12."))
        return
    form: PaperForm = await state.get_data()  # type: ignore[assignment]
    options = await votes.options_of(session, form["vote_id"])
    left = [o for o in options if str(o.id) not in form["counts"]]
    if left:
        await state.update_data(counts={**form["counts"], str(left[0].id): count})
    await ask_paper_count(message, session, state)


@router.message(PaperEntry.voters, F.text)
async def receive_paper_voters(message: Message, session: AsyncSession, state: FSMContext) -> None:
    voters = typed_number(message.text)
    if voters is None:
        await message.answer(_("Please send a number, such as 12."))
        return
    form: PaperForm = await state.get_data()  # type: ignore[assignment]
    await state.update_data(voters=voters)
    await state.set_state(PaperEntry.confirm)
    vote = await votes.get_vote(session, form["vote_id"])
    options = await votes.options_of(session, vote.id or 0)
    lines = [
        _("Paper ballots for “{question}”:").format(question=hd.quote(vote.question)),
        *(f"• {hd.quote(o.label)}: {form['counts'].get(str(o.id), 0)}" for o in options),
        _("Paper voters in all: {count}").format(count=voters),
        "",
        _("They can be entered once and not changed afterwards. Enter them?"),
    ]
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("✔ Enter"), back=False))


@router.callback_query(PaperEntry.confirm, FlowAction.filter(F.action == "confirm"))
async def enter_paper(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    data = await state.get_data()
    vote = await votes.enter_paper(
        session,
        actor,
        data["vote_id"],
        counts={int(k): v for k, v in data["counts"].items()},
        voters=int(data["voters"]),
        now=now,
    )
    await state.clear()
    if vote.status == VoteStatus.CLOSED:  # the result, again, with the paper ballots
        view = await votes.vote_view(session, vote.id or 0)
        await post_result(
            session,
            view,
            settings.bot_default_locale,
            settings.tz,
            now,
            batch=f"vote_paper:v{vote.id}",
        )
        done = _("Entered. The result with the paper ballots is posted in the groups again.")
    else:
        done = _("Entered. The card shows them from now on; the result counts them.")
    await edit_after_press(query, done, toast=_("Entered."))


# --- proposals -----------------------------------------------------------------------------


class Propose(StatesGroup):
    title = State()
    body = State()
    confirm = State()


class ProposeForm(TypedDict, total=False):
    title: str
    body: str
    photo: str | None  # a Telegram file id
    voice: list  # a spoken proposal: file id, seconds, size, words
    who: str  # filed by a cadre for someone (代报, handlers/home_behalf.py): for whom
    for_person_id: int | None  # the resident, or None for a visitor
    visitor: list[str]  # a visitor's name, household, phone


@router.message(Command("propose"), F.chat.type == "private")
async def start_proposal(message: Message, actor: Actor, state: FSMContext) -> None:
    """Step 1: a short title (approved residents)."""
    if not VotePermissions.can_propose(actor):
        await message.answer(_("Only approved residents can send proposals. See /me."))
        return
    await state.set_state(Propose.title)
    await state.set_data(ProposeForm())
    await message.answer(
        _(
            "A concern or proposal for the village committee (书记信箱).\n"
            "First a short title, at most {limit} characters:"
        ).format(limit=votes.TITLE_MAX),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Propose.title, F.text)
async def receive_proposal_title(message: Message, state: FSMContext) -> None:
    """Step 2: the details."""
    await state.update_data(title=org.require_text(message.text, votes.TITLE_MAX))
    await state.set_state(Propose.body)
    await message.answer(
        _("Now the details: what is the problem, and what do you suggest?"),
        reply_markup=keyboard([flow_button(_("Skip"), "skip")], cancel_row()),
    )


@router.message(Propose.body, F.text)
async def receive_proposal_body(message: Message, state: FSMContext) -> None:
    body = (message.text or "").strip()
    if len(body) > votes.BODY_MAX:
        await message.answer(
            _("That is too long: at most {limit} characters, please.").format(limit=votes.BODY_MAX)
        )
        return
    await state.update_data(body=body)
    await review_proposal(message, state)


@router.message(Propose.title, F.voice)
@router.message(Propose.body, F.voice)
async def receive_proposal_voice(message: Message, state: FSMContext) -> None:
    """A voice note as the proposal's text (as its title too, when it comes first): the
    village committee hears it with the proposal."""
    sound = message.voice
    assert sound is not None
    spoken = await voice.transcribe(voice.check(sound.file_id, sound.duration, sound.file_size))
    said = _("🎤 Voice note ({length})").format(length=voice.length(spoken.duration))
    form: ProposeForm = await state.get_data()  # type: ignore[assignment]
    title = form.get("title") or (spoken.transcript[: votes.TITLE_MAX] or said)
    await state.update_data(
        title=title,
        body=spoken.transcript or said,
        voice=voice.as_kept(spoken),
    )
    await review_proposal(message, state)


@router.message(Propose.body, F.photo)
@router.message(Propose.confirm, F.photo)
async def receive_proposal_photo(message: Message, state: FSMContext) -> None:
    """A photo (optional): Telegram keeps the file, we keep its id; a caption is the details."""
    largest = (message.photo or [])[-1]
    await state.update_data(photo=largest.file_id)
    caption = (message.caption or "").strip()
    if caption and len(caption) <= votes.BODY_MAX:
        await state.update_data(body=caption)
    elif await state.get_state() == Propose.body.state:
        await state.update_data(body="")
    await review_proposal(message, state)


@router.callback_query(Propose.body, FlowAction.filter(F.action == "skip"))
async def skip_proposal_body(query: CallbackQuery, state: FSMContext) -> None:
    await state.update_data(body="")
    await query.answer()
    if isinstance(query.message, Message):
        await review_proposal(query.message, state)


async def review_proposal(message: Message, state: FSMContext) -> None:
    """Step 3: send with the name, or without it for the public."""
    form: ProposeForm = await state.get_data()  # type: ignore[assignment]
    await state.set_state(Propose.confirm)
    photo = (
        _("📷 A photo is attached.")
        if form.get("photo")
        else _("You can add a photo now (optional).")
    )
    text = _("Send this proposal?\n<b>{title}</b>\n{body}").format(
        title=hd.quote(form["title"]), body=hd.quote(form.get("body", ""))
    )
    named, anonymous = _("✔ Send with my name"), _("✔ Send, keep my name from the public")
    if form.get("who"):  # filed for someone (代报)
        text = _("For: {who}").format(who=hd.quote(form["who"])) + "\n" + text
        named, anonymous = _("✔ Send with their name"), _("✔ Send, keep their name private")
    await message.answer(
        text + "\n\n" + photo,
        reply_markup=keyboard(
            [flow_button(named, "named")], [flow_button(anonymous, "anonymous")], cancel_row()
        ),
    )


@router.callback_query(Propose.confirm, FlowAction.filter(F.action.in_({"named", "anonymous"})))
async def send_proposal(
    query: CallbackQuery,
    callback_data: FlowAction,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    now: datetime,
    settings: Settings,
) -> None:
    """Number it, tell the village admins (with their buttons), and confirm. Filed by a cadre
    for someone (代报), it is theirs, and they are told too."""
    form: ProposeForm = await state.get_data()  # type: ignore[assignment]
    anonymous = callback_data.action == "anonymous"
    year = now.astimezone(settings.tz).year
    if form.get("who"):
        proposal = await behalf.file_proposal_for(
            session,
            actor,
            for_person_id=form.get("for_person_id"),
            visitor=tuple(form["visitor"]) if form.get("visitor") else None,  # type: ignore[arg-type]
            title=form["title"],
            body=form.get("body", ""),
            anonymous=anonymous,
            year=year,
            now=now,
            photo_file_id=form.get("photo"),
        )
    else:
        proposal = await votes.submit_proposal(
            session,
            actor,
            title=form["title"],
            body=form.get("body", ""),
            anonymous=anonymous,
            year=year,
            now=now,
            photo_file_id=form.get("photo"),
        )
    spoken = voice.from_kept(form.get("voice"))
    notes = []
    if spoken is not None:
        notes.append(voice.keep(session, VoiceOf.PROPOSAL, proposal.id or 0, spoken, person.id))
    filed = await behalf.filed(session, "proposal", proposal.id or 0)
    for admin in await org.village_admins(session, proposal.village_id):
        locale = locale_of(admin)
        outbox.enqueue(
            session,
            admin.telegram_id,
            proposal_text(proposal, locale, author=person.full_name, filed=filed),
            reply_markup=screen_keyboard(proposal, locale),
        )
        queue_photo(session, proposal, admin.telegram_id, locale)
        queue_voices(session, admin.telegram_id, notes, votes.proposal_code(proposal), locale)
    await state.clear()
    code = votes.proposal_code(proposal)
    if filed is None:
        done = _(
            "Your proposal {code} is sent to the village committee. You will be told "
            "when they answer; see where it stands with /agenda."
        ).format(code=code)
    else:
        if filed.for_person is not None:
            resident = filed.for_person
            outbox.enqueue(
                session,
                resident.telegram_id,
                tr(
                    locale_of(resident),
                    "📮 {name} sent proposal {code} to the village committee for you: "
                    "“{title}”.\nI will tell you here when they answer.",
                    name=hd.quote(person.full_name),
                    code=code,
                    title=hd.quote(proposal.title),
                ),
            )
        done = _(
            "Sent for {who}: proposal {code} is with the village committee. When they "
            "answer, I will tell you here (and {who}, if they are in the bot)."
        ).format(who=hd.quote(filed.who), code=code)
    await edit_after_press(query, done, toast=_("Sent."), reply_markup=keyboard(home_row()))


def proposal_text(
    proposal: Proposal, locale: str | None, *, author: str, filed: behalf.Filed | None = None
) -> str:
    """A new proposal for the village admins: its author (for a visitor, their name,
    household and phone), and who filed it on their behalf."""
    if filed is not None:
        author = filed.who
        if filed.stands_in and filed.visitor_details:
            author += f" ({filed.visitor_details})"
    shown = author + (tr(locale, " (keep the name from the public)") if proposal.anonymous else "")
    text = tr(
        locale,
        "📮 New proposal {code} from {author}:\n<b>{title}</b>\n{body}",
        code=votes.proposal_code(proposal),
        author=hd.quote(shown),
        title=hd.quote(proposal.title),
        body=hd.quote(proposal.body),
    )
    if filed is not None:
        text += "\n" + filed_line(filed, locale)
    return text


def filed_line(filed: behalf.Filed, locale: str | None) -> str:
    """由 王网格员 代报."""
    return tr(locale, "Filed by {name} on their behalf", name=hd.quote(filed.filer.full_name))


def queue_photo(session: AsyncSession, proposal: Proposal, chat_id: int, locale: str) -> None:
    """The proposal's photo, if any; a server that takes no photos gets a line of text."""
    if proposal.photo_file_id:
        code = votes.proposal_code(proposal)
        outbox.enqueue(
            session,
            chat_id,
            code,
            method="sendPhoto",
            photo=proposal.photo_file_id,
            fallback_text=tr(locale, "(a photo of {code})", code=code),
        )


def screen_keyboard(proposal: Proposal, locale: str | None) -> dict:
    pid = proposal.id or 0
    return {
        "inline_keyboard": [
            [
                {
                    "text": tr(locale, "✔ Put on the agenda"),
                    "callback_data": ScreenProposal(proposal_id=pid, accept=True).pack(),
                },
                {
                    "text": tr(locale, "✖ Decline"),
                    "callback_data": ScreenProposal(proposal_id=pid, accept=False).pack(),
                },
            ],
            [
                {
                    "text": tr(locale, "⤵ Merge into another"),
                    "callback_data": MergeProposal(proposal_id=pid).pack(),
                }
            ],
        ]
    }


class Decline(StatesGroup):
    reason = State()


@router.callback_query(ScreenProposal.filter(F.accept))
async def accept_proposal(
    query: CallbackQuery,
    callback_data: ScreenProposal,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """On the agenda: the author is told."""
    proposal = await votes.screen_proposal(
        session, actor, callback_data.proposal_id, accept=True, answer=None, now=now
    )
    await tell_author(session, proposal)
    await edit_after_press(
        query,
        _("{code} is on the agenda. Put it to a vote with /vote.").format(
            code=votes.proposal_code(proposal)
        ),
        toast=_("Put on the agenda."),
    )


@router.callback_query(ScreenProposal.filter(~F.accept))
async def ask_decline_reason(
    query: CallbackQuery,
    callback_data: ScreenProposal,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    """Declining needs a reason, which the author and the proposal's page show."""
    proposal = await votes.get_proposal(session, callback_data.proposal_id)
    if not VotePermissions.can_manage(actor, proposal.village_id):
        await query.answer(_("Only this village's admins can answer proposals."), show_alert=True)
        return
    await state.set_state(Decline.reason)
    await state.set_data({"proposal_id": proposal.id})
    await send_after_press(
        query,
        _(
            "Why is {code} declined? Its author is told the reason, and the village reads "
            "it with the month's answers to proposals, without the author's name."
        ).format(code=votes.proposal_code(proposal)),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Decline.reason, F.text)
async def decline_proposal(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    data = await state.get_data()
    proposal = await votes.screen_proposal(
        session, actor, int(data["proposal_id"]), accept=False, answer=message.text, now=now
    )
    await tell_author(session, proposal)
    await state.clear()
    await message.answer(
        _("{code} is declined; its author is told the reason.").format(
            code=votes.proposal_code(proposal)
        )
    )


def filed_note(filed: behalf.Filed) -> str:
    """On the author's own list: 由 王网格员 代报, or, for a visitor, whom it was sent for."""
    if filed.stands_in:
        return _("sent for {who}").format(who=hd.quote(filed.who))
    return _("Filed by {name} on their behalf").format(name=hd.quote(filed.filer.full_name))


async def answer_lines(session: AsyncSession, proposal: Proposal) -> list[str]:
    """A proposal's answer on its page: the reason it was declined, or where it was merged."""
    if proposal.merged_into_id:
        into = await votes.get_proposal(session, proposal.merged_into_id)
        return [
            "  "
            + _("merged into {code} {title}").format(
                code=votes.proposal_code(into), title=hd.quote(into.title)
            )
        ]
    if proposal.answer:
        return ["  " + _("Reason: {reason}").format(reason=hd.quote(proposal.answer))]
    return []


async def tell_author(session: AsyncSession, proposal: Proposal) -> None:
    """The author hears the answer; so does the cadre who filed it for them (代报), who, for a
    visitor, is told in the visitor's stead."""
    filed = await behalf.filed(session, "proposal", proposal.id or 0)
    author = await session.get(Person, proposal.author_id)
    if author is not None and (filed is None or not filed.stands_in):
        locale = locale_of(author)
        text = tr(
            locale,
            "📮 Your proposal {code} “{title}”: {status}.",
            code=votes.proposal_code(proposal),
            title=hd.quote(proposal.title),
            status=tr(locale, PROPOSAL_STATUS_NAMES[proposal.status]),
        )
        outbox.enqueue(session, author.telegram_id, text + reason_line(proposal, locale))
    if filed is not None:
        locale = locale_of(filed.filer)
        text = tr(
            locale,
            "📮 The proposal {code} “{title}” you sent for {who}: {status}.",
            code=votes.proposal_code(proposal),
            title=hd.quote(proposal.title),
            who=hd.quote(filed.who),
            status=tr(locale, PROPOSAL_STATUS_NAMES[proposal.status]),
        )
        outbox.enqueue(session, filed.filer.telegram_id, text + reason_line(proposal, locale))


def reason_line(proposal: Proposal, locale: str | None) -> str:
    if not proposal.answer:
        return ""
    return "\n" + tr(locale, "Reason: {reason}", reason=hd.quote(proposal.answer))


@router.message(Command("proposals"), F.chat.type == "private")
async def list_new_proposals(
    message: Message, session: AsyncSession, actor: Actor, person: Person
) -> None:
    """New proposals waiting for an answer, each with its buttons (admins)."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only village admins can answer proposals."))
        return
    waiting = [
        proposal
        for village in villages
        for proposal in await votes.proposals(session, village.id or 0, [ProposalStatus.NEW])
    ]
    if not waiting:
        await message.answer(_("No proposals are waiting for an answer."))
        return
    locale = locale_of(person)
    for proposal in waiting[:10]:
        author = await session.get(Person, proposal.author_id)
        filed = await behalf.filed(session, "proposal", proposal.id or 0)
        await message.answer(
            proposal_text(
                proposal, locale, author=author.full_name if author else "?", filed=filed
            ),
            reply_markup=screen_keyboard(proposal, locale),  # type: ignore[arg-type]
        )
        queue_photo(session, proposal, message.chat.id, locale)


# --- the agenda ----------------------------------------------------------------------------

ANSWERS_SHOWN = timedelta(days=30)


@router.message(Command("agenda"))
async def show_agenda(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    person: Person | None,
    settings: Settings,
    now: datetime,
) -> None:
    """The next council, agenda items, open votes, recent results, and your own proposals."""
    villages = sorted(actor.villages()) if actor else []
    if not villages:
        await message.answer(_("Join your village first: open your grid's invite link."))
        return
    lines: list[str] = []
    to_vote: list[list[InlineKeyboardButton]] = []
    for village_id in villages[:3]:
        village = await org.get_village(session, village_id)
        lines.append(_("<b>{village}</b>").format(village=hd.quote(village.name)))
        setup = await council.settings_of(session, village_id)
        lines.append(
            _("Next council (阳光议事会): {when}").format(
                when=local_time(council.next_meeting(setup, now, settings.tz), settings.tz)
            )
        )
        items = await votes.proposals(session, village_id, [ProposalStatus.ON_AGENDA])
        lines.append(_("On the agenda:") if items else _("On the agenda: nothing yet."))
        lines += [f"• {votes.proposal_code(p)} {hd.quote(p.title)}" for p in items]
        for vote in await votes.open_votes(session, village_id):
            lines.append(
                _("🗳 Open vote: {question} (until {deadline})").format(
                    question=hd.quote(vote.question),
                    deadline=local_time(vote.deadline, settings.tz),
                )
            )
            if message.chat.type == "private" and len(to_vote) < MAX_VOTE_BUTTONS:
                short = vote.question if len(vote.question) <= 24 else vote.question[:23] + "…"
                to_vote.append(
                    [
                        button(
                            _("🗳 Vote: {question}").format(question=short),
                            VoteOpen(vote_id=vote.id or 0).pack(),
                        )
                    ]
                )
        answered = await votes.answered_between(
            session, village_id, now - ANSWERS_SHOWN, now + timedelta(seconds=1)
        )
        if answered:
            lines.append(_("Answers to proposals (last 30 days):"))
            lines += [answer_line(p, into, None) for p, into in answered[-10:]]
        for vote in await votes.closed_votes(session, village_id):
            lines.append(
                _("✔ Decided: {question} (turnout {turnout} of {eligible})").format(
                    question=hd.quote(vote.question),
                    turnout=vote.turnout or 0,
                    eligible=vote.eligible or 0,
                )
            )
        lines.append("")
    if person is not None and person.id is not None:
        mine = await votes.proposals_of(session, person.id, limit=5)
        if mine:
            lines.append(_("<b>Your proposals</b>"))
            for p in mine:
                status = _(PROPOSAL_STATUS_NAMES[p.status])
                lines.append(
                    _("• {code} {title}: {status}").format(
                        code=votes.proposal_code(p), title=hd.quote(p.title), status=status
                    )
                )
                filed = await behalf.filed(session, "proposal", p.id or 0)
                if filed is not None:
                    lines.append("  " + filed_note(filed))
                lines += await answer_lines(session, p)
    markup = keyboard(*to_vote, home_row()) if message.chat.type == "private" else None
    await message.answer("\n".join(lines).strip(), reply_markup=markup)


@router.callback_query(VoteOpen.filter())
async def open_vote_card(
    query: CallbackQuery,
    callback_data: VoteOpen,
    session: AsyncSession,
    locale: str,
    settings: Settings,
) -> None:
    """An open vote's card in the private chat: its buttons vote there (checked in storage)."""
    view = await votes.vote_view(session, callback_data.vote_id)
    await send_after_press(
        query,
        card_text(view, locale, settings.tz),
        reply_markup=InlineKeyboardMarkup.model_validate(card_markup(view)),
    )
