"""Texts and keyboards of votes: the card in the groups, the result, the reminder.

Shared by the handlers and the vote jobs. The card and the result are written in the bot's
default language (a group has many readers); reminders in each person's own. A secret vote's
card shows only how many have voted; nobody's choice is ever written anywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.text_decorations import html_decoration as hd

from storage.models.votes import Proposal
from storage.votes import VoteView, proposal_code
from views.i18n import tr


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.0f}%" if whole else "—"


def proposal_line(locale: str | None, proposal: Proposal | None) -> list[str]:
    if proposal is None:
        return []
    return [
        tr(
            locale,
            "Agenda item {code}: {title}",
            code=proposal_code(proposal),
            title=hd.quote(proposal.title),
        )
    ]


def tally_lines(view: VoteView, locale: str | None) -> list[str]:
    return [
        tr(
            locale,
            "• {option}: {count} ({share})",
            option=hd.quote(option.label),
            count=view.counts.get(option.id or 0, 0),
            share=percent(view.counts.get(option.id or 0, 0), view.voters),
        )
        for option in view.options
    ]


def rule_line(view: VoteView, locale: str | None) -> str:
    who = (
        tr(locale, "one vote per household")
        if view.vote.per_household
        else tr(locale, "one vote per person")
    )
    return tr(
        locale,
        "Who may vote: approved residents of {village}, {rule}.",
        village=hd.quote(view.village.name),
        rule=who,
    )


def quorum_line(view: VoteView, locale: str | None) -> list[str]:
    if view.vote.quorum_percent is None:
        return []
    line = tr(
        locale,
        "Quorum: {percent}% of those who may vote ({needed}).",
        percent=view.vote.quorum_percent,
        needed=view.quorum_needed,
    )
    return [line]


def card_text(view: VoteView, locale: str | None, tz: ZoneInfo) -> str:
    """The open card: the question, the rule, the deadline, the count (and the tally)."""
    vote = view.vote
    lines = [tr(locale, "🗳 <b>Vote: {question}</b>", question=hd.quote(vote.question))]
    lines += proposal_line(locale, view.proposal)
    lines += [
        rule_line(view, locale),
        tr(locale, "Deadline: {deadline}", deadline=local_time(vote.deadline, tz)),
        *quorum_line(view, locale),
        "",
        tr(
            locale,
            "Voted so far: {voters} of {eligible}",
            voters=view.voters,
            eligible=view.eligible,
        ),
    ]
    if view.show_tally:
        lines += tally_lines(view, locale)
    else:
        lines.append(tr(locale, "Secret vote: the tally is shown when the vote closes."))
    lines += [
        "",
        tr(locale, "Press a button to vote. You can change your vote until the deadline."),
    ]
    return "\n".join(lines)


def card_markup(view: VoteView) -> dict[str, Any]:
    assert view.vote.id is not None
    buttons = [
        {
            "text": option.label,
            "callback_data": VoteCast(vote_id=view.vote.id, option_id=option.id or 0).pack(),
        }
        for option in view.options
    ]
    return {"inline_keyboard": [buttons[i : i + 2] for i in range(0, len(buttons), 2)]}


def result_text(view: VoteView, locale: str | None, tz: ZoneInfo) -> str:
    """The closed card and the result post: per option, turnout, quorum."""
    vote = view.vote
    lines = [tr(locale, "🗳 <b>Result: {question}</b>", question=hd.quote(vote.question))]
    lines += proposal_line(locale, view.proposal)
    lines += [
        tr(locale, "Closed at {deadline}.", deadline=local_time(vote.deadline, tz)),
        *tally_lines(view, locale),
        tr(
            locale,
            "Turnout: {voters} of {eligible} ({share})",
            voters=view.voters,
            eligible=view.eligible,
            share=percent(view.voters, view.eligible),
        ),
    ]
    if vote.quorum_percent is not None:
        lines.append(
            tr(locale, "Quorum of {percent}%: reached.", percent=vote.quorum_percent)
            if view.quorum_reached
            else tr(locale, "Quorum of {percent}%: not reached.", percent=vote.quorum_percent)
        )
    return "\n".join(lines)


def reminder_text(view: VoteView, locale: str | None, tz: ZoneInfo) -> str:
    return tr(
        locale,
        "🗳 Reminder: the vote “{question}” in {village} closes at {deadline}. "
        "You have not voted yet: press a button on the card in your village group.",
        question=hd.quote(view.vote.question),
        village=hd.quote(view.village.name),
        deadline=local_time(view.vote.deadline, tz),
    )


class VoteOpen(CallbackData, prefix="vo"):
    """Open an open vote's card in the private chat (from /agenda), to vote there."""

    vote_id: int


class VoteCast(CallbackData, prefix="vt"):
    """A press on a vote card in a group: checked again in storage.votes.cast."""

    vote_id: int
    option_id: int


class VoteRule(CallbackData, prefix="vr"):
    village_id: int
    per_household: bool
