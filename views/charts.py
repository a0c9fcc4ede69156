"""A small bar chart as a PNG, drawn with the standard library only (zlib + struct).

Labels are digits from a built-in 3x5 pixel font: no font files are needed, and no Chinese
glyphs (which would need a CJK font) are drawn — the message beside the picture carries names.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
GREY: Color = (200, 200, 200)
BLACK: Color = (40, 40, 40)
PALETTE: tuple[Color, ...] = ((52, 120, 200), (220, 70, 60), (240, 160, 40), (80, 170, 90))

DIGITS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "%": ("101", "001", "010", "100", "101"),
    ".": ("000", "000", "000", "000", "010"),
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(WHITE * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        for char in text:
            glyph = DIGITS.get(char)
            if glyph is not None:
                for gy, line in enumerate(glyph):
                    for gx, bit in enumerate(line):
                        if bit == "1":
                            self.rect(
                                x + gx * scale,
                                y + gy * scale,
                                x + (gx + 1) * scale,
                                y + (gy + 1) * scale,
                                color,
                            )
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b"")
        )


def bar_chart(groups: Sequence[Sequence[float]], *, height: int = 320) -> bytes:
    """Grouped bars: one group per grid (numbered 1, 2, ... below), one bar per series, each
    with its value above it. Returns PNG bytes."""
    series = max((len(g) for g in groups), default=1)
    bar, gap, margin = 18, 22, 30
    width = max(200, margin * 2 + len(groups) * (series * bar + gap))
    canvas = Canvas(width, height)
    top = max((v for g in groups for v in g), default=0) or 1
    base = height - 30
    usable = base - 40
    canvas.rect(margin - 4, base, width - margin + 4, base + 2, GREY)
    for index, values in enumerate(groups):
        left = margin + index * (series * bar + gap)
        for n, value in enumerate(values):
            x = left + n * bar
            bar_height = round(usable * value / top)
            canvas.rect(x + 2, base - bar_height, x + bar - 2, base, PALETTE[n % len(PALETTE)])
            label = f"{value:g}"
            canvas.text(x + 2, base - bar_height - 14, label, scale=1 if len(label) > 2 else 2)
        canvas.text(left + (series * bar) // 2 - 4, base + 8, str(index + 1))
    return canvas.png()
