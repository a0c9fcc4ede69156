"""Voice notes: the rules of what is accepted, and where they are kept.

A voice note longer than a minute, or larger than a bot may fetch from Telegram, is refused
with a kind word (an elderly resident may hold the button too long). Speech to text is an
optional hook, off by default: `set_transcriber` installs a function; nothing is downloaded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import astuple, dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import N_, RuleError
from storage.models.voice import VoiceNote, VoiceOf
from storage.text import normalise_text

MAX_SECONDS = 60
MAX_BYTES = 20 * 1024 * 1024  # what a bot may download (getFile)
TRANSCRIPT_MAX = 1000

Transcriber = Callable[[str], Awaitable[str]]  # a file id -> its words
_transcriber: list[Transcriber] = []


def set_transcriber(transcriber: Transcriber | None) -> None:
    """Install (or remove) the speech-to-text hook; none by default."""
    _transcriber.clear()
    if transcriber is not None:
        _transcriber.append(transcriber)


@dataclass(frozen=True)
class Voice:
    """A voice note as it arrived, before it is kept."""

    file_id: str
    duration: int
    file_size: int | None = None
    transcript: str = ""


def as_kept(spoken: Voice) -> list[Any]:
    """A voice note as a conversation keeps it until the flow files it (plain JSON)."""
    return list(astuple(spoken))


def from_kept(kept: Sequence[Any] | None) -> Voice | None:
    """The voice note a conversation kept (`as_kept`), if any."""
    return Voice(*kept) if kept else None


def check(file_id: str, duration: int | None, file_size: int | None) -> Voice:
    """A voice note that may be kept, or the kind refusal."""
    if duration is not None and duration > MAX_SECONDS:
        raise RuleError(
            N_(
                "That voice note is {seconds} seconds long; please keep it to one minute. "
                "Say the most important part, or type it."
            ),
            seconds=duration,
        )
    if file_size is not None and file_size > MAX_BYTES:
        raise RuleError(N_("That voice note is too large. Please send a shorter one."))
    return Voice(file_id=file_id, duration=max(0, duration or 0), file_size=file_size)


async def transcribe(voice: Voice) -> Voice:
    """The note with its words, if a speech-to-text hook is installed (else as it is). A
    failing hook is ignored: the sound itself is kept and sent."""
    if not _transcriber:
        return voice
    try:
        words = await _transcriber[0](voice.file_id)
    except Exception:  # noqa: BLE001 - an optional extra never fails the filing
        return voice
    text = normalise_text(words)[:TRANSCRIPT_MAX]
    return Voice(voice.file_id, voice.duration, voice.file_size, text)


def keep(
    session: AsyncSession, kind: VoiceOf, object_id: int, voice: Voice, added_by: int | None
) -> VoiceNote:
    note = VoiceNote(
        kind=kind,
        object_id=object_id,
        file_id=voice.file_id,
        duration=voice.duration,
        file_size=voice.file_size,
        transcript=voice.transcript,
        added_by=added_by,
    )
    session.add(note)
    return note


async def notes_of(session: AsyncSession, kind: VoiceOf, object_id: int) -> list[VoiceNote]:
    query = (
        select(VoiceNote)
        .where(VoiceNote.kind == kind, VoiceNote.object_id == object_id)
        .order_by(col(VoiceNote.id))
    )
    return list((await session.exec(query)).all())


def length(seconds: int) -> str:
    """0:23, as a player shows it."""
    return f"{seconds // 60}:{seconds % 60:02d}"
