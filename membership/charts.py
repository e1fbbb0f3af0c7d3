"""Server-rendered SVG charts for the staff dashboard: no JavaScript, nothing from another origin.

Each chart is an `<svg role="img">` named by its own `<title>` and `<desc>` (through aria-labelledby), and
every bar or point carries a `<title>` with its exact figure. The page puts the same figures in a table
right after the chart, which is what screen readers and spreadsheets should use. Colours are set with
presentation attributes, because the Content-Security-Policy allows no inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from membership.formatting import format_number

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and dark enough on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
INK = "#1a1a1a"
MUTED = "#4a4a4a"
GRID = "#d9d6cf"
FONT = "system-ui, sans-serif"

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named row of figures, one value per category."""

    name: str
    values: Sequence[float]


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 up to at least `maximum`: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw_step = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _attrs(**values: object) -> str:
    return " ".join(f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for name, value in values.items())


def _text(x: float, y: float, content: str, *, anchor: str = "middle", size: int = 12, fill: str = INK,
          extra: str = "") -> str:
    return (f'<text {_attrs(x=f"{x:.1f}", y=f"{y:.1f}", text_anchor=anchor, font_size=size, fill=fill)}'
            f'{" " + extra if extra else ""}>{escape(content)}</text>')


def _rect(x: float, y: float, width: float, height: float, fill: str, tip: str) -> str:
    box = _attrs(x=f"{x:.1f}", y=f"{y:.1f}", width=f"{width:.1f}", height=f"{height:.1f}", fill=fill)
    return f"<rect {box}><title>{escape(tip)}</title></rect>"


def _svg(parts: list[str]) -> Markup:
    # Every text and attribute value above went through escape(); the tags are ours.
    return Markup("".join([*parts, "</svg>"]))  # noqa: S704


def _open(chart_id: str, title: str, description: str, width: int, height: int, css_class: str = "chart"
          ) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" {_attrs(id=chart_id, viewBox=f"0 0 {width} {height}")} '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" class="{escape(css_class)}" '
        f'font-family="{FONT}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        f'<rect {_attrs(x=0, y=0, width=width, height=height, fill="#ffffff")}/>',
    ]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts: list[str] = []
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect {_attrs(x=f"{x:.1f}", y=f"{y - 10:.1f}", width=12, height=12, fill=colour)}/>')
        parts.append(_text(x + 17, y, item.name, anchor="start"))
        x += 30 + 7.5 * len(item.name)
    return parts


@dataclass(frozen=True)
class _Frame:
    """The plotting area inside the axes, and the y scale."""

    left: float
    top: float
    right: float
    bottom: float
    top_value: float

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * (value / self.top_value if self.top_value else 0)


def _axes(parts: list[str], frame: _Frame, ticks: Sequence[float], y_label: Formatter, axis_title: str) -> None:
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line {_attrs(x1=frame.left, x2=frame.right, y1=f"{y:.1f}", y2=f"{y:.1f}", stroke=GRID)}/>')
        parts.append(_text(frame.left - 6, y + 4, y_label(tick), anchor="end", size=11, fill=MUTED))
    parts.append(f'<line {_attrs(x1=frame.left, x2=frame.left, y1=frame.top, y2=frame.bottom, stroke=INK)}/>')
    parts.append(f'<line {_attrs(x1=frame.left, x2=frame.right, y1=frame.bottom, y2=frame.bottom, stroke=INK)}/>')
    if axis_title:
        parts.append(_text(frame.left, frame.top - 12, axis_title, anchor="start", size=11, fill=MUTED))


def _category_labels(parts: list[str], categories: Sequence[str], frame: _Frame, slot: float) -> None:
    """Labels under the x axis; a label may have a second line ("Jan\n2026"). When they would overlap, only
    every n-th is shown; every bar and point still has its own <title>."""
    widest = 7 * max((len(line) for category in categories for line in category.split("\n")), default=1) + 10
    every = max(1, math.ceil(widest / slot)) if slot else 1
    for index, category in enumerate(categories):
        if index % every:
            continue
        x = f"{frame.left + slot * (index + 0.5):.1f}"
        lines = "".join(f'<tspan {_attrs(x=x, dy="0" if n == 0 else "1.2em")}>{escape(line)}</tspan>'
                        for n, line in enumerate(category.split("\n")))
        parts.append(f'<text {_attrs(x=x, y=f"{frame.bottom + 16:.1f}", text_anchor="middle", font_size=11, fill=INK)}>'
                     f"{lines}</text>")


def _plain(category: str) -> str:
    return category.replace("\n", " ")


def bar_chart(chart_id: str, title: str, description: str, categories: Sequence[str], series: Sequence[Series],
              *, value_label: Formatter = format_number, axis_title: str = "", width: int = 720,
              height: int = 300) -> Markup:
    """Vertical bars, one group per category and one bar per series, on a y axis from zero."""
    frame, parts = _start(chart_id, title, description, series, value_label, axis_title, width, height)
    slot = (frame.right - frame.left) / max(len(categories), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for s_index, item in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        for c_index, value in enumerate(item.values):
            x = frame.left + slot * c_index + slot * 0.1 + bar * s_index
            y = frame.y(max(value, 0))
            tip = f"{_plain(categories[c_index])} · {item.name}: {value_label(value)}"
            parts.append(_rect(x, y, max(bar - 1, 1), frame.bottom - y, colour, tip))
    _category_labels(parts, categories, frame, slot)
    return _svg(parts)


def line_chart(chart_id: str, title: str, description: str, categories: Sequence[str], series: Sequence[Series],
               *, value_label: Formatter = format_number, axis_title: str = "", width: int = 720,
               height: int = 300) -> Markup:
    """One line per series across the categories (months), with a marker on every point."""
    frame, parts = _start(chart_id, title, description, series, value_label, axis_title, width, height)
    slot = (frame.right - frame.left) / max(len(categories), 1)
    for s_index, item in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        points = [(frame.left + slot * (i + 0.5), frame.y(max(v, 0))) for i, v in enumerate(item.values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline {_attrs(points=path, fill="none", stroke=colour, stroke_width=2.5)}/>')
        for (x, y), value, category in zip(points, item.values, categories, strict=False):
            tip = f"{_plain(category)} · {item.name}: {value_label(value)}"
            parts.append(f'<circle {_attrs(cx=f"{x:.1f}", cy=f"{y:.1f}", r=4, fill=colour)}>'
                         f"<title>{escape(tip)}</title></circle>")
    _category_labels(parts, categories, frame, slot)
    return _svg(parts)


def ranked_bar_chart(chart_id: str, title: str, description: str, labels: Sequence[str], values: Sequence[float],
                     *, value_label: Formatter = format_number, width: int = 720, label_chars: int = 42,
                     font_size: int = 12, css_class: str = "chart") -> Markup:
    """Horizontal bars, largest first as given: for rankings whose labels are long (articles, reasons).

    `font_size` is in the chart's own units: a chart drawn narrow (a small `width`, shown at most at its CSS
    class's width) keeps its text readable when a phone scales it down."""
    scale = font_size / 12
    row = 26 * scale
    left = 8 + 6.6 * scale * min(label_chars, max((len(label) for label in labels), default=4))
    right_pad, top = 70 * scale, 10
    height = int(top * 2 + row * max(len(labels), 1))
    parts = _open(chart_id, title, description, width, height, css_class)
    top_value = max([*values, 0]) or 1
    span = width - left - right_pad
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + row * index
        shown = label if len(label) <= label_chars else _shortened(label, label_chars)
        parts.append(_text(left - 8, y + row / 2 + 4 * scale, shown, anchor="end", size=font_size))
        bar = span * max(value, 0) / top_value
        parts.append(_rect(left, y + 4, max(bar, 1), row - 8, PALETTE[0], f"{label}: {value_label(value)}"))
        parts.append(_text(left + bar + 6, y + row / 2 + 4 * scale, value_label(value), anchor="start",
                           size=font_size))
    parts.append(f'<line {_attrs(x1=f"{left:.1f}", x2=f"{left:.1f}", y1=top, y2=height - top, stroke=INK)}/>')
    return _svg(parts)


def _shortened(label: str, chars: int) -> str:
    """`label` cut to `chars` with an ellipsis, after a whole word when one ends in the second half."""
    cut = label[: chars - 1]
    boundary = max((i for i, char in enumerate(cut) if not char.isalnum()), default=-1)
    return (cut[: boundary + 1] if boundary >= chars // 2 else cut) + "…"


def _start(chart_id: str, title: str, description: str, series: Sequence[Series], value_label: Formatter,
           axis_title: str, width: int, height: int) -> tuple[_Frame, list[str]]:
    longest = max((len(value_label(v)) for item in series for v in item.values), default=1)
    ticks = nice_ticks(max((v for item in series for v in item.values), default=0))
    left = 14 + 7 * max(longest, len(value_label(ticks[-1])))
    legend_space = 26 if len(series) > 1 else 0
    frame = _Frame(left=left, top=28 + legend_space, right=width - 12, bottom=height - 40, top_value=ticks[-1])
    parts = _open(chart_id, title, description, width, height)
    if legend_space:
        parts.extend(_legend(series, left, 20))
    _axes(parts, frame, ticks, value_label, axis_title)
    return frame, parts
