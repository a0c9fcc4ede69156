"""What neighbours reported (看看邻居报的): the grid's open and recently fixed reports, the
weekly 报事进展 post of a grid's group, and the duplicate hint of the report wizard.

What the words mean here (the views only say them):
- open: new, accepted, in progress or reopened (`models.reports.OPEN`);
- recently fixed: resolved (waiting for the reporter's word) or closed after being resolved,
  resolved within the last `RECENT_DAYS` (14) days; a duplicate or rejected report is neither;
- late: past its time to accept or to resolve (`reports.is_overdue`);
- days open: calendar days (local time) from the day it was filed to today.

Anonymity: a report filed "🔒 anonymous", or by a cadre for a visitor, shows no reporter to
neighbours, here or in the weekly post; a named one shows its reporter's name, as its public
page in a group does.

The duplicate hint: before a resident files, the open reports of *their own grid* (never
another grid's or village's) that look like what they describe, at most `HINTS_MAX`. Likeness
is rapidfuzz's `fuzz.ratio` (an Indel similarity, 0–100) on the characters of the two
descriptions (letters and digits only, NFKC), plus `CATEGORY_WEIGHT` for the same kind (minus
it for another), plus `PLACE_WEIGHT` when the places meet (one place found in the other's place
or words, `fuzz.partial_ratio` ≥ `PLACE_MATCH`). A report is hinted at `HINT_THRESHOLD` (52) or
more. The threshold was measured on the realistic pairs of tests/test_reports_neighbours.py:
the same problem typed again scores 50–77 on its words (56 or more with the same kind), a
different problem 0–44 (50 at most with the same kind). A spoken description (a voice note,
no words) is hinted only by the same kind at the same place.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, reports
from storage.clock import aware
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError, Term
from storage.models.behalf import OnBehalf
from storage.models.org import BoundChat, Grid, Person, Village
from storage.models.reports import (
    OPEN,
    FollowedInstead,
    GridReportPost,
    ReportCategory,
    Task,
    TaskFollower,
    TaskKind,
    TaskStatus,
)
from storage.permissions.org import Actor
from storage.permissions.reports import ReportPermissions


class Described(Protocol):
    """What the likeness reads of an open report: a task, or a plain row of these columns."""

    category_id: int | None
    description: str
    location: str


RECENT_DAYS = 14
PAGE_SIZE = 5
LISTED_MAX = 200  # the newest reports of a grid a list reads
FIXED = (TaskStatus.RESOLVED, TaskStatus.CLOSED)

HINTS_MAX = 3
HINT_THRESHOLD = 52
CATEGORY_WEIGHT = 6
PLACE_WEIGHT = 10
PLACE_MATCH = 80
SCANNED_MAX = 300  # the newest open reports of a grid the hint compares


# --- the grid's reports --------------------------------------------------------------------


@dataclass
class NeighbourReport:
    """One report as a neighbour sees it."""

    task: Task
    category: ReportCategory | None
    reporter_name: str | None  # None: not shown (anonymous, or filed for a visitor)
    days: int  # days open (to today), or days it took to fix
    late: bool = False
    followed: bool = False  # the person looking follows it already
    own: bool = False  # the person looking reported it

    @property
    def id(self) -> int:
        assert self.task.id is not None
        return self.task.id

    @property
    def is_open(self) -> bool:
        return self.task.status in OPEN

    @property
    def can_follow(self) -> bool:
        return self.is_open and not self.followed and not self.own


@dataclass
class GridReports:
    village: Village
    grid: Grid
    items: list[NeighbourReport]  # this page's
    page: int
    pages: int
    open_count: int
    fixed_count: int


async def _categories_of(session: AsyncSession, tasks: list[Task]) -> dict[int, ReportCategory]:
    """The categories of these reports: the villages' current ones from memory
    (reports.categories), a removed one read from the database."""
    found: dict[int, ReportCategory] = {}
    for village_id in {t.village_id for t in tasks}:
        found.update((c.id, c) for c in await reports.categories(session, village_id) if c.id)
    missing = {t.category_id for t in tasks if t.category_id and t.category_id not in found}
    if missing:
        query = select(ReportCategory).where(col(ReportCategory.id).in_(missing))
        found.update((c.id, c) for c in (await session.exec(query)).all() if c.id)
    return found


def days_between(start: datetime, end: datetime, tz: ZoneInfo) -> int:
    """Calendar days from `start` to `end` in the zone `tz`: 0 the same day, 1 the next."""
    first, last = aware(start), aware(end)
    return max(0, (last.astimezone(tz).date() - first.astimezone(tz).date()).days)


def is_recently_fixed(task: Task, now: datetime) -> bool:
    resolved = aware(task.resolved_at)
    return (
        task.status in FIXED
        and resolved is not None
        and resolved >= now - timedelta(days=RECENT_DAYS)
    )


async def shown_names(session: AsyncSession, tasks: list[Task]) -> dict[int, str | None]:
    """The reporter's name neighbours may see, per report: None for an anonymous report and
    for one a cadre filed for a visitor (the filer is no reporter)."""
    ids = [t.id for t in tasks if t.id is not None]
    if not ids:
        return {}
    visitors = set(
        (
            await session.exec(
                select(OnBehalf.object_id).where(
                    OnBehalf.kind == "report",
                    col(OnBehalf.object_id).in_(ids),
                    col(OnBehalf.for_person_id).is_(None),
                )
            )
        ).all()
    )
    people = {
        p.id: p
        for p in (
            await session.exec(
                select(Person).where(
                    col(Person.id).in_({t.reporter_id for t in tasks if t.reporter_id})
                )
            )
        ).all()
    }
    names: dict[int, str | None] = {}
    for task in tasks:
        person = people.get(task.reporter_id)
        hidden = task.anonymous or task.id in visitors or person is None
        names[task.id or 0] = None if hidden else (person.full_name or None)  # type: ignore[union-attr]
    return names


async def _neighbour_reports(
    session: AsyncSession,
    tasks: list[Task],
    person_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    followed: set[int] | None = None,
) -> list[NeighbourReport]:
    """The reports as neighbours see them; `followed`: the ids among them `person_id`
    follows, when the caller has read them already."""
    if not tasks:
        return []
    names = await shown_names(session, tasks)
    if followed is None:
        followed = set()
        if person_id is not None:
            followed = set(
                (
                    await session.exec(
                        select(TaskFollower.task_id).where(
                            TaskFollower.person_id == person_id,
                            col(TaskFollower.task_id).in_([t.id for t in tasks]),
                        )
                    )
                ).all()
            )
    categories = await _categories_of(session, tasks)
    found = []
    for task in tasks:
        fixed = task.status in FIXED and task.resolved_at is not None
        until = aware(task.resolved_at) if fixed else now
        found.append(
            NeighbourReport(
                task=task,
                category=categories.get(task.category_id),
                reporter_name=names.get(task.id or 0),
                days=days_between(task.created_at, until, tz),  # type: ignore[arg-type]
                late=reports.is_overdue(task, now),
                followed=task.id in followed,
                own=person_id is not None and task.reporter_id == person_id,
            )
        )
    return found


async def grid_reports(
    session: AsyncSession, actor: Actor, now: datetime, tz: ZoneInfo, page: int = 0
) -> GridReports:
    """The open and recently fixed reports of the resident's grid, open ones first (newest
    first), then the fixed ones (the latest fixed first); `PAGE_SIZE` a page."""
    if not ReportPermissions.can_see_grid_reports(actor) or actor.residence is None:
        raise NotAllowed(N_("Only residents who have joined a village can see its reports."))
    village = await get_or_missing(
        session, Village, actor.residence.village_id, N_("That village no longer exists.")
    )
    grid = await get_or_missing(
        session, Grid, actor.residence.grid_id, N_("That grid no longer exists.")
    )
    since = now - timedelta(days=RECENT_DAYS)
    query = (
        select(Task)
        .where(
            Task.village_id == village.id,
            Task.grid_id == grid.id,
            Task.kind == TaskKind.REPORT,
            col(Task.status).in_(OPEN)
            | (col(Task.status).in_(FIXED) & (col(Task.resolved_at) >= since)),
        )
        .order_by(col(Task.created_at).desc(), col(Task.id).desc())
        .limit(LISTED_MAX)
    )
    tasks = list((await session.exec(query)).all())
    open_ = [t for t in tasks if t.status in OPEN]
    fixed = sorted(
        (t for t in tasks if t.status in FIXED),
        key=lambda t: aware(t.resolved_at),  # type: ignore[arg-type,return-value]
        reverse=True,
    )
    ordered = open_ + fixed
    pages = max(1, -(-len(ordered) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    items = await _neighbour_reports(session, shown, actor.person_id, now, tz)
    return GridReports(village, grid, items, page, pages, len(open_), len(fixed))


async def _followable(session: AsyncSession, actor: Actor, task_id: int) -> Task:
    """A neighbour's report this person may follow from their grid's list or the hint,
    checked on every press: still their grid's, still open, not theirs."""
    task = await session.get(Task, task_id)
    if task is None or task.kind != TaskKind.REPORT:
        raise NotFound(N_("That task no longer exists."))
    await session.refresh(task)
    if task.reporter_id == actor.person_id:
        raise AlreadyDone(N_("This is your own report: you hear of every change already."))
    if not ReportPermissions.can_follow_in_grid(actor, task):
        raise NotAllowed(N_("You can follow only the reports of your own grid."))
    if task.status not in OPEN:
        raise RuleError(
            N_("This report is no longer open: it is {status} now."),
            status=Term(reports.STATUS_NAMES[TaskStatus(task.status)]),
        )
    return task


async def follow_from_list(
    session: AsyncSession, actor: Actor, task_id: int, now: datetime
) -> reports.TaskView:
    """关注 on the grid's list: the person hears of every change of the report."""
    await _followable(session, actor, task_id)
    return await reports.follow(session, actor, task_id, now)


# --- the duplicate hint --------------------------------------------------------------------


def comparable(text: str) -> str:
    """A text as the likeness compares it: NFKC, letters and digits only (no spaces,
    punctuation or pictographs)."""
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN").casefold()


def text_likeness(first: str, second: str) -> float:
    """0–100: rapidfuzz's Indel similarity of the two texts' characters."""
    a, b = comparable(first), comparable(second)
    if not a or not b:
        return 0.0
    return fuzz.ratio(a, b)


def places_meet(place: str, text: str, task: Described) -> bool:
    """Whether the place given (or the report's) is found in the other's place or words."""
    pairs = [(place, task.location + task.description), (task.location, place + text)]
    for given, other in pairs:
        needle, hay = comparable(given), comparable(other)
        if len(needle) >= 2 and hay and fuzz.partial_ratio(needle, hay) >= PLACE_MATCH:
            return True
    return False


def likeness(*, category_id: int | None, text: str, place: str, task: Described) -> float:
    """How much a report being filed looks like an open one (see the module's notes)."""
    same_kind = category_id is not None and category_id == task.category_id
    meet = places_meet(place, text, task)
    if not comparable(text):  # a voice note: only the kind and the place
        return float(HINT_THRESHOLD) if same_kind and meet else 0.0
    score = text_likeness(text, task.description)
    score += CATEGORY_WEIGHT if same_kind else -CATEGORY_WEIGHT
    if meet:
        score += PLACE_WEIGHT
    return score


async def similar_open_reports(
    session: AsyncSession,
    actor: Actor,
    *,
    category_id: int | None,
    text: str,
    place: str,
    now: datetime,
    tz: ZoneInfo,
) -> list[NeighbourReport]:
    """Up to `HINTS_MAX` open reports of the person's own grid that look like theirs, the
    likest first; none of theirs and none they follow already."""
    if not ReportPermissions.can_report(actor) or actor.residence is None:
        return []
    residence = actor.residence
    # The likeness needs four columns: plain rows, and whole tasks only for those shown.
    # Those the person follows are left out in the same statement.
    followed = select(TaskFollower.task_id).where(
        TaskFollower.task_id == Task.id, TaskFollower.person_id == actor.person_id
    )
    query = (
        select(Task.id, Task.category_id, Task.description, Task.location)
        .where(
            Task.village_id == residence.village_id,
            Task.grid_id == residence.grid_id,
            Task.kind == TaskKind.REPORT,
            col(Task.status).in_(OPEN),
            col(Task.reporter_id).is_distinct_from(actor.person_id),
            ~followed.exists(),
        )
        .order_by(col(Task.created_at).desc())
        .limit(SCANNED_MAX)
    )
    candidates = (await session.exec(query)).all()
    scored = [
        (likeness(category_id=category_id, text=text, place=place, task=row), row.id)
        for row in candidates
    ]
    best = sorted(((s, i) for s, i in scored if s >= HINT_THRESHOLD), key=lambda pair: -pair[0])[
        :HINTS_MAX
    ]
    if not best:
        return []
    loaded = {
        t.id: t
        for t in (
            await session.exec(select(Task).where(col(Task.id).in_([i for _s, i in best])))
        ).all()
    }
    shown = [loaded[i] for _s, i in best if i in loaded]
    return await _neighbour_reports(session, shown, actor.person_id, now, tz, followed=set())


async def follow_instead(
    session: AsyncSession, actor: Actor, task_id: int, now: datetime
) -> reports.TaskView:
    """就是这个，关注它: the person follows the neighbour's report instead of filing the same
    problem again; recorded once (a duplicate avoided in /gridstats) and audited."""
    task = await _followable(session, actor, task_id)
    view = await reports.follow(session, actor, task_id, now)
    assert task.id is not None
    if await add_unique(
        session,
        FollowedInstead(
            village_id=task.village_id,
            grid_id=task.grid_id,
            task_id=task.id,
            person_id=actor.person_id,
            at=now,
        ),
    ):
        audit.record(
            session,
            "task.follow_instead",
            actor_id=actor.person_id,
            village_id=task.village_id,
            task_id=task.id,
            number=task.number,
            grid_id=task.grid_id,
        )
    return view


# --- the weekly post -----------------------------------------------------------------------

WEEKLY_SHOWN = 10  # reports listed under each heading of the post
WEEKLY_WEEKDAY = 0  # Monday: the post is about the week that just ended
WEEKLY_HOUR = 8  # local time


@dataclass
class PostChoice:
    """A grid whose weekly post the person may turn on or off."""

    village: Village
    grid: Grid
    enabled: bool
    groups: int  # bound groups of the grid


async def post_choices(session: AsyncSession, actor: Actor) -> list[PostChoice]:
    """The grids whose weekly post this person may set: every grid of the villages they
    administer, and the grids they work in."""
    query = select(Grid).order_by(col(Grid.village_id), col(Grid.id))
    if not actor.is_district_admin:
        query = query.where(
            col(Grid.village_id).in_(actor.admin_villages())
            | col(Grid.id).in_(actor.worker_grids())
        )
    found = [
        g
        for g in (await session.exec(query)).all()
        if ReportPermissions.can_set_weekly_post(actor, g.village_id, g.id or 0)
    ]
    villages = {
        v.id: v
        for v in (
            await session.exec(
                select(Village).where(col(Village.id).in_({g.village_id for g in found}))
            )
        ).all()
    }
    ids = [g.id for g in found]
    posts = {
        p.grid_id: p
        for p in (
            await session.exec(select(GridReportPost).where(col(GridReportPost.grid_id).in_(ids)))
        ).all()
    }
    groups = dict(
        (
            await session.exec(
                select(BoundChat.grid_id, func.count())
                .where(
                    col(BoundChat.grid_id).in_(ids),
                    col(BoundChat.unbound_at).is_(None),
                )
                .group_by(col(BoundChat.grid_id))
            )
        ).all()
    )
    return [
        PostChoice(
            villages[g.village_id],
            g,
            bool(posts.get(g.id) and posts[g.id].enabled),  # type: ignore[union-attr]
            int(groups.get(g.id, 0)),
        )
        for g in found
    ]


async def set_weekly_post(
    session: AsyncSession, actor: Actor, grid_id: int, on: bool, now: datetime
) -> GridReportPost:
    """Turn a grid's weekly post on or off (its village's admins, or its workers)."""
    grid = await get_or_missing(session, Grid, grid_id, N_("That grid no longer exists."))
    if not ReportPermissions.can_set_weekly_post(actor, grid.village_id, grid_id):
        raise NotAllowed(
            N_("Only this grid's workers and the village admins can change its weekly post.")
        )
    post = await session.get(GridReportPost, grid_id)
    if post is not None:
        await session.refresh(post)
        if post.enabled == on:
            raise AlreadyDone(
                N_("The weekly post is on already.") if on else N_("The weekly post is off.")
            )
    else:
        post = GridReportPost(grid_id=grid_id, village_id=grid.village_id)
    post.enabled, post.changed_at, post.changed_by = on, now, actor.person_id
    session.add(post)
    audit.record(
        session,
        "report.weekly_post",
        actor_id=actor.person_id,
        village_id=grid.village_id,
        grid_id=grid_id,
        enabled=on,
    )
    await session.flush()
    return post


async def posts_on(session: AsyncSession) -> list[GridReportPost]:
    query = select(GridReportPost).where(col(GridReportPost.enabled))
    return list((await session.exec(query.order_by(col(GridReportPost.grid_id)))).all())


@dataclass
class WeekProgress:
    """A grid's week for its group: filed in the week, fixed in the week, and (`open_shown`)
    what is still open (and late) when the post is made."""

    village: Village
    grid: Grid
    new: list[NeighbourReport]
    fixed: list[NeighbourReport]
    still_open: list[NeighbourReport]
    open_shown: bool = True

    @property
    def late(self) -> list[NeighbourReport]:
        return [r for r in self.still_open if r.late]

    @property
    def empty(self) -> bool:
        return not (self.new or self.fixed or self.still_open)


async def week_progress(
    session: AsyncSession,
    grid_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    tz: ZoneInfo,
    *,
    with_open: bool = True,
) -> WeekProgress:
    """The reports of one grid for the week [start, end); with `with_open`, also those still
    open at `now` (a catch-up tells them once, with the latest week)."""
    grid = await get_or_missing(session, Grid, grid_id, N_("That grid no longer exists."))
    village = await get_or_missing(
        session, Village, grid.village_id, N_("That village no longer exists.")
    )
    base = select(Task).where(Task.grid_id == grid_id, Task.kind == TaskKind.REPORT)
    new = (
        await session.exec(
            base.where(col(Task.created_at) >= start, col(Task.created_at) < end).order_by(
                col(Task.created_at)
            )
        )
    ).all()
    fixed = (
        await session.exec(
            base.where(
                col(Task.status).in_(FIXED),
                col(Task.resolved_at) >= start,
                col(Task.resolved_at) < end,
            ).order_by(col(Task.resolved_at))
        )
    ).all()
    still_open = (
        (
            await session.exec(
                base.where(col(Task.status).in_(OPEN)).order_by(col(Task.created_at))
            )
        ).all()
        if with_open
        else []
    )
    return WeekProgress(
        village,
        grid,
        await _neighbour_reports(session, list(new), None, now, tz),
        await _neighbour_reports(session, list(fixed), None, now, tz),
        await _neighbour_reports(session, list(still_open), None, now, tz),
        with_open,
    )
