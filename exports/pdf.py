"""`python bot.py export pdf --village V --month YYYY-MM --out FILE`: the month's notice for
the board (积分公示 and the month's vote results) as an A4 PDF (views/board_pdf.py)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from exports import Exporter, register
from storage import org, periods
from storage.db import SessionFactory
from storage.settings import Settings
from views.board_pdf import month_notice, month_pdf
from views.i18n import PoI18n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--month", required=True, help="the month, YYYY-MM")
    parser.add_argument("--out", required=True, type=Path, help="the .pdf file to write")


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    try:
        periods.first_day("monthly", args.month)
    except ValueError:
        print(f"--month must look like 2026-11, not {args.month!r}")  # noqa: T201
        return 2
    async with sessions() as session:
        village = await org.village_by_name(session, args.village)
        if village is None:
            print(f"no village named {args.village!r}")  # noqa: T201
            return 2
        notice = await month_notice(
            session,
            village.id or 0,
            args.month,
            settings.tz,
            datetime.now(settings.tz).date(),
            settings.bot_default_locale,
        )
    args.out.write_bytes(month_pdf(notice, settings.bot_default_locale))
    print(f"{args.out}: {village.name} {args.month}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="pdf",
        help="a village's month for the notice board as an A4 PDF",
        add_arguments=add_arguments,
        run=run,
    )
)
