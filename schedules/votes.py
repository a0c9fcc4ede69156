"""Vote jobs: refresh the cards at a bounded rate, remind non-voters once, close at the deadline.

* `vote_cards` (every 5 s): a card whose text would change is edited, at most once per
  `CARD_EDIT_INTERVAL` (6 s), so a burst of presses costs a group at most 10 edits a minute,
  inside Telegram's 20 messages a minute per group. No period: the conditional update on the
  card's last edit makes two runs at once edit once.
* `vote_reminder` (every 10 min): a day before the deadline, claims `v<id>` and writes once to
  every eligible person who has not voted.
* `vote_close` (every minute, and at start): claims `v<id>` for every open vote past its deadline,
  closes it, records the result, edits the cards to show it and posts it in the groups; a vote
  on an agenda item that passed makes it a planned project (its author and followers are told).
  Run twice or after downtime, a vote is closed and posted once.
* `proposal_answers` (the 1st, 09:00): last month's answers to residents' proposals (书记信箱回复)
  in the village's groups, once per month and village, missed months caught up (at most 3).
"""

from __future__ import annotations

from datetime import time
from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import council, org, outbox, periods, votes
from storage import jobs as job_runs
from views.council import announce_project, post_to_groups
from views.dates import month_title
from views.i18n import locale_of
from views.votes import answers_post, card_markup, card_text, post_result, reminder_text


async def refresh_cards(ctx: JobContext) -> dict[str, Any]:
    locale = locale_of(None)
    edits = 0
    for vote in await votes.open_votes(ctx.session):
        assert vote.id is not None
        view = await votes.vote_view(ctx.session, vote.id)
        text, markup = card_text(view, locale, ctx.tz), card_markup(view, locale)
        shown = votes.digest(text, markup)
        for card, message_id in await votes.cards_of(ctx.session, vote.id):
            if message_id is None:
                continue  # not sent yet
            if await votes.claim_card_edit(ctx.session, card, shown, ctx.now):
                outbox.enqueue(
                    ctx.session,
                    card.chat_id,
                    text,
                    method="editMessageText",
                    message_id=message_id,
                    reply_markup=markup,
                )
                edits += 1
    return {"edits": edits} if edits else {}


async def remind_voters(ctx: JobContext) -> dict[str, Any]:
    reminded: dict[str, int] = {}
    for vote in await votes.due_to_remind(ctx.session, ctx.now):
        period = f"v{vote.id}"
        if not await ctx.claim(period) or not await votes.mark_reminded(
            ctx.session, vote, ctx.now
        ):
            continue
        view = await votes.vote_view(ctx.session, vote.id or 0)
        people = await votes.non_voters(ctx.session, vote)
        for person in people:
            text = reminder_text(view, locale_of(person), ctx.tz)
            outbox.enqueue(ctx.session, person.telegram_id, text, batch=f"vote_reminder:{period}")
        await ctx.record(period, {"reminded": len(people)})
        reminded[period] = len(people)
    return reminded


async def close_votes(ctx: JobContext) -> dict[str, Any]:
    locale = locale_of(None)
    closed: dict[str, int] = {}
    for vote in await votes.due_to_close(ctx.session, ctx.now):
        period = f"v{vote.id}"
        if not await ctx.claim(period) or not await votes.close_vote(ctx.session, vote, ctx.now):
            continue
        view = await votes.vote_view(ctx.session, vote.id or 0)
        await post_result(
            ctx.session, view, locale, ctx.tz, ctx.now, batch=f"vote_result:{period}"
        )
        project = await council.project_from_vote(ctx.session, vote, ctx.now)
        if project is not None:  # passed: the item is a planned project; its people are told
            await announce_project(ctx.session, project, groups=False)
        await ctx.record(period, {"turnout": view.voters, "eligible": view.eligible})
        closed[period] = view.voters
    return closed


ANSWERS = "proposal_answers"
ANSWERS_AT = time(9, 0)  # on the 1st, the month before
ANSWERS_CAP = 3  # months a catch-up still posts


async def post_answers(ctx: JobContext) -> dict[str, Any]:
    """书记信箱回复: on the 1st, each village's groups get last month's answers to proposals
    (titles and answers, no author). Claimed per month and village; after downtime the missed
    months are posted, oldest first, at most three; a month with no answer stays quiet."""
    locale = locale_of(None)
    newest = periods.shift("monthly", periods.latest_monthly(ctx.now_local, 1, ANSWERS_AT), -1)
    posted: dict[str, int] = {}
    for village in await org.villages_for(ctx.session, None):
        last = await job_runs.last_period_ending(ctx.session, ctx.job, f"/v{village.id}")
        months = periods.span("monthly", last.partition("/v")[0], newest) if last else [newest]
        for month in months[-ANSWERS_CAP:]:
            period = f"{month}/v{village.id}"
            if not await ctx.claim(period):
                continue
            start, end = periods.month_bounds(month, ctx.tz)
            answered = await votes.answered_between(ctx.session, village.id or 0, start, end)
            if answered:
                text = answers_post(village.name, month_title(month, locale), answered, locale)
                await post_to_groups(
                    ctx.session, village.id or 0, lambda _locale, text=text: text, batch=ctx.job
                )
                posted[period] = len(answered)
            await ctx.record(period, {"answers": len(answered)})
    return posted


CARDS = register(
    Job(
        name="vote_cards",
        description="Refresh vote cards in the groups (batched edits)",
        trigger={"trigger": "interval", "seconds": 5},
        run=refresh_cards,
    )
)
REMINDER = register(
    Job(
        name="vote_reminder",
        description="Remind eligible non-voters a day before a vote's deadline",
        trigger={"trigger": "interval", "minutes": 10},
        run=remind_voters,
    )
)
CLOSE = register(
    Job(
        name="vote_close",
        description="Close votes at their deadline and post the results",
        trigger={"trigger": "interval", "minutes": 1},
        run=close_votes,
    )
)
ANSWERS_JOB = register(
    Job(
        name=ANSWERS,
        description="Post last month's answers to residents' proposals in the groups",
        trigger={"trigger": "cron", "day": 1, "hour": ANSWERS_AT.hour, "minute": 0},
        run=post_answers,
    )
)
