"""Activity jobs: keep the cards' counts current, remind those signed up the day before.

* `activity_cards` (every 10 s): a card whose text would change is edited, at most once per
  run (so a burst of presses costs a group at most 6 edits a minute); the conditional update on
  the card's digest makes two runs at once edit once.
* `activity_reminder` (every 10 min): for an activity starting within a day, claims `a<id>`
  and writes once to everyone signed up (not to those still waiting). Run twice, by two
  processes or after downtime, each activity's reminder goes once.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from schedules.runtime import Job, JobContext, register
from storage import activities, outbox
from storage.models.activities import Activity, ActivityStatus
from views.activities import refresh_cards, reminder_text
from views.i18n import locale_of


async def refresh(ctx: JobContext) -> dict[str, Any]:
    locale = locale_of(None)
    query = select(Activity).where(Activity.status == ActivityStatus.OPEN)
    edits = 0
    for activity in (await ctx.session.exec(query)).all():
        edits += await refresh_cards(ctx.session, activity, ctx.tz, ctx.now, locale)
    return {"edits": edits} if edits else {}


async def remind(ctx: JobContext) -> dict[str, Any]:
    reminded: dict[str, int] = {}
    for activity in await activities.due_to_remind(ctx.session, ctx.now):
        period = f"a{activity.id}"
        if not await ctx.claim(period) or not await activities.mark_reminded(
            ctx.session, activity, ctx.now
        ):
            continue
        people = await activities.signed_people(ctx.session, activity.id or 0)
        for person in people:
            text = reminder_text(activity, ctx.tz, locale_of(person))
            outbox.enqueue(
                ctx.session, person.telegram_id, text, batch=f"activity_reminder:{period}"
            )
        await ctx.record(period, {"reminded": len(people)})
        reminded[period] = len(people)
    return reminded


CARDS = register(
    Job(
        name="activity_cards",
        description="Refresh the activity cards in the groups (sign-up counts)",
        trigger={"trigger": "interval", "seconds": 10},
        run=refresh,
    )
)
REMINDER = register(
    Job(
        name="activity_reminder",
        description="Remind those signed up the day before an activity",
        trigger={"trigger": "interval", "minutes": 10},
        run=remind,
    )
)
