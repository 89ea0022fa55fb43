"""The /stats chart is a real PNG of the hours it was given."""

from __future__ import annotations

import struct
import time
from zoneinfo import ZoneInfo

from bot.render.chart import deliveries_chart
from bot.storage.activity import HourCounts


def test_chart_is_a_png_of_800_by_360_pixels() -> None:
    first = int(time.time() // 3600) - 23
    hours = [HourCounts(first + i, sent=i * 3, failed=i % 4, other=1) for i in range(24)]
    png = deliveries_chart(hours, ZoneInfo("Asia/Baku"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (800, 360)
    assert len(png) > 5000  # bars, axes and labels, not an empty canvas
