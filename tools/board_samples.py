"""Draw the README's samples of what a village posts (docs/): the praise picture and the first
page of the month's A4 notice, from a made-up village, by the same code the bot runs.

    python -m tools.board_samples          # writes docs/praise.png and docs/notice.png

The PDF page is turned into a picture with pypdfium2 (a pip package: no system tool needed).
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pypdfium2

from storage.points import Exposed, GridScore, PraiseList, Ranked
from views.board_pdf import MonthNotice, VoteResult, month_pdf
from views.i18n import PoI18n
from views.points import praise_png

ROOT = Path(__file__).resolve().parent.parent
ISSUED = date(2026, 12, 1)


def sample() -> MonthNotice:
    praise = PraiseList(
        1,
        "幸福村",
        "2026-11",
        [
            Ranked(1, 1, 1, 128, "1组 3号", "第一网格", "王秀英"),
            Ranked(2, 2, 2, 96, "2组 12号", "第二网格", "李建国"),
            Ranked(2, 3, 1, 96, "1组 5号", "第一网格"),
            Ranked(4, 4, 3, 72, "3组 1号", "第三网格", "赵桂兰"),
        ],
        [
            GridScore(1, 1, "第一网格", 224, 2),
            GridScore(2, 2, "第二网格", 96, 1),
            GridScore(3, 3, "第三网格", 62, 2),
        ],
        [
            Exposed(
                1,
                datetime(2026, 11, 12, tzinfo=UTC),
                "3组 8号",
                "第三网格",
                "在村东头地里焚烧秸秆，浓烟影响过往车辆通行，经网格员多次劝阻仍未改正",
                -10,
            )
        ],
        5,
        382,
    )
    return MonthNotice(
        praise,
        True,
        [(praise.top[0], "生活用品 B", 100)],
        [
            VoteResult(
                "修不修村东的桥？", "11月20日 20:00", [("同意", 35), ("不同意", 8)], 43, 60, True
            )
        ],
        ISSUED,
    )


def write(folder: Path) -> tuple[Path, Path]:
    PoI18n().activate()
    notice = sample()
    praise = folder / "praise.png"
    praise.write_bytes(praise_png(notice.praise, "zh", exposure=True, issued=ISSUED))
    document = pypdfium2.PdfDocument(io.BytesIO(month_pdf(notice, "zh")))
    try:
        page = document[0].render(scale=1.4).to_pil()
    finally:
        document.close()
    first_page = folder / "notice.png"
    page.save(first_page, optimize=True)
    return praise, first_page


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"):
        print(path)  # noqa: T201
