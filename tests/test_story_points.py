"""The story of a month of points, end to end through the fake Bot API with a controlled clock:
claims (one with a photo), reviews with an approval and a rejection, a deduction and its
appeal, the weekly post, the monthly praise post with its picture, the .xlsx for the notice
board, a quarter's rewards handed over, and the year's close."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from PIL import Image
from sqlmodel import select

from storage.models.points import EntryKind, PointEntry
from tests.harness import World
from tests.village_builder import VillagePlan
from tests.zh_text import english_words

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


async def test_a_month_of_points(world: World) -> None:
    fake = world.fake
    # The organisation, as the foundation's flows leave it: a village with two grids, three
    # households, two residents, two reviewers and an admin, and a bound group.
    cast = [("张三", "1组3号"), ("李四", "2组8号"), ("王审", "2组9号"), ("赵审", "2组9号")]
    plan = (
        VillagePlan("积分村{base}")
        .grid("一网格", "二网格")
        .household("1组3号", grid="一网格")
        .household("2组8号", grid="二网格")
        .household("2组9号", grid="二网格")
    )
    for name, home in cast:
        plan.resident(name, home=home)
    plan.reviewer("王审").reviewer("赵审").admin("孙书记").group("积分村村民群")
    v = await plan.build_in(world.app.sessions)
    village, group_id = v.village, v.group_id
    names = ("张三", "李四", "王审", "赵审", "孙书记")
    zhang, li, wang, zhao, sun = (world.person(v.person(n).telegram_id, n) for n in names)
    group = fake.group(group_id, "积分村村民群")
    world.clock.travel_to(local(2026, 3, 9, 10, 0))  # a Monday
    try:
        # The admin sets a reward tier: ≥ 2 points a quarter.
        rewards = await sun.say("/rewards", expect="季度奖励")
        prompt = await sun.tap(rewards, "新增奖励档次", expect="多少分")
        assert "60" in (prompt.text or "")
        await sun.say("2", expect="奖励什么")
        await sun.say("生活用品一份", expect="已新增档次")

        # 张三 claims a volunteer activity with a photo.
        kinds = await zhang.say("/claim", expect="哪一类")
        items = await zhang.tap(kinds, "志愿服务", expect="具体事项")
        ask = await zhang.tap(items, "参加志愿服务活动", expect="佐证")
        mark = fake.mark()
        await zhang.user.send_photo("周六清扫村口")
        review = await zhang.next_message(after=mark, expect="请核对")
        assert "已附照片" in (review.text or "")
        sent = await zhang.tap(review, "✔", expect="#")
        assert "+2" in (sent.text or "")
        del ask
        # 李四 claims a tidy courtyard with a note.
        kinds = await li.say("/claim", expect="哪一类")
        items = await li.tap(kinds, "人居环境", expect="具体事项")
        await li.tap(items, "庭院整洁", expect="佐证")
        review = await li.say("院子打扫干净了", expect="请核对")
        await li.tap(review, "✔", expect="#")
        mine = await li.say("/myclaims", expect="我的申报")
        assert "待审核" in (mine.text or "")

        # 王审 reviews: approves 张三's (with the photo shown), rejects 李四's with a reason.
        mark = fake.mark()
        card = await wang.say("/review", expect="申报 #")
        assert "张三" in (card.text or "") and "已附照片" in (card.text or "")
        photos = [m for m in fake.sent(wang.id)[mark:] if m.method == "sendPhoto"] or [
            m for m in fake.sent(wang.id) if m.method == "sendPhoto"
        ]
        assert photos, "the claim's photo is shown to the reviewer"
        approve_data = card.button_data()["✔ 通过"]
        mark = fake.mark()
        await wang.user.press(card, "✔ 通过")
        told = await fake.wait_for_message(
            zhang.id, lambda m: "已通过" in (m.text or ""), after=mark
        )
        assert "+2" in (told.text or "")
        second = await wang.next_message(after=mark, expect="李四")
        toast = await wang.tap_for_toast(card, data=approve_data)  # a stale double press
        assert "已经审核过" in toast
        asked = await wang.tap(second, "不通过", expect="理由")
        assert "#" in (asked.text or "")
        mark = fake.mark()
        await wang.say("照片看不清，请补拍", expect="未通过")
        rejected = await fake.wait_for_message(
            li.id, lambda m: "未通过" in (m.text or ""), after=mark
        )
        assert "照片看不清" in (rejected.text or "")

        # 王审 records a deduction for 李四's household; 李四 appeals; 赵审 withdraws it.
        grids_menu = await wang.say("/award", expect="哪个网格")
        households = await wang.tap(grids_menu, "二网格", expect="居民户")
        whom = await wang.tap(households, "2组8号", expect="记给谁")
        kinds = await wang.tap(whom, "全户", expect="哪一类")
        items = await wang.tap(kinds, "乡规民约", expect="具体事项")
        await wang.tap(items, "乱扔垃圾", expect="事由")
        mark = fake.mark()
        confirm = await wang.say("3月10日在河边倒垃圾", expect="记录")
        await wang.tap(confirm, "✔", expect="已通知")
        notice = await fake.wait_for_message(
            li.id, lambda m: "-2" in (m.text or "") and bool(m.buttons()), after=mark
        )
        await li.tap(notice, "申诉", expect="理由")
        mark = fake.mark()
        await li.say("那天我在外地，不是我家", expect="已发送给")
        appeal = await fake.wait_for_message(
            zhao.id, lambda m: "申诉" in (m.text or "") and bool(m.buttons()), after=mark
        )
        await fake.assert_no_message(wang.id, lambda m: "申诉理由" in (m.text or ""), within=0.3)
        mark = fake.mark()
        await zhao.tap(appeal, "撤销扣分", expect="扣分已撤销")
        await fake.wait_for_message(li.id, lambda m: "已被采纳" in (m.text or ""), after=mark)
        again = await li.tap_for_toast(notice, "申诉")  # once only
        assert "已经申诉过" in again

        # /mypoints and /leaderboard.
        balance = await zhang.say("/mypoints", expect="本人积分")
        assert "本周 2" in (balance.text or "")
        mark = fake.mark()
        await zhang.user.send("/leaderboard", chat=group)
        board = await fake.wait_for_message(
            group.id, lambda m: "本月积分排行" in (m.text or ""), after=mark
        )
        assert "1组3号" in (board.text or "")

        # Sunday 20:05: the week is confirmed in the group, once.
        world.clock.travel_to(local(2026, 3, 15, 20, 5))
        mark = fake.mark()
        weekly = await world.app.runtime.run("points_weekly")
        assert weekly.get("posts", 0) >= 1, weekly
        post = await fake.wait_for_message(
            group.id, lambda m: "周积分确认" in (m.text or ""), after=mark
        )
        assert "1组3号" in (post.text or "") and "2组8号" in (post.text or "")
        assert not english_words(post.text or ""), post.text  # the upheld appeal in words
        assert (await world.app.runtime.run("points_weekly"))["posts"] == 0
        await fake.assert_no_message(
            group.id, lambda m: "周积分确认" in (m.text or ""), within=0.3
        )

        # 1 April 09:05: March's praise list and its picture; the quarter's rewards.
        world.clock.travel_to(local(2026, 4, 1, 9, 5))
        mark = fake.mark()
        monthly = await world.app.runtime.run("points_monthly")
        assert monthly.get("posts", 0) >= 1, monthly
        praise = await fake.wait_for_message(
            group.id, lambda m: "光荣榜" in (m.text or ""), after=mark
        )
        assert "1组3号" in (praise.text or "")
        picture = await fake.wait_for_message(
            group.id, lambda m: m.method == "sendPhoto", after=mark
        )
        image = Image.open(io.BytesIO(picture.params["_file_bytes"]))
        assert image.format == "PNG"
        assert (await world.app.runtime.run("points_monthly"))["posts"] == 0

        mark = fake.mark()
        quarterly = await world.app.runtime.run("points_quarterly")
        assert quarterly.get("grants", 0) >= 1, quarterly
        post = await fake.wait_for_message(
            group.id, lambda m: "季度奖励" in (m.text or ""), after=mark
        )
        told = await fake.wait_for_message(
            sun.id, lambda m: "/rewards" in (m.text or ""), after=mark
        )
        owed = await sun.say("/rewards", expect="待发放（1）")
        assert "1组3号" in (owed.text or "")
        for shown in (post, told, owed):  # the quarter as people say it: 2026年第一季度
            assert not english_words(shown.text or ""), shown.text
            assert "2026年第一季度" in (shown.text or ""), shown.text
        await sun.tap(owed, "已发放", expect="已标记为已发放")
        after = await sun.say("/rewards", expect="待发放（0）")
        assert "没有待发放" in (after.text or "")

        # The admin downloads March for the notice board.
        months = await sun.say("/pointsexport", expect="哪个月")
        mark = fake.mark()
        await sun.user.press(months, "2026年3月")
        document = await fake.wait_for_message(
            sun.id, lambda m: m.method == "sendDocument", after=mark
        )
        book = load_workbook(io.BytesIO(document.params["_file_bytes"]))
        rows = list(book["积分明细"].iter_rows(values_only=True))
        entries = [r for r in rows[4:] if isinstance(r[0], datetime)]
        assert {r[7] for r in entries} == {2, -2}  # the deduction and its correction net out
        assert list(book["先进居民户"].iter_rows(values_only=True))[4][1] == "1组3号"

        # New Year's Day: the year is closed, posted and archived; everyone starts at zero.
        world.clock.travel_to(local(2027, 1, 1, 9, 5))
        mark = fake.mark()
        yearly = await world.app.runtime.run("points_yearly")
        assert yearly.get("closed", 0) >= 1, yearly
        final = await fake.wait_for_message(
            group.id, lambda m: "年度积分总排名" in (m.text or ""), after=mark
        )
        assert "1组3号" in (final.text or "")
        balance = await zhang.say("/mypoints", expect="本人积分")
        assert "本年 0" in (balance.text or "") and "2026年：2 分，第 1 名" in (balance.text or "")
        async with world.app.sessions() as session:
            kinds_ = (
                await session.exec(
                    select(PointEntry.kind).where(PointEntry.village_id == village.id)
                )
            ).all()
            assert sorted(kinds_) == sorted(
                [EntryKind.CLAIM, EntryKind.AWARD, EntryKind.CORRECTION]
            )
    finally:
        world.clock.travel_to(datetime.now(UTC) + timedelta(seconds=0))
