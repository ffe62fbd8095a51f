"""Charts drawn on the server as inline SVG: no chart library to load, nothing to run in the
browser, the same picture offline, in print and at 360 px (the SVG scales to its box). Each chart
has a title for screen readers, and the page shows its numbers in a table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 600, 220
LEFT, BOTTOM, TOP = 36, 28, 12
#: The two series' colours (found, reported), with enough contrast on white.
COLOURS = ("#c0392b", "#2471a3")


def paired_bars(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
                title: str) -> str:
    """Grouped bars: for each label (a week), one bar per series, on a shared scale from 0,
    with the largest value marked on the axis and a legend."""
    n, k = len(labels), len(series)
    top = max([1, *(v for _name, values in series for v in values)])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, n)
    bar = slot * 0.8 / max(1, k)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" '
             'stroke="#8a939d"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="11" text-anchor="end">{top}</text>',
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" font-size="11" text-anchor="end">0</text>']
    for i, label in enumerate(labels):
        x0 = LEFT + i * slot + slot * 0.1
        for j, (name, values) in enumerate(series):
            h = plot_h * values[i] / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{TOP + plot_h - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[j % 2]}">'
                         f"<title>{escape(label)} {escape(name)}: {values[i]}</title></rect>")
        if i % 2 == 0 or n <= 6:
            parts.append(f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - 10}" font-size="10" '
                         f'text-anchor="middle">{escape(label)}</text>')
    for j, (name, _values) in enumerate(series):
        x = LEFT + 8 + j * 110
        parts.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{COLOURS[j % 2]}"/>'
                     f'<text x="{x + 14}" y="11" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
