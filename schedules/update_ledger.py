"""Daily at 04:00: forget the ids of updates handled more than three days ago.

Telegram resends an update for a day at most, so older ids can never come back. The period
is the day; pruning twice changes nothing anyway.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import updates
from storage.periods import day_key, latest_daily

NAME = "update_ledger"
AT = time(4, 0)


async def run(ctx: JobContext) -> dict[str, Any]:
    period = day_key(latest_daily(ctx.now_local, AT))
    if not await ctx.claim(period):
        return {"period": period, "skipped": True}
    return {"period": period, "forgotten": await updates.prune(ctx.session, ctx.now)}


JOB = register(
    Job(
        name=NAME,
        description="Forget the ids of updates handled over three days ago",
        trigger={"trigger": "cron", "hour": AT.hour, "minute": AT.minute},
        run=run,
    )
)
