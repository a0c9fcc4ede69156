"""Texts and pushes of the monthly council and its projects, shared by the handlers and the jobs.

Group posts are written in the bot's default language (many readers); private messages in each
person's own. People's text is escaped. Everything for other chats goes through the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import council, org, outbox
from storage.errors import N_
from storage.models.council import MemberCategory, Project, ProjectStatus
from storage.models.org import Person
from storage.models.votes import Proposal
from storage.votes import proposal_code
from views.dates import moment_title
from views.i18n import locale_of, tr

CATEGORY_NAMES = {
    MemberCategory.COMMITTEE: N_("village committee (村两委)"),
    MemberCategory.BOARD: N_("collective economic organisation board"),
    MemberCategory.PARTY_REP: N_("party members' representative"),
    MemberCategory.RESIDENT_REP: N_("residents' representative"),
}
PROJECT_STATUS_NAMES = {
    ProjectStatus.PLANNED: N_("planned"),
    ProjectStatus.IN_PROGRESS: N_("in progress"),
    ProjectStatus.DONE: N_("done"),
    ProjectStatus.DROPPED: N_("dropped"),
}


def when(moment: datetime, tz: ZoneInfo) -> str:
    return moment_title(moment, tz)


def item_line(proposal: Proposal) -> str:
    return f"• {proposal_code(proposal)} {hd.quote(proposal.title)}"


def follow_markup(proposals: list[Proposal], locale: str | None) -> dict[str, Any]:
    """One "Follow" button per item (at most 10), for residents in the group."""
    return {
        "inline_keyboard": [
            [
                {
                    "text": tr(locale, "🔔 Follow {code}", code=proposal_code(p)),
                    "callback_data": FollowProposal(proposal_id=p.id or 0).pack(),
                }
            ]
            for p in proposals[:10]
        ]
    }


def public_agenda(
    village: str, starts_at: datetime, items: list[Proposal], locale: str | None, tz: ZoneInfo
) -> str:
    lines = [
        tr(
            locale,
            "📣 <b>Council (阳光议事会) of {village}: {when}</b>",
            village=hd.quote(village),
            when=when(starts_at, tz),
        ),
        tr(locale, "On the agenda:"),
        *(item_line(p) for p in items),
        "",
        tr(
            locale,
            "Press Follow to hear privately of an item's decision and how its work goes.",
        ),
    ]
    return "\n".join(lines)


def participant_notice(
    village: str,
    starts_at: datetime,
    items: list[Proposal],
    category: MemberCategory,
    locale: str | None,
    tz: ZoneInfo,
) -> str:
    lines = [
        tr(
            locale,
            "📣 You are invited to the council (阳光议事会) of {village} on {when}, as {category}."
            " Please prepare the items below.",
            village=hd.quote(village),
            when=when(starts_at, tz),
            category=tr(locale, CATEGORY_NAMES[category]),
        ),
        "",
        tr(locale, "On the agenda:"),
        *(item_line(p) for p in items),
    ]
    for proposal in items:
        if proposal.body:
            lines += ["", f"<b>{proposal_code(proposal)}</b> {hd.quote(proposal.body)}"]
    return "\n".join(lines)


def project_text(
    project: Project, proposal: Proposal, locale: str | None, *, note: str = ""
) -> str:
    lines = [
        tr(
            locale,
            "🏗 <b>{code} {title}</b>: {status}",
            code=proposal_code(proposal),
            title=hd.quote(proposal.title),
            status=tr(locale, PROJECT_STATUS_NAMES[project.status]),
        ),
        tr(locale, "Decision: {decision}", decision=hd.quote(project.decision)),
    ]
    if note:
        lines.append(tr(locale, "Note: {note}", note=hd.quote(note)))
    return "\n".join(lines)


async def tell_interested(
    session: AsyncSession, proposal: Proposal, text_for: Any, *, batch: str | None = None
) -> int:
    """Each of the author and the followers, in their own language."""
    people: list[Person] = await council.interested(session, proposal)
    for person in people:
        outbox.enqueue(session, person.telegram_id, text_for(locale_of(person)), batch=batch)
    return len(people)


async def post_to_groups(
    session: AsyncSession,
    village_id: int,
    text_for: Any,
    *,
    markup: dict[str, Any] | None = None,
    batch: str | None = None,
) -> int:
    chats = await org.bound_chats(session, village_id)
    for chat in chats:
        outbox.enqueue(
            session, chat.chat_id, text_for(locale_of(None)), reply_markup=markup, batch=batch
        )
    return len(chats)


async def announce_project(
    session: AsyncSession, project: Project, *, note: str = "", groups: bool = True
) -> None:
    """A project's status (or a note): to the village's groups, the author and the followers."""
    proposal = await council.get_proposal(session, project.proposal_id)
    if groups:
        finished = project.status in (ProjectStatus.DONE, ProjectStatus.DROPPED)
        markup = None if finished else follow_markup([proposal], locale_of(None))
        await post_to_groups(
            session,
            project.village_id,
            lambda loc: project_text(project, proposal, loc, note=note),
            markup=markup,
        )
    await tell_interested(
        session, proposal, lambda loc: project_text(project, proposal, loc, note=note)
    )


class ScreenProposal(CallbackData, prefix="ps"):
    proposal_id: int
    accept: bool


class MergeProposal(CallbackData, prefix="pm"):
    """Screening: merge this new proposal into another (a picker follows)."""

    proposal_id: int


class FollowProposal(CallbackData, prefix="pf"):
    """A resident follows a proposal from its public card (checked in storage.council.follow)."""

    proposal_id: int


class CouncilAction(CallbackData, prefix="cc"):
    """The /council menu of one village: schedule, participants, record, add, remove."""

    action: str
    village_id: int
    value: int = 0


class RecordItem(CallbackData, prefix="ri"):
    """After the meeting: decided / deferred / dropped for one agenda item."""

    item_id: int
    outcome: str


class ProjectMove(CallbackData, prefix="pj"):
    """A project's next status, or `note` for a progress note."""

    project_id: int
    to: str
