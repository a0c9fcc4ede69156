"""What counts as English in Chinese text: ASCII words outside a short allow-list, and the raw
value of any status (a StrEnum in storage/models*.py). Shared by the catalogue test and the
end-to-end scan of what the bot sends to a Chinese-speaking person."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import re

import storage

# Pieces of Chinese text that may hold ASCII letters.
ALLOWED = re.compile(
    r"""
      \{[^{}]*\}                     # a placeholder not yet filled: {name}
    | </?[a-z]+(?:\s[^<>]*)?>         # an HTML tag: <b>, <a href="…">
    | &[a-z]+;                       # an HTML entity: &lt;
    | https?://\S+                   # a URL
    | (?<![\w/])/[a-z][a-z_]*(?:@\w+)?  # a command: /report, /start@bot
    | \b[RP]-[\w-]*                  # a report or proposal number: R-2026-0001, P-3
    | \b[A-Z]\d{2}\b                 # a points catalogue code: E02, N01
    """,
    re.VERBOSE,
)
WORD = re.compile(r"[A-Za-z]+")

# Accepted words, each for a reason:
#   English — the language picker names the other language in its own words (中文 / English),
#             so an English speaker can find it.
ACCEPTED = frozenset({"English"})


def status_values() -> frozenset[str]:
    """The raw value of every StrEnum member in storage/models*.py."""
    values: set[str] = set()
    for info in pkgutil.iter_modules(storage.__path__):
        if not info.name.startswith("models"):
            continue
        module = importlib.import_module(f"storage.{info.name}")
        for thing in vars(module).values():
            if (
                isinstance(thing, type)
                and issubclass(thing, enum.StrEnum)
                and thing is not enum.StrEnum
            ):
                values.update(member.value for member in thing)
    return frozenset(values)


def english_words(text: str) -> list[str]:
    """The ASCII words in `text` that a Chinese reader should not see."""
    rest = ALLOWED.sub(" ", text)
    return [word for word in WORD.findall(rest) if word not in ACCEPTED]


def raw_values(text: str, values: frozenset[str]) -> list[str]:
    """Raw status values standing as words of their own in `text` (after the allowed pieces go)."""
    rest = ALLOWED.sub(" ", text)
    found = re.findall(r"[A-Za-z_]+", rest)
    return [word for word in found if word in values]
