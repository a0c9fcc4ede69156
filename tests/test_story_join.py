"""The foundation's story, end to end through the fake Bot API: a district admin sets up a
village with two grids, appoints a grid worker, a resident joins and is approved, a group is
bound, and the pending reminder goes out once and not twice."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, func, select

from storage.models.common import AuditEntry, OutboxMessage
from storage.models.org import BoundChat, Membership, MembershipStatus
from tests.harness import DISTRICT_ADMIN_ID, World, link_code


async def test_a_village_is_set_up_and_residents_join(world: World) -> None:
    fake = world.fake
    async with world.app.sessions() as session:  # the shared database's rows before this story
        before = (await session.exec(select(func.max(OutboxMessage.id)))).one() or 0
    admin = world.person(DISTRICT_ADMIN_ID, "Admin")
    suffix = str(id(world))[-4:]  # village names are unique per database
    village = f"幸福村{suffix}"

    # The district admin speaks English; everyone else gets the default, Chinese.
    menu = await admin.say("/language")
    await admin.tap(menu, "English", expect="English")

    # /newvillage: name, grids (two messages, one with two lines), review, create.
    await admin.say("/newvillage", expect="What is its name?")
    await admin.say(village, expect="grids")
    await admin.say("一网格", expect="(1)")
    grids = await admin.say("二网格\n一网格", expect="(2)")
    review = await admin.tap(grids, "Done", expect="Create this village?")
    created = await admin.tap(review, "Create", expect="is set up with 2 grids")
    assert village in (created.text or "")

    # /appoint: a full-time grid worker of 一网格, by a one-time link.
    # Other tests may have made villages too: a district admin then picks ours first.
    roles = await admin.say("/appoint")
    if "Which role" not in (roles.text or ""):
        roles = await admin.tap(roles, village, expect="Which role")
    grid_menu = await admin.tap(roles, "Grid worker", expect="Which grid")
    kinds = await admin.tap(grid_menu, "一网格", expect="Full-time or part-time")
    link = await admin.tap(kinds, "full-time", expect="One-time link")
    role_code = link_code(link.text or "", "r_")

    worker = world.person(2000 + int(suffix) % 1000, "Wang")
    granted = await worker.say(f"/start {role_code}", expect="一网格")
    assert "专职网格员" in (granted.text or "")
    await fake.wait_for_message(admin.id, lambda m: "used your link" in (m.text or ""))
    # The link works once.
    other = world.person(2500 + int(suffix) % 1000, "Late")
    refused = await other.say(f"/start {role_code}")
    assert "已" in (refused.text or "") and "网格员" not in (refused.text or "")

    # /invite: the worker has one grid, so the link comes at once.
    invite = await worker.say("/invite", expect="start=g_")
    grid_code = link_code(invite.text or "", "g_")

    # A resident joins: name (a sticker and an over-long name are refused kindly first),
    # a new household, skips the phone, confirms.
    resident = world.person(3000 + int(suffix) % 1000, "Zhang")
    await resident.say(f"/start {grid_code}", expect=village)
    sticker_answer = await resident.send_and_wait(resident.user.send_sticker)
    assert "/cancel" in (sticker_answer.text or "")
    too_long = await resident.say("张" * 200)
    assert "32" in (too_long.text or "")
    households = await resident.say("张三", expect="户")
    label_prompt = await resident.tap(households, "➕")
    assert "3组 12号" in (label_prompt.text or "")
    await resident.say("3组 12号", expect="手机号")
    review = await resident.say("跳过", expect="张三")
    assert "3组 12号" in (review.text or "")
    submitted = await resident.tap(review, "✔")
    assert "一网格" in (submitted.text or "")

    # The worker gets the request (through the outbox) and approves it; the resident is told.
    push = await fake.wait_for_message(
        worker.id, lambda m: "张三" in (m.text or "") and bool(m.buttons())
    )
    approve_data = next(d for text, d in push.button_data().items() if "通过" in text)
    mark = fake.mark()
    decided = await worker.tap(push, "通过", expect="✔")
    assert "Wang" in (decided.text or "") and not decided.buttons()
    welcome = await fake.wait_for_message(resident.id, after=mark)
    assert village in (welcome.text or "") and "/help" in (welcome.text or "")

    # A second press of the same (stale) button does nothing more.
    toast = await worker.tap_for_toast(push, data=approve_data)
    assert "已" in toast
    await fake.assert_no_message(resident.id, within=0.5)

    me = await resident.say("/me", expect="张三")
    assert "3组 12号" in (me.text or "") and "一网格" in (me.text or "")

    # A group: the bot is added, a resident may not bind it, the admin binds it to the village.
    group = fake.group(-1_000_000 - int(suffix), "幸福村村民群")
    mark = fake.mark()
    await group.add_bot(admin.user)
    await fake.wait_for_message(group.id, lambda m: "/bindgroup" in (m.text or ""), after=mark)
    mark = fake.mark()
    await resident.user.send("/bindgroup", chat=group)
    await fake.wait_for_message(group.id, lambda m: "只有村管理员" in (m.text or ""), after=mark)
    mark = fake.mark()
    await admin.user.send("/bindgroup", chat=group)
    offer = await fake.wait_for_message(group.id, lambda m: bool(m.buttons()), after=mark)
    if "Which village should" in (offer.text or ""):  # other tests made villages too
        offer = await admin.tap(offer, village, expect="or grid")
    ours = f"{village} (whole village)"
    toast = await resident.tap_for_toast(offer, ours)
    assert "只有村管理员" in toast
    bound = await admin.tap(offer, ours, expect="automatic posts")
    assert village in (bound.text or "")

    # Another resident stays pending; a day later the daily reminder reaches the worker once.
    late = world.person(4000 + int(suffix) % 1000, "Li")
    await late.say(f"/start {grid_code}", expect=village)
    households = await late.say("李四", expect="户")
    await late.tap(households, "3组 12号", expect="手机号")
    review = await late.say("跳过", expect="李四")
    await late.tap(review, "✔")
    await fake.wait_for_message(
        worker.id, lambda m: "李四" in (m.text or "") and bool(m.buttons())
    )

    world.clock.advance(timedelta(hours=25))
    mark = fake.mark()
    result = await world.app.runtime.run("pending_reminder")
    assert result.get("reminders", 0) >= 1, result
    reminder = await fake.wait_for_message(
        worker.id, lambda m: "/pending" in (m.text or ""), after=mark
    )
    assert "李四" in (reminder.text or "") and "张三" not in (reminder.text or "")
    again = await world.app.runtime.run("pending_reminder")
    assert again.get("skipped"), again
    await fake.assert_no_message(worker.id, lambda m: "/pending" in (m.text or ""), within=0.7)

    # The bot is removed from the group: the binding ends.
    await group.remove_bot(admin.user)
    await fake.wait_idle(0.3)  # the removal gets no answer to wait for: until it is handled
    async with world.app.sessions() as session:
        bindings = (
            await session.exec(select(BoundChat).where(BoundChat.chat_id == group.id))
        ).all()
        assert len(bindings) == 1 and bindings[0].unbound_at is not None
        statuses = (await session.exec(select(Membership.status))).all()
        assert MembershipStatus.APPROVED in statuses and MembershipStatus.PENDING in statuses
        actions = set((await session.exec(select(AuditEntry.action))).all())
        assert {
            "village.create",
            "role.grant",
            "membership.approve",
            "group.bind",
            "group.unbind",
        } <= actions
        stuck = (  # of this story's sends (another test's row to a group it left may fail)
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.status == "failed", col(OutboxMessage.id) > before
                )
            )
        ).all()
        assert stuck == []
    world.clock.advance(-timedelta(hours=25))
