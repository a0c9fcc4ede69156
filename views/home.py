"""The home screen of each role: its big buttons, the ⚙ sub-menu, the persistent keyboard under
the text box, the "/" menu's words, and the memory of the last buttons shown in each private
chat (so that typed text matching a button's label counts as pressing it)."""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.text_decorations import html_decoration as hd

from storage.errors import N_
from storage.permissions import home as entries_of
from storage.permissions.org import Actor
from storage.profiles import Profile
from views.i18n import _, tr
from views.keyboards import button, keyboard

LABELS = {
    "start": N_("🏠 Home"),
    "report": N_("📣 Report a problem"),
    "claim": N_("⭐ Claim points"),
    "mypoints": N_("📋 My points"),
    "propose": N_("📮 Mailbox"),
    "agenda": N_("🗳 Votes and agenda"),
    "me": N_("👤 My details"),
    "language": N_("🌐 中文 / English"),
    "tasks": N_("📥 My tasks"),
    "pending": N_("👥 Residents to approve"),
    "notice": N_("📢 Send a notice"),
    "review": N_("📝 Review claims"),
    "behalf": N_("🤝 File for someone"),
    "admin": N_("⚙ Manage"),
    "appoint": N_("Appoint someone"),
    "invite": N_("Invite link"),
    "proposals": N_("Proposals to answer"),
    "vote": N_("Start a vote"),
    "council": N_("Council meeting"),
    "award": N_("Record points"),
    "newtask": N_("Give a duty task"),
    "gridstats": N_("Grid figures"),
    "catalogue": N_("Points items"),
    "rewards": N_("Rewards"),
    "pointsettings": N_("Points settings"),
    "reportsettings": N_("Report settings"),
    "voterule": N_("Voting rule"),
    "pointsexport": N_("Points sheet"),
    "projects": N_("Projects"),
    "newvillage": N_("New village"),
    "myreports": N_("My reports"),
    "reports": N_("👀 See what neighbours reported"),
    "gridpost": N_("Weekly report post"),
    "myclaims": N_("My claims"),
    "leaderboard": N_("Points ranking"),
    "follow": N_("Follow a report"),
    "help": N_("What you can do"),
    "cancel": N_("Stop what you are doing"),
}
HIDE_KEYS = N_("⌨ Hide the buttons below")
SHOW_KEYS = N_("⌨ Show the buttons below")
TYPED = "typed:"  # the query id of a press made by typing a button's label


class Home(CallbackData, prefix="home"):
    """A button of the home screen: `go` is the command it runs (or start, admin, hide)."""

    go: str


def label(entry: str, locale: str | None = None) -> str:
    return tr(locale, LABELS[entry])


def home_text(profile: Profile | None) -> str:
    if (
        profile is None
        or profile.actor is None
        or entries_of.home_entries(profile.actor) == list(entries_of.STRANGER)
    ):
        return _(
            "Hello! I am linli (邻里), the helper of your village.\n\n"
            "To join your village, open the invite link your grid worker shares. "
            "Then everything is a tap on the buttons here."
        )
    name = profile.person.full_name or "—"
    lines = [_("🏠 <b>{name}</b>, what would you like to do?").format(name=hd.quote(name))]
    if profile.home is not None:
        lines.append(
            f"{hd.quote(profile.home.village)} · {hd.quote(profile.home.grid)} · "
            f"{hd.quote(profile.home.household)}"
        )
    return "\n".join(lines)


def home_keyboard(actor: Actor | None, *, keys_shown: bool = True) -> InlineKeyboardMarkup:
    """Two big buttons a row, in the order of use; last, the switch of the keyboard under the
    text box (hide it, or show it again)."""
    found = [button(label(e), Home(go=e).pack()) for e in entries_of.home_entries(actor)]
    rows = [found[i : i + 2] for i in range(0, len(found), 2)]
    switch = (
        button(_(HIDE_KEYS), Home(go="hide").pack())
        if keys_shown
        else button(_(SHOW_KEYS), Home(go="show").pack())
    )
    return keyboard(*rows, [switch])


def keys_shown(profile: Profile | None) -> bool:
    """Whether the keyboard under the text box is sent: unless the person hid it."""
    return profile is None or not profile.person.keys_hidden


def admin_keyboard(actor: Actor | None) -> InlineKeyboardMarkup:
    found = [button(label(e), Home(go=e).pack()) for e in entries_of.admin_entries(actor)]
    rows = [found[i : i + 3] for i in range(0, len(found), 3)]
    return keyboard(*rows, [home_button()])


def home_button() -> InlineKeyboardButton:
    return button(_(LABELS["start"]), Home(go="start").pack())


def home_row() -> list[InlineKeyboardButton]:
    """The 🏠 button under a flow's last message."""
    return [home_button()]


def quick_keyboard(actor: Actor | None) -> ReplyKeyboardMarkup:
    """The few most used entries, always under the text box (people can hide it)."""
    found = [KeyboardButton(text=label(e)) for e in entries_of.quick_entries(actor)]
    return ReplyKeyboardMarkup(
        keyboard=[found[i : i + 2] for i in range(0, len(found), 2)],
        resize_keyboard=True,
        is_persistent=True,
        input_field_placeholder=_("Tap a button, or type what happened"),
    )


def quick_entry(text: str, locales: tuple[str, ...] = ("zh", "en")) -> str | None:
    """The entry whose label (in any language) is this text: a press on the quick keyboard."""
    for entry in ("start", *entries_of.RESIDENT, *entries_of.WORKER, *entries_of.REVIEWER):
        if any(text == tr(locale, LABELS[entry]) for locale in locales):
            return entry
    return None


def menu(actor: Actor | None, locale: str, *, default: bool = False) -> list[BotCommand]:
    """The person's "/" menu in their language (`default`: a resident's, for everyone)."""
    commands = entries_of.default_menu_commands() if default else entries_of.menu_commands(actor)
    return [BotCommand(command=c, description=_plain(tr(locale, LABELS[c]))) for c in commands]


def _plain(text: str) -> str:
    """A label without its leading pictograph, for the "/" menu."""
    head, _space, rest = text.partition(" ")
    if rest and all(unicodedata.category(c) in ("So", "Sk", "Mn", "Cf") for c in head):
        return rest
    return text


def next_step(actor: Actor | None) -> str:
    """What someone who cannot do this yet can do next."""
    where = entries_of.standing(actor)
    if where == "pending":
        return _(
            "Your request to join is with your grid worker; I will tell you here when it is "
            "decided."
        )
    if where == "resident":
        return _("Tap 🏠 Home to see what you can do.")
    return _(
        "To take part, join your village first: open the invite link your grid worker shares."
    )


# --- free text -----------------------------------------------------------------------------


class FreeText(CallbackData, prefix="ft"):
    """What to make of the text someone typed outside a flow: report, propose."""

    make: str


def free_text_keyboard() -> InlineKeyboardMarkup:
    return keyboard(
        [
            button(label("report"), FreeText(make="report").pack()),
            button(_("📮 Send as a proposal"), FreeText(make="propose").pack()),
        ],
        [button(_("✖ Cancel"), FreeText(make="cancel").pack())],
    )


# --- the last buttons shown in each private chat -------------------------------------------


def _key(text: str) -> str:
    """A label as people would type it: no pictographs, spaces or punctuation, case folded."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN").casefold()


class ShownButtons:
    """The inline keyboard last sent or edited into each private chat, in this process's
    memory (a bounded number of chats): typed text is matched against it."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._shown: OrderedDict[int, tuple[int, dict[str, Any]]] = OrderedDict()

    def remember(self, chat_id: int, message_id: int, markup: dict[str, Any]) -> None:
        self._shown[chat_id] = (message_id, markup)
        self._shown.move_to_end(chat_id)
        while len(self._shown) > self.capacity:
            self._shown.popitem(last=False)

    def last(self, chat_id: int) -> tuple[int, dict[str, Any]] | None:
        return self._shown.get(chat_id)

    def match(self, chat_id: int, typed: str) -> tuple[int, str] | None:
        """(message id, callback data) of the button whose label is what was typed: the same
        label, or the one label that begins with it."""
        shown = self._shown.get(chat_id)
        key = _key(typed)
        if shown is None or not key:
            return None
        message_id, markup = shown
        buttons = [
            b for row in markup.get("inline_keyboard", []) for b in row if b.get("callback_data")
        ]
        same = [b for b in buttons if _key(b.get("text", "")) == key]
        if not same and len(key) >= 2:
            same = [b for b in buttons if _key(b.get("text", "")).startswith(key)]
        if len(same) != 1:
            return None
        return message_id, str(same[0]["callback_data"])
