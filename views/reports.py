"""Texts, buttons and pushes of reports and tasks, shared by the handlers and the jobs.

Everything here writes in the recipient's language (`tr(locale, ...)`) and sends through the
outbox: pushes to workers, notices of each change to the reporter and followers.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, outbox, reports, voice
from storage.errors import N_
from storage.models.org import Person
from storage.models.reports import WAITING, Task, TaskKind, TaskStatus
from storage.models.voice import VoiceNote, VoiceOf
from storage.reports import DEFAULT_NAMES, DUTY_NAMES, STATUS_NAMES, TaskView, WorkerFigures
from views.dates import moment_title
from views.i18n import _, locale_of, tr
from views.keyboards import (
    button,
    keyboard,
)


class TaskAct(CallbackData, prefix="ta"):
    """A worker's action on a task: acc, start, res, hand, dup, rej."""

    action: str
    task_id: int


class TaskHand(CallbackData, prefix="th"):
    task_id: int
    grid_id: int  # 0 = up to the village admins


class TaskCategory(CallbackData, prefix="tk"):
    task_id: int
    category_id: int  # 0 = back to the task's own buttons


class MyReport(CallbackData, prefix="mr"):
    task_id: int  # 0 = back to the list


class FollowUp(CallbackData, prefix="fu"):
    task_id: int
    fixed: bool


class Rate(CallbackData, prefix="rt"):
    task_id: int
    stars: int


class Follow(CallbackData, prefix="fw"):
    task_id: int


def when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment_title(moment, tz)


def status_label(status: TaskStatus | str, locale: str | None) -> str:
    return tr(locale, STATUS_NAMES[TaskStatus(status)])


def category_name(code: str, name: str) -> str:
    """A category as the person talking reads it: the six defaults are translated."""
    return _(DEFAULT_NAMES[code]) if code in DEFAULT_NAMES else name


def category_label(view: TaskView, locale: str | None) -> str:
    if view.task.kind == TaskKind.DUTY and view.task.duty is not None:
        return tr(locale, DUTY_NAMES[view.task.duty])
    if view.category is None:
        return "—"
    if view.category.code in DEFAULT_NAMES:
        return tr(locale, DEFAULT_NAMES[view.category.code])
    return hd.quote(view.category.name)


def head_lines(view: TaskView, locale: str | None) -> list[str]:
    """Number, kind and status; village and grid: the top of every card of a task."""
    task = view.task
    return [
        f"<b>{task.number}</b> · {category_label(view, locale)} · "
        f"{status_label(task.status, locale)}",
        f"{hd.quote(view.village.name)} · {hd.quote(view.grid.name)}",
    ]


def summary_lines(view: TaskView, locale: str | None) -> list[str]:
    """The top of a card, then the place and what the problem is."""
    lines = head_lines(view, locale)
    if view.task.location:
        lines.append(tr(locale, "Place: {place}", place=hd.quote(view.task.location)))
    lines.append(hd.quote(view.task.description))
    return lines


def deadline_line(task: Task, locale: str | None, tz: ZoneInfo) -> str | None:
    """The next deadline: a duty task's due date, else the time to accept or to resolve."""
    if task.kind == TaskKind.DUTY:
        return tr(locale, "Due: {time}", time=when(task.due_at, tz))
    if task.status in WAITING:
        return tr(locale, "Accept by: {time}", time=when(task.accept_due_at, tz))
    if task.status in (TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS):
        return tr(locale, "Resolve by: {time}", time=when(task.resolve_due_at, tz))
    return None


def task_card(view: TaskView, locale: str | None, tz: ZoneInfo) -> str:
    """The full card, for the grid's workers and admins: the reporter is always named."""
    task = view.task
    lines = head_lines(view, locale)
    visitor = view.behalf is not None and view.behalf.for_person_id is None
    if task.kind == TaskKind.REPORT and visitor and view.behalf is not None:
        who = hd.quote(view.behalf.visitor_name or "—")
        details = [d for d in (view.behalf.visitor_household, view.behalf.visitor_phone) if d]
        if details:
            who += " (" + hd.quote(", ".join(details)) + ")"
        lines.append(tr(locale, "Reported by: {name}", name=who))
    elif task.kind == TaskKind.REPORT and view.reporter is not None:
        reporter = hd.quote(view.reporter.full_name or "—")
        if view.reporter.phone:
            reporter += f" ({hd.quote(view.reporter.phone)})"
        lines.append(tr(locale, "Reported by: {name}", name=reporter))
    if view.filer is not None:
        lines.append(
            tr(locale, "Filed by {name} on their behalf", name=hd.quote(view.filer.full_name))
        )
        if task.anonymous:
            lines.append(tr(locale, "🔒 Anonymous to the public"))
    if task.location:
        lines.append(tr(locale, "Place: {place}", place=hd.quote(task.location)))
    if task.latitude is not None and task.longitude is not None:
        lines.append(f"📍 {task.latitude:.5f}, {task.longitude:.5f}")
    lines.append(hd.quote(task.description))
    lines += voice_lines(view.voices, locale)
    if view.photos:
        lines.append(tr(locale, "Photos: {count}", count=len(view.photos)))
    if view.owner is not None:
        lines.append(tr(locale, "Owner: {name}", name=hd.quote(view.owner.full_name or "—")))
    if task.with_admin:
        lines.append(tr(locale, "⬆ Handed up to the village admins"))
    if (deadline := deadline_line(task, locale, tz)) is not None:
        lines.append(deadline)
    if task.note:
        lines.append(tr(locale, "Note: {note}", note=hd.quote(task.note)))
    return "\n".join(lines)


# The steps of a report's history (storage.reports.history), as the reporter reads them.
HISTORY_NAMES = {
    "filed": N_("filed"),
    "accept": N_("accepted"),
    "start": N_("in progress"),
    "resolve": N_("resolved"),
    "reopen": N_("reopened"),
    "close": N_("closed"),
    "hand_over": N_("handed over"),
    "duplicate": N_("marked as a duplicate"),
    "reject": N_("rejected"),
    "category": N_("kind changed"),
    "rate": N_("rated"),
}


def reporter_card(
    view: TaskView, steps: list[tuple[datetime, str]], locale: str | None, tz: ZoneInfo
) -> str:
    """The reporter's own page of a report: where it stands, who has it, what happened when."""
    task = view.task
    lines = summary_lines(view, locale)
    if view.owner is not None:
        lines.append(tr(locale, "Owner: {name}", name=hd.quote(view.owner.full_name or "—")))
    if (deadline := deadline_line(task, locale, tz)) is not None:
        lines.append(deadline)
    if task.note:
        lines.append(tr(locale, "Note: {note}", note=hd.quote(task.note)))
    lines.append("")
    lines.extend(f"{when(moment, tz)} {tr(locale, HISTORY_NAMES[step])}" for moment, step in steps)
    return "\n".join(lines)


def public_card(view: TaskView, locale: str | None) -> str:
    """The public page (a bound group): the reporter's name only if they did not ask otherwise."""
    task = view.task
    lines = summary_lines(view, locale)
    if task.anonymous or view.reporter is None:
        lines.append(tr(locale, "Reported by: a resident (anonymous)"))
    else:
        lines.append(
            tr(locale, "Reported by: {name}", name=hd.quote(view.reporter.full_name or "—"))
        )
    return "\n".join(lines)


def follow_keyboard(view: TaskView, locale: str | None) -> InlineKeyboardMarkup:
    return keyboard(
        [button(tr(locale, "👀 I see it too: follow"), Follow(task_id=view.id).pack())]
    )


def worker_keyboard(task: Task, locale: str | None) -> InlineKeyboardMarkup | None:
    """The buttons a worker gets for a task in its current status."""
    assert task.id is not None

    def act(text: str, action: str) -> object:
        return button(tr(locale, text), TaskAct(action=action, task_id=task.id or 0).pack())

    report = task.kind == TaskKind.REPORT
    if task.status in WAITING:
        rows = [[act(N_("✔ Accept"), "acc"), act(N_("↪ Hand over"), "hand")]]
        if report:
            rows.append([act(N_("⧉ Duplicate"), "dup"), act(N_("✖ Reject"), "rej")])
    elif task.status == TaskStatus.ACCEPTED:
        rows = [
            [act(N_("▶ Start work"), "start"), act(N_("✅ Resolve"), "res")],
            [act(N_("↪ Hand over"), "hand")],
        ]
    elif task.status == TaskStatus.IN_PROGRESS:
        rows = [[act(N_("✅ Resolve"), "res"), act(N_("↪ Hand over"), "hand")]]
    else:
        return None
    if report:
        rows[-1].append(act(N_("🏷 Kind"), "kind"))
    return keyboard(*rows)  # type: ignore[arg-type]


def markup_dict(markup: InlineKeyboardMarkup | None) -> dict | None:
    return markup.model_dump(exclude_none=True) if markup is not None else None


async def push_task(
    session: AsyncSession,
    view: TaskView,
    tz: ZoneInfo,
    *,
    header: str | None = None,
    also: list[Person] | None = None,
    exclude: int | None = None,
) -> int:
    """Every worker of the task's grid gets the card with its buttons (and its photos)."""
    task = view.task
    people = await org.grid_deciders(
        session, task.village_id, task.grid_id, to_admins=task.with_admin
    )
    for extra in also or []:
        if all(p.id != extra.id for p in people):
            people.append(extra)
    sent = 0
    for person in people:
        if person.id == exclude:
            continue
        locale = locale_of(person)
        text = task_card(view, locale, tz)
        if header:
            text = tr(locale, header) + "\n\n" + text
        outbox.enqueue(
            session,
            person.telegram_id,
            text,
            reply_markup=markup_dict(worker_keyboard(view.task, locale)),
        )
        queue_voices(session, person.telegram_id, view.voices, view.task.number, locale)
        for photo in view.photos:
            if not photo.resolution:
                outbox.enqueue(
                    session,
                    person.telegram_id,
                    view.task.number,
                    method="sendPhoto",
                    photo=photo.file_id,
                    fallback_text=tr(locale, "(a photo of {number})", number=view.task.number),
                )
        sent += 1
    return sent


def voice_lines(notes: list[VoiceNote], locale: str | None) -> list[str]:
    """🎤 语音 (0:23), and its words when a speech-to-text hook gave them."""
    lines = []
    for note in notes:
        lines.append(tr(locale, "🎤 Voice note ({length})", length=voice.length(note.duration)))
        if note.transcript:
            lines.append("“" + hd.quote(note.transcript) + "”")
    return lines


def queue_voices(
    session: AsyncSession, chat_id: int, notes: list[VoiceNote], number: str, locale: str
) -> None:
    """The voice notes themselves, after the card, for the person who must act to hear."""
    for note in notes:
        outbox.enqueue(
            session,
            chat_id,
            number,
            method="sendVoice",
            voice=note.file_id,
            duration=note.duration,
            fallback_text=tr(
                locale,
                "(a voice note of {number}, {length})",
                number=number,
                length=voice.length(note.duration),
            ),
        )


def change_text(view: TaskView, locale: str | None, *, follower: bool) -> str:
    task = view.task
    place = hd.quote(view.grid.name)
    if task.with_admin:
        place = tr(locale, "the village admins")
    params = {
        "number": task.number,
        "name": hd.quote(view.owner.full_name if view.owner else "—"),
        "note": hd.quote(task.note),
        "place": place,
    }
    if task.status == TaskStatus.RESOLVED:
        text = tr(locale, "Your report {number} is resolved: {note}", **params)
    else:
        text = _change_message(TaskStatus(task.status), locale, params)
    if follower:
        text = tr(locale, "(A report you follow)") + " " + text
    return text


def _change_message(status: TaskStatus, locale: str | None, params: dict[str, str]) -> str:
    messages = {
        TaskStatus.ACCEPTED: tr(
            locale, "Your report {number} was accepted by a grid worker ({name}).", **params
        ),
        TaskStatus.IN_PROGRESS: tr(locale, "Work on your report {number} has started.", **params),
        TaskStatus.CLOSED: tr(
            locale, "Your report {number} is closed. Thank you for reporting it.", **params
        ),
        TaskStatus.REOPENED: tr(
            locale,
            "Your report {number} is reopened: the grid's workers have it again.",
            **params,
        ),
        TaskStatus.DUPLICATE: tr(
            locale,
            "Your report {number} is the same problem as {note}: "
            "you will hear of that one instead.",
            **params,
        ),
        TaskStatus.REJECTED: tr(
            locale, "Your report {number} was not taken up. Reason: {note}", **params
        ),
        TaskStatus.NEW: tr(locale, "Your report {number} was handed over to {place}.", **params),
    }
    return messages[status]


def follow_up_keyboard(task_id: int, locale: str | None) -> dict | None:
    return markup_dict(
        keyboard(
            [
                button(tr(locale, "👍 Yes, fixed"), FollowUp(task_id=task_id, fixed=True).pack()),
                button(
                    tr(locale, "👎 No, not fixed"), FollowUp(task_id=task_id, fixed=False).pack()
                ),
            ]
        )
    )


def rating_keyboard(task_id: int) -> dict | None:
    return markup_dict(
        keyboard([button("⭐" * n, Rate(task_id=task_id, stars=n).pack()) for n in range(1, 6)])
    )


async def notify_change(
    session: AsyncSession, view: TaskView, *, exclude: int | None = None
) -> int:
    """The reporter and followers hear of the change, each in their own language. A resolved
    report asks its reporter "is it fixed?" with two buttons."""
    if view.task.kind != TaskKind.REPORT:
        return 0
    sent = 0
    for person in await reports.interested(session, view):
        if person.id == exclude:
            continue
        locale = locale_of(person)
        reporter = person.id == view.task.reporter_id
        text = change_text(view, locale, follower=not reporter)
        markup = None
        if reporter and view.task.status == TaskStatus.RESOLVED:
            text += "\n\n" + tr(
                locale,
                "Is it fixed? If you do not answer within 3 days, it will be closed.",
            )
            markup = follow_up_keyboard(view.id, locale)
        outbox.enqueue(session, person.telegram_id, text, reply_markup=markup)
        sent += 1
    if view.task.status == TaskStatus.RESOLVED and view.reporter is not None:
        spoken = [n for n in view.voices if n.kind == VoiceOf.RESOLUTION][-1:]
        if spoken and view.reporter.id != exclude:
            queue_voices(
                session,
                view.reporter.telegram_id,
                spoken,
                view.task.number,
                locale_of(view.reporter),
            )
    for photo in view.photos:
        if photo.resolution and view.reporter is not None and view.reporter.id != exclude:
            outbox.enqueue(
                session,
                view.reporter.telegram_id,
                view.task.number,
                method="sendPhoto",
                photo=photo.file_id,
                fallback_text=tr(
                    locale_of(view.reporter), "(a photo of {number})", number=view.task.number
                ),
            )
    return sent


class NoticeStatus(CallbackData, prefix="ns"):
    batch: str


class GridStats(CallbackData, prefix="gs"):
    village_id: int
    back: int  # months before the current one


class SettingAct(CallbackData, prefix="rs"):
    village_id: int
    action: str  # add, reward, hour
    value: int = 0


class CategoryAct(CallbackData, prefix="rc"):
    village_id: int
    category_id: int
    action: str  # open, accept, resolve, remove (asks), removeok (does)
    value: int = 0


class TaskList(CallbackData, prefix="tl"):
    which: str


class WorkerStats(CallbackData, prefix="ws"):
    """The per-worker figures of a village, `back` months before the current one."""

    village_id: int
    back: int


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return _("under 1 h")
    shown = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return _("{hours} h").format(hours=shown)


def worker_lines(figures: list[WorkerFigures]) -> list[str]:
    """One block a worker: what they received and did in the month."""
    if not figures:
        return [_("No grid workers that month.")]
    lines = []
    for n, f in enumerate(figures, start=1):
        ended = _(" (role ended)") if f.ended else ""
        lines.append(
            _(
                "{n}. <b>{name}</b> · {grids}{ended}\n"
                "received {received} · accepted {accepted} ({accepted_in_time} in time) · "
                "resolved {resolved} ({resolved_in_time} in time) · reopened {reopened}\n"
                "to accept {accept} · to resolve {resolve} · residents approved {approved} · "
                "notices {notices}"
            ).format(
                n=n,
                name=hd.quote(f.person.full_name),
                grids=hd.quote("、".join(f.grids)),
                ended=ended,
                received=f.received,
                accepted=f.accepted,
                accepted_in_time=f.accepted_in_time,
                resolved=f.resolved,
                resolved_in_time=f.resolved_in_time,
                reopened=f.reopened,
                accept=_hours(f.median_accept_hours),
                resolve=_hours(f.median_resolve_hours),
                approved=f.approved,
                notices=f.notices,
            )
        )
    lines.append(_("Times are medians, from a task's arrival."))
    return lines
