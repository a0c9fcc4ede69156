"""Texts that scheduled jobs send, in each recipient's language (jobs stay free of aiogram)."""

from __future__ import annotations

from datetime import datetime

from aiogram.utils.i18n import I18n
from aiogram.utils.text_decorations import html_decoration as hd

from bot.i18n import tr
from schedules.pending_reminder import waited
from storage.org import MembershipView


class Renderer:
    """Handed to jobs as `ctx.render`."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    def pending_reminder(
        self, locale: str | None, items: list[MembershipView], now: datetime | None = None
    ) -> str:
        locale = locale or self.i18n.default_locale
        lines = [tr(locale, "<b>Join requests waiting for you ({count})</b>", count=len(items))]
        for view in items:
            hours = int(waited(view, now).total_seconds() // 3600)
            lines.append(
                tr(
                    locale,
                    "• {name}, {household} ({grid}), waiting {hours} h",
                    name=hd.quote(view.person.full_name),
                    household=hd.quote(view.household.label),
                    grid=hd.quote(view.grid.name),
                    hours=hours,
                )
            )
        lines.append(tr(locale, "Approve or reject them with /pending."))
        return "\n".join(lines)
