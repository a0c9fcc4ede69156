"""Who may do what with reports and tasks: pure checks, tested without Telegram."""

from __future__ import annotations

from storage.models.reports import Task, TaskKind
from storage.permissions.org import Actor


class ReportPermissions:
    """Who may do what with reports and tasks. Checked again on every button press."""

    @staticmethod
    def can_report(actor: Actor) -> bool:
        return actor.is_approved_resident

    @staticmethod
    def can_administer(actor: Actor, village_id: int) -> bool:
        return actor.is_district_admin or village_id in actor.admin_villages()

    @classmethod
    def can_act(cls, actor: Actor, task: Task) -> bool:
        """The task's grid workers and the village admins; nobody else."""
        return cls.can_administer(actor, task.village_id) or task.grid_id in actor.worker_grids()

    @classmethod
    def can_finish(cls, actor: Actor, task: Task) -> bool:
        """Resolving is for the owner (or an admin): a task has one owner once accepted."""
        return cls.can_administer(actor, task.village_id) or (
            task.owner_id == actor.person_id and cls.can_act(actor, task)
        )

    @staticmethod
    def can_answer_follow_up(actor: Actor, task: Task) -> bool:
        return task.kind == TaskKind.REPORT and task.reporter_id == actor.person_id

    @classmethod
    def can_view(cls, actor: Actor, task: Task) -> bool:
        return task.reporter_id == actor.person_id or cls.can_act(actor, task)

    @staticmethod
    def can_follow(actor: Actor, task: Task) -> bool:
        return (
            actor.is_approved_resident
            and actor.residence is not None
            and actor.residence.village_id == task.village_id
            and task.reporter_id != actor.person_id
        )

    @staticmethod
    def can_see_grid_reports(actor: Actor) -> bool:
        """看看邻居报的: an approved resident sees their own grid's reports."""
        return actor.is_approved_resident

    @classmethod
    def can_follow_in_grid(cls, actor: Actor, task: Task) -> bool:
        """From the grid's list or the duplicate hint: only a report of the person's own grid
        (the list and the hint never show another grid's)."""
        return (
            cls.can_follow(actor, task)
            and actor.residence is not None
            and actor.residence.grid_id == task.grid_id
        )

    @classmethod
    def can_set_weekly_post(cls, actor: Actor, village_id: int, grid_id: int) -> bool:
        """A grid's weekly post to its group: the village's admins, or the grid's own workers
        (those `org.grid_deciders` names for the grid when it has workers)."""
        return cls.can_administer(actor, village_id) or grid_id in actor.worker_grids()

    @classmethod
    def can_create_duty(cls, actor: Actor, village_id: int, grid_ids: set[int] | None) -> bool:
        """Admins for any grids of their village; workers for their own grids only."""
        if cls.can_administer(actor, village_id):
            return True
        return bool(grid_ids) and grid_ids is not None and grid_ids <= actor.worker_grids()

    @classmethod
    def can_send_notice(cls, actor: Actor, village_id: int, grid_id: int | None) -> bool:
        """A worker to their grid; an admin to any grid or the whole village."""
        if cls.can_administer(actor, village_id):
            return True
        return grid_id is not None and grid_id in actor.worker_grids()

    @classmethod
    def can_see_stats(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_administer(actor, village_id)

    @classmethod
    def can_configure(cls, actor: Actor, village_id: int) -> bool:
        return cls.can_administer(actor, village_id)
