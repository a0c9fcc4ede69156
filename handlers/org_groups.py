"""Group chats: a village admin binds a group to the village or a grid (/bindgroup) for
automatic posts; the binding ends when the bot is removed."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import (
    IS_MEMBER,
    IS_NOT_MEMBER,
    ChatMemberUpdatedFilter,
    Command,
)
from aiogram.types import CallbackQuery, ChatMemberUpdated, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org
from storage.permissions.org import Actor, OrgPermissions
from views.i18n import _
from views.keyboards import button, keyboard
from views.org import BindGroup

router = Router(name="groups")
GROUP_CHATS = {"group", "supergroup"}
CHOOSE = -1  # a BindGroup button that picks the village; its grid comes next
MAX_BUTTONS = 60


@router.message(Command("bindgroup"), F.chat.type.in_(GROUP_CHATS))
async def offer_binding(message: Message, session: AsyncSession, actor: Actor | None) -> None:
    """Offer the admin's villages and grids as buttons; others are told they may not."""
    villages = await org.administered_villages(session, actor) if actor else []
    if not villages:
        await message.reply(
            _(
                "Only village admins can bind this group. "
                "Ask your village admin to send /bindgroup here."
            )
        )
        return
    if len(villages) == 1:
        markup = await place_choices(session, villages[0].id or 0, villages[0].name)
        text = _("Which village or grid should this group get posts for?")
    else:
        markup = keyboard(
            *[
                [button(v.name, BindGroup(village_id=v.id or 0, grid_id=CHOOSE).pack())]
                for v in villages[:MAX_BUTTONS]
            ]
        )
        text = _("Which village should this group get posts for?")
    await message.reply(text, reply_markup=markup)


async def place_choices(session: AsyncSession, village_id: int, name: str) -> InlineKeyboardMarkup:
    """The whole village, or one of its grids."""
    grids = await org.grids_of(session, village_id)
    rows = [
        [
            button(
                _("{village} (whole village)").format(village=name),
                BindGroup(village_id=village_id, grid_id=0).pack(),
            )
        ]
    ]
    rows += [
        [
            button(
                f"{name} · {grid.name}",
                BindGroup(village_id=village_id, grid_id=grid.id or 0).pack(),
            )
        ]
        for grid in grids[:MAX_BUTTONS]
    ]
    return keyboard(*rows)


@router.callback_query(BindGroup.filter(F.grid_id == CHOOSE))
async def choose_bound_place(
    query: CallbackQuery, callback_data: BindGroup, session: AsyncSession, actor: Actor | None
) -> None:
    """A village was picked: now the whole village or one grid (only its admins may)."""
    message = query.message
    if (
        actor is None
        or not OrgPermissions.can_bind_group(actor, callback_data.village_id)
        or not isinstance(message, Message)
    ):
        await query.answer(_("Only village admins can bind this group."), show_alert=True)
        return
    village = await org.get_village(session, callback_data.village_id)
    await query.answer()
    await message.edit_text(
        _("Which village or grid should this group get posts for?"),
        reply_markup=await place_choices(session, village.id or 0, village.name),
    )


@router.message(Command("bindgroup"))
async def bind_needs_group(message: Message) -> None:
    await message.answer(_("Send /bindgroup inside the group chat you want to bind."))


@router.callback_query(BindGroup.filter())
async def bind_group(
    query: CallbackQuery,
    callback_data: BindGroup,
    session: AsyncSession,
    actor: Actor | None,
    now: datetime,
) -> None:
    """Bind, after checking again that the person pressing is an admin of that village."""
    message = query.message
    if actor is None or not isinstance(message, Message):
        await query.answer(_("Only village admins can bind this group."), show_alert=True)
        return
    binding = await org.bind_chat(
        session,
        actor,
        chat_id=message.chat.id,
        title=message.chat.title or "",
        village_id=callback_data.village_id,
        grid_id=callback_data.grid_id or None,
        now=now,
    )
    village = await org.get_village(session, binding.village_id)
    place = hd.quote(village.name)
    if binding.grid_id:
        place += " · " + hd.quote((await org.get_grid(session, binding.grid_id)).name)
    await query.answer(_("Bound."))
    await message.edit_text(
        _("This group now gets the automatic posts of {place}.").format(place=place)
    )


@router.my_chat_member(ChatMemberUpdatedFilter(IS_MEMBER >> IS_NOT_MEMBER))
async def forget_group(event: ChatMemberUpdated, session: AsyncSession, now: datetime) -> None:
    """The bot was removed from a group: its binding ends, no more posts go there."""
    await org.unbind_chat(session, event.chat.id, now)


@router.my_chat_member(
    ChatMemberUpdatedFilter(IS_NOT_MEMBER >> IS_MEMBER), F.chat.type.in_(GROUP_CHATS)
)
async def greet_group(event: ChatMemberUpdated) -> None:
    """Added to a group: say how to bind it."""
    await event.answer(
        _(
            "Hello! I am linli (邻里). A village admin can send /bindgroup here "
            "so this group gets the village's notices and lists."
        )
    )
