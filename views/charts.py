"""Charts as PNG pictures, drawn with Pillow and the bundled CJK font (views/pictures.py): a
title, labelled axes with a grid of lines, the names under the bars (grids, months, votes), a
legend, and each value written on its bar or point in a size a phone shows well.

- `bar_chart`: grouped bars (the /gridstats figures per grid; vote turnout).
- `line_chart`: one line per series over the months (reports received and fixed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

from storage import reports, votes
from views.dates import month_title, year_title
from views.i18n import tr
from views.pictures import drawable, font, png, wrap

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
GRID_LINE: Color = (225, 225, 225)
AXIS: Color = (90, 90, 90)
INK: Color = (40, 40, 40)
PALETTE: tuple[Color, ...] = ((52, 120, 200), (220, 70, 60), (240, 160, 40), (80, 170, 90))

WIDTH = 1000
HEIGHT = 640
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, VALUE_SIZE = 34, 24, 22, 22
LEFT, RIGHT, TOP = 100, 40, 140  # plot area margins; the bottom fits the names


def nice_top(highest: float) -> tuple[float, float]:
    """The axis top and its step: 1, 2 or 5 times a power of ten, four to six steps."""
    if highest <= 0:
        return 1.0, 0.25 if highest < 0 else 1.0
    raw = highest / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if step < 1 and highest >= 1:
        step = 1
    return step * math.ceil(highest / step), step


def label(value: float, unit: str = "") -> str:
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return text + unit


def frame(
    title: str, y_label: str, x_label: str, names: Sequence[str], legend: Sequence[str]
) -> tuple[Image.Image, ImageDraw.ImageDraw, tuple[int, int, int, int], list[list[str]]]:
    """The picture, its title, legend and axis labels; returns the plot box and the names as
    wrapped lines (drawn by the caller under each bar or point)."""
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(names))
    wrapped = [wrap(drawable(n), TICK_SIZE, max(slot - 8, TICK_SIZE))[:3] for n in names]
    name_lines = max((len(w) for w in wrapped), default=1)
    bottom_margin = 30 + name_lines * int(TICK_SIZE * 1.3) + int(LABEL_SIZE * 1.6)
    height = max(HEIGHT, TOP + 320 + bottom_margin)
    image = Image.new("RGB", (WIDTH, height), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((WIDTH / 2, 24), drawable(title), font=font(TITLE_SIZE), fill=INK, anchor="ma")
    x = LEFT
    for index, name in enumerate(legend):  # the legend, under the title
        colour = PALETTE[index % len(PALETTE)]
        draw.rectangle((x, 86, x + 26, 108), fill=colour)
        text = drawable(name)
        draw.text((x + 34, 97), text, font=font(LABEL_SIZE), fill=INK, anchor="lm")
        x += 34 + int(font(LABEL_SIZE).getlength(text)) + 36
    box = (LEFT, TOP, WIDTH - RIGHT, height - bottom_margin)
    # the y axis label, turned to run up the axis
    label_face = font(LABEL_SIZE)
    text = drawable(y_label)
    side = Image.new("RGBA", (int(label_face.getlength(text)) + 4, LABEL_SIZE + 10), (0, 0, 0, 0))
    ImageDraw.Draw(side).text((2, 0), text, font=label_face, fill=INK)
    turned = side.rotate(90, expand=True)
    image.paste(turned, (10, (box[1] + box[3]) // 2 - turned.height // 2), turned)
    draw.text(
        ((box[0] + box[2]) / 2, height - 12),
        drawable(x_label),
        font=label_face,
        fill=INK,
        anchor="md",
    )
    return image, draw, box, wrapped


def y_axis(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], top: float, step: float, unit: str
) -> None:
    left, upper, right, lower = box
    ticks = round(top / step)
    for n in range(ticks + 1):
        y = lower - (lower - upper) * n / ticks
        draw.line((left, y, right, y), fill=GRID_LINE if n else AXIS, width=1 if n else 2)
        draw.text(
            (left - 10, y), label(step * n, unit), font=font(TICK_SIZE), fill=INK, anchor="rm"
        )
    draw.line((left, upper, left, lower), fill=AXIS, width=2)


def names_under(
    draw: ImageDraw.ImageDraw, centres: Sequence[float], lower: int, wrapped: list[list[str]]
) -> None:
    for centre, lines in zip(centres, wrapped, strict=True):
        for n, line in enumerate(lines):
            draw.text(
                (centre, lower + 12 + n * int(TICK_SIZE * 1.3)),
                line,
                font=font(TICK_SIZE),
                fill=INK,
                anchor="ma",
            )


def bar_chart(
    title: str,
    names: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    y_label: str,
    x_label: str,
    unit: str = "",
    top: float | None = None,
) -> bytes:
    """Grouped bars: a group per name (a grid, a vote), a bar per series with its value on
    top. `top` fixes the axis (100 for percentages)."""
    image, draw, box, wrapped = frame(title, y_label, x_label, names, [s for s, _v in series])
    highest = max((v for _s, values in series for v in values), default=0)
    axis_top, step = nice_top(top if top is not None else highest)
    y_axis(draw, box, axis_top, step, unit)
    left, upper, right, lower = box
    slot = (right - left) / max(1, len(names))
    bar = min(70.0, slot * 0.8 / max(1, len(series)))
    centres = []
    for index in range(len(names)):
        centre = left + slot * (index + 0.5)
        centres.append(centre)
        start = centre - bar * len(series) / 2
        for n, (_name, values) in enumerate(series):
            value = values[index] if index < len(values) else 0
            height = (lower - upper) * value / axis_top if axis_top else 0
            x0 = start + n * bar
            if height >= 1:
                draw.rectangle(
                    (x0 + 3, lower - height, x0 + bar - 3, lower - 1),
                    fill=PALETTE[n % len(PALETTE)],
                )
            draw.text(
                (x0 + bar / 2, lower - height - 4),
                label(value, unit),
                font=font(VALUE_SIZE),
                fill=INK,
                anchor="md",
            )
    names_under(draw, centres, lower, wrapped)
    return png(image)


def line_chart(
    title: str,
    names: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    y_label: str,
    x_label: str,
) -> bytes:
    """A line per series across `names` (months), each point marked and its value written."""
    image, draw, box, wrapped = frame(title, y_label, x_label, names, [s for s, _v in series])
    highest = max((v for _s, values in series for v in values), default=0)
    axis_top, step = nice_top(highest)
    y_axis(draw, box, axis_top, step, "")
    left, upper, right, lower = box
    slot = (right - left) / max(1, len(names))
    centres = [left + slot * (i + 0.5) for i in range(len(names))]
    for n, (_name, values) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = [
            (centres[i], lower - (lower - upper) * v / axis_top)
            for i, v in enumerate(values[: len(names)])
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=4)
        for index, ((x, y), value) in enumerate(zip(points, values, strict=False)):
            draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=colour)
            # the highest value of the month is written above its point, the others below
            others = [v[index] for m, (_s, v) in enumerate(series) if m != n and index < len(v)]
            above = all(value > o or (value == o and n == 0) for o in others)
            offset = -12 if above else 34
            draw.text(
                (x, y + offset), label(value), font=font(VALUE_SIZE), fill=colour, anchor="md"
            )
    names_under(draw, centres, lower, wrapped)
    return png(image)


# --- the charts the bot sends ----------------------------------------------------------------


def grid_chart(village: str, month: str, figures: Sequence[reports.GridFigures]) -> bytes:
    """/gridstats: per grid, the reports received, overdue and reopened in the month."""
    return bar_chart(
        tr(None, "{village} · reports per grid, {month}", village=village, month=month),
        [f.grid.name for f in figures],
        [
            (tr(None, "received"), [f.received for f in figures]),
            (tr(None, "overdue"), [f.overdue for f in figures]),
            (tr(None, "reopened reports"), [f.reopened for f in figures]),
        ],
        y_label=tr(None, "reports"),
        x_label=tr(None, "grid"),
    )


def trend_chart(village: str, trend: Sequence[tuple[str, int, int]]) -> bytes:
    """The months up to now: reports received, and reports fixed, in each."""
    return line_chart(
        tr(None, "{village} · reports received and fixed per month", village=village),
        [month_title(key, None) for key, _r, _f in trend],
        [
            (tr(None, "received"), [r for _k, r, _f in trend]),
            (tr(None, "fixed"), [f for _k, _r, f in trend]),
        ],
        y_label=tr(None, "reports"),
        x_label=tr(None, "month"),
    )


def turnout_chart(village: str, year: str, views: Sequence[votes.VoteView]) -> bytes:
    """The year's closed votes: what share of those who could vote did."""
    return bar_chart(
        tr(None, "{village} · vote turnout, {year}", village=village, year=year_title(year)),
        [v.vote.question for v in views],
        [
            (
                tr(None, "share who voted"),
                [round(100 * v.voters / v.eligible, 1) if v.eligible else 0 for v in views],
            )
        ],
        y_label=tr(None, "share who voted (%)"),
        x_label=tr(None, "the question voted on"),
        unit="%",
        top=100,
    )
