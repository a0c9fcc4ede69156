"""Callback data of every button (each under Telegram's 64 bytes).

A button is a suggestion, never a permission: handlers re-check the person, their role and the
object's state through storage on every press.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class FlowAction(CallbackData, prefix="fl"):
    """A step of the current wizard: confirm, back, skip, done, new, cancel."""

    action: str


class Pick(CallbackData, prefix="pk"):
    """A choice inside the current wizard (a village, grid, household, role...)."""

    what: str
    value: int


class Language(CallbackData, prefix="lang"):
    code: str


class DecideMembership(CallbackData, prefix="mb"):
    membership_id: int
    approve: bool


class BindGroup(CallbackData, prefix="bind"):
    village_id: int
    grid_id: int  # 0 = the whole village; -1 = pick the village first (see handlers/groups.py)


# --- consultation and voting ---------------------------------------------------------------


class VoteCast(CallbackData, prefix="vt"):
    """A press on a vote card in a group: checked again in storage.votes.cast."""

    vote_id: int
    option_id: int


class VoteRule(CallbackData, prefix="vr"):
    village_id: int
    per_household: bool


class ScreenProposal(CallbackData, prefix="ps"):
    proposal_id: int
    accept: bool


# --- the monthly council and projects ----------------------------------------------------------


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
