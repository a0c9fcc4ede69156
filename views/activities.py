"""What people see of activities: the card in the groups (with 报名 / 取消报名 and the live
count), the private lists, the check-in code as a QR picture, the organiser's list, the
reminder, the move-up notice and the summary after closing.

Cards and summaries are written in the bot's default language (a group has many readers);
pushes to a person in their own.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import segno
from aiogram.filters.callback_data import CallbackData
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import activities, org, outbox, points
from storage.errors import N_
from storage.models.activities import Activity, ActivityStatus, Audience, SignupStatus
from storage.models.org import Person
from views.i18n import locale_of, tr

CHECKIN_PREFIX = "ck"
WEEKDAYS = (
    N_("Mon"),
    N_("Tue"),
    N_("Wed"),
    N_("Thu"),
    N_("Fri"),
    N_("Sat"),
    N_("Sun"),
)


class ActivitiesOpen(CallbackData, prefix="al"):
    """🎉 活动 on the home screen: the same as /activities (organisers: /activity)."""

    make: bool = False


class TagPick(CallbackData, prefix="tg"):
    """/tags: a group (index into the offered tags), and a person to add or take out."""

    village_id: int
    tag: int
    person_id: int = 0


class ActSign(CallbackData, prefix="as"):
    """报名 (join) or 取消报名 on a card or a private list: checked again in storage."""

    activity_id: int
    join: bool


class ActRun(CallbackData, prefix="ar"):
    """The organiser's buttons: code, list, close."""

    activity_id: int
    action: str


class ActTick(CallbackData, prefix="at"):
    """A name on the organiser's list."""

    activity_id: int
    person_id: int


def when(moment: datetime, tz: ZoneInfo, locale: str | None) -> str:
    """As people say it: 12月3日 周四 09:00 / Thu 3 Dec 09:00."""
    local = activities.aware(moment).astimezone(tz)
    return tr(
        locale,
        "{weekday} {day} {month_name} {time}",
        weekday=tr(locale, WEEKDAYS[local.weekday()]),
        day=local.day,
        month_name=tr(locale, MONTHS[local.month - 1]),
        time=local.strftime("%H:%M"),
    )


MONTHS = (
    N_("Jan"),
    N_("Feb"),
    N_("Mar"),
    N_("Apr"),
    N_("May"),
    N_("Jun"),
    N_("Jul"),
    N_("Aug"),
    N_("Sep"),
    N_("Oct"),
    N_("Nov"),
    N_("Dec"),
)


def span(activity: Activity, tz: ZoneInfo, locale: str | None) -> str:
    start = activities.aware(activity.starts_at).astimezone(tz)
    end = activities.aware(activity.ends_at).astimezone(tz)
    if start.date() == end.date():
        return f"{when(activity.starts_at, tz, locale)}–{end.strftime('%H:%M')}"
    return f"{when(activity.starts_at, tz, locale)} – {when(activity.ends_at, tz, locale)}"


async def audience_text(session: AsyncSession, activity: Activity, locale: str | None) -> str:
    village = await org.get_village(session, activity.village_id)
    if activity.audience == Audience.GRIDS:
        names = {g.id: g.name for g in await org.grids_of(session, activity.village_id)}
        grids = "、".join(names.get(g, "?") for g in activity.grid_ids or [])
        return tr(locale, "residents of {grids}", grids=hd.quote(grids))
    if activity.audience == Audience.TAG:
        return tr(
            locale,
            "{tag} of {village}",
            tag=hd.quote(activity.tag or ""),
            village=hd.quote(village.name),
        )
    return tr(locale, "all residents of {village}", village=hd.quote(village.name))


async def points_text(session: AsyncSession, activity: Activity, locale: str | None) -> str:
    if activity.item_id is None or not activity.points:
        return tr(locale, "no points")
    item = await points.get_item(session, activity.item_id)
    name = item.name if (locale or "zh") == "zh" else (item.name_en or item.name)
    return tr(locale, "{item} +{points}", item=hd.quote(name), points=activity.points)


async def details(
    session: AsyncSession, activity: Activity, locale: str | None, tz: ZoneInfo
) -> list[str]:
    got = await activities.counts(session, activity.id or 0)
    places = (
        tr(
            locale,
            "Signed up: {signed} of {capacity}",
            signed=got.signed,
            capacity=activity.capacity,
        )
        if activity.capacity
        else tr(locale, "Signed up: {signed}", signed=got.signed)
    )
    if got.waiting:
        places += " · " + tr(locale, "waiting list: {count}", count=got.waiting)
    lines = [
        tr(locale, "🎉 <b>{title}</b>", title=hd.quote(activity.title)),
        tr(locale, "When: {when}", when=span(activity, tz, locale)),
        tr(locale, "Where: {place}", place=hd.quote(activity.place)),
        tr(locale, "Who may sign up: {who}", who=await audience_text(session, activity, locale)),
        tr(
            locale,
            "Points for taking part: {points}",
            points=await points_text(session, activity, locale),
        ),
        tr(locale, "Sign up by: {deadline}", deadline=when(activity.signup_deadline, tz, locale)),
    ]
    if activity.description:
        lines.append(hd.quote(activity.description))
    lines += ["", places]
    return lines


async def card(
    session: AsyncSession, activity: Activity, locale: str | None, tz: ZoneInfo, now: datetime
) -> tuple[str, dict | None]:
    """The card in the groups: open with its buttons, or closed with the summary."""
    if activity.status != ActivityStatus.OPEN:
        return await summary_text(session, activity.id or 0, locale, tz), None
    lines = await details(session, activity, locale, tz)
    if now < activities.aware(activity.signup_deadline):
        lines.append(tr(locale, "Press ✋ to sign up; when it is full you join the waiting list."))
        return "\n".join(lines), sign_markup(activity, locale)
    lines.append(tr(locale, "Sign-up has closed."))
    return "\n".join(lines), None


def sign_markup(activity: Activity, locale: str | None) -> dict:
    aid = activity.id or 0
    return {
        "inline_keyboard": [
            [
                {
                    "text": tr(locale, "✋ Sign up"),
                    "callback_data": ActSign(activity_id=aid, join=True).pack(),
                },
                {
                    "text": tr(locale, "Cancel sign-up"),
                    "callback_data": ActSign(activity_id=aid, join=False).pack(),
                },
            ]
        ]
    }


def run_markup(activity: Activity, locale: str | None) -> dict:
    aid = activity.id or 0
    return {
        "inline_keyboard": [
            [
                {
                    "text": tr(locale, "📱 Check-in code"),
                    "callback_data": ActRun(activity_id=aid, action="code").pack(),
                },
                {
                    "text": tr(locale, "📋 Check in from the list"),
                    "callback_data": ActRun(activity_id=aid, action="list").pack(),
                },
            ],
            [
                {
                    "text": tr(locale, "✅ Close the activity"),
                    "callback_data": ActRun(activity_id=aid, action="close").pack(),
                }
            ],
        ]
    }


def qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=8, border=3)
    return buffer.getvalue()


def checkin_payload(activity: Activity, code: str) -> str:
    return f"{CHECKIN_PREFIX}{activity.id}_{code}"


def parse_payload(payload: str) -> tuple[int, str] | None:
    body = payload.removeprefix(CHECKIN_PREFIX)
    number, sep, code = body.partition("_")
    if not sep or not number.isdigit() or not code.isdigit():
        return None
    return int(number), code


def code_caption(
    activity: Activity, code: str, link: str, now: datetime, tz: ZoneInfo, locale: str | None
) -> str:
    until = activities.aware(activities.code_valid_until(now)).astimezone(tz).strftime("%H:%M")
    return tr(
        locale,
        "Check-in for <b>{title}</b>\nCode: <b>{code}</b>\n{link}\n\n"
        "Residents scan the picture, open the link or send me the code. It changes every "
        "5 minutes (this one works until {until}); press 🔄 for the new one.",
        title=hd.quote(activity.title),
        code=code,
        link=link,
        until=until,
    )


def roster_markup(
    activity: Activity, lines: list[activities.RosterLine], locale: str | None
) -> dict:
    rows = []
    for line in lines[:60]:
        if line.status == SignupStatus.WAITING and not line.came:
            continue
        mark = "✅ " if line.came else "⬜ "
        rows.append(
            [
                {
                    "text": mark + line.person.full_name[:30],
                    "callback_data": ActTick(
                        activity_id=activity.id or 0, person_id=line.person.id or 0
                    ).pack(),
                }
            ]
        )
    rows.append(
        [
            {
                "text": tr(locale, "🔄 Refresh"),
                "callback_data": ActRun(activity_id=activity.id or 0, action="list").pack(),
            }
        ]
    )
    return {"inline_keyboard": rows}


def roster_text(activity: Activity, lines: list[activities.RosterLine], locale: str | None) -> str:
    came = sum(1 for line in lines if line.came)
    signed = sum(1 for line in lines if line.status == SignupStatus.SIGNED)
    return tr(
        locale,
        "<b>{title}</b>: {came} of {signed} signed up checked in. Tap a name to check them in.",
        title=hd.quote(activity.title),
        came=came,
        signed=signed,
    )


async def summary_text(
    session: AsyncSession, activity_id: int, locale: str | None, tz: ZoneInfo
) -> str:
    got = await activities.summary(session, activity_id)
    activity = got.activity
    lines = [
        tr(locale, "🎉 <b>{title}</b> is over. Thank you all!", title=hd.quote(activity.title)),
        tr(locale, "When: {when}", when=span(activity, tz, locale)),
        tr(
            locale,
            "Signed up: {signed} · came: {came} · points given: {points}",
            signed=got.signed,
            came=got.came,
            points=got.points,
        ),
    ]
    if activity.note:
        lines.append(tr(locale, "Note: {note}", note=hd.quote(activity.note)))
    return "\n".join(lines)


def tell_promoted(session: AsyncSession, person: Person, activity: Activity, tz: ZoneInfo) -> None:
    locale = locale_of_person(person)
    outbox.enqueue(
        session,
        person.telegram_id,
        tr(
            locale,
            "🎉 A place came free: you are now signed up for “{title}” ({when}, {place}). "
            "If you cannot come, please cancel with /activities.",
            title=hd.quote(activity.title),
            when=span(activity, tz, locale),
            place=hd.quote(activity.place),
        ),
    )


def reminder_text(activity: Activity, tz: ZoneInfo, locale: str | None) -> str:
    return tr(
        locale,
        "🎉 Reminder: “{title}” is tomorrow, {when}, at {place}. You are signed up; "
        "check in there with the organiser's code. Cannot come? Cancel with /activities.",
        title=hd.quote(activity.title),
        when=span(activity, tz, locale),
        place=hd.quote(activity.place),
    )


def locale_of_person(person: Person) -> str:
    return locale_of(person)


async def refresh_cards(
    session: AsyncSession, activity: Activity, tz: ZoneInfo, now: datetime, locale: str | None
) -> int:
    """Edit the activity's cards that show something else now (each edit claimed once)."""
    text, markup = await card(session, activity, locale, tz, now)
    shown = outbox_digest(text, markup)
    edits = 0
    for row, message_id in await activities.cards_of(session, activity.id or 0):
        if message_id is None:
            continue
        if await activities.claim_card_edit(session, row, shown, now):
            outbox.enqueue(
                session,
                row.chat_id,
                text,
                method="editMessageText",
                message_id=message_id,
                reply_markup=markup or {"inline_keyboard": []},
            )
            edits += 1
    return edits


def outbox_digest(text: str, markup: dict | None) -> str:
    return hashlib.sha256(repr((text, markup)).encode()).hexdigest()
