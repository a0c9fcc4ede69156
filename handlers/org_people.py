"""A village over the years: admins end roles (/roles) and withdraw unused role links; a
resident leaves from /me (asked twice); grid workers and admins look after residents
(/residents: moved away, deceased, another household) and households (/households: rename,
merge, split, move to another grid); admins set the tenants' rule (/tenants). Every rule is in
storage; this module asks and shows."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, org_changes, outbox
from storage.errors import N_
from storage.models.org import LeftReason, Person, Role, Village
from storage.permissions.org import Actor
from storage.settings import Settings
from views.i18n import _, locale_of, tr
from views.keyboards import Pick, button, cancel_row, keyboard, picker
from views.org import EndRole, HouseholdAct, Leave, Resident, RoleLink, TenantRule, role_name
from views.replies import edit_after_press
from views.reports import push_task

router = Router(name="people")

LIST_MAX = 30


class EndRoleFlow(StatesGroup):
    reason = State()


class RenameFlow(StatesGroup):
    label = State()


class MoveFlow(StatesGroup):
    grid = State()
    label = State()


class PeopleForm(TypedDict, total=False):
    assignment_id: int
    reason: str
    household_id: int
    membership_id: int
    grid_id: int


def role_line(held: org.HeldRole) -> str:
    row = held.assignment
    place = f" · {held.grid.name}" if held.grid else ""
    return f"{held.person.full_name}：{role_name(row.role, row.worker_kind)}{place}"


# --- roles that end ------------------------------------------------------------------------


@router.message(Command("roles"), F.chat.type == "private")
async def list_roles(message: Message, session: AsyncSession, actor: Actor) -> None:
    """The roles held in each village the person runs, each with an end button."""
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only this village's admins can end roles."))
        return
    for village in villages[:3]:
        held = await org.village_roles(session, actor, village.id or 0)
        rows = [
            [
                button(
                    "✖ " + role_line(h),
                    EndRole(action="pick", assignment_id=h.assignment.id or 0).pack(),
                )
            ]
            for h in held[:LIST_MAX]
        ]
        rows.append(
            [
                button(
                    _("🔗 Unused role links"),
                    RoleLink(village_id=village.id or 0, invite_id=0).pack(),
                )
            ]
        )
        await message.answer(
            _("<b>{village}: who holds a role</b>\nTap one to end it.").format(
                village=hd.quote(village.name)
            ),
            reply_markup=keyboard(*rows),
        )


@router.callback_query(EndRole.filter(F.action == "pick"))
async def ask_end_reason(
    query: CallbackQuery,
    callback_data: EndRole,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    held = await org.held_role(session, actor, callback_data.assignment_id)
    await state.set_state(EndRoleFlow.reason)
    await state.set_data(PeopleForm(assignment_id=callback_data.assignment_id))
    await edit_after_press(
        query,
        _(
            "End the role of {who}?\nPlease send the reason in a few words (e.g. 调岗, 辞职)."
        ).format(who=hd.quote(role_line(held))),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(EndRoleFlow.reason, F.text)
async def review_end_role(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor
) -> None:
    """What will happen, before it happens."""
    form: PeopleForm = await state.get_data()  # type: ignore[assignment]
    reason = org.require_text(message.text, org.ROLE_REASON_MAX)
    held = await org.held_role(session, actor, form["assignment_id"])
    await state.update_data(reason=reason)
    preview = await org_changes.preview_end_role(session, held)
    await message.answer(
        _("Please check:\n{who}\nReason: {reason}\n\n{what}\n\nEnd this role?").format(
            who=hd.quote(role_line(held)),
            reason=hd.quote(reason),
            what=preview_text(held, preview),
        ),
        reply_markup=keyboard(
            [
                button(
                    _("✔ End the role"),
                    EndRole(action="ok", assignment_id=held.assignment.id or 0).pack(),
                )
            ],
            cancel_row(),
        ),
    )


@router.message(EndRoleFlow.reason)
async def reason_not_text(message: Message) -> None:
    await message.answer(_("Please send the reason as text, or tap Cancel."))


def preview_text(held: org.HeldRole, preview: org_changes.EndPreview) -> str:
    name = hd.quote(held.person.full_name)
    if held.assignment.role == Role.GRID_WORKER:
        grid = hd.quote(held.grid.name if held.grid else "")
        if not preview.tasks:
            return _("{name} has no open tasks.").format(name=name)
        if preview.to_admins:
            return _(
                "{name}'s {count} tasks will go to the village admins "
                "({grid} has no other worker)."
            ).format(name=name, count=preview.tasks, grid=grid)
        return _("{name}'s {count} tasks will go to the other workers of {grid}.").format(
            name=name, count=preview.tasks, grid=grid
        )
    if held.assignment.role == Role.REVIEWER:
        return _(
            "{count} claims and appeals waiting will be decided by the other reviewers."
        ).format(count=preview.waiting_reviews)
    return _("The village keeps its other admins.")


@router.callback_query(EndRoleFlow.reason, EndRole.filter(F.action == "ok"))
async def end_role(
    query: CallbackQuery,
    callback_data: EndRole,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    form: PeopleForm = await state.get_data()  # type: ignore[assignment]
    if form.get("assignment_id") != callback_data.assignment_id or not form.get("reason"):
        await query.answer(_("This button has expired."), show_alert=True)
        return
    ended = await org_changes.end_role(
        session, actor, callback_data.assignment_id, form["reason"], now
    )
    await state.clear()
    held = ended.held
    person = held.person
    locale = locale_of(person)
    outbox.enqueue(
        session,
        person.telegram_id,
        tr(
            locale,
            "Your role as {role} in {village} has ended. Reason: {reason}\n"
            "Thank you for your work.",
            role=role_name(held.assignment.role, held.assignment.worker_kind, locale),
            village=hd.quote(ended.village),
            reason=hd.quote(form["reason"]),
        ),
    )
    for view in ended.tasks:
        await push_task(
            session, view, settings.tz, header=N_("Passed on to you: a colleague's role ended.")
        )
    preview = org_changes.EndPreview(len(ended.tasks), ended.to_admins, ended.waiting_reviews)
    lines = [
        _("Done: the role of {who} has ended, and they were told.").format(
            who=hd.quote(role_line(held))
        ),
        preview_text(held, preview),
    ]
    if held.assignment.role == Role.REVIEWER and not ended.reviewers_left:
        lines.append(_("No reviewer is left: appoint one with /appoint."))
    await edit_after_press(query, "\n".join(lines), toast=_("Done."))


@router.callback_query(RoleLink.filter())
async def role_links(
    query: CallbackQuery,
    callback_data: RoleLink,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    """The unused role links of a village, each with a withdraw button; or withdraw one."""
    if callback_data.invite_id:
        await org.withdraw_role_link(session, actor, callback_data.invite_id, now)
    links = await org.open_role_links(session, actor, callback_data.village_id, now)
    rows = [
        [
            button(
                "✖ " + role_name(link.role, link.worker_kind) + f"（{link.expires_at:%m-%d}）",  # type: ignore[arg-type]
                RoleLink(village_id=callback_data.village_id, invite_id=link.id or 0).pack(),
            )
        ]
        for link in links[:LIST_MAX]
        if link.role is not None
    ]
    text = (
        _("Unused role links: tap one to withdraw it (it stops working at once).")
        if links
        else _("No unused role links.")
    )
    if callback_data.invite_id:
        text = _("Withdrawn.") + "\n" + text
    await edit_after_press(query, text, reply_markup=keyboard(*rows) if rows else None)


# --- leaving, from /me ---------------------------------------------------------------------


@router.callback_query(Leave.filter())
async def leave(
    query: CallbackQuery,
    callback_data: Leave,
    session: AsyncSession,
    person: Person,
    now: datetime,
) -> None:
    """Asked twice, then done."""
    membership = await org.current_membership(session, person.id or 0)
    if membership is None:
        await edit_after_press(query, _("You have not joined a village."))
        return
    village = await org.get_village(session, membership.village_id)
    name = hd.quote(village.name)
    if callback_data.step == 1:
        await edit_after_press(
            query,
            _(
                "Leave {village}? Your points, reports and votes stay on record, "
                "but you will no longer get the village's messages."
            ).format(village=name),
            reply_markup=keyboard([button(_("Yes, leave"), Leave(step=2).pack())], cancel_row()),
        )
    elif callback_data.step == 2:
        await edit_after_press(
            query,
            _("Please confirm once more: leave {village} now?").format(village=name),
            reply_markup=keyboard(
                [button(_("✔ Leave the village"), Leave(step=3).pack())], cancel_row()
            ),
        )
    else:
        await org.leave_village(session, person, now)
        await edit_after_press(
            query,
            _(
                "You have left {village}. Your history is kept. To join again, open a new "
                "invite link from a grid worker."
            ).format(village=name),
            toast=_("Done."),
        )


# --- residents -----------------------------------------------------------------------------


async def grids_to_look_after(session: AsyncSession, actor: Actor) -> list[tuple[int, int]]:
    return [(v.id or 0, g.id or 0) for v, g in await org.invitable_grids(session, actor)]


@router.message(Command("residents"), F.chat.type == "private")
async def list_residents(message: Message, session: AsyncSession, actor: Actor) -> None:
    """The residents of the grids the person looks after, each with its buttons."""
    grids = await grids_to_look_after(session, actor)
    if not grids:
        await message.answer(_("Only this grid's workers and the village admins can do that."))
        return
    shown = 0
    for village_id, grid_id in grids:
        for view in await org.residents_of(session, actor, village_id, grid_id):
            if shown >= LIST_MAX:
                await message.answer(
                    _("…and more: this list shows the first {count}.").format(count=LIST_MAX)
                )
                return
            shown += 1
            mid = view.membership.id or 0
            await message.answer(
                resident_line(view),
                reply_markup=keyboard(
                    [
                        button(
                            _("Moved away (迁出)"),
                            Resident(action="away", membership_id=mid).pack(),
                        ),
                        button(
                            _("Deceased (已故)"), Resident(action="dead", membership_id=mid).pack()
                        ),
                    ],
                    [
                        button(
                            _("🏠 Another household"),
                            Resident(action="move", membership_id=mid).pack(),
                        )
                    ],
                ),
            )
    if not shown:
        await message.answer(_("No residents yet."))


def resident_line(view: org.MembershipView) -> str:
    tenant = _(" (tenant)") if view.membership.tenant else ""
    who, grid = hd.quote(view.person.full_name), hd.quote(view.grid.name)
    return f"{who} · {grid} · {hd.quote(view.household.label)}{tenant}"


@router.callback_query(Resident.filter(F.action.in_({"away", "dead"})))
async def ask_departed(
    query: CallbackQuery, callback_data: Resident, session: AsyncSession, actor: Actor
) -> None:
    view = await org.approved_membership(session, actor, callback_data.membership_id)
    what = _("moved away (迁出)") if callback_data.action == "away" else _("deceased (已故)")
    await edit_after_press(
        query,
        _("Record {name} as {what}? Their history is kept; they get no more messages.").format(
            name=hd.quote(view.person.full_name), what=what
        ),
        reply_markup=keyboard(
            [
                button(
                    _("✔ Record it"),
                    Resident(
                        action=callback_data.action + "!",
                        membership_id=callback_data.membership_id,
                    ).pack(),
                )
            ],
            cancel_row(),
        ),
    )


@router.callback_query(Resident.filter(F.action.in_({"away!", "dead!"})))
async def record_departed(
    query: CallbackQuery,
    callback_data: Resident,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    reason = LeftReason.MOVED_AWAY if callback_data.action == "away!" else LeftReason.DECEASED
    view = await org.mark_departed(session, actor, callback_data.membership_id, reason, now)
    if reason == LeftReason.MOVED_AWAY:
        outbox.enqueue(
            session,
            view.person.telegram_id,
            tr(
                locale_of(view.person),
                "{village} has recorded that you moved away. Your history is kept; to join "
                "again, open a new invite link from a grid worker.",
                village=hd.quote(view.village.name),
            ),
        )
    await edit_after_press(
        query,
        _("Recorded: {name}, {what}.").format(
            name=hd.quote(view.person.full_name),
            what=_("moved away (迁出)")
            if reason == LeftReason.MOVED_AWAY
            else _("deceased (已故)"),
        ),
        toast=_("Done."),
    )


@router.callback_query(Resident.filter(F.action == "move"))
async def ask_move_grid(
    query: CallbackQuery,
    callback_data: Resident,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    view = await org.approved_membership(session, actor, callback_data.membership_id)
    await state.set_state(MoveFlow.grid)
    await state.set_data(PeopleForm(membership_id=callback_data.membership_id))
    grids = await org.grids_of(session, view.village.id or 0)
    await edit_after_press(
        query,
        _("Move {name} to which grid?").format(name=hd.quote(view.person.full_name)),
        reply_markup=picker("mvgrid", [(g.id or 0, g.name) for g in grids]),
    )


@router.callback_query(MoveFlow.grid, Pick.filter(F.what == "mvgrid"))
async def ask_move_label(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    await state.update_data(grid_id=callback_data.value)
    await state.set_state(MoveFlow.label)
    await edit_after_press(
        query,
        _(
            "Please send the household's label, for example 3组 12号 "
            "(an existing one, or a new one)."
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(MoveFlow.label, F.text)
async def move_resident(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    form: PeopleForm = await state.get_data()  # type: ignore[assignment]
    moved = await org.move_resident(
        session,
        actor,
        form["membership_id"],
        grid_id=form["grid_id"],
        household_label=message.text,
        now=now,
    )
    await state.clear()
    view = moved.view
    await message.answer(
        _(
            "Done: {name} now lives in {grid} · {household}. Points already earned stay with "
            "{old}; new points count for the new household. Open reports stay with the grid "
            "they were filed in."
        ).format(
            name=hd.quote(view.person.full_name),
            grid=hd.quote(view.grid.name),
            household=hd.quote(view.household.label),
            old=hd.quote(moved.from_household.label),
        )
    )
    outbox.enqueue(
        session,
        view.person.telegram_id,
        tr(
            locale_of(view.person),
            "Your home in the bot is now {grid} · {household}.",
            grid=hd.quote(view.grid.name),
            household=hd.quote(view.household.label),
        ),
    )


# --- households ----------------------------------------------------------------------------


@router.message(Command("households"), F.chat.type == "private")
async def list_households(message: Message, session: AsyncSession, actor: Actor) -> None:
    grids = await grids_to_look_after(session, actor)
    if not grids:
        await message.answer(_("Only this grid's workers and the village admins can do that."))
        return
    for _village_id, grid_id in grids[:5]:
        grid = await org.get_grid(session, grid_id)
        households = await org.households_of(session, grid_id, limit=LIST_MAX)
        if not households:
            continue
        await message.answer(
            _("<b>{grid}: households</b>\nTap one to rename, merge or move it.").format(
                grid=hd.quote(grid.name)
            ),
            reply_markup=keyboard(
                *[
                    [button(h.label, HouseholdAct(action="show", household_id=h.id or 0).pack())]
                    for h in households
                ]
            ),
        )


async def household_card(
    session: AsyncSession, actor: Actor, household_id: int
) -> tuple[str, object]:
    household = await org.managed_household(session, actor, household_id)
    grid = await org.get_grid(session, household.grid_id)
    members = await org.household_members_now(session, household_id)
    names = "、".join(hd.quote(m.person.full_name) for m in members) or "—"
    text = _("<b>{label}</b> · {grid}\nResidents: {names}").format(
        label=hd.quote(household.label), grid=hd.quote(grid.name), names=names
    )
    markup = keyboard(
        [
            button(_("✏ Rename"), HouseholdAct(action="rename", household_id=household_id).pack()),
            button(
                _("🔗 Merge into…"), HouseholdAct(action="merge", household_id=household_id).pack()
            ),
        ],
        [
            button(
                _("➡ Another grid"), HouseholdAct(action="grid", household_id=household_id).pack()
            ),
            button(_("✂ Split"), HouseholdAct(action="split", household_id=household_id).pack()),
        ],
        cancel_row(),
    )
    return text, markup


@router.callback_query(HouseholdAct.filter(F.action == "show"))
async def show_household(
    query: CallbackQuery, callback_data: HouseholdAct, session: AsyncSession, actor: Actor
) -> None:
    text, markup = await household_card(session, actor, callback_data.household_id)
    await edit_after_press(query, text, reply_markup=markup)


@router.callback_query(HouseholdAct.filter(F.action == "rename"))
async def ask_rename(
    query: CallbackQuery,
    callback_data: HouseholdAct,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    household = await org.managed_household(session, actor, callback_data.household_id)
    await state.set_state(RenameFlow.label)
    await state.set_data(PeopleForm(household_id=household.id or 0))
    await edit_after_press(
        query,
        _("Please send the new label for {label}.").format(label=hd.quote(household.label)),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(RenameFlow.label, F.text)
async def rename(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    form: PeopleForm = await state.get_data()  # type: ignore[assignment]
    household = await org.rename_household(
        session, actor, form["household_id"], message.text or "", now
    )
    await state.clear()
    await message.answer(
        _("Done: the household is now called {label}.").format(label=hd.quote(household.label))
    )


@router.callback_query(HouseholdAct.filter(F.action == "merge"))
async def ask_merge_into(
    query: CallbackQuery, callback_data: HouseholdAct, session: AsyncSession, actor: Actor
) -> None:
    household = await org.managed_household(session, actor, callback_data.household_id)
    others = [
        h
        for h in await org.households_of(session, household.grid_id, limit=LIST_MAX)
        if h.id != household.id
    ]
    rows = [
        [
            button(
                h.label,
                HouseholdAct(
                    action="into", household_id=household.id or 0, other=h.id or 0
                ).pack(),
            )
        ]
        for h in others
    ]
    await edit_after_press(
        query,
        _(
            "{label} is the same household as which one? Its residents, points and votes "
            "will count for the one you pick."
        ).format(label=hd.quote(household.label)),
        reply_markup=keyboard(*rows, cancel_row()),
    )


@router.callback_query(HouseholdAct.filter(F.action == "into"))
async def confirm_merge(
    query: CallbackQuery, callback_data: HouseholdAct, session: AsyncSession, actor: Actor
) -> None:
    merged = await org.managed_household(session, actor, callback_data.household_id)
    keep = await org.managed_household(session, actor, callback_data.other)
    await edit_after_press(
        query,
        _("Merge {merged} into {keep}? This cannot be undone.").format(
            merged=hd.quote(merged.label), keep=hd.quote(keep.label)
        ),
        reply_markup=keyboard(
            [
                button(
                    _("✔ Merge"),
                    HouseholdAct(
                        action="merge!", household_id=merged.id or 0, other=keep.id or 0
                    ).pack(),
                )
            ],
            cancel_row(),
        ),
    )


@router.callback_query(HouseholdAct.filter(F.action == "merge!"))
async def merge(
    query: CallbackQuery,
    callback_data: HouseholdAct,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    result = await org_changes.merge_households(
        session, actor, callback_data.other, callback_data.household_id, now
    )
    text = _("Done: {merged} is merged into {keep}. Its points count for {keep} now.").format(
        merged=hd.quote(result.merged.label), keep=hd.quote(result.keep.label)
    )
    if result.ballots_removed:
        text += "\n" + _(
            "Both had voted in {count} open votes: the later ballot counts for the household."
        ).format(count=result.ballots_removed)
    await edit_after_press(query, text, toast=_("Done."))


@router.callback_query(HouseholdAct.filter(F.action == "grid"))
async def ask_household_grid(
    query: CallbackQuery, callback_data: HouseholdAct, session: AsyncSession, actor: Actor
) -> None:
    household = await org.managed_household(session, actor, callback_data.household_id)
    grid = await org.get_grid(session, household.grid_id)
    rows = [
        [
            button(
                g.name,
                HouseholdAct(action="to", household_id=household.id or 0, other=g.id or 0).pack(),
            )
        ]
        for g in await org.grids_of(session, grid.village_id)
        if g.id != grid.id
    ]
    await edit_after_press(
        query,
        _("Move {label} and its residents to which grid?").format(label=hd.quote(household.label)),
        reply_markup=keyboard(*rows, cancel_row()),
    )


@router.callback_query(HouseholdAct.filter(F.action == "to"))
async def move_household(
    query: CallbackQuery,
    callback_data: HouseholdAct,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    household = await org.move_household(
        session, actor, callback_data.household_id, callback_data.other, now
    )
    grid = await org.get_grid(session, household.grid_id)
    await edit_after_press(
        query,
        _(
            "Done: {label} now belongs to {grid}. Points already earned stay counted where they "
            "were earned; open reports stay with their grid; new reports go to {grid}."
        ).format(label=hd.quote(household.label), grid=hd.quote(grid.name)),
        toast=_("Done."),
    )


# --- tenants -------------------------------------------------------------------------------


@router.message(Command("tenants"), F.chat.type == "private")
async def show_tenant_rule(message: Message, session: AsyncSession, actor: Actor) -> None:
    villages = await org.administered_villages(session, actor)
    if not villages:
        await message.answer(_("Only this village's admins can change this."))
        return
    for village in villages[:3]:
        text, markup = tenant_rule(village)
        await message.answer(text, reply_markup=markup)


def tenant_rule(village: Village) -> tuple[str, InlineKeyboardMarkup]:
    vid = village.id or 0
    yes, no = _("yes"), _("no")
    text = _(
        "<b>{village}: tenants (租户)</b>\n"
        "Share the vote of the household they rent in (one vote per household): {vote}\n"
        "Their points count for that household: {earn}\n"
        "Otherwise they take part as residents: their own vote in votes per person, "
        "and their own household label (租住) for points."
    ).format(
        village=hd.quote(village.name),
        vote=yes if village.tenants_vote else no,
        earn=yes if village.tenants_earn else no,
    )
    markup = keyboard(
        [button(_("Change: the vote"), TenantRule(village_id=vid, what="vote").pack())],
        [button(_("Change: the points"), TenantRule(village_id=vid, what="earn").pack())],
    )
    return text, markup


@router.callback_query(TenantRule.filter())
async def change_tenant_rule(
    query: CallbackQuery,
    callback_data: TenantRule,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    village = await org.get_village(session, callback_data.village_id)
    if callback_data.what == "vote":
        village = await org.set_tenant_rule(
            session, actor, callback_data.village_id, vote=not village.tenants_vote, now=now
        )
    else:
        village = await org.set_tenant_rule(
            session, actor, callback_data.village_id, earn=not village.tenants_earn, now=now
        )
    text, markup = tenant_rule(village)
    await edit_after_press(query, text, reply_markup=markup, toast=_("Saved."))


# --- a household splits --------------------------------------------------------------------


class SplitFlow(StatesGroup):
    pick = State()
    label = State()


async def split_picker(
    session: AsyncSession, actor: Actor, household_id: int, chosen: list[int]
) -> tuple[str, InlineKeyboardMarkup]:
    household = await org.managed_household(session, actor, household_id)
    members = await org.household_members_now(session, household_id)
    rows = [
        [
            button(
                ("☑ " if (m.membership.id or 0) in chosen else "☐ ") + m.person.full_name,
                HouseholdAct(
                    action="pick", household_id=household_id, other=m.membership.id or 0
                ).pack(),
            )
        ]
        for m in members
    ]
    if chosen:
        rows.append(
            [button(_("Next ▶"), HouseholdAct(action="next", household_id=household_id).pack())]
        )
    text = _("Who moves from {label} to a new household of their own? Tick them.").format(
        label=hd.quote(household.label)
    )
    return text, keyboard(*rows, cancel_row())


@router.callback_query(HouseholdAct.filter(F.action == "split"))
async def start_split(
    query: CallbackQuery,
    callback_data: HouseholdAct,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    await state.set_state(SplitFlow.pick)
    await state.set_data({"household_id": callback_data.household_id, "chosen": []})
    text, markup = await split_picker(session, actor, callback_data.household_id, [])
    await edit_after_press(query, text, reply_markup=markup)


@router.callback_query(SplitFlow.pick, HouseholdAct.filter(F.action == "pick"))
async def toggle_split(
    query: CallbackQuery,
    callback_data: HouseholdAct,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    data = await state.get_data()
    if data.get("household_id") != callback_data.household_id:
        await query.answer(_("This button has expired."), show_alert=True)
        return
    chosen = list(data.get("chosen") or [])
    if callback_data.other in chosen:
        chosen.remove(callback_data.other)
    else:
        chosen.append(callback_data.other)
    await state.update_data(chosen=chosen)
    text, markup = await split_picker(session, actor, callback_data.household_id, chosen)
    await edit_after_press(query, text, reply_markup=markup)


@router.callback_query(SplitFlow.pick, HouseholdAct.filter(F.action == "next"))
async def ask_split_label(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(SplitFlow.label)
    await edit_after_press(
        query,
        _("Please send the new household's label, for example 3组 12号之一."),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(SplitFlow.label, F.text)
async def split(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    data = await state.get_data()
    new = await org.split_household(
        session, actor, data["household_id"], message.text or "", data.get("chosen") or [], now
    )
    await state.clear()
    await message.answer(
        _(
            "Done: {label} is a household of its own now. Points already earned stay with the "
            "old household; from now on theirs count for {label}."
        ).format(label=hd.quote(new.label))
    )
