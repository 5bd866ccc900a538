"""Server-rendered SVG bar charts for the owner's dashboard: no script, no CDN, drawn in
the page's theme by CSS classes (``static/app.css``); each bar has a ``<title>``, so
hovering or long-pressing it shows the week and its value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 320, 140
TOP, BOTTOM, LEFT = 18, 18, 4
LABELS = 4
LABEL_HALF = 26  # half a date's width: keep it inside the chart


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (short: a week's date)
    value: float
    shown: str  # the value as the page prints it (Babel-formatted by the caller)


def bar_chart(title: str, bars: Sequence[Bar]) -> Markup:
    """One panel: ``title`` above, a bar per item, the largest labelled; empty values draw
    nothing but a baseline."""
    top = max((b.value for b in bars), default=0.0)
    count = max(len(bars), 1)
    slot = (WIDTH - LEFT * 2) / count
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text class="chart-title" x="{LEFT}" y="12">{escape(title)}</text>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot}" x2="{WIDTH - LEFT}" y2="{TOP + plot}"/>',
    ]
    label_every = -(-count // LABELS)  # at most LABELS dates under the bars
    for i, bar in enumerate(bars):
        height = 0.0 if top <= 0 else plot * max(bar.value, 0.0) / top
        x = LEFT + i * slot + slot * 0.15
        y = TOP + plot - height
        tip = escape(f"{bar.label}: {bar.shown}")
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{height:.1f}"><title>{tip}</title></rect>'
        )
        if bar.value == top and top > 0:
            parts.append(
                f'<text class="chart-value" x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}">'
                f"{escape(bar.shown)}</text>"
            )
        if i % label_every == 0:
            centre = min(max(x + slot * 0.35, LABEL_HALF), WIDTH - LABEL_HALF)
            parts.append(
                f'<text class="chart-label" x="{centre:.1f}" y="{HEIGHT - 4}">'
                f"{escape(bar.label)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
