"""Texts and keyboards of votes: the card in the groups, the result, the reminder.

Shared by the handlers and the vote jobs. The card and the result are written in the bot's
default language (a group has many readers); reminders in each person's own. A secret vote's
card shows only how many have voted; nobody's choice is ever written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import outbox, votes
from storage.errors import N_
from storage.models.votes import (
    DecideRule,
    Proposal,
    ProposalStatus,
    Vote,
    VoteOption,
    VoteStatus,
)
from storage.votes import (
    OPTION_MAX,
    Cast,
    Confirmation,
    Confirmed,
    VoteView,
    proposal_code,
)
from views.dates import moment_title
from views.i18n import tr


def local_time(moment: datetime, tz: ZoneInfo, locale: str | None = None) -> str:
    """12月1日 19:00 (views/dates.py), in `locale` (None: the language of the update)."""
    return moment_title(moment, tz, locale)


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
    """Per option: its count and the share of voters who picked it; with paper ballots, the
    online and paper counts too."""
    lines = []
    for option in view.options:
        total = view.total(option)
        line = tr(
            locale,
            "• {option}: {count} ({share})",
            option=hd.quote(option.label),
            count=total,
            share=percent(total, view.voters),
        )
        if view.paper:
            line += tr(
                locale,
                " — online {online}, paper {paper}",
                online=view.counts.get(option.id or 0, 0),
                paper=view.paper.get(option.id or 0, 0),
            )
        lines.append(line)
    return lines


def rule_line(view: VoteView, locale: str | None) -> str:
    who = (
        tr(locale, "one vote per household")
        if view.vote.per_household
        else tr(locale, "one vote per person")
    )
    if view.vote.stakeholders and view.proposal is not None:
        return tr(
            locale,
            "Who may vote: the residents concerned by agenda item {code} (its proposer, the "
            "residents who followed it before the vote began and the council's participants), "
            "{rule}.",
            code=proposal_code(view.proposal),
            rule=who,
        )
    if view.grids:
        return tr(
            locale,
            "Who may vote: approved residents of {grids} in {village}, {rule}.",
            grids=hd.quote("、".join(view.grids)),
            village=hd.quote(view.village.name),
            rule=who,
        )
    return tr(
        locale,
        "Who may vote: approved residents of {village}, {rule}.",
        village=hd.quote(view.village.name),
        rule=who,
    )


def decide_line(view: VoteView, locale: str | None) -> list[str]:
    """How many one may pick and which options the vote decides (a pick-several vote, or one
    decided by majority); nothing for a plain one-choice vote."""
    vote = view.vote
    if vote.max_picks == 1 and vote.decide_rule == DecideRule.TOP:
        return []
    if vote.decide_rule == DecideRule.MAJORITY:
        rule = tr(locale, "every option picked by more than half of the voters is chosen")
    else:
        rule = tr(locale, "the {count} most picked options are chosen", count=vote.max_picks)
    if vote.max_picks == 1:
        return [tr(locale, "How it is decided: {rule}.", rule=rule)]
    return [
        tr(
            locale,
            "Pick up to {count} of {options}; {rule}.",
            count=vote.max_picks,
            options=len(view.options),
            rule=rule,
        )
    ]


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
        *decide_line(view, locale),
        tr(locale, "Deadline: {deadline}", deadline=local_time(vote.deadline, tz, locale)),
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
    if vote.max_picks > 1:
        press = tr(
            locale,
            "Press the options you pick (press one again to take it back), then press "
            "✔ Confirm: only confirmed picks are counted. You can change them until the "
            "deadline.",
        )
    else:
        press = tr(locale, "Press a button to vote. You can change your vote until the deadline.")
    lines += ["", press]
    return "\n".join(lines)


def card_markup(view: VoteView, locale: str | None = None) -> dict[str, Any]:
    assert view.vote.id is not None
    buttons = [
        {
            "text": option.label,
            "callback_data": VoteCast(vote_id=view.vote.id, option_id=option.id or 0).pack(),
        }
        for option in view.options
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if view.vote.max_picks > 1:
        confirm = VoteConfirm(vote_id=view.vote.id).pack()
        mine = VoteMine(vote_id=view.vote.id).pack()
        rows.append(
            [
                {"text": tr(locale, "✔ Confirm"), "callback_data": confirm},
                {"text": tr(locale, "🔍 My picks"), "callback_data": mine},
            ]
        )
    return {"inline_keyboard": rows}


TOAST_MAX = 200  # Telegram's limit for the answer to a press


def fitted(compose: Callable[..., str], *lists: list[str]) -> str:
    """`compose(*listed)`, each list of labels joined by 、, within TOAST_MAX: the labels are cut
    shorter until it fits."""
    text = ""
    for room in (OPTION_MAX, 12, 6, 3):
        listed = [
            "、".join(label if len(label) <= room else label[:room] + "…" for label in labels)
            for labels in lists
        ]
        text = compose(*listed)
        if len(text) <= TOAST_MAX:
            return text
    return text[: TOAST_MAX - 1] + "…"


def sentences(*parts: str) -> str:
    """Sentences one after the other: a space after an English full stop, none after 。."""
    text = ""
    for part in filter(None, parts):
        text += part if not text or text.endswith(("。", "！", "？", "）")) else " " + part
    return text


def labels_of(options: list[VoteOption]) -> list[str]:
    return [o.label for o in options]


def press_toast(result: Cast, locale: str | None = None) -> str:
    """A press on a pick-several card: what the draft holds now, and that it counts only after
    ✔ Confirm (in a secret vote, how many, not which)."""
    vote, count = result.vote, len(result.picks)
    head = ""
    if not result.picked:
        head = (
            tr(locale, "Taken back.")
            if vote.secret
            else tr(locale, "Taken back: {option}.", option=result.option.label)
        )
    if count == 0:
        body = tr(locale, "Nothing is picked now.")
        tail = (
            tr(locale, "What you confirmed before still counts.")
            if result.confirmed
            else tr(locale, "Press the options you pick, then “✔ Confirm”.")
        )
        return fitted(lambda: sentences(head, body, tail))
    tail = tr(locale, "When you are done, press “✔ Confirm”: only then is it counted.")
    if vote.secret:
        body = tr(locale, "Picked so far: {count} (kept secret).", count=count)
        return fitted(lambda: sentences(head, body, tail))
    return fitted(
        lambda listed: sentences(
            head,
            tr(locale, "Picked so far: {count}: {options}.", count=count, options=listed),
            tail,
        ),
        labels_of(result.picks),
    )


def confirm_answer(result: Confirmed, locale: str | None = None) -> str:
    """✔ Confirm: what counts now (an alert only the voter sees; in a secret vote, how many,
    not which: 🔍 says which)."""
    if result.vote.secret and result.picks:
        return secret_confirm_answer(result, locale)
    if result.outcome in (Confirmation.CAST, Confirmation.CHANGED):
        message = N_(
            "Confirmed: {options}. You can still change them until the deadline; after a "
            "change, press Confirm again."
        )
    elif result.outcome == Confirmation.UNCHANGED:
        message = N_("Nothing changed: your picks are already counted: {options}.")
    elif result.picks:
        message = N_(
            "Nothing is picked now, so nothing was changed. What you confirmed before still "
            "counts: {options}."
        )
    else:
        return tr(locale, NOTHING_PICKED)
    return fitted(lambda listed: tr(locale, message, options=listed), labels_of(result.picks))


def secret_confirm_answer(result: Confirmed, locale: str | None) -> str:
    count = len(result.picks)
    if result.outcome in (Confirmation.CAST, Confirmation.CHANGED):
        return tr(
            locale,
            "Confirmed: your {count} picks are counted, and they stay secret. You can still "
            "change them until the deadline; after a change, press Confirm again.",
            count=count,
        )
    if result.outcome == Confirmation.UNCHANGED:
        return tr(
            locale,
            "Nothing changed: your {count} picks are already counted, and they stay secret.",
            count=count,
        )
    return tr(
        locale,
        "Nothing is picked now, so nothing was changed. The {count} picks you confirmed "
        "before still count.",
        count=count,
    )


NOTHING_PICKED = N_(
    "You have not picked anything yet. Press the options you pick, then “✔ Confirm”."
)


def my_picks_answer(
    vote: Vote, counted: list[VoteOption], draft: list[VoteOption], locale: str | None = None
) -> str:
    """🔍 My picks: what counts, and what is picked but not confirmed yet (an alert)."""
    still_open = vote.status == VoteStatus.OPEN
    if not counted:
        if not still_open:
            return tr(locale, "You did not vote in this vote.")
        if not draft:
            return tr(locale, NOTHING_PICKED)
        return fitted(
            lambda listed: tr(
                locale,
                "Not counted yet: you picked {options}. Press “✔ Confirm” to count them.",
                options=listed,
            ),
            labels_of(draft),
        )
    if still_open and draft != counted:
        return fitted(
            lambda counted_listed, draft_listed: tr(
                locale,
                "Counted: {counted}. Picked but not confirmed yet: {draft}. Press “✔ Confirm” "
                "to count these instead.",
                counted=counted_listed,
                draft=draft_listed or tr(locale, "nothing"),
            ),
            labels_of(counted),
            labels_of(draft),
        )

    def mine(listed: str) -> str:
        text = tr(
            locale,
            "Your picks ({count} of at most {most}): {options}.",
            count=len(counted),
            most=vote.max_picks,
            options=listed,
        )
        if still_open:
            text = sentences(
                text, tr(locale, "They are counted. You can change them until the deadline.")
            )
        return text

    return fitted(mine, labels_of(counted))


def result_text(view: VoteView, locale: str | None, tz: ZoneInfo) -> str:
    """The closed card and the result post: per option, turnout, quorum."""
    vote = view.vote
    lines = [tr(locale, "🗳 <b>Result: {question}</b>", question=hd.quote(vote.question))]
    lines += proposal_line(locale, view.proposal)
    lines += [
        tr(locale, "Closed at {deadline}.", deadline=local_time(vote.deadline, tz, locale)),
        *([rule_line(view, locale)] if view.grids or vote.stakeholders else []),
        *decide_line(view, locale),
        *tally_lines(view, locale),
        tr(
            locale,
            "Turnout: {voters} of {eligible} ({share})",
            voters=view.online_voters,
            eligible=view.eligible,
            share=percent(view.online_voters, view.eligible),
        ),
    ]
    if view.paper:
        lines.append(
            tr(
                locale,
                "Paper ballots: {paper} more voters; {voters} in all.",
                paper=view.paper_voters,
                voters=view.voters,
            )
        )
    if vote.max_picks > 1 or vote.decide_rule != DecideRule.TOP:
        chosen = "、".join(hd.quote(o.label) for o in view.winners)
        lines.append(
            tr(locale, "Chosen: {options}", options=chosen)
            if chosen
            else tr(locale, "No option is chosen.")
        )
    if vote.quorum_percent is not None:
        lines.append(
            tr(locale, "Quorum of {percent}%: reached.", percent=vote.quorum_percent)
            if view.quorum_reached
            else tr(locale, "Quorum of {percent}%: not reached.", percent=vote.quorum_percent)
        )
    return "\n".join(lines)


def answer_line(proposal: Proposal, merged_into: Proposal | None, locale: str | None) -> str:
    """One answered proposal, as the village may read it: its code, title and answer, never
    its author (the public answer respects anonymity by naming nobody)."""
    if merged_into is not None:
        answer = tr(
            locale,
            "merged into {code} {title}",
            code=proposal_code(merged_into),
            title=hd.quote(merged_into.title),
        )
    else:
        answer = tr(locale, PROPOSAL_STATUS_NAMES[proposal.status])
        if proposal.answer:
            answer += tr(locale, ": {reason}", reason=hd.quote(proposal.answer))
    return tr(
        locale,
        "• {code} {title} — {answer}",
        code=proposal_code(proposal),
        title=hd.quote(proposal.title),
        answer=answer,
    )


def answers_post(
    village: str,
    month_title: str,
    answered: list[tuple[Proposal, Proposal | None]],
    locale: str | None,
) -> str:
    """The monthly 书记信箱回复 post in the village's groups."""
    lines = [
        tr(
            locale,
            "📮 <b>{village} · answers to residents' proposals, {month}</b>",
            village=hd.quote(village),
            month=month_title,
        )
    ]
    lines += [answer_line(p, into, locale) for p, into in answered]
    lines += ["", tr(locale, "Every proposal gets an answer. Send yours with /propose.")]
    return "\n".join(lines)


async def post_result(
    session: AsyncSession,
    view: VoteView,
    locale: str | None,
    tz: ZoneInfo,
    now: datetime,
    *,
    batch: str,
) -> None:
    """The result into every card (edited) and as a post in each of the vote's groups."""
    text = result_text(view, locale, tz)
    cards = await votes.cards_of(session, view.vote.id or 0)
    for card, message_id in cards:
        if message_id is not None and await votes.claim_card_edit(
            session, card, votes.digest(text, None), now, force=True
        ):
            outbox.enqueue(
                session, card.chat_id, text, method="editMessageText", message_id=message_id
            )
    for chat_id in sorted({card.chat_id for card, _ in cards}):
        outbox.enqueue(session, chat_id, text, batch=batch)


def reminder_text(view: VoteView, locale: str | None, tz: ZoneInfo) -> str:
    if view.vote.max_picks > 1:
        return tr(
            locale,
            "🗳 Reminder: the vote “{question}” in {village} closes at {deadline}. You have not "
            "voted yet: on the card in your village group, press the options you pick, then "
            "“✔ Confirm” (picks count only once confirmed).",
            question=hd.quote(view.vote.question),
            village=hd.quote(view.village.name),
            deadline=local_time(view.vote.deadline, tz, locale),
        )
    return tr(
        locale,
        "🗳 Reminder: the vote “{question}” in {village} closes at {deadline}. "
        "You have not voted yet: press a button on the card in your village group.",
        question=hd.quote(view.vote.question),
        village=hd.quote(view.village.name),
        deadline=local_time(view.vote.deadline, tz, locale),
    )


def invitation_text(view: VoteView, locale: str | None, tz: ZoneInfo) -> str:
    """To each person on the roll of a vote limited to its item's participants, privately."""
    assert view.proposal is not None
    return tr(
        locale,
        "🗳 The vote “{question}” on agenda item {code} has begun in {village}. Only the "
        "residents concerned by the item may vote, and you are one of them. Press the button "
        "below to vote here, or vote on the card in your village group; it closes at "
        "{deadline}.",
        question=hd.quote(view.vote.question),
        code=proposal_code(view.proposal),
        village=hd.quote(view.village.name),
        deadline=local_time(view.vote.deadline, tz, locale),
    )


def invitation_markup(view: VoteView, locale: str | None) -> dict[str, Any]:
    data = VoteOpen(vote_id=view.vote.id or 0).pack()
    return {"inline_keyboard": [[{"text": tr(locale, "🗳 Vote"), "callback_data": data}]]}


class VoteOpen(CallbackData, prefix="vo"):
    """Open an open vote's card in the private chat (from /agenda), to vote there."""

    vote_id: int


class VoteCast(CallbackData, prefix="vt"):
    """A press on a vote card in a group: checked again in storage.votes.cast."""

    vote_id: int
    option_id: int


class VoteConfirm(CallbackData, prefix="vk"):
    """✔ Confirm on a pick-several card: the presser's draft becomes their ballot (checked
    again in storage.votes.confirm)."""

    vote_id: int


class VoteMine(CallbackData, prefix="vm"):
    """🔍 on a pick-several card: the presser's own picks (and draft), told privately."""

    vote_id: int


class PaperVote(CallbackData, prefix="pv"):
    """/paper: the vote whose paper ballots an admin enters."""

    vote_id: int


class VoteRule(CallbackData, prefix="vr"):
    village_id: int
    per_household: bool


PROPOSAL_STATUS_NAMES = {
    ProposalStatus.NEW: N_("waiting for the village committee"),
    ProposalStatus.ON_AGENDA: N_("on the agenda"),
    ProposalStatus.DECLINED: N_("declined"),
    ProposalStatus.VOTING: N_("being voted on"),
    ProposalStatus.DECIDED: N_("decided"),
    ProposalStatus.MERGED: N_("merged into another proposal"),
    ProposalStatus.DROPPED: N_("dropped by the council"),
}
