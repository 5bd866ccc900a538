"""PNG charts for the owner (/stats, /segments), drawn with matplotlib's Agg backend.

Figures are built with the object API (``matplotlib.figure.Figure`` on an Agg canvas),
never through ``pyplot``: nothing is registered in pyplot's global figure list, so
nothing stays alive after the PNG is written (the figure is also cleared at the end).
Rendering is CPU work: callers run these functions in a worker thread
(``asyncio.to_thread``) so the event loop keeps serving updates. Every text on a chart
comes in already localized; this module draws, it says nothing of its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib loads when the first chart is drawn, not at start-up
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 6.0, 100  # 800 x 600 pixels
MAX_TICKS = 8
BAR_COLOR, LINE_COLOR, MEMBER_COLOR = "#4C72B0", "#DD8452", "#55A868"


@dataclass(frozen=True)
class Panel:
    """One bar chart: a title, bar labels and their values (counts unless ``whole`` is
    False: counts get whole-number ticks); ``tick`` writes a value-axis number the way the
    reader's language does («105 000»)."""

    title: str
    labels: Sequence[str]
    values: Sequence[float]
    whole: bool = True
    tick: Callable[[float], str] | None = None


def _value_axis(axis: Any, panel: Panel) -> None:
    """From zero (an empty panel too), whole-number ticks for counts."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if panel.whole:
        axis.set_major_locator(MaxNLocator(integer=True))
    if panel.tick is not None:
        tick = panel.tick
        axis.set_major_formatter(FuncFormatter(lambda value, _position: tick(value)))


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    try:
        FigureCanvasAgg(fig)
        fig.savefig(buffer, format="png", dpi=DPI)
    finally:
        fig.clear()
    return buffer.getvalue()


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")


def weekly_chart(title: str, week_labels: Sequence[str], panels: Sequence[Panel]) -> bytes:
    """Panels stacked over one shared axis of weeks (purchases, revenue, new members)."""
    fig = _figure()
    fig.suptitle(title)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    positions = list(range(len(week_labels)))
    colors = (BAR_COLOR, LINE_COLOR, MEMBER_COLOR)
    for k, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        ax.bar(positions, list(panel.values), color=colors[k % len(colors)])
        ax.set_ylim(0, max([*panel.values, 1]) * 1.1)
        _value_axis(ax.yaxis, panel)
        ax.set_title(panel.title, fontsize=10, loc="left")
        ax.grid(axis="y", alpha=0.3)
    step = max(1, -(-len(positions) // MAX_TICKS))
    ticks = positions[::step]
    axes[-1].set_xticks(ticks, [week_labels[i] for i in ticks], rotation=30, ha="right")
    return _png(fig)


def bars_chart(title: str, panels: Sequence[Panel]) -> bytes:
    """Horizontal bar charts side by side in a grid of two columns (customers per label)."""
    fig = _figure()
    fig.suptitle(title)
    rows = -(-len(panels) // 2)
    axes = fig.subplots(rows, 2, squeeze=False).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        positions = list(range(len(panel.labels)))[::-1]  # the first label on top
        ax.barh(positions, list(panel.values), color=BAR_COLOR)
        ax.set_yticks(positions, list(panel.labels), fontsize=8)
        _value_axis(ax.xaxis, panel)
        ax.set_title(panel.title, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return _png(fig)
