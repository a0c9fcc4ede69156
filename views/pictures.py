"""Pictures drawn with the bundled font (assets/fonts, a Noto Sans CJK subset under the OFL),
so Chinese renders on any machine; a character the font lacks is drawn as 〓 (the printer's
mark for a missing character), never as an empty box. Long lines are wrapped to a width
(`wrap`), so nothing runs past a picture's frame."""

from __future__ import annotations

import io
import logging
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageFont

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
    text = text.replace("\u3000", "  ")  # the ideographic space: the subset has no glyph
    out = "".join(c if ord(c) in cmap or c in "\n\t" else MISSING for c in text)
    if out != text:
        log.info("characters outside the bundled font drawn as %s: %r", MISSING, text)
    return out


def wrap(text: str, size: int, width: float) -> list[str]:
    """`text` (already `drawable`) in lines no wider than `width` pixels at `size`: broken at
    spaces where it has them (English), anywhere between characters otherwise (Chinese); a
    line is never left empty and no character is lost."""
    face = font(size)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph):
            candidate = line + token
            if not line or face.getlength(candidate) <= width:
                line = candidate
                if face.getlength(line) <= width:
                    continue
            else:
                lines.append(line.rstrip())
                line = token.lstrip()
            while face.getlength(line) > width and len(line) > 1:  # a token wider than a line
                cut = _fits(line, face, width)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Words with their leading space (Latin text) and single characters (CJK)."""
    tokens: list[str] = []
    for char in text:
        latin = char.isascii() and not char.isspace()
        if tokens and latin and tokens[-1][-1:].isascii() and tokens[-1].strip():
            tokens[-1] += char
        else:
            tokens.append(char)
    merged: list[str] = []
    for token in tokens:  # a space joins the word after it
        if merged and merged[-1].isspace():
            merged[-1] += token
        else:
            merged.append(token)
    return merged


def _fits(text: str, face: ImageFont.FreeTypeFont, width: float) -> int:
    """How many leading characters of `text` fit in `width` (at least one)."""
    cut = 1
    while cut < len(text) and face.getlength(text[: cut + 1]) <= width:
        cut += 1
    return cut


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
