"""The ``/traza stats`` chart: conversations opened per day (bars) and the median first response per
day (line), with the day's SLA breaches written over its bar, as PNG bytes.

Drawn with matplotlib's object API on the Agg canvas: no pyplot and so no global figure state, which
makes it safe to render in a worker thread (``asyncio.to_thread``) while the event loop keeps going.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bridge.i18n import t
from store.daily import Day

BAR_COLOR = "#4A90D9"
LINE_COLOR = "#E8833A"
BREACH_COLOR = "#C0392B"


def stats_chart(days: Sequence[Day], title: str) -> bytes:
    """A PNG (about 900×450) of ``days``; days without an answered conversation leave a gap."""
    figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    volume = figure.add_subplot()
    xs = list(range(len(days)))
    opened = [d.opened for d in days]
    volume.bar(xs, opened, color=BAR_COLOR, label=t("conversations opened"))
    volume.set_ylabel(t("conversations opened"))
    volume.yaxis.set_major_locator(MaxNLocator(integer=True))  # conversations come whole
    volume.set_ylim(0, max([*opened, 1]) * 1.25)
    volume.set_xticks(xs, [d.day.strftime("%b %d") for d in days], rotation=45 if len(days) > 10 else 0)
    for x, day in zip(xs, days, strict=True):
        if day.sla_breaches:
            volume.annotate(
                t("{count} SLA", count=day.sla_breaches),
                (x, day.opened),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                color=BREACH_COLOR,
                fontsize=8,
            )
    response = volume.twinx()
    minutes = [
        d.first_response_median / 60 if d.first_response_median is not None else math.nan for d in days
    ]
    response.plot(xs, minutes, color=LINE_COLOR, marker="o", label=t("median first response (min)"))
    response.set_ylabel(t("median first response (min)"))
    response.set_ylim(bottom=0)
    handles = volume.get_legend_handles_labels()[0] + response.get_legend_handles_labels()[0]
    volume.legend(handles=handles, loc="upper left", fontsize=8)
    volume.set_title(title)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
