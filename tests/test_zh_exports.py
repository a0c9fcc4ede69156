"""The workbooks a Chinese village gets hold no English: every cell of the points month and the
votes year, headers and values, is scanned like the bot's messages (tests/zh_text.py)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from exports import points as points_export
from exports.votes import export_votes
from storage import org, points, votes
from storage.db import SessionFactory, unit_of_work
from tests.test_points import NOW as POINTS_NOW
from tests.test_points import TZ, build, claim, item
from tests.test_votes import NOW, SHANGHAI, make_place, press
from tests.zh_text import english_words, raw_values, status_values
from views.i18n import PoI18n


@pytest.fixture(autouse=True)
def i18n() -> None:
    PoI18n().activate()


def english_cells(book: object) -> list[str]:
    values = status_values()
    found = []
    for sheet in book.worksheets:  # type: ignore[attr-defined]
        cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
        found.extend(
            f"{sheet.title}: {text!r}"
            for text in [sheet.title, *cells]
            if english_words(text) or raw_values(text, values)
        )
    return found


async def test_the_points_workbook_holds_no_english(sessions: SessionFactory) -> None:
    town = await build(sessions)
    made = await claim(sessions, town.other, town.village, "V02")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, made, POINTS_NOW, TZ)
        r03 = await item(session, town.village, "R03")
        entry = await points.award(
            session,
            town.reviewer,
            household_id=town.households[0],
            person_id=town.resident.person_id,
            item_id=r03.id or 0,
            reason="在地头焚烧秸秆",
            now=POINTS_NOW,
            tz=TZ,
        )
        appeal = await points.appeal(
            session, town.neighbour, entry.id or 0, "不是我家", POINTS_NOW
        )
    async with unit_of_work(sessions) as session:  # upheld: a correction entry
        await points.decide_appeal(
            session, town.second_reviewer, appeal.id or 0, uphold=True, now=POINTS_NOW, tz=TZ
        )
    async with sessions() as session:
        data = await points_export.month_xlsx(session, town.village, "2026-03", TZ, "zh")
    assert english_cells(load_workbook(io.BytesIO(data))) == []


@pytest.mark.parametrize("secret", [False, True])
async def test_the_votes_workbook_holds_no_english(
    sessions: SessionFactory, tmp_path: Path, secret: bool
) -> None:
    place = await make_place(sessions)
    async with unit_of_work(sessions) as session:
        vote = await votes.create_vote(
            session,
            place.admin,
            village_id=place.village_id,
            question="修不修村东的桥？",
            options=["修", "不修"],
            deadline=NOW + timedelta(days=1),
            secret=secret,
            quorum_percent=50,
            now=NOW,
        )
        vote_id = vote.id or 0
        options = await votes.options_of(session, vote_id)
    await press(sessions, place, place.residents[0], vote_id, options[0].id or 0)
    out = tmp_path / "votes.xlsx"
    async with sessions() as session:
        village = await org.get_village(session, place.village_id)
        await export_votes(session, village.name, 2026, out, SHANGHAI, "zh")
    assert english_cells(load_workbook(out)) == []
