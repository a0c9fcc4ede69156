"""Public answers (书记信箱回复): each month the village's groups read how their proposals were
answered — titles and answers, never who sent them — once a month, missed months caught up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schedules import votes as vote_jobs
from schedules.runtime import Runtime
from storage import council, votes
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from tests.test_votes import SHANGHAI, make_place
from tests.village_builder import outbox_texts
from views.i18n import PoI18n

NOVEMBER = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


def answers_runtime(sessions: SessionFactory) -> Runtime:
    PoI18n().activate()
    return Runtime(sessions, Clock(), SHANGHAI, jobs={vote_jobs.ANSWERS: vote_jobs.ANSWERS_JOB})


async def test_last_months_answers_are_posted_once_without_their_authors(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    resident, admin = place.residents[0], place.admin
    async with unit_of_work(sessions) as session:
        made = []
        for title, anonymous in (
            ("村口路灯坏了", False),
            ("垃圾桶太少", True),
            ("村口的灯不亮", False),
            ("想建篮球场", False),
        ):
            made.append(
                await votes.submit_proposal(
                    session,
                    resident,
                    title=title,
                    body="",
                    anonymous=anonymous,
                    year=2026,
                    now=NOVEMBER,
                )
            )
        lamp, bins, same_lamp, court = made
        later = NOVEMBER + timedelta(days=2)
        await votes.screen_proposal(
            session, admin, lamp.id or 0, accept=True, answer=None, now=later
        )
        await votes.screen_proposal(
            session, admin, bins.id or 0, accept=True, answer=None, now=later
        )
        await council.merge_proposal(session, admin, same_lamp.id or 0, lamp.id or 0, later)
        await votes.screen_proposal(
            session, admin, court.id or 0, accept=False, answer="今年没有空地", now=later
        )
    runtime = answers_runtime(sessions)

    first = await runtime.run(vote_jobs.ANSWERS, at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    assert list(first.values()) == [4]
    again = await runtime.run(vote_jobs.ANSWERS, at=datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    assert again == {}
    [post] = await outbox_texts(sessions, place.group_id)
    assert "书记信箱回复（2026年11月）" in post
    assert "村口路灯坏了 —— 已列入议题" in post
    assert "村口的灯不亮 —— 已合并到" in post and "P-2026-0001" in post
    assert "想建篮球场 —— 未采纳：今年没有空地" in post
    assert "垃圾桶太少" in post
    assert "居民0" not in post  # nobody is named, anonymous or not

    # Down from December to February: January is posted (if it has answers), none twice.
    async with unit_of_work(sessions) as session:
        await votes.screen_proposal(
            session,
            admin,
            (
                await votes.submit_proposal(
                    session,
                    resident,
                    title="修水渠",
                    body="",
                    anonymous=False,
                    year=2026,
                    now=datetime(2027, 1, 5, 2, 0, tzinfo=UTC),
                )
            ).id
            or 0,
            accept=True,
            answer=None,
            now=datetime(2027, 1, 6, 2, 0, tzinfo=UTC),
        )
    caught_up = await runtime.run(vote_jobs.ANSWERS, at=datetime(2027, 2, 1, 3, 0, tzinfo=UTC))
    assert sorted(caught_up.values()) == [1]  # December had none and stays quiet
    texts = await outbox_texts(sessions, place.group_id)
    assert len(texts) == 2 and "2027年1月" in texts[1] and "修水渠" in texts[1]
