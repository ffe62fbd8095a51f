"""Charts for notices, drawn as inline SVG: pure functions from plain data to an SVG string.

Horizontal bars, because Chinese category and province names are long and read best set on their
own line to the left of the bar. Every piece of text is XML-escaped here, so the string can be
inserted into a template unescaped (``{{ svg | safe }}``). Sizes are in CSS pixels (1/96 in); the
text uses the CJK fonts of the notice so that no character is drawn as a box.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

RED = "#C00000"
BAR = "#B03A2E"
GRID = "#BBBBBB"
INK = "#222222"
FONT = "'Noto Sans CJK SC', 'Noto Serif CJK SC', sans-serif"


def text_width(text: str, size: float) -> float:
    """Width of ``text`` at font size ``size``, estimated: wide (CJK) characters take 1 em, others
    about 0.56 em. Good enough to lay out labels without measuring glyphs."""
    em = 0.0
    for ch in text:
        em += 1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.56
    return em * size


def fit(text: str, size: float, max_width: float) -> str:
    """``text`` cut with "…" so that it is at most ``max_width`` wide."""
    if text_width(text, size) <= max_width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…", size) > max_width:
            break
        out += ch
    return out + "…"


def nice_axis(largest: float, ticks: int = 4, *, integer: bool = False) -> tuple[float, int]:
    """The end of an axis and its number of tick steps: steps of 1, 2, 2.5 or 5 times a power of
    ten (never fractional when ``integer``) so that about ``ticks`` steps cover ``largest``."""
    largest = largest if largest > 0 else 1.0
    raw = largest / ticks
    exp = math.floor(math.log10(raw))
    multipliers = (1, 2, 5, 10) if integer and exp <= 0 else (1, 2, 2.5, 5, 10)
    step = 10.0**exp
    for m in multipliers:
        step = m * 10.0**exp
        if step >= raw - 1e-12:
            break
    if integer:
        step = max(1.0, float(math.ceil(step)))
    n = max(1, math.ceil(largest / step - 1e-9))
    return n * step, n


def _num(x: float) -> str:
    """A coordinate with at most two decimals (short, stable output)."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _text(x: float, y: float, text: str, *, size: float, anchor: str = "start",
          fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}" font-family={quoteattr(FONT)} '
            f'text-anchor="{anchor}" font-weight="{weight}" fill="{fill}">{escape(text)}</text>')


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str = "",
    value_label: Callable[[float | None], str] | None = None,
    max_value: float | None = None,
    width: float = 560,
    bar_height: float = 16,
    gap: float = 8,
    font_size: float = 12,
    color: str = BAR,
    empty_text: str = "—",
    ticks: int = 4,
    integer: bool = False,
    tick_label: Callable[[float], str] | None = None,
) -> str:
    """A horizontal bar chart as an SVG string.

    ``items`` are (label, value) pairs drawn top to bottom in the given order; a value of ``None``
    draws no bar and writes ``value_label(None)`` (by default "—"). ``max_value`` fixes the end of
    the axis (e.g. 1.0 for rates, cut in ``ticks`` steps); by default the axis ends at a round
    number above the largest value (whole-number steps when ``integer``, for counts).
    ``value_label`` writes the number at the end of each bar, ``tick_label`` the axis ticks.
    """
    fmt = value_label or (lambda v: empty_text if v is None else f"{v:g}")
    tick_fmt = tick_label or (lambda v: f"{v:g}")
    values = [v for _, v in items if v is not None]
    if max_value is not None and max_value > 0:
        top, steps = max_value, ticks
    else:
        top, steps = nice_axis(max(values, default=0.0), ticks, integer=integer)

    pad = 6.0
    title_h = font_size * 1.9 if title else 0.0
    label_w = min(max((text_width(lbl, font_size) for lbl, _ in items), default=0.0) + 8,
                  width * 0.38)
    value_w = max((text_width(fmt(v), font_size) for _, v in items), default=0.0) + 8
    x0 = pad + label_w
    plot_w = max(width - x0 - value_w - pad, 40.0)
    y0 = pad + title_h
    rows = max(len(items), 1)
    plot_h = rows * (bar_height + gap) + gap
    axis_h = font_size * 1.8
    height = y0 + plot_h + axis_h + pad

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" class="chart">',
    ]
    if title:
        parts.append(_text(width / 2, pad + font_size * 1.1, title, size=font_size * 1.1,
                           anchor="middle", weight="bold"))
    # Grid lines and ticks.
    for i in range(steps + 1):
        v = top * i / steps
        x = x0 + plot_w * i / steps
        dash = "" if i == 0 else ' stroke-dasharray="2 2"'
        parts.append(f'<line x1="{_num(x)}" y1="{_num(y0)}" x2="{_num(x)}" '
                     f'y2="{_num(y0 + plot_h)}" stroke="{GRID}" stroke-width="0.6"{dash}/>')
        parts.append(_text(x, y0 + plot_h + font_size * 1.3, tick_fmt(v), size=font_size * 0.85,
                           anchor="middle", fill="#555555"))
    parts.append(f'<line x1="{_num(x0)}" y1="{_num(y0 + plot_h)}" x2="{_num(x0 + plot_w)}" '
                 f'y2="{_num(y0 + plot_h)}" stroke="{INK}" stroke-width="0.8"/>')
    if not items:
        parts.append(_text(x0 + plot_w / 2, y0 + plot_h / 2 + font_size * 0.35, empty_text,
                           size=font_size, anchor="middle"))
    for row, (label, value) in enumerate(items):
        y = y0 + gap + row * (bar_height + gap)
        baseline = y + bar_height / 2 + font_size * 0.36
        parts.append(_text(x0 - 6, baseline, fit(label, font_size, label_w - 8), size=font_size,
                           anchor="end"))
        w = 0.0 if value is None else plot_w * max(0.0, min(value, top)) / top
        if w > 0:
            parts.append(f'<rect x="{_num(x0)}" y="{_num(y)}" width="{_num(w)}" '
                         f'height="{_num(bar_height)}" fill="{color}"/>')
        parts.append(_text(x0 + w + 4, baseline, fmt(value), size=font_size))
    parts.append("</svg>")
    return "".join(parts)
