"""Reports and grid tasks (网格化): "人在网中走、事在格中办".

A resident's report becomes a task of their grid; the grid's workers accept it (one owner),
resolve it, and the resident confirms it is fixed (closed) or not (reopened). Duty tasks of the
five duties follow the same life. Every change is a conditional UPDATE on the status (a double
press or two workers at once do the work once), stamps its `*_at` column and writes an audit row.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, category_memory, org, points, transitions, voice
from storage.clock import aware
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError, Term
from storage.models.behalf import OnBehalf
from storage.models.common import AuditEntry
from storage.models.org import (
    BoundChat,
    Grid,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
)
from storage.models.points import EntryKind, ItemStatus, PointEntry, PointItem
from storage.models.reports import (
    FINISHED,
    OPEN,
    WAITING,
    WORKING,
    Duty,
    FollowedInstead,
    ReportCategory,
    ReportReward,
    ReportSettings,
    Task,
    TaskFollower,
    TaskKind,
    TaskPhoto,
    TaskStatus,
)
from storage.models.voice import VoiceNote, VoiceOf
from storage.org import bound_chats, clean_text, get_grid, grids_of, require_text
from storage.permissions.org import Actor
from storage.permissions.reports import ReportPermissions

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")  # callers pass the configured zone (BOT_TIMEZONE)

DESCRIPTION_MAX = 500
LOCATION_MAX = 64
NOTE_MAX = 300
CATEGORY_NAME_MAX = 16
CATEGORIES_MAX = 12
PHOTOS_MAX = 5
PHOTO_MAX_BYTES = 20 * 1024 * 1024  # what a bot may download from Telegram
FOLLOW_UP_WINDOW = timedelta(days=3)  # no answer to "is it fixed?" in 3 days closes it
DUTY_ACCEPT_HOURS = 24

# code, name (an English message id), hours to accept, hours to resolve
DEFAULT_CATEGORIES: tuple[tuple[str, str, int, int], ...] = (
    ("hazard", N_("Hazard"), 4, 48),
    ("environment", N_("Environment and sanitation"), 24, 72),
    ("roads", N_("Roads and facilities"), 24, 168),
    ("dispute", N_("Neighbour dispute"), 24, 168),
    ("help", N_("Help needed"), 8, 48),
    ("other", N_("Other"), 24, 168),
)
DEFAULT_NAMES = {code: name for code, name, _a, _r in DEFAULT_CATEGORIES}
DUTY_NAMES = {
    Duty.POLICY: N_("Publicise policy"),
    Duty.INFORMATION: N_("Collect information"),
    Duty.HAZARDS: N_("Inspect hazards"),
    Duty.DISPUTES: N_("Mediate disputes"),
    Duty.ACTIVITIES: N_("Organise activities"),
}
STATUS_NAMES = {
    TaskStatus.NEW: N_("new"),
    TaskStatus.ACCEPTED: N_("accepted"),
    TaskStatus.IN_PROGRESS: N_("in progress"),
    TaskStatus.RESOLVED: N_("resolved"),
    TaskStatus.CLOSED: N_("closed"),
    TaskStatus.REOPENED: N_("reopened"),
    TaskStatus.DUPLICATE: N_("duplicate"),
    TaskStatus.REJECTED: N_("rejected"),
}


# --- categories and settings ---------------------------------------------------------------


async def categories(session: AsyncSession, village_id: int) -> list[ReportCategory]:
    """The village's categories in order (read-only copies, kept in memory between updates:
    storage.category_memory); the six defaults the first time they are asked for."""
    kept = category_memory.memory.get(session, village_id)
    if kept is not None:
        return kept
    generation = category_memory.memory.generation
    found = await _read_categories(session, village_id)
    category_memory.memory.keep(session, village_id, found, generation)
    return found


async def category_choice(
    session: AsyncSession, village_id: int, category_id: int
) -> ReportCategory:
    """A category a person picked from a list: one of the village's current ones (as kept in
    memory), else NotFound. Filing reads it again in its own transaction."""
    for category in await categories(session, village_id):
        if category.id == category_id:
            return category
    raise NotFound(N_("That category is no longer available."))


async def _read_categories(session: AsyncSession, village_id: int) -> list[ReportCategory]:
    query = (
        select(ReportCategory)
        .where(ReportCategory.village_id == village_id, col(ReportCategory.removed_at).is_(None))
        .order_by(col(ReportCategory.position), col(ReportCategory.id))
    )
    found = list((await session.exec(query)).all())
    if found:
        return found
    existing = (
        await session.exec(
            select(func.count())
            .select_from(ReportCategory)
            .where(ReportCategory.village_id == village_id)
        )
    ).one()
    if existing:  # created meanwhile by another update, or all removed (an empty list)
        return list((await session.exec(query)).all())
    try:
        async with session.begin_nested():
            for position, (code, name, accept, resolve) in enumerate(DEFAULT_CATEGORIES):
                session.add(
                    ReportCategory(
                        village_id=village_id,
                        code=code,
                        name=name,
                        accept_hours=accept,
                        resolve_hours=resolve,
                        position=position,
                    )
                )
    except IntegrityError:  # another update created them first
        pass
    return list((await session.exec(query)).all())


async def get_category(session: AsyncSession, village_id: int, category_id: int) -> ReportCategory:
    category = await session.get(ReportCategory, category_id)
    if category is None or category.village_id != village_id or category.removed_at is not None:
        raise NotFound(N_("That category is no longer available."))
    return category


async def add_category(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    name: str,
    now: datetime,
    *,
    accept_hours: int = 24,
    resolve_hours: int = 168,
) -> ReportCategory:
    if not ReportPermissions.can_configure(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can change its report settings."))
    name = require_text(name, CATEGORY_NAME_MAX)
    current = await _read_categories(session, village_id)  # the rows, not the memory
    if len(current) >= CATEGORIES_MAX:
        raise RuleError(N_("At most {limit} categories, please."), limit=CATEGORIES_MAX)
    if any(c.name == name for c in current):
        raise AlreadyDone(N_("That category exists already."))
    code = f"c{int(now.timestamp())}"[:24]
    category = ReportCategory(
        village_id=village_id,
        code=code,
        name=name,
        accept_hours=accept_hours,
        resolve_hours=resolve_hours,
        position=max((c.position for c in current), default=0) + 1,
    )
    session.add(category)
    audit.record(
        session, "report.category_add", actor_id=actor.person_id, village_id=village_id, name=name
    )
    await session.flush()
    return category


async def remove_category(
    session: AsyncSession, actor: Actor, village_id: int, category_id: int, now: datetime
) -> ReportCategory:
    if not ReportPermissions.can_configure(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can change its report settings."))
    category = await get_category(session, village_id, category_id)
    changed = await session.exec(  # type: ignore[call-overload]
        update(ReportCategory)
        .where(col(ReportCategory.id) == category_id, col(ReportCategory.removed_at).is_(None))
        .values(removed_at=now)
    )
    if not changed.rowcount:
        raise AlreadyDone(N_("That category is no longer available."))
    audit.record(
        session,
        "report.category_remove",
        actor_id=actor.person_id,
        village_id=village_id,
        code=category.code,
    )
    return category


ACCEPT_HOURS_CHOICES = (2, 4, 8, 24, 48)
RESOLVE_HOURS_CHOICES = (24, 48, 72, 168, 336)
HOURS_MAX = 24 * 30


async def set_category_hours(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    category_id: int,
    now: datetime,
    *,
    accept_hours: int | None = None,
    resolve_hours: int | None = None,
) -> ReportCategory:
    """Change a category's time to accept or to resolve. Tasks filed from now on use it;
    tasks filed before keep the deadlines they were given."""
    if not ReportPermissions.can_configure(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can change its report settings."))
    category = await get_category(session, village_id, category_id)
    accept = category.accept_hours if accept_hours is None else accept_hours
    resolve = category.resolve_hours if resolve_hours is None else resolve_hours
    if not (1 <= accept <= HOURS_MAX and 1 <= resolve <= HOURS_MAX):
        raise RuleError(N_("Between 1 hour and {days} days, please."), days=HOURS_MAX // 24)
    if resolve < accept:
        raise RuleError(N_("The time to resolve cannot be shorter than the time to accept."))
    if (accept, resolve) == (category.accept_hours, category.resolve_hours):
        return category
    category.accept_hours, category.resolve_hours = accept, resolve
    session.add(category)
    audit.record(
        session,
        "report.category_hours",
        actor_id=actor.person_id,
        village_id=village_id,
        code=category.code,
        accept_hours=accept,
        resolve_hours=resolve,
    )
    await session.flush()
    return category


async def settings_of(session: AsyncSession, village_id: int) -> ReportSettings:
    found = await session.get(ReportSettings, village_id)
    return found or ReportSettings(village_id=village_id)


async def configure(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    now: datetime,
    *,
    reward_item_code: str | None = None,
    digest_hour: int | None = None,
) -> ReportSettings:
    """Set the points item a valid report earns, or the hour of the workers' daily digest."""
    if not ReportPermissions.can_configure(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can change its report settings."))
    found = await session.get(ReportSettings, village_id)
    settings = found or ReportSettings(village_id=village_id)
    if reward_item_code is not None:
        settings.reward_item_code = (
            require_text(reward_item_code, 32) if reward_item_code else None
        )
    if digest_hour is not None:
        if not 0 <= digest_hour <= 23:
            raise RuleError(N_("The hour must be between 0 and 23."))
        settings.digest_hour = digest_hour
    settings.updated_at = now
    settings.updated_by = actor.person_id
    session.add(settings)
    audit.record(
        session,
        "report.settings",
        actor_id=actor.person_id,
        village_id=village_id,
        reward_item_code=settings.reward_item_code,
        digest_hour=settings.digest_hour,
    )
    await session.flush()
    return settings


# --- numbers and views ---------------------------------------------------------------------


def number_prefix(kind: TaskKind, year: int) -> str:
    return f"{'R' if kind == TaskKind.REPORT else 'T'}-{year}-"


async def _insert_numbered(
    session: AsyncSession, task: Task, year: int, *, village_locked: bool = False
) -> Task:
    """Give the task the village's next number of the year; retried when two race for one.
    `village_locked`: the caller has read the village row with_for_update() already."""
    prefix = number_prefix(task.kind, year)
    # The village row's lock makes reports of one village take numbers one at a time
    # (PostgreSQL; SQLite's BEGIN IMMEDIATE already does); the retry is the safety net.
    if not village_locked:
        await session.exec(
            select(Village.id).where(Village.id == task.village_id).with_for_update()
        )
    for _attempt in range(20):
        last = (
            await session.exec(
                select(func.max(Task.number)).where(
                    Task.village_id == task.village_id, col(Task.number).startswith(prefix)
                )
            )
        ).one()
        sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        task.number = f"{prefix}{sequence:05d}"
        try:
            async with session.begin_nested():
                session.add(task)
            return task
        except IntegrityError:  # another report took the number first: read again
            if task in session:
                session.expunge(task)
            task.id = None
    raise RuleError(N_("Sorry, something went wrong and nothing was changed. Please try again."))


@dataclass
class TaskView:
    task: Task
    village: Village
    grid: Grid
    category: ReportCategory | None = None
    reporter: Person | None = None
    owner: Person | None = None
    photos: list[TaskPhoto] = field(default_factory=list)
    voices: list[VoiceNote] = field(default_factory=list)
    behalf: OnBehalf | None = None  # filed by a cadre for someone (代报)
    filer: Person | None = None

    @property
    def id(self) -> int:
        assert self.task.id is not None
        return self.task.id


async def task_view(session: AsyncSession, task_id: int) -> TaskView:
    task = await get_or_missing(session, Task, task_id, N_("That task no longer exists."))
    await session.refresh(task)
    village = await session.get(Village, task.village_id)
    grid = await session.get(Grid, task.grid_id)
    assert village is not None and grid is not None
    category = await session.get(ReportCategory, task.category_id) if task.category_id else None
    reporter = await session.get(Person, task.reporter_id) if task.reporter_id else None
    owner = await session.get(Person, task.owner_id) if task.owner_id else None
    photos = (
        await session.exec(
            select(TaskPhoto).where(TaskPhoto.task_id == task_id).order_by(col(TaskPhoto.id))
        )
    ).all()
    voices = await voice.notes_of(session, VoiceOf.REPORT, task_id)
    voices += await voice.notes_of(session, VoiceOf.RESOLUTION, task_id)
    behalf = (
        await session.exec(
            select(OnBehalf).where(OnBehalf.kind == "report", OnBehalf.object_id == task_id)
        )
    ).first()
    filer = await session.get(Person, behalf.filed_by) if behalf else None
    return TaskView(
        task, village, grid, category, reporter, owner, list(photos), voices, behalf, filer
    )


async def task_by_number(session: AsyncSession, village_id: int, number: str) -> Task:
    number = number.strip().upper()
    task = (
        await session.exec(
            select(Task).where(Task.village_id == village_id, Task.number == number)
        )
    ).first()
    if task is None:
        raise NotFound(N_("No report numbered {number} in this village."), number=number[:16])
    return task


# --- filing a report -----------------------------------------------------------------------


def check_photo(file_size: int | None, count: int) -> None:
    if file_size is not None and file_size > PHOTO_MAX_BYTES:
        raise RuleError(
            N_("That photo is too large (over {mb} MB). Please send a smaller one."),
            mb=PHOTO_MAX_BYTES // (1024 * 1024),
        )
    if count >= PHOTOS_MAX:
        raise RuleError(N_("At most {limit} photos, please."), limit=PHOTOS_MAX)


def clean_description(text: str | None) -> str:
    """A report's description: normalised (line breaks kept), not empty, not too long."""
    return require_text(text, DESCRIPTION_MAX, lines=True)


def _spoken_words(spoken: voice.Voice | None) -> str:
    """A spoken description's stand-in text: its words, else 🎤 and its length."""
    if spoken is None:
        return ""
    return spoken.transcript or "🎤 " + voice.length(spoken.duration)


async def file_report(
    session: AsyncSession,
    actor: Actor,
    *,
    category_id: int,
    description: str,
    now: datetime,
    location: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    anonymous: bool = False,
    photos: list[tuple[str, int | None]] | None = None,
    grid_id: int | None = None,
    spoken: voice.Voice | None = None,
    reporter: Person | None = None,
) -> TaskView:
    """A resident files a report; it becomes a task of their grid (or of a bound grid group).
    With `spoken`, the description is a voice note (and `description` may be its words).
    `reporter` is the actor's own row when the caller has it (the update's person), else it
    is read."""
    if not ReportPermissions.can_report(actor) or actor.residence is None:
        raise NotAllowed(N_("Only residents who have joined a village can report problems."))
    village_id = actor.residence.village_id
    photos = photos or []
    for index, (_file_id, size) in enumerate(photos):
        check_photo(size, index)
    assert reporter is None or reporter.id == actor.person_id
    if reporter is None:
        reporter = await session.get(Person, actor.person_id)
    # The village, the grid and the category the card shows come with the village row's lock
    # that numbers the report (_insert_numbered), in one statement: the grid must still be
    # the village's, and the category one of its current ones (read again here, whatever
    # the list the person picked from said). On SQLite this read starts the write
    # transaction (storage.db): what else the card shows is read before it, so the write lock
    # is held for the writes alone.
    found = (
        await session.exec(
            select(Village, Grid, ReportCategory)
            .outerjoin(
                ReportCategory,
                and_(
                    col(ReportCategory.id) == category_id,
                    col(ReportCategory.village_id) == col(Village.id),
                    col(ReportCategory.removed_at).is_(None),
                ),
            )
            .where(
                Village.id == village_id,
                Grid.id == (actor.residence.grid_id if grid_id is None else grid_id),
                Grid.village_id == Village.id,
            )
            .with_for_update(of=Village)
        )
    ).first()
    if found is None:
        raise NotFound(N_("That grid no longer exists."))
    village, grid, category = found
    if category is None:
        raise NotFound(N_("That category is no longer available."))
    grid_id = grid.id
    task = Task(
        village_id=village_id,
        grid_id=grid_id,
        kind=TaskKind.REPORT,
        number="",
        reporter_id=actor.person_id,
        created_by=actor.person_id,
        category_id=category.id,
        description=clean_description(description or _spoken_words(spoken)),
        location=clean_text(location, LOCATION_MAX),
        latitude=latitude,
        longitude=longitude,
        anonymous=anonymous,
        created_at=now,
        accept_due_at=now + timedelta(hours=category.accept_hours),
        resolve_due_at=now + timedelta(hours=category.resolve_hours),
    )
    await _insert_numbered(session, task, now.year, village_locked=True)
    assert task.id is not None
    kept_photos = [
        TaskPhoto(task_id=task.id, file_id=file_id, file_size=size, added_by=actor.person_id)
        for file_id, size in photos
    ]
    session.add_all(kept_photos)
    voices = (
        []
        if spoken is None
        else [voice.keep(session, VoiceOf.REPORT, task.id, spoken, actor.person_id)]
    )
    audit.record(
        session,
        "task.report",
        actor_id=actor.person_id,
        village_id=village_id,
        task_id=task.id,
        number=task.number,
        grid_id=grid_id,
        category=category.code,
        anonymous=anonymous,
    )
    await session.flush()
    return TaskView(task, village, grid, category, reporter, None, kept_photos, voices)


# --- the task's life -----------------------------------------------------------------------


async def task_to_act_on(
    session: AsyncSession, actor: Actor, task_id: int, *, finish: bool = False
) -> Task:
    """The task, if the actor may act on it (`finish`: resolve it), else the refusal they get.
    Every task operation starts here; a handler asks it before a question (a note to write)."""
    task = await get_or_missing(session, Task, task_id, N_("That task no longer exists."))
    await session.refresh(task)
    allowed = (
        ReportPermissions.can_finish(actor, task)
        if finish
        else ReportPermissions.can_act(actor, task)
    )
    if not allowed:
        if finish and ReportPermissions.can_act(actor, task):
            raise NotAllowed(N_("Only the worker who accepted this task can do that."))
        raise NotAllowed(N_("Only this grid's workers and the village admins can act on it."))
    return task


async def _move(
    session: AsyncSession,
    task: Task,
    allowed_from: tuple[TaskStatus, ...],
    *,
    extra_where: list[Any] | None = None,
    **values: Any,
) -> None:
    """The conditional update at the heart of every change: it happens once, or not at all."""
    if not await transitions.move(
        session, Task, task.id, allowed_from, where=extra_where or (), **values
    ):
        await session.refresh(task)
        raise AlreadyDone(
            N_("This task has already moved on: it is {status} now."),
            status=Term(STATUS_NAMES[TaskStatus(task.status)]),
        )
    await session.refresh(task)


def _audit(
    session: AsyncSession, action: str, actor_id: int | None, task: Task, **detail: Any
) -> None:
    audit.record(
        session,
        f"task.{action}",
        actor_id=actor_id,
        village_id=task.village_id,
        target_person_id=task.reporter_id,
        task_id=task.id,
        number=task.number,
        **detail,
    )


async def accept(session: AsyncSession, actor: Actor, task_id: int, now: datetime) -> TaskView:
    """A worker of the grid takes the task: from now on it is theirs alone."""
    task = await task_to_act_on(session, actor, task_id)
    await _move(
        session,
        task,
        WAITING,
        extra_where=[col(Task.owner_id).is_(None)],
        status=TaskStatus.ACCEPTED,
        owner_id=actor.person_id,
        accepted_at=now,
    )
    _audit(session, "accept", actor.person_id, task)
    return await task_view(session, task_id)


async def start_work(session: AsyncSession, actor: Actor, task_id: int, now: datetime) -> TaskView:
    task = await task_to_act_on(session, actor, task_id, finish=True)
    await _move(
        session, task, (TaskStatus.ACCEPTED,), status=TaskStatus.IN_PROGRESS, started_at=now
    )
    _audit(session, "start", actor.person_id, task)
    return await task_view(session, task_id)


async def resolve(
    session: AsyncSession,
    actor: Actor,
    task_id: int,
    note: str,
    now: datetime,
    *,
    photo: tuple[str, int | None] | None = None,
    spoken: voice.Voice | None = None,
) -> TaskView:
    """The owner says it is done: a report waits for the resident; a duty task is closed.
    With `spoken`, the note is a voice note (the resident hears it)."""
    task = await task_to_act_on(session, actor, task_id, finish=True)
    note = require_text(note or _spoken_words(spoken), NOTE_MAX)
    if spoken is not None:
        voice.keep(session, VoiceOf.RESOLUTION, task_id, spoken, actor.person_id)
    if photo is not None:
        check_photo(photo[1], 0)
    values: dict[str, Any] = {"note": note, "resolved_at": now}
    if task.kind == TaskKind.DUTY:
        values.update(status=TaskStatus.CLOSED, closed_at=now)
    else:
        values.update(status=TaskStatus.RESOLVED)
    await _move(session, task, WORKING, **values)
    if photo is not None:
        session.add(
            TaskPhoto(
                task_id=task_id,
                file_id=photo[0],
                file_size=photo[1],
                resolution=True,
                added_by=actor.person_id,
            )
        )
    _audit(session, "resolve", actor.person_id, task, note=note)
    await session.flush()
    return await task_view(session, task_id)


async def answer_follow_up(
    session: AsyncSession,
    actor: Actor,
    task_id: int,
    *,
    fixed: bool,
    now: datetime,
    tz: ZoneInfo = DEFAULT_ZONE,
) -> tuple[TaskView, ReportReward | None]:
    """The reporter's answer to "is it fixed?": yes closes it, no reopens it for the grid."""
    task = await get_or_missing(session, Task, task_id, N_("That task no longer exists."))
    await session.refresh(task)
    if not ReportPermissions.can_answer_follow_up(actor, task):
        raise NotAllowed(N_("Only the person who reported it can answer this."))
    reward = None
    if fixed:
        await _move(session, task, (TaskStatus.RESOLVED,), status=TaskStatus.CLOSED, closed_at=now)
        _audit(session, "close", actor.person_id, task, by="reporter")
        reward = await claim_reward(session, task, now, tz)
    else:
        await reopen(session, task, now, actor_id=actor.person_id)
    return await task_view(session, task_id), reward


async def reopen(
    session: AsyncSession, task: Task, now: datetime, *, actor_id: int | None
) -> None:
    category = await session.get(ReportCategory, task.category_id) if task.category_id else None
    accept_hours = category.accept_hours if category else DUTY_ACCEPT_HOURS
    resolve_hours = category.resolve_hours if category else 168
    await _move(
        session,
        task,
        (TaskStatus.RESOLVED,),
        status=TaskStatus.REOPENED,
        reopened_at=now,
        reopen_count=Task.reopen_count + 1,
        owner_id=None,
        accept_due_at=now + timedelta(hours=accept_hours),
        resolve_due_at=now + timedelta(hours=resolve_hours),
    )
    _audit(session, "reopen", actor_id, task)


async def rate(
    session: AsyncSession, actor: Actor, task_id: int, stars: int, now: datetime
) -> TaskView:
    task = await get_or_missing(session, Task, task_id, N_("That task no longer exists."))
    if not ReportPermissions.can_answer_follow_up(actor, task):
        raise NotAllowed(N_("Only the person who reported it can answer this."))
    if not 1 <= stars <= 5:
        raise RuleError(N_("Please pick one to five stars."))
    await _move(
        session,
        task,
        (TaskStatus.CLOSED,),
        extra_where=[col(Task.rating).is_(None)],
        rating=stars,
        rated_at=now,
    )
    _audit(session, "rate", actor.person_id, task, stars=stars)
    return await task_view(session, task_id)


async def auto_close(
    session: AsyncSession, task_id: int, now: datetime, tz: ZoneInfo = DEFAULT_ZONE
) -> TaskView | None:
    """No answer to "is it fixed?" within 3 days: closed. None when the resident answered."""
    cutoff = now - FOLLOW_UP_WINDOW
    closed = await transitions.move(
        session,
        Task,
        task_id,
        TaskStatus.RESOLVED,
        where=[col(Task.resolved_at) <= cutoff],
        status=TaskStatus.CLOSED,
        closed_at=now,
    )
    if not closed:
        return None
    view = await task_view(session, task_id)
    _audit(session, "close", None, view.task, by="timeout")
    await claim_reward(session, view.task, now, tz)
    return view


async def change_category(
    session: AsyncSession, actor: Actor, task_id: int, category_id: int
) -> TaskView:
    """A worker files an open report under another kind (a report made in a group arrives as
    其他). Its times to accept and to resolve become the new kind's, counted from when it was
    filed or last reopened, so a hazard gets a hazard's deadlines."""
    task = await task_to_act_on(session, actor, task_id)
    if task.kind != TaskKind.REPORT:
        raise RuleError(N_("Only a report has a kind to change."))
    category = await get_category(session, task.village_id, category_id)
    if category.id == task.category_id:
        raise AlreadyDone(N_("It is filed under that kind already."))
    start = aware(task.reopened_at) or aware(task.created_at)
    assert start is not None
    same_kind = (
        col(Task.category_id).is_(None)
        if task.category_id is None
        else col(Task.category_id) == task.category_id
    )
    try:
        await _move(
            session,
            task,
            OPEN,
            extra_where=[same_kind],  # two workers changing it at once: the first one counts
            category_id=category.id,
            accept_due_at=start + timedelta(hours=category.accept_hours),
            resolve_due_at=start + timedelta(hours=category.resolve_hours),
        )
    except AlreadyDone:
        if task.status in OPEN:  # still open: somebody else changed its kind first
            raise AlreadyDone(N_("Someone changed its kind a moment ago.")) from None
        raise
    _audit(session, "category", actor.person_id, task, code=category.code)
    return await task_view(session, task_id)


async def hand_over(
    session: AsyncSession, actor: Actor, task_id: int, grid_id: int | None, now: datetime
) -> TaskView:
    """To another grid of the village (its workers get it), or up to the village admins."""
    task = await task_to_act_on(session, actor, task_id)
    values: dict[str, Any] = {
        "status": TaskStatus.NEW,
        "owner_id": None,
        "handed_over_at": now,
        "accept_due_at": now + timedelta(hours=DUTY_ACCEPT_HOURS),
    }
    if grid_id is None:
        values["with_admin"] = True
    else:
        grid = await get_grid(session, grid_id)
        if grid.village_id != task.village_id:
            raise NotFound(N_("That grid no longer exists."))
        if grid_id == task.grid_id:
            raise RuleError(N_("The task is already in that grid."))
        values.update(grid_id=grid_id, with_admin=False)
    old_grid = task.grid_id
    await _move(session, task, OPEN, **values)
    _audit(session, "hand_over", actor.person_id, task, from_grid=old_grid, to_grid=grid_id)
    return await task_view(session, task_id)


async def mark_duplicate(
    session: AsyncSession, actor: Actor, task_id: int, other_number: str, now: datetime
) -> tuple[TaskView, TaskView]:
    """The same problem was reported before: its reporter follows the first report instead."""
    task = await task_to_act_on(session, actor, task_id)
    other = await task_by_number(session, task.village_id, other_number)
    if other.id == task.id:
        raise RuleError(N_("A report cannot be a duplicate of itself."))
    if other.status in (TaskStatus.DUPLICATE, TaskStatus.REJECTED):
        raise RuleError(N_("Please pick the original report, not a duplicate or rejected one."))
    await _move(
        session,
        task,
        OPEN,
        status=TaskStatus.DUPLICATE,
        duplicate_of=other.id,
        duplicate_at=now,
        note=other.number,
    )
    assert other.id is not None
    people = [task.reporter_id, *await follower_ids(session, task_id)]
    for person_id in people:
        if person_id is not None and person_id != other.reporter_id:
            await _add_follower(session, other.id, person_id, now)
    _audit(session, "duplicate", actor.person_id, task, of=other.number)
    return await task_view(session, task_id), await task_view(session, other.id)


async def reject(
    session: AsyncSession, actor: Actor, task_id: int, reason: str, now: datetime
) -> TaskView:
    task = await task_to_act_on(session, actor, task_id)
    reason = require_text(reason, NOTE_MAX)
    await _move(session, task, OPEN, status=TaskStatus.REJECTED, rejected_at=now, note=reason)
    _audit(session, "reject", actor.person_id, task, reason=reason)
    return await task_view(session, task_id)


# --- followers -----------------------------------------------------------------------------


async def _add_follower(
    session: AsyncSession, task_id: int, person_id: int, now: datetime
) -> bool:
    return await add_unique(
        session, TaskFollower(task_id=task_id, person_id=person_id, followed_at=now)
    )


async def add_follower(session: AsyncSession, task_id: int, person_id: int, now: datetime) -> bool:
    """`person_id` hears of every change of the task (a cadre who filed it for someone)."""
    return await _add_follower(session, task_id, person_id, now)


async def follow(session: AsyncSession, actor: Actor, task_id: int, now: datetime) -> TaskView:
    """A resident who sees the same problem follows the report instead of filing a new one."""
    task = await session.get(Task, task_id)
    if task is None or task.kind != TaskKind.REPORT:
        raise NotFound(N_("That task no longer exists."))
    if task.reporter_id == actor.person_id:
        raise AlreadyDone(N_("This is your own report: you hear of every change already."))
    if not ReportPermissions.can_follow(actor, task):
        raise NotAllowed(N_("Only residents of this village can follow its reports."))
    if task.status in FINISHED:
        raise RuleError(N_("This report is finished already."))
    if not await _add_follower(session, task_id, actor.person_id, now):
        raise AlreadyDone(N_("You follow this report already."))
    _audit(session, "follow", actor.person_id, task)
    return await task_view(session, task_id)


async def follower_ids(session: AsyncSession, task_id: int) -> list[int]:
    query = select(TaskFollower.person_id).where(TaskFollower.task_id == task_id)
    return list((await session.exec(query.order_by(col(TaskFollower.id)))).all())


async def interested(session: AsyncSession, view: TaskView) -> list[Person]:
    """Who hears of each change of a report: the reporter and the followers."""
    ids = [view.task.reporter_id, *await follower_ids(session, view.id)]
    people = []
    still = await still_in_village(session, view.task.village_id, ids)
    for person_id in dict.fromkeys(i for i in ids if i is not None):
        person = await session.get(Person, person_id) if person_id in still else None
        if person is not None:
            people.append(person)
    return people


async def still_in_village(
    session: AsyncSession, village_id: int, person_ids: list[int | None]
) -> set[int]:
    """Of these people, those still approved residents of the village or holding a role
    there: a person who left (or died) gets no more pushes."""
    wanted = [i for i in person_ids if i is not None]
    if not wanted:
        return set()
    residents = await session.exec(
        select(Membership.person_id).where(
            col(Membership.person_id).in_(wanted),
            Membership.village_id == village_id,
            Membership.status == MembershipStatus.APPROVED,
        )
    )
    roles = await session.exec(
        select(RoleAssignment.person_id).where(
            col(RoleAssignment.person_id).in_(wanted),
            RoleAssignment.village_id == village_id,
            col(RoleAssignment.revoked_at).is_(None),
        )
    )
    return set(residents.all()) | set(roles.all())


# --- duty tasks ----------------------------------------------------------------------------


async def create_duty_tasks(
    session: AsyncSession,
    actor: Actor,
    *,
    village_id: int,
    grid_ids: list[int] | None,
    duty: Duty,
    description: str,
    due_at: datetime,
    now: datetime,
) -> list[TaskView]:
    """One task per grid (`grid_ids` None: every grid of the village), pushed like reports."""
    village_grids = {g.id: g for g in await grids_of(session, village_id)}
    chosen = set(village_grids) if grid_ids is None else set(grid_ids)
    if not chosen or not chosen <= set(village_grids):
        raise NotFound(N_("That grid no longer exists."))
    if not ReportPermissions.can_create_duty(actor, village_id, chosen):  # type: ignore[arg-type]
        raise NotAllowed(
            N_("Village admins can give tasks to any grid; grid workers to their own grid.")
        )
    description = clean_description(description)
    if due_at <= now:
        raise RuleError(N_("The due date must be in the future."))
    views = []
    for grid_id in sorted(chosen):  # type: ignore[type-var]
        task = Task(
            village_id=village_id,
            grid_id=grid_id,  # type: ignore[arg-type]
            kind=TaskKind.DUTY,
            number="",
            duty=duty,
            description=description,
            created_by=actor.person_id,
            created_at=now,
            due_at=due_at,
            accept_due_at=min(due_at, now + timedelta(hours=DUTY_ACCEPT_HOURS)),
            resolve_due_at=due_at,
        )
        await _insert_numbered(session, task, now.year)
        assert task.id is not None
        _audit(session, "duty", actor.person_id, task, duty=duty.value, grid_id=grid_id)
        views.append(await task_view(session, task.id))
    await session.flush()
    return views


# --- lists ---------------------------------------------------------------------------------

TASK_FILTERS = ("open", "overdue", "resolved", "all")


def is_overdue(task: Task, now: datetime) -> bool:
    due = aware(task.accept_due_at) if task.status in WAITING else aware(task.resolve_due_at)
    return task.status in OPEN and due is not None and due < now


async def tasks_for(
    session: AsyncSession, actor: Actor, now: datetime, which: str = "open", limit: int = 30
) -> list[Task]:
    """A worker's tasks: their grids' and their own; admins also those handed up to them."""
    grids = actor.worker_grids()
    admin_of = actor.admin_villages()
    scope = col(Task.grid_id).in_(grids) | (col(Task.owner_id) == actor.person_id)
    if admin_of:
        scope = scope | (col(Task.village_id).in_(admin_of) & col(Task.with_admin))
    query = select(Task).where(scope)
    if which in ("open", "overdue"):
        query = query.where(col(Task.status).in_(OPEN))
    elif which == "resolved":
        query = query.where(col(Task.status).in_((TaskStatus.RESOLVED, TaskStatus.CLOSED)))
    tasks = list((await session.exec(query.order_by(col(Task.created_at).desc()))).all())
    if which == "overdue":
        tasks = [t for t in tasks if is_overdue(t, now)]
    return tasks[:limit]


HISTORY_ACTIONS = (
    "accept", "start", "resolve", "reopen", "close", "hand_over", "duplicate", "reject",
    "category", "rate",
)  # fmt: skip


async def history(session: AsyncSession, task: Task) -> list[tuple[datetime, str]]:
    """What happened to a report, in order, from its audit trail: ("filed" first, then
    "accept", "resolve", "reopen", ... each time it happened)."""
    assert task.id is not None and task.created_at is not None
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.village_id == task.village_id,
            AuditEntry.target_person_id == task.reporter_id,
            col(AuditEntry.action).in_([f"task.{a}" for a in HISTORY_ACTIONS]),
        )
        .order_by(col(AuditEntry.at), col(AuditEntry.id))
    )
    entries = (await session.exec(query)).all()
    steps = [(aware(task.created_at), "filed")]
    steps += [
        (aware(e.at), e.action.removeprefix("task."))
        for e in entries
        if e.detail.get("task_id") == task.id
    ]
    return steps  # type: ignore[return-value]


async def reports_of(session: AsyncSession, person_id: int, limit: int = 20) -> list[Task]:
    query = (
        select(Task)
        .where(Task.reporter_id == person_id, Task.kind == TaskKind.REPORT)
        .order_by(col(Task.created_at).desc())
    )
    return list((await session.exec(query.limit(limit))).all())


async def open_tasks_by_grid(session: AsyncSession) -> dict[int, list[Task]]:
    rows = (await session.exec(select(Task).where(col(Task.status).in_(OPEN)))).all()
    result: dict[int, list[Task]] = {}
    for task in rows:
        result.setdefault(task.grid_id, []).append(task)
    return result


async def past_accept_deadline(session: AsyncSession, now: datetime) -> list[Task]:
    query = select(Task).where(col(Task.status).in_(WAITING), col(Task.accept_due_at) < now)
    return list((await session.exec(query.order_by(col(Task.id)))).all())


async def past_resolve_deadline(session: AsyncSession, now: datetime) -> list[Task]:
    query = select(Task).where(col(Task.status).in_(OPEN), col(Task.resolve_due_at) < now)
    return list((await session.exec(query.order_by(col(Task.id)))).all())


async def waiting_for_follow_up(session: AsyncSession, now: datetime) -> list[int]:
    query = select(Task.id).where(
        Task.status == TaskStatus.RESOLVED, col(Task.resolved_at) <= now - FOLLOW_UP_WINDOW
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


# --- notices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeAudience:
    residents: list[Person]
    chats: list[BoundChat]


async def notice_audience(
    session: AsyncSession, actor: Actor, village_id: int, grid_id: int | None, now: datetime
) -> NoticeAudience:
    """The residents (approved) and bound groups a notice goes to; the sender is checked."""
    if not ReportPermissions.can_send_notice(actor, village_id, grid_id):
        raise NotAllowed(
            N_("Grid workers can send notices to their grid; village admins to the village.")
        )
    if grid_id is not None and (await get_grid(session, grid_id)).village_id != village_id:
        raise NotFound(N_("That grid no longer exists."))
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.village_id == village_id, Membership.status == MembershipStatus.APPROVED)
    )
    if grid_id is not None:
        query = query.where(Membership.grid_id == grid_id)
    residents = list((await session.exec(query.distinct().order_by(col(Person.id)))).all())
    chats = await bound_chats(session, village_id)
    if grid_id is not None:
        chats = [c for c in chats if c.grid_id == grid_id]
    audit.record(
        session,
        "notice.send",
        actor_id=actor.person_id,
        village_id=village_id,
        when=now,
        grid_id=grid_id,
        residents=len(residents),
        chats=len(chats),
    )
    return NoticeAudience(residents, chats)


# --- points --------------------------------------------------------------------------------


async def claim_reward(
    session: AsyncSession, task: Task, now: datetime, tz: ZoneInfo = DEFAULT_ZONE
) -> ReportReward | None:
    """A report confirmed valid (closed after being resolved) earns its reporter the village's
    chosen catalogue item, once: the unique row is the proof, and the points ledger gets one
    entry for the reporter's household. None when the village chose no item, or it was
    awarded before."""
    if task.kind != TaskKind.REPORT or task.reporter_id is None or task.id is None:
        return None
    settings = await settings_of(session, task.village_id)
    if not settings.reward_item_code:
        return None
    reward = ReportReward(
        task_id=task.id,
        person_id=task.reporter_id,
        item_code=settings.reward_item_code,
        awarded_at=now,
    )
    if not await add_unique(session, reward):
        return None
    _audit(session, "reward", None, task, item=settings.reward_item_code)
    entry = await credit_ledger(session, task, reward, now, tz)
    reward.ledger_ref = str(entry.id) if entry is not None else None
    session.add(reward)
    return reward


async def credit_ledger(
    session: AsyncSession, task: Task, reward: ReportReward, now: datetime, tz: ZoneInfo
) -> PointEntry | None:
    """The reporter's points for a valid report, through the points ledger. Nothing when the
    village's item code is not in its catalogue (or retired), or the reporter has no household."""
    await points.ensure_catalogue(session, task.village_id)
    item = (
        await session.exec(
            select(PointItem).where(
                PointItem.village_id == task.village_id,
                PointItem.code == reward.item_code,
                PointItem.status == ItemStatus.ACTIVE,
            )
        )
    ).first()
    reporter = await session.get(Person, reward.person_id)
    if item is None or reporter is None or reporter.household_id is None:
        return None
    return await points.add_entry(
        session,
        village_id=task.village_id,
        household_id=reporter.household_id,
        person_id=reporter.id,
        item_id=item.id,
        points=item.points,
        kind=EntryKind.AWARD,
        reason=task.number,
        now=now,
        tz=tz,
        recorded_by=None,
    )


# --- figures -------------------------------------------------------------------------------


@dataclass
class GridFigures:
    grid: Grid
    received: int = 0
    median_accept_hours: float | None = None
    median_resolve_hours: float | None = None
    overdue: int = 0
    reopened: int = 0
    avoided: int = 0  # residents who followed a neighbour's report instead of filing again

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.received if self.received else None


async def grid_figures(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[GridFigures]:
    """Per grid, for reports received in [start, end): count, median hours to accept and to
    resolve, how many are overdue now, and how many were reopened; and the duplicates avoided
    in [start, end) (a resident followed a neighbour's open report instead of filing it)."""
    if not ReportPermissions.can_see_stats(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can see its figures."))
    figures = {g.id: GridFigures(g) for g in await grids_of(session, village_id)}
    query = select(Task).where(
        Task.village_id == village_id,
        Task.kind == TaskKind.REPORT,
        col(Task.created_at) >= start,
        col(Task.created_at) < end,
    )
    accept: dict[int, list[float]] = {}
    resolve: dict[int, list[float]] = {}
    for task in (await session.exec(query)).all():
        entry = figures.get(task.grid_id)
        if entry is None:
            continue
        entry.received += 1
        created = aware(task.created_at)
        assert created is not None
        if task.accepted_at is not None:
            hours = (aware(task.accepted_at) - created).total_seconds() / 3600  # type: ignore[operator]
            accept.setdefault(task.grid_id, []).append(hours)
        if task.resolved_at is not None:
            hours = (aware(task.resolved_at) - created).total_seconds() / 3600  # type: ignore[operator]
            resolve.setdefault(task.grid_id, []).append(hours)
        entry.overdue += is_overdue(task, now)
        entry.reopened += task.reopen_count > 0
    avoided = await session.exec(
        select(FollowedInstead.grid_id, func.count())
        .where(
            FollowedInstead.village_id == village_id,
            col(FollowedInstead.at) >= start,
            col(FollowedInstead.at) < end,
        )
        .group_by(col(FollowedInstead.grid_id))
    )
    for grid_id, count in avoided.all():
        if grid_id in figures:
            figures[grid_id].avoided = int(count)
    for grid_id, entry in figures.items():
        if accept.get(grid_id):  # type: ignore[arg-type]
            entry.median_accept_hours = statistics.median(accept[grid_id])  # type: ignore[index]
        if resolve.get(grid_id):  # type: ignore[arg-type]
            entry.median_resolve_hours = statistics.median(resolve[grid_id])  # type: ignore[index]
    return list(figures.values())


async def monthly_trend(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    months: Sequence[tuple[str, datetime, datetime]],
) -> list[tuple[str, int, int]]:
    """Per month (key, start, end): the reports received, and those fixed (resolved) in it."""
    if not ReportPermissions.can_see_stats(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can see its figures."))
    if not months:
        return []
    first, last = months[0][1], months[-1][2]
    query = select(Task.created_at, Task.resolved_at).where(
        Task.village_id == village_id,
        Task.kind == TaskKind.REPORT,
        or_(
            (col(Task.created_at) >= first) & (col(Task.created_at) < last),
            (col(Task.resolved_at) >= first) & (col(Task.resolved_at) < last),
        ),
    )
    rows = [(aware(c), aware(r)) for c, r in (await session.exec(query)).all()]
    return [
        (
            key,
            sum(1 for c, _r in rows if c is not None and start <= c < end),
            sum(1 for _c, r in rows if r is not None and start <= r < end),
        )
        for key, start, end in months
    ]


async def release_tasks_of(
    session: AsyncSession,
    person_id: int,
    village_id: int,
    grid_id: int,
    now: datetime,
    *,
    actor_id: int | None,
) -> tuple[list[TaskView], bool]:
    """A grid worker's role ended: the open tasks they had accepted go back to the grid, to be
    accepted again by its other workers (or, when none is left, by the village admins), with
    a fresh day to accept. Also whether they go to the admins. Each change is audited."""
    others = [p for p in await org.grid_workers(session, grid_id) if p.id != person_id]
    query = select(Task).where(
        Task.village_id == village_id,
        Task.grid_id == grid_id,
        Task.owner_id == person_id,
        col(Task.status).in_(WORKING),
    )
    released = []
    for task in (await session.exec(query.order_by(col(Task.id)))).all():
        if await transitions.move(
            session,
            Task,
            task.id,
            WORKING,
            where=[col(Task.owner_id) == person_id],
            status=TaskStatus.NEW,
            owner_id=None,
            handed_over_at=now,
            accept_due_at=now + timedelta(hours=DUTY_ACCEPT_HOURS),
        ):
            await session.refresh(task)
            _audit(session, "release", actor_id, task, from_person=person_id, when=now)
            released.append(task.id)
    if not others:  # the grid's waiting tasks are the admins' now too
        waiting = select(Task.id).where(
            Task.grid_id == grid_id, col(Task.status).in_(WAITING), col(Task.owner_id).is_(None)
        )
        released += [i for i in (await session.exec(waiting)).all() if i not in released]
    return [await task_view(session, i) for i in released if i], not others


async def tasks_to_release(
    session: AsyncSession, person_id: int, grid_id: int
) -> tuple[int, bool]:
    """How many tasks `release_tasks_of` would move on, and whether to the admins."""
    others = [p for p in await org.grid_workers(session, grid_id) if p.id != person_id]
    owned = (
        select(func.count())
        .select_from(Task)
        .where(Task.grid_id == grid_id, Task.owner_id == person_id, col(Task.status).in_(WORKING))
    )
    count = int((await session.exec(owned)).one())
    if not others:
        waiting = (
            select(func.count())
            .select_from(Task)
            .where(
                Task.grid_id == grid_id,
                col(Task.status).in_(WAITING),
                col(Task.owner_id).is_(None),
            )
        )
        count += int((await session.exec(waiting)).one())
    return count, not others


@dataclass
class WorkerFigures:
    """One grid worker's month (管理考核)."""

    person: Person
    grids: list[str]
    ended: bool = False  # their role ended since
    received: int = 0
    accepted: int = 0
    accepted_in_time: int = 0
    resolved: int = 0
    resolved_in_time: int = 0
    reopened: int = 0
    median_accept_hours: float | None = None
    median_resolve_hours: float | None = None
    approved: int = 0
    notices: int = 0


async def worker_figures(
    session: AsyncSession, actor: Actor, village_id: int, start: datetime, end: datetime
) -> list[WorkerFigures]:
    """Per grid worker who held the role in [start, end): tasks (reports and duty tasks) their
    grid received while they held it; of the tasks they own now, how many they accepted and
    resolved in the month and how many of those in time (by each task's deadlines), how many
    were reopened, the median hours from a task's arrival to their accepting and resolving it;
    the join requests they approved and the notices they sent in the month."""
    if not ReportPermissions.can_see_stats(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can see its figures."))
    held = (
        await session.exec(
            select(RoleAssignment, Person, Grid)
            .join(Person, col(Person.id) == col(RoleAssignment.person_id))
            .join(Grid, col(Grid.id) == col(RoleAssignment.grid_id))
            .where(
                RoleAssignment.village_id == village_id,
                RoleAssignment.role == Role.GRID_WORKER,
                col(RoleAssignment.granted_at) < end,
                col(RoleAssignment.revoked_at).is_(None)
                | (col(RoleAssignment.revoked_at) >= start),
            )
            .order_by(col(Grid.id), col(Person.id))
        )
    ).all()
    figures: dict[int, WorkerFigures] = {}
    spans: dict[int, list[tuple[int, datetime, datetime | None]]] = {}
    for row, person, grid in held:
        assert person.id is not None
        entry = figures.setdefault(person.id, WorkerFigures(person, []))
        if grid.name not in entry.grids:
            entry.grids.append(grid.name)
        entry.ended = row.revoked_at is not None
        spans.setdefault(person.id, []).append(
            (grid.id or 0, aware(row.granted_at), aware(row.revoked_at))  # type: ignore[arg-type]
        )
    if not figures:
        return []
    in_month = (col(Task.created_at) >= start, col(Task.created_at) < end)
    for task in (
        await session.exec(select(Task).where(Task.village_id == village_id, *in_month))
    ).all():
        created = aware(task.created_at)
        for person_id, held_spans in spans.items():
            if any(
                g == task.grid_id and since <= created and (until is None or created < until)  # type: ignore[operator]
                for g, since, until in held_spans
            ):
                figures[person_id].received += 1
    accept_hours: dict[int, list[float]] = {}
    resolve_hours: dict[int, list[float]] = {}
    owned = select(Task).where(
        Task.village_id == village_id,
        col(Task.owner_id).in_(list(figures)),
        (col(Task.accepted_at) >= start) & (col(Task.accepted_at) < end)
        | (col(Task.resolved_at) >= start) & (col(Task.resolved_at) < end),
    )
    start_a, end_a = aware(start), aware(end)
    for task in (await session.exec(owned)).all():
        entry = figures[task.owner_id or 0]
        arrived = max(aware(task.created_at), aware(task.handed_over_at) or aware(task.created_at))  # type: ignore[type-var]
        accepted = aware(task.accepted_at)
        if accepted is not None and start_a <= accepted < end_a:  # type: ignore[operator]
            entry.accepted += 1
            due = aware(task.accept_due_at)
            entry.accepted_in_time += due is None or accepted <= due
            accept_hours.setdefault(task.owner_id or 0, []).append(
                (accepted - arrived).total_seconds() / 3600  # type: ignore[operator]
            )
        resolved = aware(task.resolved_at)
        if resolved is not None and start_a <= resolved < end_a:  # type: ignore[operator]
            entry.resolved += 1
            due = aware(task.resolve_due_at)
            entry.resolved_in_time += due is None or resolved <= due
            entry.reopened += task.reopen_count > 0
            resolve_hours.setdefault(task.owner_id or 0, []).append(
                (resolved - arrived).total_seconds() / 3600  # type: ignore[operator]
            )
    for person_id, hours in accept_hours.items():
        figures[person_id].median_accept_hours = statistics.median(hours)
    for person_id, hours in resolve_hours.items():
        figures[person_id].median_resolve_hours = statistics.median(hours)
    approved = await session.exec(
        select(Membership.decided_by, func.count())
        .where(
            Membership.village_id == village_id,
            col(Membership.decided_by).in_(list(figures)),
            col(Membership.decided_at) >= start,
            col(Membership.decided_at) < end,
            Membership.status != MembershipStatus.REJECTED,
        )
        .group_by(col(Membership.decided_by))
    )
    for person_id, count in approved.all():
        figures[person_id or 0].approved = int(count)
    notices = await session.exec(
        select(AuditEntry.actor_id, func.count())
        .where(
            AuditEntry.village_id == village_id,
            AuditEntry.action == "notice.send",
            col(AuditEntry.actor_id).in_(list(figures)),
            col(AuditEntry.at) >= start,
            col(AuditEntry.at) < end,
        )
        .group_by(col(AuditEntry.actor_id))
    )
    for person_id, count in notices.all():
        figures[person_id or 0].notices = int(count)
    return list(figures.values())


# --- export --------------------------------------------------------------------------------


async def village_reports(session: AsyncSession, village_id: int) -> list[TaskView]:
    query = (
        select(Task.id)
        .where(Task.village_id == village_id, Task.kind == TaskKind.REPORT)
        .order_by(col(Task.id))
    )
    return [await task_view(session, i) for i in (await session.exec(query)).all() if i]
