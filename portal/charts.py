"""Server-side SVG bar geometry (the template draws the <rect>s; no JavaScript, no CDN)."""

from __future__ import annotations

from decimal import Decimal

WIDTH = 720  # not money
HEIGHT = 220  # not money
PAD_LEFT = 48  # not money
PAD_BOTTOM = 24  # not money


def usage_chart(days: list[dict]) -> dict:
    """Bars for daily usage (MB): x/y/width/height per day plus y-axis ticks in GB."""
    top = max((d["total_mb"] for d in days), default=Decimal(0))
    top = top if top > 0 else Decimal(1024)
    inner_w = WIDTH - PAD_LEFT - 8
    inner_h = HEIGHT - PAD_BOTTOM - 8
    step = inner_w / max(len(days), 1)  # not money
    bars = []
    for i, d in enumerate(days):
        h = float(d["total_mb"] / top) * inner_h  # not money
        bars.append({
            "x": round(PAD_LEFT + i * step + step * 0.1, 1), "w": round(step * 0.8, 1),
            "y": round(8 + inner_h - h, 1), "h": round(h, 1), "date": d["date"], "mb": d["total_mb"],
            "label": d["date"].day if (i % max(1, len(days) // 10) == 0) else None,
        })
    ticks = []
    for frac in (0, 0.5, 1):  # not money
        ticks.append({"y": round(8 + inner_h - frac * inner_h, 1),
                      "label": f"{float(top) * frac / 1024:.1f} GB"})  # not money
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "ticks": ticks, "pad_left": PAD_LEFT,
            "base_y": 8 + inner_h, "text_y": HEIGHT - 6}
