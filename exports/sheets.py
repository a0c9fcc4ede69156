"""One shape for every sheet a village posts on its notice board (三务公开栏).

Each sheet has a title block (the title; the village, the period, the issuing body and the
date), one header row (frozen, repeated on every printed page), columns as wide as their
content with wrapping, real date cells, an optional totals row and the 制表人 / 审核人 line,
and prints on A4 landscape, one page wide.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from storage.errors import N_
from views.dates import full_date, local
from views.i18n import tr

Kind = Literal["text", "int", "number", "date", "time", "percent"]

TITLE_ROWS = 2  # the title, the line under it
HEADER_ROW = TITLE_ROWS + 2  # a blank row between
FIRST_ROW = HEADER_ROW + 1
THIN = Side(style="thin", color="999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FILL = PatternFill("solid", fgColor="F2E6D0")


@dataclass(frozen=True)
class Column:
    header: str  # a message id, translated when the sheet is written
    width: float  # in characters (a Chinese character counts about 2)
    kind: Kind = "text"


@dataclass(frozen=True)
class Titles:
    """What the title block says: the sheet's title, the village, the period, who issues it."""

    village: str
    period: str
    issuer: str
    issued: date


def number_formats(locale: str | None) -> dict[str, str]:
    if (locale or "zh").startswith("zh"):
        return {"date": 'yyyy"年"m"月"d"日"', "time": 'm"月"d"日" hh:mm'}
    return {"date": "d mmm yyyy", "time": "d mmm hh:mm"}


def cell_value(value: Any, kind: Kind, tz: ZoneInfo) -> Any:
    """Dates as date cells (local, naive: a spreadsheet has no time zones)."""
    if isinstance(value, datetime):
        seen = local(value, tz).replace(tzinfo=None)
        return seen.date() if kind == "date" else seen
    return value


def add_sheet(
    book: Workbook,
    name: str,
    title: str,
    titles: Titles,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    locale: str | None,
    tz: ZoneInfo,
    totals: Sequence[Any] | None = None,
    notes: Sequence[str] = (),
    signatures: bool = True,
) -> Worksheet:
    """A sheet in `book` (the first, empty one is reused) laid out for the notice board."""
    first = book.worksheets[0] if book.worksheets else None
    if (
        first is not None
        and first.max_row == 1
        and first["A1"].value is None
        and len(book.worksheets) == 1
        and first.title == "Sheet"
    ):
        sheet = first
        sheet.title = name[:31]
    else:
        sheet = book.create_sheet(name[:31])
    last = get_column_letter(len(columns))
    formats = number_formats(locale)
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.merge_cells(f"A1:{last}1")
    sheet.row_dimensions[1].height = 30
    sheet["A2"] = tr(
        locale,
        "Village: {village}   Period: {period}   Issued by: {issuer}   Date: {date}",
        village=titles.village,
        period=titles.period,
        issuer=titles.issuer,
        date=full_date(titles.issued, locale),
    )
    sheet["A2"].alignment = Alignment(horizontal="center", wrap_text=True)
    sheet.merge_cells(f"A2:{last}2")
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=index, value=tr(locale, column.header))
        cell.font = Font(bold=True)
        cell.fill = HEAD_FILL
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    row_number = FIRST_ROW
    for row in rows:
        for index, (column, value) in enumerate(zip(columns, row, strict=True), start=1):
            cell = sheet.cell(
                row=row_number, column=index, value=cell_value(value, column.kind, tz)
            )
            cell.border = BOX
            horizontal = "left" if column.kind == "text" else "center"
            cell.alignment = Alignment(vertical="top", horizontal=horizontal, wrap_text=True)
            if column.kind in formats:
                cell.number_format = formats[column.kind]
            elif column.kind == "number":
                cell.number_format = "0.0"
            elif column.kind == "percent":
                cell.number_format = "0.0%"
        row_number += 1
    if totals is not None:
        for index, value in enumerate(totals, start=1):
            cell = sheet.cell(row=row_number, column=index, value=value)
            cell.font = Font(bold=True)
            cell.border = BOX
            cell.alignment = Alignment(horizontal="center" if index > 1 else "left")
        row_number += 1
    row_number += 1
    for note in notes:
        sheet.cell(row=row_number, column=1, value=note).alignment = Alignment(wrap_text=True)
        sheet.merge_cells(
            start_row=row_number, start_column=1, end_row=row_number, end_column=len(columns)
        )
        row_number += 1
    if signatures:
        sheet.cell(row=row_number, column=1, value=tr(locale, "Prepared by:") + " ________")
        sheet.cell(
            row=row_number,
            column=max(2, len(columns) // 2 + 1),
            value=tr(locale, "Checked by:") + " ________",
        )
    sheet.freeze_panes = f"A{FIRST_ROW}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.oddFooter.center.text = "&P / &N"
    return sheet


def new_book() -> Workbook:
    return Workbook()


def saved(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def yes_no(value: bool | None, locale: str | None) -> str:
    if value is None:
        return "—"
    return tr(locale, N_("yes")) if value else tr(locale, N_("no"))
