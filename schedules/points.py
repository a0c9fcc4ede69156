"""The points cycle: 一周一定 (weekly), 一月一公开 (monthly), 一季一奖励 (quarterly),
一年一清零 (yearly).

Each job looks at every village, works out the latest occurrence of its schedule (the weekly
time is the village's own), and claims the period per village (`2026-W48/v3`) before doing its
work, so a period is posted once per group even when the job runs twice or two processes run it.
After downtime every period since the village's last claimed one is done, oldest first, each
post naming its own period; at most `CAPS[kind]` of them (8 weeks, 3 months, …): older ones are
not posted but logged, and the village admins are told once (the catch-up at start and every
tick run the same function). A village that never ran gets only the latest period. A village
with nothing to say for a period is claimed and stays quiet.
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from datetime import time, timedelta
from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import jobs as job_runs
from storage import org, outbox, periods, points
from storage.models.org import Role, Village
from views.board_pdf import month_notice, month_pdf
from views.dates import month_title, period_title, quarter_title
from views.i18n import locale_of, tr
from views.points import (
    LINES_MAX,
    missed_posts,
    monthly_text,
    praise_png,
    quote,
    ranked_lines,
    weekly_text,
)

# How many missed periods a catch-up still posts; older ones are only logged and told.
CAPS: dict[periods.Kind, int] = {"weekly": 8, "monthly": 3, "quarterly": 4, "yearly": 2}

logger = logging.getLogger("linli.schedules.points")


async def due(ctx: JobContext, village: Village, key: str) -> bool:
    """Claim this village's period, unless it already ran (checked first: claims are cheap,
    but most ticks find nothing new)."""
    period = f"{key}/v{village.id}"
    if await job_runs.ran(ctx.session, ctx.job, period):
        return False
    return await ctx.claim(period)


async def plan(
    ctx: JobContext, kind: periods.Kind, newest: list[tuple[Village, str]]
) -> list[tuple[Village, list[str]]]:
    """Per village, the periods to do up to its `newest`, oldest first: those after the last
    one it ran for (only `newest` when it never ran), at most `CAPS[kind]`; older ones are
    logged and the village admins told once (`tell_skipped`)."""
    cap = CAPS[kind]
    lowest = periods.shift(kind, periods.key_of(kind, ctx.now_local.date()), -(cap + 2))
    last: dict[int, str] = {}
    for period in await job_runs.periods_from(ctx.session, ctx.job, lowest):
        key, sep, village_id = period.partition("/v")
        if sep and village_id.isdigit() and key > last.get(int(village_id), ""):
            last[int(village_id)] = key
    planned: list[tuple[Village, list[str]]] = []
    for village, key in newest:
        assert village.id is not None
        previous = last.get(village.id)
        if previous is None:  # nothing lately: long down, or never ran
            older = await job_runs.last_period_ending(ctx.session, ctx.job, f"/v{village.id}")
            previous = older.partition("/v")[0] if older else None
        keys = [key] if previous is None else periods.span(kind, previous, key)
        if len(keys) > cap:
            await tell_skipped(ctx, kind, village, keys[:-cap])
            keys = keys[-cap:]
        if keys:
            planned.append((village, keys))
    return planned


async def tell_skipped(
    ctx: JobContext, kind: periods.Kind, village: Village, skipped: list[str]
) -> None:
    """Periods missed beyond the cap: a log line, and one message to each village admin."""
    first, last = skipped[0], skipped[-1]
    logger.warning(
        "%s: village %s missed %d periods %s..%s, beyond the catch-up cap of %d: not posted",
        ctx.job,
        village.id,
        len(skipped),
        first,
        last,
        CAPS[kind],
    )
    notice = f"{last}/v{village.id}/cap"
    if not await ctx.claim(notice):
        return
    for admin in await org.village_admins(ctx.session, village.id or 0):
        locale = locale_of(admin)
        text = tr(
            locale,
            "{village}: the bot was not running for a while, so {count} {posts} from {first} "
            "to {last} were not posted. Only the latest {cap} are posted now.",
            village=quote(village.name),
            count=len(skipped),
            posts=missed_posts(kind, locale),
            first=period_title(kind, first, locale),
            last=period_title(kind, last, locale),
            cap=CAPS[kind],
        )
        outbox.enqueue(ctx.session, admin.telegram_id, text, batch=f"{ctx.job}:{notice}")
    await ctx.record(notice, {"skipped": skipped})


async def post_to_groups(
    ctx: JobContext, village_id: int, text: str, batch: str, **media: Any
) -> int:
    chats = await org.bound_chats(ctx.session, village_id)
    for chat in chats:
        outbox.enqueue(ctx.session, chat.chat_id, text, batch=batch)
        if media:
            outbox.enqueue(ctx.session, chat.chat_id, "", method="sendPhoto", batch=batch, **media)
    return len(chats)


# --- 一周一定 --------------------------------------------------------------------------------


async def run_weekly(ctx: JobContext) -> dict[str, Any]:
    posts = reminders = 0
    newest: list[tuple[Village, str]] = []
    for village in await org.villages_for(ctx.session, None):
        settings = await points.settings_of(ctx.session, village.id or 0)
        at = time(settings.weekly_hour, settings.weekly_minute)
        newest.append((village, periods.latest_weekly(ctx.now_local, settings.weekly_weekday, at)))
    for village, weeks in await plan(ctx, "weekly", newest):
        assert village.id is not None
        settings = await points.settings_of(ctx.session, village.id)
        for week in weeks:
            if not await due(ctx, village, week):
                continue
            # What waits now is told once, with the latest week (it carries over anyway).
            latest = week == weeks[-1]
            pending = await points.count_pending(ctx.session, village.id) if latest else 0
            posted, told = await confirm_week(ctx, village, settings, week, pending)
            posts += posted
            reminders += told
    return {"claimed": list(ctx.claimed), "posts": posts, "reminders": reminders}


async def confirm_week(
    ctx: JobContext,
    village: Village,
    settings: points.PointsSettings,
    week: str,
    pending: int,
) -> tuple[int, int]:
    """One claimed week of one village: the group post, and the reviewers told of `pending`."""
    assert village.id is not None
    end = points.weekly_occurrence(settings, week, ctx.tz)
    entries = await points.entries_between(ctx.session, village.id, end - timedelta(days=7), end)
    batch = f"points_weekly:{week}/v{village.id}"
    posts = reminders = 0
    if entries:
        text = weekly_text(village, week, entries, pending)
        posts = await post_to_groups(ctx, village.id, text, batch)
    if pending:
        for reviewer in await points.village_role_holders(ctx.session, village.id, Role.REVIEWER):
            locale = locale_of(reviewer)
            text = tr(
                locale,
                "{village}: {count} point claims are waiting. They carry into next week; "
                "please decide them with /review.",
                village=quote(village.name),
                count=pending,
            )
            outbox.enqueue(ctx.session, reviewer.telegram_id, text, batch=batch)
            reminders += 1
    await ctx.record(f"{week}/v{village.id}", {"entries": len(entries), "pending": pending})
    return posts, reminders


# --- 一月一公开 -------------------------------------------------------------------------------


async def run_monthly(ctx: JobContext) -> dict[str, Any]:
    posts = 0
    due_months: dict[str, list[tuple[Village, points.PointsSettings]]] = defaultdict(list)
    newest: list[tuple[Village, str]] = []
    settings_of: dict[int, points.PointsSettings] = {}
    for village in await org.villages_for(ctx.session, None):
        settings = settings_of[village.id or 0] = await points.settings_of(
            ctx.session, village.id or 0
        )
        occurrence = periods.latest_monthly(ctx.now_local, 1, time(settings.monthly_hour))
        newest.append((village, periods.shift("monthly", occurrence, -1)))
    for village, months in await plan(ctx, "monthly", newest):
        for month in months:
            if await due(ctx, village, month):
                due_months[month].append((village, settings_of[village.id or 0]))
    for month, villages in sorted(due_months.items()):  # oldest first
        lists = await points.praise_lists(
            ctx.session,
            month,
            ctx.tz,
            village_ids=[v.id or 0 for v, _s in villages],
            exposure_for={v.id or 0 for v, s in villages if s.exposure},
        )
        for village, settings in villages:
            praise = lists[village.id or 0]
            if praise.entries:
                issued = ctx.now_local.date()
                picture = praise_png(praise, None, exposure=settings.exposure, issued=issued)
                batch = f"points_monthly:{month}/v{village.id}"
                posts += await post_to_groups(
                    ctx,
                    village.id or 0,
                    monthly_text(praise, exposure=settings.exposure, top=settings.top),
                    batch,
                    photo_b64=base64.b64encode(picture).decode(),
                    filename=f"praise-{month}.png",
                )
                await send_notice_pdf(ctx, village, month, batch)
            await ctx.record(f"{month}/v{village.id}", {"households": praise.entries})
    return {"claimed": list(ctx.claimed), "posts": posts}


async def send_notice_pdf(ctx: JobContext, village: Village, month: str, batch: str) -> None:
    """The month's A4 notice (PDF) to each village admin, in their language, to print for the
    notice board."""
    issued = ctx.now_local.date()
    made: dict[str, str] = {}
    for admin in await org.village_admins(ctx.session, village.id or 0):
        locale = locale_of(admin)
        if locale not in made:
            notice = await month_notice(
                ctx.session, village.id or 0, month, ctx.tz, issued, locale
            )
            made[locale] = base64.b64encode(month_pdf(notice, locale)).decode()
        outbox.enqueue(
            ctx.session,
            admin.telegram_id,
            tr(
                locale,
                "{village}: the notice of {month} for the notice board, ready to print. "
                "/export has the sheets.",
                village=quote(village.name),
                month=month_title(month, locale),
            ),
            method="sendDocument",
            batch=batch,
            document_b64=made[locale],
            filename=f"{village.name}-notice-{month}.pdf",
        )


# --- 一季一奖励 -------------------------------------------------------------------------------


async def run_quarterly(ctx: JobContext) -> dict[str, Any]:
    granted = 0
    newest: list[tuple[Village, str]] = []
    for village in await org.villages_for(ctx.session, None):
        settings = await points.settings_of(ctx.session, village.id or 0)
        occurrence = periods.latest_quarterly(ctx.now_local, 1, time(settings.monthly_hour))
        newest.append((village, periods.shift("quarterly", occurrence, -1)))
    for village, quarters in await plan(ctx, "quarterly", newest):
        for quarter in quarters:
            granted += await reward_quarter(ctx, village, quarter)
    return {"claimed": list(ctx.claimed), "grants": granted}


async def reward_quarter(ctx: JobContext, village: Village, quarter: str) -> int:
    """One village's quarter, if not done yet: grant its rewards and tell; the grants made."""
    assert village.id is not None
    if not await due(ctx, village, quarter):
        return 0
    grants = await points.grant_quarter(ctx.session, village.id, quarter, ctx.tz, ctx.now)
    views = [g for g in await points.grants(ctx.session, village.id) if g.grant.quarter == quarter]
    batch = f"points_quarterly:{quarter}/v{village.id}"
    if views:
        lines = [
            tr(
                None,
                "<b>{village} · rewards for {quarter}</b>",
                village=quote(village.name),
                quarter=quarter_title(quarter),
            )
        ]
        lines += [
            tr(
                None,
                "• {household} ({grid}): {points} points — {reward}",
                household=quote(v.household),
                grid=quote(v.grid),
                points=v.grant.points,
                reward=quote(v.grant.reward),
            )
            for v in views[:LINES_MAX]
        ]
        lines.append(tr(None, "Congratulations! The village will hand the rewards over."))
        await post_to_groups(ctx, village.id, "\n".join(lines), batch)
        for admin in await org.village_admins(ctx.session, village.id):
            text = tr(
                locale_of(admin),
                "{village}: {count} households earned a reward for {quarter}. "
                "Mark each one handed over with /rewards.",
                village=quote(village.name),
                count=len(views),
                quarter=quarter_title(quarter, locale_of(admin)),
            )
            outbox.enqueue(ctx.session, admin.telegram_id, text, batch=batch)
    await ctx.record(f"{quarter}/v{village.id}", {"grants": len(grants)})
    return len(grants)


# --- 一年一清零 -------------------------------------------------------------------------------


async def run_yearly(ctx: JobContext) -> dict[str, Any]:
    closed = 0
    newest: list[tuple[Village, str]] = []
    for village in await org.villages_for(ctx.session, None):
        settings = await points.settings_of(ctx.session, village.id or 0)
        occurrence = periods.latest_yearly(ctx.now_local, 1, 1, time(settings.monthly_hour))
        newest.append((village, str(int(occurrence) - 1)))
    for village, years in await plan(ctx, "yearly", newest):
        for year in years:
            closed += await close_year(ctx, village, int(year))
    return {"claimed": list(ctx.claimed), "closed": closed}


async def close_year(ctx: JobContext, village: Village, year: int) -> int:
    """One village's year, if not closed yet: archive it and post the ranking; 1 if closed."""
    assert village.id is not None
    if not await due(ctx, village, str(year)):
        return 0
    settings = await points.settings_of(ctx.session, village.id)
    ranked = await points.close_year(ctx.session, village.id, year, ctx.tz, ctx.now)
    if ranked:
        lines = [
            tr(
                None,
                "<b>{village} · final points ranking of {year}</b>",
                village=quote(village.name),
                year=year,
            ),
            *ranked_lines(ranked[: settings.top]),
            "",
            tr(
                None,
                "The {year} points are archived (see /mypoints). "
                "Everyone starts {next} at zero. Thank you!",
                year=year,
                next=year + 1,
            ),
        ]
        await post_to_groups(
            ctx, village.id, "\n".join(lines), f"points_yearly:{year}/v{village.id}"
        )
    await ctx.record(f"{year}/v{village.id}", {"households": len(ranked)})
    return 1


WEEKLY = register(
    Job(
        name="points_weekly",
        description="一周一定: each village's week of points, posted at its set time",
        trigger={"trigger": "cron", "minute": "*/5"},
        run=run_weekly,
    )
)
MONTHLY = register(
    Job(
        name="points_monthly",
        description="一月一公开: last month's praise list and picture, on the 1st",
        trigger={"trigger": "cron", "day": 1, "minute": "*/10"},
        run=run_monthly,
    )
)
QUARTERLY = register(
    Job(
        name="points_quarterly",
        description="一季一奖励: households that reached a reward tier last quarter",
        trigger={"trigger": "cron", "month": "1,4,7,10", "day": 1, "minute": "*/10"},
        run=run_quarterly,
    )
)
YEARLY = register(
    Job(
        name="points_yearly",
        description="一年一清零: close last year, archive it and post the final ranking",
        trigger={"trigger": "cron", "month": 1, "day": 1, "minute": "*/10"},
        run=run_yearly,
    )
)
