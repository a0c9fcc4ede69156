"""Grid tasks for workers: the buttons of a task push (accept, start, resolve with a note and
an optional photo, hand over, duplicate, reject), /tasks by status, and duty tasks (/newtask)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, reports, voice
from storage.errors import N_
from storage.models.org import Person
from storage.models.reports import Duty, TaskKind
from storage.permissions.org import Actor
from storage.permissions.reports import ReportPermissions
from storage.reports import DUTY_NAMES, TaskView
from storage.settings import Settings
from views.dates import moment_title
from views.home import Home
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
from views.replies import edit_after_press, send_after_press
from views.reports import (
    TaskAct,
    TaskCategory,
    TaskHand,
    TaskList,
    category_name,
    notify_change,
    push_task,
    task_card,
    worker_keyboard,
)

router = Router(name="tasks")


class TaskNote(StatesGroup):
    resolve_note = State()
    resolve_photo = State()
    duplicate = State()
    reject = State()


class TaskNoteForm(TypedDict, total=False):
    task_id: int
    note: str
    voice: list  # a spoken resolution note: file id, seconds, size, words


class NewTask(StatesGroup):
    duty = State()
    description = State()
    due = State()
    grids = State()
    confirm = State()


class NewTaskForm(TypedDict, total=False):
    village_id: int
    duty: str
    description: str
    due: str  # ISO, UTC
    grid_ids: list[int] | None


async def refresh_card(
    query: CallbackQuery, view: TaskView, person: Person, settings: Settings
) -> None:
    """Show the pressed card in its new state, with the buttons that state allows."""
    if isinstance(query.message, Message):
        locale = locale_of(person)
        await query.message.edit_text(
            task_card(view, locale, settings.tz), reply_markup=worker_keyboard(view.task, locale)
        )


# A press that moves the task on at once: the storage operation and the worker's toast.
ONE_PRESS_MOVES = {
    "acc": (reports.accept, N_("Accepted. It is yours now.")),  # the task is theirs alone
    "start": (reports.start_work, N_("Marked as in progress.")),
}


@router.callback_query(TaskAct.filter(F.action.in_(ONE_PRESS_MOVES)))
async def move_task(
    query: CallbackQuery,
    callback_data: TaskAct,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
    now: datetime,
) -> None:
    """Accept, or mark as in progress: the resident is told, the card shows the new state."""
    operation, done = ONE_PRESS_MOVES[callback_data.action]
    view = await operation(session, actor, callback_data.task_id, now)
    await notify_change(session, view)
    await query.answer(_(done))
    await refresh_card(query, view, person, settings)


async def ask_note(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    task_id: int,
    step: State,
    prompt: str,
    *,
    finish: bool = False,
) -> None:
    """The task is checked before the question: a stranger gets the refusal at once."""
    task = await reports.task_to_act_on(session, actor, task_id, finish=finish)
    await state.set_state(step)
    await state.set_data(TaskNoteForm(task_id=task_id))
    await send_after_press(
        query,
        prompt.format(number=task.number),
        reply_markup=keyboard(cancel_row()),
    )


@router.callback_query(TaskAct.filter(F.action == "res"))
async def ask_resolution(
    query: CallbackQuery,
    callback_data: TaskAct,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    """Resolve, step 1: what was done (words, or a voice note)."""
    await ask_note(
        query,
        state,
        session,
        actor,
        callback_data.task_id,
        TaskNote.resolve_note,
        _("Resolving {number}. What was done? (a short note)"),
        finish=True,
    )


@router.message(TaskNote.resolve_note, F.text)
async def receive_resolution_note(message: Message, state: FSMContext) -> None:
    """Resolve, step 2: an optional photo of the result."""
    note = org.require_text(message.text, reports.NOTE_MAX)
    await state.update_data(note=note)
    await state.set_state(TaskNote.resolve_photo)
    await message.answer(
        _("Send a photo of the result, or press No photo."),
        reply_markup=keyboard([flow_button(_("No photo"), "nophoto")], cancel_row()),
    )


@router.message(TaskNote.resolve_note, F.voice)
async def receive_spoken_resolution(message: Message, state: FSMContext) -> None:
    """Resolve, step 2, with a voice note for the note: the resident hears it."""
    sound = message.voice
    assert sound is not None
    spoken = await voice.transcribe(voice.check(sound.file_id, sound.duration, sound.file_size))
    await state.update_data(note="", voice=voice.as_kept(spoken))
    await state.set_state(TaskNote.resolve_photo)
    await message.answer(
        _("🎤 Voice note kept ({length}).").format(length=voice.length(spoken.duration))
        + "\n"
        + _("Send a photo of the result, or press No photo."),
        reply_markup=keyboard([flow_button(_("No photo"), "nophoto")], cancel_row()),
    )


async def finish_resolution(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
    photo: tuple[str, int | None] | None,
) -> None:
    form: TaskNoteForm = await state.get_data()  # type: ignore[assignment]
    spoken = voice.from_kept(form.get("voice"))
    view = await reports.resolve(
        session, actor, form["task_id"], form["note"], now, photo=photo, spoken=spoken
    )
    await state.clear()
    await notify_change(session, view)
    if view.task.kind == TaskKind.REPORT:
        text = _("{number} is resolved. The resident is asked whether it is fixed.")
    else:
        text = _("{number} is done and closed.")
    await message.answer(text.format(number=view.task.number))
    del settings


@router.message(TaskNote.resolve_photo, F.photo)
async def receive_resolution_photo(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    largest = (message.photo or [])[-1]
    photo = (largest.file_id, largest.file_size)
    await finish_resolution(message, state, session, actor, settings, now, photo)


@router.callback_query(TaskNote.resolve_photo, FlowAction.filter(F.action == "nophoto"))
async def resolve_without_photo(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await finish_resolution(query.message, state, session, actor, settings, now, None)


@router.callback_query(TaskAct.filter(F.action == "dup"))
async def ask_original(
    query: CallbackQuery,
    callback_data: TaskAct,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    await ask_note(
        query,
        state,
        session,
        actor,
        callback_data.task_id,
        TaskNote.duplicate,
        _("{number} repeats which report? Send its number, for example R-2026-00042."),
    )


@router.message(TaskNote.duplicate, F.text)
async def mark_duplicate(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    form: TaskNoteForm = await state.get_data()  # type: ignore[assignment]
    view, original = await reports.mark_duplicate(
        session, actor, form["task_id"], message.text or "", now
    )
    await state.clear()
    await notify_change(session, view)
    await message.answer(
        _(
            "{number} is marked as a duplicate of {original}; its reporter follows that one."
        ).format(number=view.task.number, original=original.task.number)
    )


@router.callback_query(TaskAct.filter(F.action == "rej"))
async def ask_reason(
    query: CallbackQuery,
    callback_data: TaskAct,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    await ask_note(
        query,
        state,
        session,
        actor,
        callback_data.task_id,
        TaskNote.reject,
        _("Why is {number} not taken up? The resident will see your reason."),
    )


@router.message(TaskNote.reject, F.text)
async def reject_task(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    form: TaskNoteForm = await state.get_data()  # type: ignore[assignment]
    view = await reports.reject(session, actor, form["task_id"], message.text or "", now)
    await state.clear()
    await notify_change(session, view)
    await message.answer(
        _("{number} is rejected. The resident is told why.").format(number=view.task.number)
    )


@router.callback_query(TaskAct.filter(F.action == "hand"))
async def offer_hand_over(
    query: CallbackQuery, callback_data: TaskAct, session: AsyncSession, actor: Actor
) -> None:
    """Hand over: to which grid, or up to the village admins."""
    task = await reports.task_to_act_on(session, actor, callback_data.task_id)
    grids = [g for g in await org.grids_of(session, task.village_id) if g.id != task.grid_id]
    rows = [
        [button(g.name, TaskHand(task_id=task.id or 0, grid_id=g.id or 0).pack())]
        for g in grids[:20]
    ]
    rows.append([button(_("⬆ Village admins"), TaskHand(task_id=task.id or 0, grid_id=0).pack())])
    await send_after_press(
        query,
        _("Hand {number} over to:").format(number=task.number),
        reply_markup=keyboard(*rows, cancel_row()),
    )


@router.callback_query(TaskHand.filter())
async def hand_over(
    query: CallbackQuery,
    callback_data: TaskHand,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """Moved: it leaves this grid's lists; the new grid (or the admins) gets the push."""
    view = await reports.hand_over(
        session, actor, callback_data.task_id, callback_data.grid_id or None, now
    )
    await push_task(session, view, settings.tz, header=N_("↪ Handed over to you"))
    await notify_change(session, view)
    await query.answer(_("Handed over."))
    if isinstance(query.message, Message):
        target = hd.quote(view.grid.name) if callback_data.grid_id else _("the village admins")
        await query.message.edit_text(
            _("{number} is handed over to {target}.").format(
                number=view.task.number, target=target
            )
        )


@router.callback_query(TaskAct.filter(F.action == "kind"))
async def offer_categories(
    query: CallbackQuery, callback_data: TaskAct, session: AsyncSession, actor: Actor
) -> None:
    """The card's buttons become the village's kinds of problem; its text stays."""
    task = await reports.task_to_act_on(session, actor, callback_data.task_id)
    found = await reports.categories(session, task.village_id)
    choices = [
        button(
            ("✓ " if c.id == task.category_id else "") + category_name(c.code, c.name),
            TaskCategory(task_id=task.id or 0, category_id=c.id or 0).pack(),
        )
        for c in found
    ]
    rows = [choices[i : i + 2] for i in range(0, len(choices), 2)]
    back = button(_("◀ Back"), TaskCategory(task_id=task.id or 0, category_id=0).pack())
    await query.answer(_("Which kind of problem is it? Its deadlines follow the kind."))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=keyboard(*rows, [back]))


@router.callback_query(TaskCategory.filter())
async def change_category(
    query: CallbackQuery,
    callback_data: TaskCategory,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
) -> None:
    """Filed under the picked kind, with its deadlines; the card shows both at once."""
    if callback_data.category_id:
        view = await reports.change_category(
            session, actor, callback_data.task_id, callback_data.category_id
        )
        await query.answer(_("Saved. The deadlines are the new kind's."))
    else:
        await reports.task_to_act_on(session, actor, callback_data.task_id)
        view = await reports.task_view(session, callback_data.task_id)
        await query.answer()
    await refresh_card(query, view, person, settings)


# --- /tasks --------------------------------------------------------------------------------

FILTER_NAMES = {
    "open": N_("Open"),
    "overdue": N_("Overdue"),
    "resolved": N_("Resolved"),
    "all": N_("All"),
}


def filter_keyboard() -> object:
    return keyboard(
        [button(_(FILTER_NAMES[w]), TaskList(which=w).pack()) for w in reports.TASK_FILTERS],
        [button(_("📰 Weekly report post to the group"), Home(go="gridpost").pack())],
    )


@router.message(Command("tasks"), F.chat.type == "private")
async def list_tasks(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
    now: datetime,
) -> None:
    """A worker's open tasks, each with its buttons; other statuses by the filter buttons."""
    if not actor.worker_grids() and not actor.admin_villages():
        await message.answer(_("Only grid workers and village admins have tasks."))
        return
    await send_task_list(message, session, actor, person, settings, now, "open")


@router.callback_query(TaskList.filter())
async def filter_tasks(
    query: CallbackQuery,
    callback_data: TaskList,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
    now: datetime,
) -> None:
    await query.answer()
    if isinstance(query.message, Message) and callback_data.which in reports.TASK_FILTERS:
        await send_task_list(
            query.message, session, actor, person, settings, now, callback_data.which
        )


async def send_task_list(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    settings: Settings,
    now: datetime,
    which: str,
) -> None:
    tasks = await reports.tasks_for(session, actor, now, which)
    locale = locale_of(person)
    heading = _("<b>Your tasks: {filter} ({count})</b>").format(
        filter=_(FILTER_NAMES[which]), count=len(tasks)
    )
    if not tasks:
        await message.answer(heading + "\n" + _("None."), reply_markup=filter_keyboard())
        return
    await message.answer(heading, reply_markup=filter_keyboard())
    for task in tasks[:10]:
        view = await reports.task_view(session, task.id or 0)
        await message.answer(
            task_card(view, locale, settings.tz), reply_markup=worker_keyboard(task, locale)
        )
    if len(tasks) > 10:
        await message.answer(_("…and {count} more.").format(count=len(tasks) - 10))


# --- duty tasks ----------------------------------------------------------------------------

DUE_CHOICES = (
    (1, N_("Tomorrow")),
    (3, N_("In 3 days")),
    (7, N_("In a week")),
    (14, N_("In 2 weeks")),
)


@router.message(Command("newtask"), F.chat.type == "private")
async def start_duty_task(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    """Step 1: which of the five duties."""
    villages = set(actor.admin_villages())
    villages |= {
        g.village_id for g in [await org.get_grid(session, i) for i in actor.worker_grids()]
    }
    if not villages:
        await message.answer(_("Only grid workers and village admins can create tasks."))
        return
    await state.clear()
    await state.set_state(NewTask.duty)
    await state.set_data(NewTaskForm(village_id=min(villages)))
    await message.answer(
        _("New task. Which duty is it?"),
        reply_markup=picker(
            "duty", [(i, _(DUTY_NAMES[d])) for i, d in enumerate(Duty)], columns=1
        ),
    )


@router.callback_query(NewTask.duty, Pick.filter(F.what == "duty"))
async def pick_duty(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    duties = list(Duty)
    if not 0 <= callback_data.value < len(duties):
        await query.answer(_("This button has expired."), show_alert=True)
        return
    await state.update_data(duty=duties[callback_data.value].value)
    await state.set_state(NewTask.description)
    await edit_after_press(
        query,
        _("What is to be done? (at most {limit} characters)").format(
            limit=reports.DESCRIPTION_MAX
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(NewTask.description, F.text)
async def receive_task_description(message: Message, state: FSMContext) -> None:
    await state.update_data(description=reports.clean_description(message.text))
    await state.set_state(NewTask.due)
    await message.answer(
        _("By when?"),
        reply_markup=picker("due", [(days, _(label)) for days, label in DUE_CHOICES]),
    )


@router.callback_query(NewTask.due, Pick.filter(F.what == "due"))
async def pick_due(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """Step 4: for which grids (a worker: their own; an admin: one or all)."""
    due = now + timedelta(days=max(1, min(callback_data.value, 60)))
    await state.update_data(due=due.isoformat())
    await state.set_state(NewTask.grids)
    form: NewTaskForm = await state.get_data()  # type: ignore[assignment]
    village_id = form["village_id"]
    grids = await org.grids_of(session, village_id)
    if not ReportPermissions.can_administer(actor, village_id):
        grids = [g for g in grids if g.id in actor.worker_grids()]
    extra = []
    if ReportPermissions.can_administer(actor, village_id):
        extra = [flow_button(_("All grids"), "all")]
    await edit_after_press(
        query,
        _("For which grid?"),
        reply_markup=picker("tgrid", [(g.id or 0, g.name) for g in grids], extra=extra),
    )


@router.callback_query(NewTask.grids, Pick.filter(F.what == "tgrid"))
@router.callback_query(NewTask.grids, FlowAction.filter(F.action == "all"))
async def review_duty_task(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, settings: Settings
) -> None:
    """Step 5: check and create."""
    data = query.data or ""
    grid_ids: list[int] | None = None
    if data.startswith("pk:"):
        grid_ids = [Pick.unpack(data).value]
    await state.update_data(grid_ids=grid_ids)
    form: NewTaskForm = await state.get_data()  # type: ignore[assignment]
    if grid_ids is None:
        where = _("all grids")
    else:
        where = hd.quote((await org.get_grid(session, grid_ids[0])).name)
    due = datetime.fromisoformat(form["due"]).astimezone(settings.tz)
    await state.set_state(NewTask.confirm)
    await edit_after_press(
        query,
        _("Create this task?\n{duty}: {description}\nFor: {where}\nDue: {due}").format(
            duty=_(DUTY_NAMES[Duty(form["duty"])]),
            description=hd.quote(form["description"]),
            where=where,
            due=moment_title(due, settings.tz),
        ),
        reply_markup=confirm_keyboard(_("✔ Create"), back=False),
    )


@router.callback_query(NewTask.confirm, FlowAction.filter(F.action == "confirm"))
async def create_duty_task(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    form: NewTaskForm = await state.get_data()  # type: ignore[assignment]
    views = await reports.create_duty_tasks(
        session,
        actor,
        village_id=form["village_id"],
        grid_ids=form.get("grid_ids"),
        duty=Duty(form["duty"]),
        description=form["description"],
        due_at=datetime.fromisoformat(form["due"]),
        now=now,
    )
    await state.clear()
    for view in views:
        await push_task(session, view, settings.tz, header=N_("📋 New task"))
    await edit_after_press(
        query,
        _("Created {count} tasks: {numbers}. The grids' workers have them.").format(
            count=len(views), numbers=", ".join(v.task.number for v in views)
        ),
        toast=_("Created."),
    )
