"""/audit for village admins: the village's trail of changes, newest first, by kind and by
person, ten to a page with buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org
from storage.errors import N_, NotAllowed
from storage.models.org import Person
from storage.permissions.org import Actor, OrgPermissions
from storage.settings import Settings
from views.i18n import _, tr
from views.keyboards import button, keyboard
from views.org import AUDIT_KIND_NAMES, AuditPage, audit_action_name

router = Router(name="audit")

PAGE = 10


@router.message(Command("audit"), F.chat.type == "private")
async def show_audit(
    message: Message, session: AsyncSession, actor: Actor, settings: Settings
) -> None:
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only this village's admins can see its audit trail."))
        return
    for village in villages[:3]:
        text, markup = await audit_page(
            session, actor, settings, AuditPage(village_id=village.id or 0, offset=0)
        )
        await message.answer(text, reply_markup=markup)


@router.callback_query(AuditPage.filter())
async def page_audit(
    query: CallbackQuery,
    callback_data: AuditPage,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> None:
    text, markup = await audit_page(session, actor, settings, callback_data)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


async def audit_page(
    session: AsyncSession, actor: Actor, settings: Settings, at: AuditPage
) -> tuple[str, InlineKeyboardMarkup]:
    if not OrgPermissions.can_see_audit(actor, at.village_id):
        raise NotAllowed(N_("Only this village's admins can see its audit trail."))
    village = await org.get_village(session, at.village_id)
    kind = at.kind if at.kind in audit.KINDS else None
    rows, more = await audit.page(
        session,
        at.village_id,
        person_id=at.person or None,
        kind=kind,
        offset=at.offset,
        limit=PAGE,
    )
    ids = {r.actor_id for r in rows} | {r.target_person_id for r in rows} | {at.person}
    people = {p.id: p for p in [await session.get(Person, i) for i in ids if i] if p is not None}

    def name(person_id: int | None) -> str:
        found = people.get(person_id) if person_id else None
        return hd.quote(found.full_name) if found else _("the bot")

    title = _("<b>{village}: who did what</b>").format(village=hd.quote(village.name))
    filters = []
    if kind:
        filters.append(tr(None, AUDIT_KIND_NAMES[kind]))
    if at.person:
        filters.append(name(at.person))
    lines = [title + (f"（{'，'.join(filters)}）" if filters else "")]
    for row in rows:
        when = row.at.astimezone(settings.tz) if row.at.tzinfo else row.at
        line = f"{when:%m-%d %H:%M} {name(row.actor_id)}：{audit_action_name(row.action)}"
        if row.target_person_id and row.target_person_id != row.actor_id:
            line += f" → {name(row.target_person_id)}"
        number = row.detail.get("number") if isinstance(row.detail, dict) else None
        if number:
            line += f" {hd.quote(str(number))}"
        lines.append(line)
    if not rows:
        lines.append(_("Nothing recorded yet."))

    def go(**change: object) -> str:
        values = {
            "village_id": at.village_id,
            "offset": at.offset,
            "kind": at.kind,
            "person": at.person,
        }
        values.update(change)
        return AuditPage(**values).pack()  # type: ignore[arg-type]

    pager = []
    if at.offset:
        pager.append(button(_("◀ Newer"), go(offset=max(0, at.offset - PAGE))))
    if more:
        pager.append(button(_("Older ▶"), go(offset=at.offset + PAGE)))
    kinds = [
        button(
            ("• " if kind == k else "") + tr(None, label),
            go(kind="" if kind == k else k, offset=0),
        )
        for k, label in AUDIT_KIND_NAMES.items()
    ]
    who = [
        button("👤 " + people[p].full_name[:12], go(person=p, offset=0))
        for p in dict.fromkeys(r.actor_id for r in rows)
        if p and p in people and p != at.person
    ][:3]
    if at.person:
        who.append(button(_("Everyone"), go(person=0, offset=0)))
    return "\n".join(lines), keyboard(pager, kinds[:3], kinds[3:], who)
