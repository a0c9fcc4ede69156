"""Pictures drawn with the bundled font (assets/fonts, a Noto Sans CJK subset under the OFL),
so Chinese renders on any machine; a character the font lacks is drawn as 〓 (the printer's
mark for a missing character), never as an empty box."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageFont

log = logging.getLogger("linli.views.pictures")

FONT_FILE = (
    Path(__file__).resolve().parent.parent / "assets" / "fonts" / "LinliSansCJK-Regular.otf"
)


MISSING = "〓"


WIDTH = 900


MARGIN = 40


GOLD = (176, 32, 32)


INK = (34, 34, 34)


GREY = (110, 110, 110)


PAPER = (255, 250, 240)


@cache
def covered() -> frozenset[int]:
    """The code points the bundled font draws."""
    with TTFont(FONT_FILE, lazy=True) as font_file:
        return frozenset(font_file["cmap"].getBestCmap())


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILE), size)


def drawable(text: str) -> str:
    """`text` with every character the font lacks replaced by 〓."""
    cmap = covered()
    out = "".join(c if ord(c) in cmap or c in "\n\t" else MISSING for c in text)
    if out != text:
        log.info("characters outside the bundled font drawn as %s: %r", MISSING, text)
    return out
