"""/help shows the groups of commands a person's roles allow, and no others."""

from __future__ import annotations

from handlers.common import help_text
from storage.models.org import MembershipStatus, Role
from storage.permissions.org import Actor, Residence, RoleHeld
from views.i18n import PoI18n


def test_help_is_grouped_by_role() -> None:
    resident = Actor(
        person_id=1,
        telegram_id=1,
        residence=Residence(
            membership_id=1,
            village_id=7,
            grid_id=70,
            household_id=5,
            status=MembershipStatus.APPROVED,
        ),
    )
    worker = Actor(
        person_id=2, telegram_id=2, roles=frozenset({RoleHeld(Role.GRID_WORKER, 7, 70)})
    )
    i18n = PoI18n(default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        stranger_help = help_text(None)
        resident_help = help_text(resident)
        worker_help = help_text(worker)
    assert "/me" in stranger_help and "/claim" not in stranger_help
    assert "Residents" in resident_help and "/report" in resident_help
    assert "Village admins" not in resident_help and "/invite" not in resident_help
    assert "Grid workers" in worker_help and "/invite" in worker_help
    assert "/behalf" in worker_help  # 代报: a report, a proposal or a claim for someone
    assert "/appoint" not in worker_help and "/claim" not in worker_help
