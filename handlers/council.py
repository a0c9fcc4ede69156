"""The monthly council (阳光议事会) and its projects: /council (admins: the day and time, the
participants, recording decisions after the meeting), merging proposals when screening, Follow
buttons for residents, and /projects (where the decided items stand; admins move them on).

Every press is checked again in storage.council; texts for other chats go through the outbox.
"""

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

from storage import council, org, outbox, votes
from storage.errors import N_
from storage.models.council import ItemOutcome, MemberCategory, Project, ProjectStatus
from storage.models.org import Person
from storage.models.votes import Proposal
from storage.permissions.council import CouncilPermissions
from storage.permissions.org import Actor
from storage.settings import Settings
from views.council import (
    CATEGORY_NAMES,
    PROJECT_STATUS_NAMES,
    CouncilAction,
    FollowProposal,
    MergeProposal,
    ProjectMove,
    RecordItem,
    announce_project,
    follow_markup,
    post_to_groups,
    tell_interested,
    when,
)
from views.i18n import _, locale_of, tr
from views.keyboards import Pick, button, cancel_row, keyboard, picker
from views.replies import edit_after_press, send_after_press

router = Router(name="council")

CATEGORIES = list(MemberCategory)
HOURS = range(8, 22)
NOTICE_CHOICES = (1, 2, 3, 5, 7)
NEXT_STATUS = {
    ProjectStatus.PLANNED: (ProjectStatus.IN_PROGRESS, ProjectStatus.DROPPED),
    ProjectStatus.IN_PROGRESS: (ProjectStatus.DONE, ProjectStatus.DROPPED),
}
MOVE_LABELS = {
    ProjectStatus.IN_PROGRESS: N_("▶ Started"),
    ProjectStatus.DONE: N_("✔ Done"),
    ProjectStatus.DROPPED: N_("✖ Dropped"),
}


class CouncilForm(TypedDict, total=False):
    village_id: int
    day: int
    hour: int
    person_id: int
    proposal_id: int
    item_id: int
    project_id: int


class CouncilSetup(StatesGroup):
    day = State()
    hour = State()
    notice = State()
    search = State()
    person = State()
    category = State()


class Screening(StatesGroup):
    merge_into = State()


class Decision(StatesGroup):
    text = State()


class Progress(StatesGroup):
    note = State()


# --- merging a proposal ----------------------------------------------------------------------


@router.callback_query(MergeProposal.filter())
async def ask_merge_target(
    query: CallbackQuery,
    callback_data: MergeProposal,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    """Merge: which proposal of the village takes this one in?"""
    proposal = await votes.get_proposal(session, callback_data.proposal_id)
    if not CouncilPermissions.can_configure(actor, proposal.village_id):
        await query.answer(_("Only this village's admins can answer proposals."), show_alert=True)
        return
    targets = await council.merge_targets(session, proposal)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if not targets:
        await query.message.answer(_("There is no other open proposal to merge it into."))
        return
    await state.set_state(Screening.merge_into)
    await state.set_data(CouncilForm(proposal_id=proposal.id or 0))
    await query.message.answer(
        _("Merge {code} into which proposal? Its author will follow that one.").format(
            code=votes.proposal_code(proposal)
        ),
        reply_markup=picker(
            "merge_into",
            [(p.id or 0, f"{votes.proposal_code(p)} {p.title}"[:60]) for p in targets],
            columns=1,
        ),
    )


@router.callback_query(Screening.merge_into, Pick.filter(F.what == "merge_into"))
async def merge_proposal(
    query: CallbackQuery,
    callback_data: Pick,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    """Merge, tell the author, confirm."""
    form: CouncilForm = await state.get_data()  # type: ignore[assignment]
    merged, into = await council.merge_proposal(
        session, actor, form["proposal_id"], callback_data.value, now
    )
    author = await session.get(Person, merged.author_id)
    if author is not None:
        locale = locale_of(author)
        outbox.enqueue(
            session,
            author.telegram_id,
            tr(
                locale,
                "📮 Your proposal {code} “{title}” is merged into {target} “{other}”. You now "
                "hear of that one's answer and progress.",
                code=votes.proposal_code(merged),
                title=hd.quote(merged.title),
                target=votes.proposal_code(into),
                other=hd.quote(into.title),
            ),
        )
    await state.clear()
    await edit_after_press(
        query,
        _("{code} is merged into {target}; its author is told and follows {target}.").format(
            code=votes.proposal_code(merged), target=votes.proposal_code(into)
        ),
        toast=_("Merged."),
    )


# --- following -----------------------------------------------------------------------------


@router.callback_query(FollowProposal.filter())
async def follow_proposal(
    query: CallbackQuery,
    callback_data: FollowProposal,
    session: AsyncSession,
    actor: Actor | None,
    now: datetime,
) -> None:
    """A resident follows an item from its public card: checked in storage, answered by toast."""
    proposal = await council.follow(session, actor, callback_data.proposal_id, now)
    await query.answer(
        _("You follow {code}: the bot will write to you privately of each change.").format(
            code=votes.proposal_code(proposal)
        )
    )


# --- /council ------------------------------------------------------------------------------


@router.message(Command("council"), F.chat.type == "private")
async def show_council(
    message: Message, session: AsyncSession, actor: Actor, settings: Settings, now: datetime
) -> None:
    """The council of each village the admin runs: when, who, and the buttons."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only village admins can set up the council."))
        return
    for village in villages[:5]:
        await message.answer(
            await council_text(session, village.id or 0, village.name, settings, now),
            reply_markup=council_keyboard(village.id or 0),
        )


async def council_text(
    session: AsyncSession, village_id: int, name: str, settings: Settings, now: datetime
) -> str:
    setup = await council.settings_of(session, village_id)
    people = await council.members(session, village_id)
    items = await council.agenda(session, village_id)
    lines = [
        _("<b>Council (阳光议事会) of {village}</b>").format(village=hd.quote(name)),
        _("Meets monthly on {day} at {hour:02d}:{minute:02d}; next: {next}.").format(
            day=day_label(setup.day),
            hour=setup.hour,
            minute=setup.minute,
            next=when(council.next_meeting(setup, now, settings.tz), settings.tz),
        ),
        _("The participants get the agenda {days} days ahead; the groups get it too.").format(
            days=setup.notice_days
        ),
        _("Participants: {count}").format(count=len(people)),
        *(f"• {hd.quote(p.full_name)} — {_(CATEGORY_NAMES[m.category])}" for m, p in people),
        _("On the agenda now: {count}").format(count=len(items)),
    ]
    return "\n".join(lines)


def day_label(day: int) -> str:
    """Day 29 to 31 fall on a shorter month's last day; 31 is offered as "the last day"."""
    return _("the last day") if day == 31 else _("day {day}").format(day=day)


def council_keyboard(village_id: int) -> object:
    def action(label: str, name: str) -> object:
        return button(label, CouncilAction(action=name, village_id=village_id).pack())

    return keyboard(
        [action(_("🗓 Day and time"), "day"), action(_("👥 Participants"), "members")],
        [action(_("📝 Record decisions"), "record")],
    )


def require_admin(actor: Actor, village_id: int) -> None:
    council.require_village_admin(actor, village_id)


@router.callback_query(CouncilAction.filter(F.action == "day"))
async def ask_council_day(
    query: CallbackQuery, callback_data: CouncilAction, actor: Actor, state: FSMContext
) -> None:
    """Step 1 of the schedule: the day of the month."""
    require_admin(actor, callback_data.village_id)
    await state.set_state(CouncilSetup.day)
    await state.set_data(CouncilForm(village_id=callback_data.village_id))
    await send_after_press(
        query,
        _("On which day of each month does the council meet?"),
        reply_markup=picker(
            "council_day",
            [(d, str(d)) for d in range(1, 29)],
            columns=7,
            extra=[button(_("Last day of the month"), Pick(what="council_day", value=31).pack())],
        ),
    )


@router.callback_query(CouncilSetup.day, Pick.filter(F.what == "council_day"))
async def pick_council_day(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await state.update_data(day=callback_data.value)
    await state.set_state(CouncilSetup.hour)
    await edit_after_press(
        query,
        _("At what time?"),
        reply_markup=picker("council_hour", [(h, f"{h:02d}:00") for h in HOURS], columns=5),
    )


@router.callback_query(CouncilSetup.hour, Pick.filter(F.what == "council_hour"))
async def pick_council_hour(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await state.update_data(hour=callback_data.value)
    await state.set_state(CouncilSetup.notice)
    await edit_after_press(
        query,
        _("How many days ahead do the participants get the agenda?"),
        reply_markup=picker("council_notice", [(d, str(d)) for d in NOTICE_CHOICES], columns=5),
    )


@router.callback_query(CouncilSetup.notice, Pick.filter(F.what == "council_notice"))
async def save_council_schedule(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """Save (checked in storage) and show when the next meeting is."""
    form: CouncilForm = await state.get_data()  # type: ignore[assignment]
    setup = await council.set_schedule(
        session,
        actor,
        form["village_id"],
        day=form["day"],
        hour=form["hour"],
        notice_days=callback_data.value,
        now=now,
    )
    await state.clear()
    await edit_after_press(
        query,
        _(
            "Saved: the council meets on {day} of each month at {hour:02d}:00; next on "
            "{next}. The agenda goes out {days} days ahead."
        ).format(
            day=day_label(setup.day),
            hour=setup.hour,
            next=when(council.next_meeting(setup, now, settings.tz), settings.tz),
            days=setup.notice_days,
        ),
        toast=_("Saved."),
    )


@router.callback_query(CouncilAction.filter(F.action == "members"))
async def show_members(
    query: CallbackQuery, callback_data: CouncilAction, session: AsyncSession, actor: Actor
) -> None:
    """The participants, each with a Remove button, and Add."""
    require_admin(actor, callback_data.village_id)
    await query.answer()
    vid = callback_data.village_id
    people = await council.members(session, vid)
    rows = [
        [
            button(
                f"✖ {person.full_name}"[:40],
                CouncilAction(action="remove", village_id=vid, value=member.id or 0).pack(),
            )
        ]
        for member, person in people[:30]
    ]
    rows.append(
        [button(_("➕ Add a participant"), CouncilAction(action="add", village_id=vid).pack())]
    )
    if isinstance(query.message, Message):
        await query.message.answer(
            _("Participants: {count}. Press a name to remove it.").format(count=len(people))
            if people
            else _("No participants yet."),
            reply_markup=keyboard(*rows),
        )


@router.callback_query(CouncilAction.filter(F.action == "remove"))
async def remove_member(
    query: CallbackQuery, callback_data: CouncilAction, session: AsyncSession, actor: Actor
) -> None:
    member = await council.remove_member(session, actor, callback_data.value)
    person = await session.get(Person, member.person_id)
    await query.answer(
        _("{name} is no longer a participant.").format(name=person.full_name if person else "?")
    )


@router.callback_query(CouncilAction.filter(F.action == "add"))
async def ask_member_name(
    query: CallbackQuery, callback_data: CouncilAction, actor: Actor, state: FSMContext
) -> None:
    """Add: find the person by name among the village's residents and officers."""
    require_admin(actor, callback_data.village_id)
    await state.set_state(CouncilSetup.search)
    await state.set_data(CouncilForm(village_id=callback_data.village_id))
    await send_after_press(
        query,
        _("Send part of the person's name (they must have joined the bot)."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(CouncilSetup.search, F.text)
async def find_member(message: Message, session: AsyncSession, state: FSMContext) -> None:
    form: CouncilForm = await state.get_data()  # type: ignore[assignment]
    found = await council.candidates(session, form["village_id"], message.text or "")
    if not found:
        await message.answer(
            _("Nobody of the village has that in their name. Try another part of it."),
            reply_markup=keyboard(cancel_row()),
        )
        return
    await state.set_state(CouncilSetup.person)
    await message.answer(
        _("Which one?"),
        reply_markup=picker(
            "council_person", [(p.id or 0, p.full_name[:40] or "?") for p in found], columns=1
        ),
    )


@router.callback_query(CouncilSetup.person, Pick.filter(F.what == "council_person"))
async def pick_member(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await state.update_data(person_id=callback_data.value)
    await state.set_state(CouncilSetup.category)
    await edit_after_press(
        query,
        _("As what does this person take part?"),
        reply_markup=picker(
            "council_category",
            [(i, _(CATEGORY_NAMES[c])) for i, c in enumerate(CATEGORIES)],
            columns=1,
        ),
    )


@router.callback_query(CouncilSetup.category, Pick.filter(F.what == "council_category"))
async def add_member(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Add the participant (checked in storage) and confirm."""
    form: CouncilForm = await state.get_data()  # type: ignore[assignment]
    category = CATEGORIES[callback_data.value % len(CATEGORIES)]
    member = await council.add_member(
        session, actor, form["village_id"], form["person_id"], category, now
    )
    person = await session.get(Person, member.person_id)
    await state.clear()
    await edit_after_press(
        query,
        _(
            "{name} takes part in the council as {category}. They get the agenda before "
            "each meeting."
        ).format(
            name=hd.quote(person.full_name if person else "?"),
            category=_(CATEGORY_NAMES[category]),
        ),
        toast=_("Added."),
    )


# --- recording decisions --------------------------------------------------------------------


@router.callback_query(CouncilAction.filter(F.action == "record"))
async def list_items_to_record(
    query: CallbackQuery,
    callback_data: CouncilAction,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """Each item of held meetings still without a decision, with its three buttons."""
    require_admin(actor, callback_data.village_id)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    items = [
        v
        for v in await council.items_to_record(session, actor, now)
        if v.meeting.village_id == callback_data.village_id
    ]
    if not items:
        await query.message.answer(
            _("No agenda item of a held meeting is waiting for its decision.")
        )
        return
    for view in items[:10]:
        iid = view.item.id or 0
        await query.message.answer(
            _("Meeting of {when}: {code} {title}\nWhat did the council decide?").format(
                when=when(council.aware(view.meeting.starts_at), settings.tz),
                code=votes.proposal_code(view.proposal),
                title=hd.quote(view.proposal.title),
            ),
            reply_markup=keyboard(
                [button(_("✔ Decided…"), RecordItem(item_id=iid, outcome="decided").pack())],
                [
                    button(
                        _("⏭ Next meeting"), RecordItem(item_id=iid, outcome="deferred").pack()
                    ),
                    button(_("✖ Dropped"), RecordItem(item_id=iid, outcome="dropped").pack()),
                ],
            ),
        )


@router.callback_query(RecordItem.filter(F.outcome == "decided"))
async def ask_decision(
    query: CallbackQuery,
    callback_data: RecordItem,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    """Decided: the decision's text comes next."""
    view = await council.item_view(session, callback_data.item_id)
    require_admin(actor, view.meeting.village_id)
    await state.set_state(Decision.text)
    await state.set_data(CouncilForm(item_id=callback_data.item_id))
    await send_after_press(
        query,
        _("What did the council decide on {code}? (at most {limit} characters)").format(
            code=votes.proposal_code(view.proposal), limit=council.DECISION_MAX
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Decision.text, F.text)
async def record_decision(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    form: CouncilForm = await state.get_data()  # type: ignore[assignment]
    recorded = await council.record_item(
        session, actor, form["item_id"], ItemOutcome.DECIDED, decision=message.text, now=now
    )
    await announce_outcome(session, recorded)
    await state.clear()
    await message.answer(
        _(
            "Recorded: {code} is decided and is now a planned project. The groups, its author "
            "and followers are told; move it on with /projects."
        ).format(code=votes.proposal_code(recorded.view.proposal))
    )


@router.callback_query(RecordItem.filter(F.outcome.in_({"deferred", "dropped"})))
async def record_outcome(
    query: CallbackQuery,
    callback_data: RecordItem,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Deferred (it stays on the agenda for the next meeting) or dropped."""
    outcome = ItemOutcome(callback_data.outcome)
    recorded = await council.record_item(
        session, actor, callback_data.item_id, outcome, decision=None, now=now
    )
    await announce_outcome(session, recorded)
    code = votes.proposal_code(recorded.view.proposal)
    text = (
        _("{code} goes to the next meeting.").format(code=code)
        if outcome == ItemOutcome.DEFERRED
        else _("{code} is dropped; the groups, its author and followers are told.").format(
            code=code
        )
    )
    await edit_after_press(query, text, toast=_("Recorded."))


def outcome_text(recorded: council.Recorded, locale: str | None) -> str:
    proposal = recorded.view.proposal
    params = {"code": votes.proposal_code(proposal), "title": hd.quote(proposal.title)}
    outcome = recorded.view.item.outcome
    if outcome == ItemOutcome.DECIDED:
        return tr(
            locale,
            "🏛 The council decided on {code} {title}: {decision}\nIt is now a planned project.",
            decision=hd.quote(recorded.view.item.decision or ""),
            **params,
        )
    if outcome == ItemOutcome.DEFERRED:
        return tr(locale, "🏛 {code} {title} goes to the council's next meeting.", **params)
    return tr(locale, "🏛 The council dropped {code} {title}.", **params)


async def announce_outcome(session: AsyncSession, recorded: council.Recorded) -> None:
    """The decision to the village's groups, the author and the followers."""
    proposal = recorded.view.proposal
    await post_to_groups(
        session,
        proposal.village_id,
        lambda loc: outcome_text(recorded, loc),
        markup=follow_markup([proposal], locale_of(None))
        if recorded.project is not None
        else None,
    )
    await tell_interested(session, proposal, lambda loc: outcome_text(recorded, loc))


# --- /projects -----------------------------------------------------------------------------


@router.message(Command("projects"))
async def show_projects(
    message: Message, session: AsyncSession, actor: Actor | None, settings: Settings
) -> None:
    """Decided items and where their work stands; admins get buttons to move them on."""
    villages = sorted(actor.villages()) if actor else []
    if not villages or actor is None:
        await message.answer(_("Join your village first: open your grid's invite link."))
        return
    shown = 0
    for village_id in villages[:3]:
        village = await org.get_village(session, village_id)
        for project in await council.projects(session, village_id):
            proposal = await votes.get_proposal(session, project.proposal_id)
            text = await project_card(session, project, proposal, village.name, settings)
            markup = None
            if message.chat.type == "private" and CouncilPermissions.can_change_project(
                actor, project
            ):
                markup = project_keyboard(project)
            await message.answer(text, reply_markup=markup)
            shown += 1
    if not shown:
        await message.answer(_("No decided items yet."))


async def project_card(
    session: AsyncSession, project: Project, proposal: Proposal, village: str, settings: Settings
) -> str:
    lines = [
        _("🏗 <b>{code} {title}</b> ({village}): {status}").format(
            code=votes.proposal_code(proposal),
            title=hd.quote(proposal.title),
            village=hd.quote(village),
            status=_(PROJECT_STATUS_NAMES[project.status]),
        ),
        _("Decision: {decision}").format(decision=hd.quote(project.decision)),
    ]
    for note in (await council.notes_of(session, project.id or 0))[-5:]:
        what = _(PROJECT_STATUS_NAMES[note.status]) if note.status else ""
        text = " ".join(x for x in (what, hd.quote(note.text)) if x)
        lines.append(f"· {when(council.aware(note.at), settings.tz)} {text}")
    return "\n".join(lines)


def project_keyboard(project: Project) -> object | None:
    pid = project.id or 0
    moves = NEXT_STATUS.get(project.status)
    if not moves:
        return None
    return keyboard(
        [
            button(_(MOVE_LABELS[to]), ProjectMove(project_id=pid, to=to.value).pack())
            for to in moves
        ],
        [button(_("📝 Progress note"), ProjectMove(project_id=pid, to="note").pack())],
    )


@router.callback_query(ProjectMove.filter(F.to != "note"))
async def move_project(
    query: CallbackQuery,
    callback_data: ProjectMove,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """Move a project on (checked in storage); the groups and its people are told."""
    try:
        to = ProjectStatus(callback_data.to)
    except ValueError:
        await query.answer(_("That button is out of date."), show_alert=True)
        return
    project = await council.change_project(
        session, actor, callback_data.project_id, to, note=None, now=now
    )
    await announce_project(session, project)
    proposal = await votes.get_proposal(session, project.proposal_id)
    village = await org.get_village(session, project.village_id)
    await query.answer(_("Saved; the groups and its followers are told."))
    if isinstance(query.message, Message):
        await query.message.edit_text(
            await project_card(session, project, proposal, village.name, settings),
            reply_markup=project_keyboard(project),  # type: ignore[arg-type]
        )


@router.callback_query(ProjectMove.filter(F.to == "note"))
async def ask_progress_note(
    query: CallbackQuery,
    callback_data: ProjectMove,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    project = await council.get_project(session, callback_data.project_id)
    if not CouncilPermissions.can_change_project(actor, project):
        await query.answer(
            _("Only this village's admins can update its projects."), show_alert=True
        )
        return
    await state.set_state(Progress.note)
    await state.set_data(CouncilForm(project_id=project.id or 0))
    await send_after_press(
        query,
        _("The progress note, at most {limit} characters (the groups see it):").format(
            limit=council.NOTE_MAX
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Progress.note, F.text)
async def add_progress_note(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    form: CouncilForm = await state.get_data()  # type: ignore[assignment]
    note = await council.add_note(session, actor, form["project_id"], message.text, now)
    project = await council.get_project(session, form["project_id"])
    await announce_project(session, project, note=note.text)
    await state.clear()
    await message.answer(_("Noted; the groups and its followers are told."))
