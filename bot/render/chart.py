"""The /stats chart: deliveries per hour over the last day, by outcome, as a PNG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.i18n import Translate, translator
from bot.storage.activity import HourCounts


def deliveries_chart(hours: Sequence[HourCounts], tz: ZoneInfo, translate: Translate | None = None) -> bytes:
    """Stacked bars (sent, failed, other) per hour; matplotlib is imported only when drawn."""
    tr = translate if translate is not None else translator("en")
    # Lazy: matplotlib costs ~0.5 s and tens of MB to import; only /stats needs it.
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a PNG in memory
    from matplotlib.figure import Figure

    labels = [datetime.fromtimestamp(h.hour * 3600, UTC).astimezone(tz).strftime("%H") for h in hours]
    sent = [h.sent for h in hours]
    failed = [h.failed for h in hours]
    other = [h.other for h in hours]
    figure = Figure(figsize=(8, 3.6), dpi=100)
    axes = figure.add_subplot()
    x = range(len(hours))
    axes.bar(x, sent, color="#2e7d32", label=tr("sent"))
    axes.bar(x, failed, bottom=sent, color="#c62828", label=tr("failed"))
    axes.bar(
        x,
        other,
        bottom=[s + f for s, f in zip(sent, failed, strict=True)],
        color="#9e9e9e",
        label=tr("blocked or stale"),
    )
    axes.set_xticks(list(x), labels, fontsize=7)
    axes.set_xlabel(tr("hour ({zone})").format(zone=tz.key))
    axes.set_ylabel(tr("deliveries"))
    axes.set_title(tr("Deliveries in the last 24 hours"))
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
