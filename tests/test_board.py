"""What a village posts on its notice board (三务公开栏), checked as its accountant would: every
sheet opened with openpyxl (title block, Chinese headers, widths, date cells, print setup, the
制表人 / 审核人 line, and no ballot choice in a public sheet); the month's A4 PDF read back with
pypdf (title, households, 公示期 line, the font embedded); the praise picture (long lines wrap
inside the frame, no glyph missing); the charts; dates as people say them; Open311 names;
and /export end to end through the bot."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from PIL import Image
from pypdf import PdfReader

from exports import council as council_export
from exports import points as points_export
from exports import reports as reports_export
from exports import votes as votes_export
from storage import council, org, points, reports
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import NotAllowed
from storage.models.council import ItemOutcome
from storage.models.org import (
    BoundChat,
    Grid,
    Household,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
)
from storage.points import Exposed, GridScore, PraiseList, Ranked
from storage.reports import GridFigures
from tests.harness import World
from tests.test_council import MEETING, proposal_on_agenda
from tests.test_council import runtime as council_runtime
from tests.test_points import NOW as POINTS_NOW
from tests.test_points import TZ, build, claim, item
from tests.test_reports import file, setup
from tests.test_votes import make_place, open_vote, press
from tools import board_samples
from views import board_pdf, charts, dates, pictures
from views.i18n import LOCALES, PoI18n, load_catalog
from views.points import BORDER, praise_png

HEADER_ROW = 4
A4 = "9"  # openpyxl keeps the paper size as text


@pytest.fixture(autouse=True)
def i18n() -> None:
    PoI18n().activate()


def cells(sheet: Worksheet) -> list[str]:
    return [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]


def check_board_sheet(
    sheet: Worksheet, title: str, headers: list[str], *, min_widths: dict[int, float]
) -> list[tuple[object, ...]]:
    """The layout every notice-board sheet shares; returns its data rows."""
    assert title in str(sheet["A1"].value)
    assert any(str(r).startswith("A1:") for r in sheet.merged_cells.ranges)
    assert "公开单位" in str(sheet["A2"].value) and "日期" in str(sheet["A2"].value)
    assert [c.value for c in sheet[HEADER_ROW]][: len(headers)] == headers
    assert sheet.freeze_panes == f"A{HEADER_ROW + 1}"
    assert sheet.print_title_rows == "$4:$4"
    assert sheet.page_setup.orientation == "landscape"
    assert str(sheet.page_setup.paperSize) == A4
    assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
    letters = "ABCDEFGHIJ"
    for index, width in min_widths.items():
        assert sheet.column_dimensions[letters[index]].width >= width
    everything = cells(sheet)
    assert any(c.startswith("制表人：") for c in everything)
    assert any(c.startswith("审核人：") for c in everything)
    rows = []
    for row in sheet.iter_rows(min_row=HEADER_ROW + 1):
        if row[0].value is None or str(row[0].value).startswith(("合计", "制表人")):
            continue
        if all(c.value is None for c in row[1:]):  # a note under the table
            continue
        assert all(c.alignment.wrap_text for c in row[: len(headers)] if c.value is not None)
        rows.append(tuple(c.value for c in row))
    return rows


# --- sheets ---------------------------------------------------------------------------------


async def test_the_points_sheets(sessions: SessionFactory) -> None:
    town = await build(sessions)
    made = await claim(sessions, town.other, town.village, "V02")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, made, POINTS_NOW, TZ)
        r01 = await item(session, town.village, "R01")
        await points.award(
            session,
            town.reviewer,
            household_id=town.households[0],
            person_id=None,
            item_id=r01.id or 0,
            reason="在村口乱堆柴草，影响通行，网格员劝说后仍未清理" * 2,
            now=POINTS_NOW,
            tz=TZ,
        )
        await points.change_settings(session, town.admin, town.village, POINTS_NOW, exposure=True)
        await org.set_household_head(session, town.admin, town.households[1], "李秀英")
    async with sessions() as session:
        data = await points_export.month_xlsx(
            session, town.village, "2026-03", TZ, "zh", date(2026, 4, 1)
        )
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["先进居民户", "网格排名", "反向曝光", "积分明细"]
    top = check_board_sheet(
        book["先进居民户"],
        "积分村 · 2026年3月积分光荣榜",
        ["名次", "户", "门牌", "网格", "积分"],
        min_widths={1: 20},
    )
    assert top[0][1:3] == ("李秀英户", "2号")  # the family's name, and the label beside it
    assert "2026年4月1日" in str(book["先进居民户"]["A2"].value)
    grids = check_board_sheet(
        book["网格排名"],
        "网格积分排名",
        ["名次", "网格", "参与户数", "积分", "户均积分"],
        min_widths={2: 12},
    )
    assert {r[1] for r in grids} == {"一网格", "二网格"}
    exposed = check_board_sheet(
        book["反向曝光"],
        "反向曝光名单",
        ["日期", "户", "网格", "事由", "积分"],
        min_widths={3: 40},
    )
    assert isinstance(exposed[0][0], datetime)
    entries_sheet = book["积分明细"]
    entries = check_board_sheet(
        entries_sheet,
        "积分明细",
        ["日期", "户", "网格", "人员", "事项编号", "类别", "事由", "积分"],
        min_widths={6: 36},
    )
    dated = entries_sheet.cell(row=HEADER_ROW + 1, column=1)
    assert dated.is_date and "年" in dated.number_format
    assert {r[4] for r in entries} == {"V02", "R01"}
    assert "全户" in {r[3] for r in entries}  # a whole-household award names no one
    assert all(r[5] for r in entries)  # every entry has its category
    totals = [r for r in entries_sheet.iter_rows(values_only=True) if r[0] == "合计"]
    assert totals and totals[0][7] == sum(r[7] for r in entries)


async def test_the_votes_sheets_name_no_choice_and_the_record_no_choice_either(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    place = await make_place(sessions)
    named, named_options = await open_vote(sessions, place)
    secret, secret_options = await open_vote(sessions, place, secret=True)
    await press(sessions, place, place.residents[0], named, named_options[0])
    await press(sessions, place, place.residents[2], named, named_options[1])
    await press(sessions, place, place.residents[3], secret, secret_options[1])
    async with sessions() as session:
        village = await org.get_village(session, place.village_id)
        public, count = await votes_export.votes_xlsx(session, village, 2026, TZ, "zh")
        record = await votes_export.vote_record_xlsx(session, village, 2026, TZ, "zh")
    assert count == 2
    book = load_workbook(io.BytesIO(public))
    assert book.sheetnames == ["表决结果", "各选项得票"]
    results = check_board_sheet(
        book["表决结果"],
        "表决结果公示",
        [
            "序号",
            "表决事项",
            "议题编号",
            "发起时间",
            "截止时间",
            "表决规则",
            "投票方式",
            "应参与",
            "实参与",
            "参与率",
            "表决结果",
        ],
        min_widths={1: 30},
    )
    assert [r[6] for r in results] == ["记名", "不记名"]
    assert [r[10] for r in results] == ["投票中", "投票中"]
    assert isinstance(results[0][3], datetime)
    options = check_board_sheet(
        book["各选项得票"],
        "各选项得票情况",
        ["序号", "表决事项", "选项", "票数", "得票率"],
        min_widths={2: 20},
    )
    assert [r[1] for r in options].count("修路吗？") == 2  # once per vote, not once per option
    assert [r[3] for r in options[:3]] == [1, 1, 0]
    assert [r[3] for r in options[3:]] == ["截止后公布"] * 3  # secret: tallied after the close
    public_cells = [c for sheet in book.worksheets for c in cells(sheet)]
    for person in ("居民0", "居民1", "居民2", "居民3", "书记"):
        assert not any(person in c for c in public_cells)  # nobody is named, let alone a choice
    # The admins' record: who voted in the named vote, never how; the secret vote not at all.
    sheet = load_workbook(io.BytesIO(record))["参与名单"]
    voters = check_board_sheet(
        sheet, "表决参与名单", ["序号", "表决事项", "姓名", "户", "投票时间"], min_widths={2: 12}
    )
    assert sorted(r[2] for r in voters) == ["居民0", "居民2"]
    assert {r[0] for r in voters} == {named}
    assert all(isinstance(r[4], datetime) for r in voters)
    for cell in cells(sheet):
        assert cell not in ("同意", "不同意", "弃权")
    # The command line writes the same public workbook; --record the admins' one.
    out = tmp_path / "votes.xlsx"
    async with sessions() as session:
        await votes_export.export_votes(session, village.name, 2026, out, TZ, "zh", record=True)
    assert load_workbook(out).sheetnames == ["参与名单"]


async def test_the_reports_and_council_sheets(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    await file(sessions, v)
    async with sessions() as session:
        data = await reports_export.reports_xlsx(session, v.village, "2026-11", TZ, "zh")
    sheet = load_workbook(io.BytesIO(data))["事项办理"]
    rows = check_board_sheet(
        sheet,
        "2026年11月网格事项办理情况公开",
        [
            "编号",
            "收到时间",
            "类别",
            "网格",
            "地点",
            "反映内容",
            "办理情况",
            "办结时间",
            "办理天数",
        ],
        min_widths={5: 36},
    )
    assert len(rows) == 1 and rows[0][2] == "隐患" and rows[0][4] == "村东桥头"
    assert isinstance(rows[0][1], datetime) and rows[0][6] == "新报"

    place = await make_place(sessions)
    decided = await proposal_on_agenda(sessions, place, "修村东的路")
    clock = council_runtime(sessions, _clock_at(MEETING - timedelta(days=1)))
    await clock.run("council_notice")
    async with unit_of_work(sessions) as session:
        items = {
            view.proposal.id: view.item.id or 0
            for view in await council.items_to_record(session, place.admin, MEETING)
        }
        await council.record_item(
            session,
            place.admin,
            items[decided],
            ItemOutcome.DECIDED,
            decision="年内修好",
            now=MEETING,
        )
    async with sessions() as session:
        village = await org.get_village(session, place.village_id)
        data, count = await council_export.decisions_xlsx(session, village, 2026, TZ, "zh")
    assert count == 1
    rows = check_board_sheet(
        load_workbook(io.BytesIO(data))["议事决定"],
        "2026年村民议事会议定事项公开",
        ["会议日期", "议题编号", "议题", "议定情况", "决定内容"],
        min_widths={4: 40},
    )
    assert rows[0][2:] == ("修村东的路", "已决定", "年内修好")
    assert isinstance(rows[0][0], datetime)


def _clock_at(moment: datetime) -> Clock:
    clock = Clock()
    clock.travel_to(moment)
    return clock


# --- the PDF --------------------------------------------------------------------------------


def pdf_text(page: object) -> str:
    """The page's text without spaces or line breaks. pypdf reads fpdf2's Identity CMap with a
    NUL before each character (pdfium and PDF viewers read it cleanly): those go too."""
    return "".join(page.extract_text().replace("\x00", "").split())  # type: ignore[attr-defined]


async def test_the_month_pdf_reads_back_with_its_households_and_notice_period(
    sessions: SessionFactory,
) -> None:
    town = await build(sessions)
    made = await claim(sessions, town.other, town.village, "V02")
    async with unit_of_work(sessions) as session:
        await points.approve_claim(session, town.reviewer, made, POINTS_NOW, TZ)
        await org.set_household_head(session, town.admin, town.households[1], "李秀英")
        with pytest.raises(NotAllowed):  # a resident does not name households
            await org.set_household_head(session, town.resident, town.households[1], "别人")
    async with sessions() as session:
        notice = await board_pdf.month_notice(
            session, town.village, "2026-03", TZ, date(2026, 4, 1), "zh"
        )
    data = board_pdf.month_pdf(notice, "zh")
    reader = PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    text = pdf_text(page)
    assert "积分村2026年3月积分公示" in text
    assert "公示期：4月1日至4月7日" in text
    assert "李秀英户" in text and "一网格" not in text.split("网格排名")[0]
    assert "积分村积分管理小组2026年4月1日" in text
    fonts = page["/Resources"]["/Font"]
    embedded = []
    for ref in fonts.values():
        font = ref.get_object()
        for descendant in font.get("/DescendantFonts", []):
            descriptor = descendant.get_object()["/FontDescriptor"].get_object()
            embedded += [k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor]
    assert embedded, "the CJK font is embedded"
    assert len(data) < 400_000  # a subset, not the whole font


# --- pictures -------------------------------------------------------------------------------


def long_praise() -> PraiseList:
    reason = (
        "在村东头地里焚烧秸秆，浓烟影响过往车辆通行，经网格员多次劝阻仍未改正，按乡规民约扣分" * 2
    )
    return PraiseList(
        1,
        "幸福村",
        "2026-11",
        [
            Ranked(1, 1, 1, 128, "1组 3号", "第一网格", "王秀英"),
            Ranked(2, 2, 1, 96, "1组 5号", "第一网格"),
        ],
        [GridScore(1, 1, "第一网格", 224, 2)],
        [Exposed(1, datetime(2026, 11, 12, tzinfo=UTC), "3组 8号", "第三网格", reason, -10)],
        3,
        214,
    )


def test_a_long_line_wraps_inside_the_frame() -> None:
    picture = Image.open(
        io.BytesIO(praise_png(long_praise(), "zh", exposure=True, issued=date(2026, 12, 1)))
    )
    paper, gold = pictures.PAPER, pictures.GOLD
    width, height = picture.size
    frame = range(width - 8 - BORDER, width - 8)  # the right-hand border's columns
    for y in range(8 + BORDER, height - 8 - BORDER):
        for x in frame:
            assert picture.getpixel((x, y)) == gold, (x, y)
        # between the text's right edge and the frame: paper only, nothing ran through it
        for x in range(width - pictures.MARGIN + 2, width - 8 - BORDER):
            assert picture.getpixel((x, y)) == paper, (x, y)
    # the long reason takes more lines than a short one: it is wrapped, not cut
    short = long_praise()
    short.exposure[0] = short.exposure[0]._replace(reason="焚烧秸秆")
    shorter = Image.open(
        io.BytesIO(praise_png(short, "zh", exposure=True, issued=date(2026, 12, 1)))
    )
    assert height >= shorter.height + 2 * 30


def test_no_cjk_glyph_is_missing() -> None:
    cmap = pictures.covered()
    cjk = [(0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF)]
    missing = set()
    for message in load_catalog("zh", LOCALES):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            for char in text or "":
                code = ord(char)
                if any(a <= code <= b for a, b in cjk) and char != "\u3000" and code not in cmap:
                    missing.add(char)
    assert not missing, sorted(missing)
    lines = [dates.notice_period(date(2026, 12, 1), 7, "zh"), "王秀英户（第一网格）"]
    assert all(pictures.drawable(line) == line for line in lines)


def test_charts_name_the_grids_and_keep_three_digit_values_readable() -> None:
    figures = [
        GridFigures(Grid(id=1, village_id=1, name="第一网格"), received=128, overdue=12),
        GridFigures(Grid(id=2, village_id=1, name="第二网格（东片）"), received=7, reopened=1),
    ]
    chart = Image.open(io.BytesIO(charts.grid_chart("幸福村", "2026年11月", figures)))
    assert chart.width == charts.WIDTH and chart.height >= charts.HEIGHT
    # the tallest bar reaches the axis top's step above it: 128 on a 150 axis
    assert charts.nice_top(128) == (150, 50)
    colours = {chart.getpixel((x, y)) for x in range(0, chart.width, 3) for y in range(0, 120, 3)}
    assert charts.PALETTE[0] in colours and charts.PALETTE[1] in colours  # the legend
    trend = charts.trend_chart("幸福村", [("2026-10", 17, 18), ("2026-11", 25, 19)])
    assert Image.open(io.BytesIO(trend)).width == charts.WIDTH


# --- dates ----------------------------------------------------------------------------------


def test_dates_as_people_say_them() -> None:
    assert dates.week_title("2026-W49", "zh") == "第49周（11月30日—12月6日）"
    assert dates.quarter_title("2026-Q1", "zh") == "2026年第一季度"
    assert dates.month_title("2026-11", "zh") == "2026年11月"
    assert dates.full_date(date(2026, 12, 1), "zh") == "2026年12月1日"
    evening = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert dates.moment_title(evening, TZ, "zh").endswith("12月1日 19:00")
    assert dates.notice_period(date(2026, 12, 1), 7, "zh") == "公示期：12月1日至12月7日"
    assert dates.week_title("2026-W49", "en") == "week 49 (11/30 – 12/6)"
    assert dates.month_title("2026-11", "en") == "Nov 2026"
    assert dates.quarter_title("not a key", "zh") == "not a key"


# --- Open311 --------------------------------------------------------------------------------


async def test_open311_names_the_villages_category_and_says_what_happened(
    sessions: SessionFactory,
) -> None:
    v = await setup(sessions)
    await file(sessions, v)
    async with sessions() as session:
        views = await reports.village_reports(session, v.village_id)
    request = reports_export.service_request(views[0], "zh")
    assert request["service_name"] == "隐患" and request["service_code"] == "hazard"
    assert request["status_notes"] == "已收到，等网格员接单。"
    assert "media_url" not in request
    assert reports_export.service_request(views[0], "en")["service_name"] == "Hazard"


# --- /export through the bot ----------------------------------------------------------------


async def test_an_admin_takes_the_notice_board_files_from_export(world: World) -> None:
    fake = world.fake
    base = 1_515_000
    async with unit_of_work(world.app.sessions) as session:
        village = Village(name=f"公示村{base}")
        session.add(village)
        await session.flush()
        grid = Grid(village_id=village.id or 0, name="一网格")
        session.add(grid)
        await session.flush()
        home = Household(grid_id=grid.id or 0, label="1组3号", head_name="王秀英")
        session.add(home)
        await session.flush()
        admin = Person(telegram_id=base, full_name="孙书记")
        resident = Person(telegram_id=base + 1, full_name="王秀英", household_id=home.id)
        session.add_all([admin, resident])
        await session.flush()
        session.add(
            Membership(
                person_id=resident.id or 0,
                village_id=village.id or 0,
                grid_id=grid.id or 0,
                household_id=home.id or 0,
                status=MembershipStatus.APPROVED,
            )
        )
        session.add(
            RoleAssignment(
                person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
            )
        )
        session.add(BoundChat(chat_id=-3_000_000 - base, village_id=village.id or 0))
    sun = world.person(base, "孙书记")
    wang = world.person(base + 1, "王秀英")
    world.clock.travel_to(datetime(2026, 12, 3, 10, 0, tzinfo=TZ))
    refused = await wang.say("/export", expect="只有村两委成员")
    assert "只有村两委成员" in (refused.text or "")
    menu = await sun.say("/export", expect="要取哪份公示材料")
    months = await sun.tap(menu, "月度公示", expect="哪个时间段")
    mark = fake.mark()
    await sun.user.press(months, "2026年11月")
    document = await fake.wait_for_message(
        sun.id, lambda m: m.method == "sendDocument", after=mark
    )
    reader = PdfReader(io.BytesIO(document.params["_file_bytes"]))
    text = pdf_text(reader.pages[0])
    assert "2026年11月积分公示" in text and "公示期：12月3日至12月9日" in text
    assert "可以张贴" in (document.caption or document.params.get("caption", ""))
    # A resident pressing the admin's button is refused, and nothing is sent.
    toast = await wang.tap_for_toast(menu, data=document_button(months, "2026年11月"))
    assert "只有村两委成员" in toast
    # A forged period is refused too.
    forged = document_button(months, "2026年11月").replace("2026-11", "2019-01")
    assert "过期" in await sun.tap_for_toast(months, data=forged)
    # The record of who voted is marked for the office, not the board.
    menu = await sun.say("/export", expect="要取哪份公示材料")
    years = await sun.tap(menu, "表决参与名单", expect="哪个时间段")
    mark = fake.mark()
    await sun.user.press(years, "2026年")
    record = await fake.wait_for_message(sun.id, lambda m: m.method == "sendDocument", after=mark)
    assert "不要张贴" in (record.caption or record.params.get("caption", ""))
    assert load_workbook(io.BytesIO(record.params["_file_bytes"])).sheetnames == ["参与名单"]


def document_button(message: object, text: str) -> str:
    markup = message.reply_markup or {}  # type: ignore[attr-defined]
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if button.get("text") == text:
                return str(button["callback_data"])
    raise AssertionError(f"no button {text!r}")


def test_the_readme_samples_are_drawn_by_the_code(tmp_path: Path) -> None:
    """docs/praise.png and docs/notice.png come from `python -m tools.board_samples`."""
    praise, notice = board_samples.write(tmp_path)
    for made in (praise, notice):
        shipped = Path(__file__).resolve().parent.parent / "docs" / made.name
        with Image.open(made) as drawn, Image.open(shipped) as kept:
            assert drawn.size == kept.size, made.name
