"""Text typed by people, as it is stored and shown (no database, no other storage module)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_ZWJ = "\u200d"
# Chinese punctuation that NFKC would turn into ASCII ("，" into ","): kept as typed, so a
# sentence written in Chinese reads as written. (、。“”《》 NFKC leaves alone anyway.)
_CHINESE_PUNCTUATION = "，：；？！（）～"
_CHINESE_PUNCTUATION_RUN = re.compile(f"([{_CHINESE_PUNCTUATION}]+)")
_EMOJI_SIDE = frozenset({"So", "Sk"})  # pictographs and skin-tone modifiers


def _visible(line: str) -> str:
    """`line` without control and format characters (zero-width spaces, the byte-order mark,
    bidi embeddings, overrides, isolates and marks, tags), keeping a zero-width joiner only
    between two emoji (👨‍👩‍👧 stays one family)."""
    kept: list[str] = []
    for index, char in enumerate(line):
        category = unicodedata.category(char)
        if category == "Cc" and not char.isspace():
            continue
        if category == "Cf":
            after = line[index + 1 : index + 2]
            before = kept[-1] if kept else ""
            if before == "\ufe0f" and len(kept) > 1:  # an emoji's presentation selector
                before = kept[-2]
            if not (
                char == _ZWJ
                and before
                and after
                and unicodedata.category(before) in _EMOJI_SIDE
                and unicodedata.category(after) in _EMOJI_SIDE
            ):
                continue
        kept.append(char)
    return "".join(kept)


def _nfkc(text: str) -> str:
    """NFKC, but for the Chinese punctuation in `_CHINESE_PUNCTUATION`."""
    parts = _CHINESE_PUNCTUATION_RUN.split(text)
    # split() with a group: the odd parts are the punctuation runs
    return "".join(
        part if index % 2 else unicodedata.normalize("NFKC", part)
        for index, part in enumerate(parts)
    )


def normalise_text(text: str | None, *, lines: bool = False) -> str:
    """What a person typed, as it is stored and shown: NFKC (full-width letters and digits,
    compatibility forms; Chinese punctuation stays as typed), no control, format or bidi
    characters, runs of spaces as one. With `lines`, line breaks are kept (at most one empty
    line in a row); otherwise all one line."""
    text = _nfkc(text or "")
    if not lines:
        return " ".join(_visible(text).split())
    kept = [" ".join(_visible(line).split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def label_key(label: str) -> str:
    """What two household labels must share to be one household: the normalised label
    without any space, full NFKC, case-folded ("3组12号", "3组 12号" and "３组１２号" are one,
    and "3组（东）" is "3组(东)")."""
    return unicodedata.normalize("NFKC", "".join(normalise_text(label).split())).casefold()


def label_key_default(context: Any) -> str:
    """The column default of `household.label_key`: the key of the row's label."""
    return label_key(context.get_current_parameters()["label"])
