"""Everyday commands: /help, /me, /language, and leaving any flow with /cancel (/start, the
home screen, is handlers/home.py)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove
from aiogram.utils.text_decorations import html_decoration as hd

from storage import org
from storage.models.org import Person
from storage.permissions.org import Actor
from storage.profiles import Profile
from views.home import home_row, keys_shown, quick_keyboard
from views.i18n import _
from views.keyboards import FlowAction, Language, button, keyboard
from views.org import Leave, role_name, status_name
from views.replies import edit_after_press

router = Router(name="common")


@router.message(Command("cancel"), StateFilter("*"))
async def cancel_command(
    message: Message, state: FSMContext, actor: Actor | None, profile: Profile | None
) -> None:
    """Leave whatever flow is running; nothing half-done is saved. In a private chat the
    keyboard under the text box comes back, unless the person hid it."""
    had_flow = await state.get_state() is not None
    await state.clear()
    text = _("Cancelled. Nothing was saved.") if had_flow else _("There is nothing to cancel.")
    markup: ReplyKeyboardMarkup | ReplyKeyboardRemove | None = ReplyKeyboardRemove()
    if message.chat.type == "private":
        markup = quick_keyboard(actor) if keys_shown(profile) else None
    await message.answer(text, reply_markup=markup)


@router.callback_query(FlowAction.filter(F.action == "cancel"), StateFilter("*"))
async def cancel_button(query: CallbackQuery, state: FSMContext) -> None:
    """The Cancel button of any wizard."""
    await state.clear()
    await edit_after_press(query, _("Cancelled. Nothing was saved."), toast=_("Cancelled."))


@router.message(Command("help"))
async def show_help(message: Message, actor: Actor | None) -> None:
    """The commands this person's roles allow."""
    await message.answer(help_text(actor))


def help_text(actor: Actor | None) -> str:
    """The commands, grouped by who may use them; only the groups the person belongs to."""
    resident = actor is not None and actor.is_approved_resident
    in_village = actor is not None and bool(actor.villages())
    reviewer = actor is not None and bool(actor.reviewer_villages())
    admin = actor is not None and bool(actor.admin_villages())
    district = actor is not None and actor.is_district_admin
    worker = actor is not None and bool(actor.worker_grids()) or admin or district
    sections = [
        (
            True,
            _("<b>For everyone</b>"),
            [
                _("/me — who you are and where"),
                _("/language — 中文 / English"),
                _("/cancel — stop what you are doing"),
            ],
        ),
        (
            in_village,
            _("<b>Village affairs</b>"),
            [
                _("/agenda — agenda items, open votes and decisions"),
                _("/projects — decided items and where their work stands"),
            ],
        ),
        (
            resident,
            _("<b>Residents</b>"),
            [
                _("/propose — send a concern or proposal to the village committee"),
                _("/report — report a problem to your grid"),
                _("/myreports — your reports and their status"),
                _("/follow — follow a report of the same problem"),
                _("/claim — claim points for something you did"),
                _("/myclaims — your claims and their status"),
                _("/mypoints — your and your household's points"),
                _("/leaderboard — this month's points ranking"),
                _("/activities — activities coming up: sign up or cancel"),
                _("/shop — the points shop: what your household's points can buy"),
                _("/shoporders — (shop keepers) orders waiting to be handed over"),
            ],
        ),
        (
            reviewer,
            _("<b>Points group</b>"),
            [
                _("/review — decide the points claims waiting"),
                _("/award — record points (or a deduction) for a household"),
                _("/pointsexport — a month of points as an .xlsx for the notice board"),
            ],
        ),
        (
            worker,
            _("<b>Grid workers</b>"),
            [
                _("/invite — a link for residents to join a grid"),
                _("/pending — join requests waiting for you"),
                _("/residents — your grid's residents: moved away, deceased, another household"),
                _("/households — rename, merge or move a household"),
                _("/tasks — your grid's tasks"),
                _("/newtask — give a grid a duty task"),
                _("/notice — send a notice to your grid"),
                _("/behalf — file a report, a proposal or a points claim for someone (代报)"),
                _("/activity — organise an activity: sign-up, check-in, points"),
            ],
        ),
        (
            admin or district,
            _("<b>Village admins</b>"),
            [
                _("/appoint — a one-time link that gives someone a role"),
                _("/roles — end someone's role; unused role links"),
                _("/audit — who did what in the village"),
                _("/tenants — do tenants share their household's vote and points"),
                _("/bindgroup — (in a group) get the village's automatic posts there"),
                _("/proposals — answer residents' proposals"),
                _("/vote — put a vote in the village's groups"),
                _("/voterule — one vote per person or per household"),
                _("/paper — enter a vote's paper ballots"),
                _("/council — the monthly council: day, participants, decisions"),
                _("/gridstats — reports per grid and month"),
                _("/export — files for the notice board: the month's PDF notice and sheets"),
                _("/workerstats — each grid worker's month"),
                _("/reportsettings — categories and their deadlines, points item, digest hour"),
                _("/activityexport — this month's activities and attendance as an .xlsx"),
                _("/tags — groups of residents (老年人, 青少年家庭, 新居民) for activities"),
                _("/shopadmin — the points shop: goods, stock, keepers, figures"),
            ],
        ),
        (
            admin,
            _("<b>Points settings</b>"),
            [
                _("/catalogue — the points items: add, change, retire"),
                _("/rewards — quarterly reward tiers and rewards to hand over"),
                _("/pointsettings — weekly confirmation time, exposure list"),
                _("/pointsexport — a month of points as an .xlsx for the notice board"),
            ],
        ),
        (
            district,
            _("<b>District admins</b>"),
            [
                _("/newvillage — set up a village and its grids"),
            ],
        ),
    ]
    blocks = ["\n".join([heading, *lines]) for shown, heading, lines in sections if shown]
    return "\n\n".join(blocks)


@router.message(Command("me"))
async def show_me(message: Message, profile: Profile | None) -> None:
    """Who you are, where you live in the bot, and your roles."""
    if profile is None:
        await message.answer(_("I do not know you yet. Send me /start in a private chat."))
        return
    person = profile.person
    lines = [_("<b>{name}</b>").format(name=hd.quote(person.full_name or "—"))]
    if profile.home is not None:
        lines.append(
            _("Home: {village} · {grid} · {household} ({status})").format(
                village=hd.quote(profile.home.village),
                grid=hd.quote(profile.home.grid),
                household=hd.quote(profile.home.household),
                status=status_name(profile.home.status),
            )
        )
    else:
        lines.append(_("Home: not joined yet. Open your grid's invite link to join."))
    for held in profile.roles:
        place = hd.quote(held.village) + (f" · {hd.quote(held.grid)}" if held.grid else "")
        lines.append(
            _("Role: {role}, {place}").format(
                role=role_name(held.role, held.worker_kind), place=place
            )
        )
    if person.phone:
        lines.append(_("Phone: {phone}").format(phone=hd.quote(person.phone)))
    rows = []
    if profile.home is not None and message.chat.type == "private":
        rows.append([button(_("Leave the village"), Leave(step=1).pack())])
    await message.answer(
        "\n".join(lines),
        reply_markup=keyboard(*rows, home_row()) if message.chat.type == "private" else None,
    )


@router.message(Command("language"))
async def choose_language(message: Message) -> None:
    """Offer the two languages."""
    markup = keyboard(
        [button("中文", Language(code="zh").pack()), button("English", Language(code="en").pack())]
    )
    await message.answer(_("Choose your language:"), reply_markup=markup)


@router.callback_query(Language.filter())
async def set_language(
    query: CallbackQuery, callback_data: Language, person: Person | None, i18n: object
) -> None:
    """Remember the language and answer in it at once."""
    if person is None:
        await query.answer()
        return
    org.set_locale(person, callback_data.code)
    with i18n.use_locale(callback_data.code):  # type: ignore[attr-defined]
        text = (
            _("Language set: English.") if callback_data.code == "en" else _("Language set: 中文.")
        )
        await edit_after_press(query, text, toast=text)
