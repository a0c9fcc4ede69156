"""The council notice (every 10 minutes, and at start): `notice_days` before each village's
monthly council, once per meeting (period `2026-12/v3`), every participant gets the agenda
privately and the bound groups get the public agenda with Follow buttons.

Only villages with items on the agenda get a notice. A run after downtime still inside the
window sends the notice late (once); a meeting that already started gets none.
"""

from __future__ import annotations

from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import council, org, outbox
from views.council import follow_markup, participant_notice, post_to_groups, public_agenda
from views.i18n import locale_of

NAME = "council_notice"


async def send_notices(ctx: JobContext) -> dict[str, Any]:
    sent: dict[str, int] = {}
    for due in await council.notice_due(ctx.session, ctx.now, ctx.tz):
        if not await ctx.claim(due.period):
            continue
        opened = await council.open_meeting(ctx.session, due.village_id, due.starts_at, ctx.now)
        if opened is None:  # made by an earlier run under another period key: nothing to do
            continue
        _meeting, items = opened
        village = await org.get_village(ctx.session, due.village_id)
        participants = await council.members(ctx.session, due.village_id)
        batch = f"{NAME}:{due.period}"
        for member, person in participants:
            text = participant_notice(
                village.name, due.starts_at, items, member.category, locale_of(person), ctx.tz
            )
            outbox.enqueue(ctx.session, person.telegram_id, text, batch=batch)
        groups = await post_to_groups(
            ctx.session,
            due.village_id,
            lambda loc, v=village.name, s=due.starts_at, i=items: public_agenda(
                v, s, i, loc, ctx.tz
            ),
            markup=follow_markup(items, locale_of(None)),
            batch=batch,
        )
        result = {"items": len(items), "participants": len(participants), "groups": groups}
        await ctx.record(due.period, result)
        sent[due.period] = len(participants)
    return sent


NOTICE = register(
    Job(
        name=NAME,
        description="Send the council's agenda to its participants and groups ahead of it",
        trigger={"trigger": "interval", "minutes": 10},
        run=send_notices,
    )
)
