"""Geometry for server-rendered SVG charts (the templates draw the shapes; no chart library, no script).

Pure functions over the statistics dict; never query the database here.
"""

from __future__ import annotations

import math
from typing import Any

from qinglang.taxonomy import ACTIONS, CATEGORY_BY_CODE, CATEGORY_CODES, label_name

# Calm, distinguishable colours (colour-blind friendly order), one per category code.
PALETTE = ("#1f6f8b", "#c8553d", "#7a5195", "#2a9d8f", "#e9a23b", "#5c7cfa", "#8d6e63", "#d1495b", "#3d8361",
           "#8a94a6")
CATEGORY_COLOURS = dict(zip(CATEGORY_CODES, PALETTE, strict=True))


def nice_max(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 × 10^k)."""
    if value <= 0:
        return 1
    exp = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def stacked_months(stats: dict[str, Any], lang: str, *, width: int = 720, height: int = 260) -> dict[str, Any]:
    """Stacked columns: reports per month, one segment per category."""
    months = stats["reports_per_month"]
    left, bottom, top = 40, 28, 10
    plot_h = height - bottom - top
    top_value = nice_max(max((m["total"] for m in months), default=0))
    slot = (width - left) / max(1, len(months))
    bar_w = slot * 0.62
    columns = []
    for i, m in enumerate(months):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        segments = []
        for code in CATEGORY_CODES:
            n = m["by_category"].get(code, 0)
            if not n:
                continue
            h = plot_h * n / top_value
            y -= h
            segments.append({"y": round(y, 1), "h": round(h, 1), "fill": CATEGORY_COLOURS[code], "count": n,
                             "name": CATEGORY_BY_CODE[code].name(lang)})
        columns.append({"x": round(x, 1), "w": round(bar_w, 1), "cx": round(x + bar_w / 2, 1),
                        "label": m["month"][2:], "total": m["total"], "segments": segments})
    grid = [{"y": round(top + plot_h - plot_h * f, 1), "value": int(top_value * f)} for f in (0, 0.25, 0.5, 0.75, 1)
            if float(top_value * f).is_integer()]
    used = {code for m in months for code, n in m["by_category"].items() if n}
    legend = [{"fill": CATEGORY_COLOURS[c], "name": CATEGORY_BY_CODE[c].name(lang)} for c in CATEGORY_CODES
              if c in used]
    return {"width": width, "height": height, "left": left, "base": top + plot_h, "columns": columns,
            "grid": grid, "legend": legend, "empty": not used}


def hbars(counts: dict[str, int], lang: str, *, kind: str) -> dict[str, Any]:
    """Horizontal bars, largest first; `kind` is 'category' or 'action' (for names and colours)."""
    items = sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: -kv[1])
    top_value = max((v for _, v in items), default=0)
    row_h, label_w, width = 32, 150, 460
    bars = []
    for i, (code, n) in enumerate(items):
        name = CATEGORY_BY_CODE[code].name(lang) if kind == "category" else label_name(ACTIONS, code, lang)
        fill = CATEGORY_COLOURS.get(code, "#1f6f8b") if kind == "category" else "#1f6f8b"
        w = (width - label_w - 40) * n / top_value if top_value else 0
        bars.append({"y": i * row_h, "name": name, "count": n, "w": round(max(w, 2), 1), "fill": fill})
    return {"width": width, "height": max(row_h, len(bars) * row_h), "label_w": label_w, "bars": bars,
            "empty": not bars}
