"""Changes to people, households and roles that other features must follow: a role ends
(its open tasks move on), two households merge (their points and ballots become one).

`storage.org` holds the organisation's own part of each change; this module, above it and the
features that hang on it (points, reports, votes), makes the whole change in one transaction.
What happens to points when a person changes household is written in docs/organisation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, points, reports, votes
from storage.models.org import Household, Person, Role
from storage.org import HeldRole
from storage.permissions.org import Actor
from storage.reports import TaskView


@dataclass(frozen=True)
class RoleEnded:
    held: HeldRole
    village: str
    tasks: list[TaskView]  # open tasks that move on (a grid worker's)
    to_admins: bool  # they go to the village admins: the grid has no other worker
    receivers: list[Person]  # who gets them
    waiting_reviews: int  # claims and appeals the other reviewers now decide (a reviewer's)
    reviewers_left: int


async def end_role(
    session: AsyncSession, actor: Actor, assignment_id: int, reason: str, now: datetime
) -> RoleEnded:
    """End a role (org.end_role's rules) and move on what the person held: a grid worker's
    open tasks go back to the grid's other workers, or the village admins (org.grid_deciders);
    a reviewer's village keeps its waiting claims for the other reviewers."""
    held = await org.end_role(session, actor, assignment_id, reason, now)
    row = held.assignment
    village = await org.get_village(session, row.village_id)
    tasks: list[TaskView] = []
    to_admins = False
    receivers: list[Person] = []
    waiting = reviewers_left = 0
    if row.role == Role.GRID_WORKER and row.grid_id is not None:
        tasks, to_admins = await reports.release_tasks_of(
            session, row.person_id, row.village_id, row.grid_id, now, actor_id=actor.person_id
        )
        receivers = await org.grid_deciders(session, row.village_id, row.grid_id)
    elif row.role == Role.REVIEWER:
        waiting = await points.waiting_reviews(session, row.village_id)
        reviewers_left = len(
            await org.people_with_role(session, Role.REVIEWER, village_id=row.village_id)
        )
    return RoleEnded(held, village.name, tasks, to_admins, receivers, waiting, reviewers_left)


@dataclass(frozen=True)
class Merged:
    keep: Household
    merged: Household
    entries_moved: int
    ballots_removed: int


async def merge_households(
    session: AsyncSession, actor: Actor, keep_id: int, merge_id: int, now: datetime
) -> Merged:
    """Two households that are one (typed differently): residents, points (ledger lines and
    claims) and the ballots of open per-household votes all count for the kept one; where
    both had voted, the later ballot is kept."""
    keep, merged = await org.merge_households(session, actor, keep_id, merge_id, now)
    assert keep.id is not None and merged.id is not None
    grid = await org.get_grid(session, keep.grid_id)
    moved = await points.follow_household_merge(session, merged.id, keep.id)
    removed = await votes.follow_household_merge(session, grid.village_id, merged.id, keep.id)
    await session.flush()
    return Merged(keep, merged, moved, removed)


@dataclass(frozen=True)
class EndPreview:
    tasks: int
    to_admins: bool
    waiting_reviews: int


async def preview_end_role(session: AsyncSession, held: HeldRole) -> EndPreview:
    """What `end_role` would move on, said before the admin confirms."""
    row = held.assignment
    if row.role == Role.GRID_WORKER and row.grid_id is not None:
        count, to_admins = await reports.tasks_to_release(session, row.person_id, row.grid_id)
        return EndPreview(count, to_admins, 0)
    if row.role == Role.REVIEWER:
        return EndPreview(0, False, await points.waiting_reviews(session, row.village_id))
    return EndPreview(0, False, 0)
