"""Voice notes people send where text is asked (a report's description, a proposal, a claim's
note, a task's resolution note): Telegram keeps the sound, we keep its file id and length."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from storage.models.common import utcnow


class VoiceOf(StrEnum):
    """What a voice note belongs to."""

    REPORT = "report"  # a task's description
    RESOLUTION = "resolution"  # a task's resolution note
    CLAIM = "claim"
    PROPOSAL = "proposal"


class VoiceNote(SQLModel, table=True):
    __tablename__ = "voice_note"

    id: int | None = Field(default=None, primary_key=True)
    kind: VoiceOf = Field(max_length=16)
    object_id: int = Field(index=True)  # the task, claim or proposal
    file_id: str = Field(max_length=255)
    duration: int  # seconds
    file_size: int | None = None
    transcript: str = Field(default="", max_length=1000)
    added_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
