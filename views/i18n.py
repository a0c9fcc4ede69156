"""Translations: every `locales/<lang>/*.po` file of a language is merged into one catalogue.

Message ids are the English text; `en` and `zh` each translate every one of them (a test checks).
Feature files keep their own .po file (`locales/zh/points.po`) so features do not collide.
`_()` translates for the person being answered; `tr(locale, ...)` for someone else (a push).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("zh", "en")

__all__ = ["LANGUAGES", "LOCALES", "PoI18n", "_", "__", "load_catalog", "locale_of", "tr"]


def load_catalog(language: str, folder: Path = LOCALES) -> Catalog:
    """All .po files of one language as one catalogue."""
    merged = Catalog(locale=language, domain="messages")
    for path in sorted((folder / language).glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id:
                    merged[message.id] = message
    return merged


class PoI18n(I18n):
    """aiogram's I18n, reading .po files directly (no compiled .mo files to keep in git)."""

    def __init__(self, *, default_locale: str = "zh", path: Path = LOCALES) -> None:
        super().__init__(path=path, default_locale=default_locale, domain="messages")

    # aiogram's ContextInstanceMixin gives each subclass its own context variable, but
    # aiogram's gettext looks up I18n's: always register under the base class.
    def activate(self) -> None:
        I18n.set_current(self)

    @contextmanager
    def context(self) -> Iterator[I18n]:
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for language in LANGUAGES:
            buffer = io.BytesIO()
            write_mo(buffer, load_catalog(language, self.path))
            buffer.seek(0)
            translations[language] = gettext.GNUTranslations(buffer)
        return translations


def tr(locale: str | None, message: str, **params: object) -> str:
    """Translate `message` into `locale` (when None, the current one) and fill in `params`."""
    i18n = I18n.get_current()
    text = i18n.gettext(message, locale=locale or i18n.current_locale)
    return text.format(**params) if params else text


def locale_of(person: object) -> str:
    """The language to write to someone in: theirs, else the configured default."""
    return getattr(person, "locale", None) or I18n.get_current().default_locale
