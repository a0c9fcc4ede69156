"""Who may do what with activities: pure checks over an `Actor`, tested without Telegram."""

from __future__ import annotations

from collections.abc import Collection

from storage.models.activities import Activity, ActivityStatus, Audience
from storage.permissions.org import Actor, OrgPermissions


class ActivityPermissions:
    """Every press (sign-up, check-in, a name on the list) is checked here again."""

    @staticmethod
    def can_organise(actor: Actor, village_id: int, grid_ids: Collection[int]) -> bool:
        """Village admins, and grid workers for their own grids (or the whole village)."""
        if OrgPermissions.can_administer(actor, village_id):
            return True
        mine = {r.grid_id for r in actor.roles if r.village_id == village_id and r.grid_id}
        mine &= actor.worker_grids()
        if not mine:
            return False
        return not grid_ids or set(grid_ids) <= mine

    @staticmethod
    def can_run(actor: Actor, activity: Activity) -> bool:
        """Show the check-in code, tick names, close: its organiser or the village's admins."""
        return actor.person_id == activity.created_by or OrgPermissions.can_administer(
            actor, activity.village_id
        )

    @staticmethod
    def in_audience(actor: Actor, activity: Activity, tags: Collection[str]) -> bool:
        """Approved residents of the village, of its grids, or with its tag."""
        residence = actor.residence
        if not actor.is_approved_resident or residence is None:
            return False
        if residence.village_id != activity.village_id:
            return False
        if activity.audience == Audience.GRIDS:
            return residence.grid_id in set(activity.grid_ids or [])
        if activity.audience == Audience.TAG:
            return activity.tag in set(tags)
        return True

    @classmethod
    def can_sign_up(cls, actor: Actor, activity: Activity, tags: Collection[str]) -> bool:
        return activity.status == ActivityStatus.OPEN and cls.in_audience(actor, activity, tags)

    @staticmethod
    def can_tag(actor: Actor, village_id: int) -> bool:
        return OrgPermissions.can_administer(actor, village_id)
