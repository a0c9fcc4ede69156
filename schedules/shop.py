"""The points shop's year (一年一清零): on 1 January the closed year's orders still waiting are
cancelled and their holds released (the goods go back to stock, the household is told), so
nothing of the old year's points is spent in the new one. Claimed per village and year
(`2026/v3`): run twice, or after downtime (up to two years back), a year is settled once.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import org, periods, shop

YEARS_BACK = 2


async def settle(ctx: JobContext) -> dict[str, Any]:
    newest = int(periods.latest_yearly(ctx.now_local, 1, 1, time(0))) - 1
    settled: dict[str, int] = {}
    for village in await org.villages_for(ctx.session, None):
        for year in range(newest - YEARS_BACK + 1, newest + 1):
            period = f"{year}/v{village.id}"
            if not await ctx.claim(period):
                continue
            count = await shop.settle_year(ctx.session, village.id or 0, year, ctx.now)
            await ctx.record(period, {"released": count})
            if count:
                settled[period] = count
    return settled


YEARLY = register(
    Job(
        name="shop_yearly",
        description="一年一清零 for the points shop: release last year's holds",
        trigger={"trigger": "cron", "month": 1, "day": 1, "minute": "*/10"},
        run=settle,
    )
)
