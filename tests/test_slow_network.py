"""The vote and report stories over a realistic network: every Bot API call answers 60 ms late
(from mainland China it is often more). Replies go out after the commit, so no transaction
waits on the network, and the stories pass as they do on a fast one."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests import test_story_reports as report_story
from tests import test_story_votes as vote_story
from tests.databases import BACKENDS, postgres_server_url
from tests.harness import World, running_world

RTT_MS = 60


@pytest.fixture(scope="module", params=BACKENDS)
async def slow_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    if request.param == "postgres" and not postgres_server_url():
        pytest.skip("TEST_DATABASE_URL is not set")
    folder = tmp_path_factory.mktemp("slow")
    async with running_world(request.param, folder, rtt_ms=RTT_MS) as world:
        yield world


@pytest.mark.timeout(240)
async def test_the_vote_story_over_a_60_ms_network(slow_world: World) -> None:
    await vote_story.test_a_proposal_is_voted_on_in_the_group_and_closed_by_the_deadline(
        slow_world
    )


@pytest.mark.timeout(240)
async def test_the_report_story_over_a_60_ms_network(slow_world: World) -> None:
    await report_story.test_a_reports_whole_life(slow_world)


async def test_a_press_is_edited_without_waiting_for_its_answer(slow_world: World) -> None:
    """After the commit a press's answer (the end of its spinner) and its edit go out side by
    side: a slow answer does not hold the edit back."""
    fake = slow_world.fake
    visitor = slow_world.person(7_000_090, "Visitor")
    choices = await visitor.say("/language", expect="语言")
    fake.set_latency("answerCallbackQuery", 1.0)
    try:
        mark, started = fake.mark(), time.monotonic()
        edited = await visitor.tap(choices, "English")
        took = time.monotonic() - started
        answer = await fake.wait_for_call(
            "answerCallbackQuery", lambda call: call.status is not None, after=mark, timeout=5
        )
    finally:
        fake.set_latency("answerCallbackQuery", 0)
    assert "English" in (edited.text or "")
    assert took < 0.9  # the 1 s answer still on its way
    assert answer.ok
