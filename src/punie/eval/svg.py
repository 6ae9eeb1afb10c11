"""Tiny inline-SVG charts for the self-contained HTML reports (no JS chart library, no CDN)."""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ["#3b6fb6", "#d9822b", "#2e9e6b", "#b6473b", "#7a5bb6", "#8a8a8a"]


def bar_chart(rows: list[dict[str, Any]], series: list[str], *, width: int = 640, title: str = "") -> str:
    """Horizontal bars per row (a category), one bar per series, with 95 % interval whiskers.

    ``rows``: [{"label": str, "values": [(accuracy|None, (lo, hi)|None), ...one per series]}].
    """
    label_w, bar_h, gap = 190, 14, 10
    group_h = bar_h * len(series) + gap
    legend_h = 18 if len(series) > 1 else 0
    height = 24 + legend_h + group_h * len(rows) + 22
    plot_w = width - label_w - 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}" class="chart">']
    if title:
        out.append(f'<text x="4" y="14" class="t">{escape(title)}</text>')
    y0 = 24 + legend_h
    for i, name in enumerate(series if len(series) > 1 else []):
        x = label_w + i * 160
        out.append(f'<rect x="{x}" y="22" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 14}" y="31" class="s">{escape(name[:22])}</text>')
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * plot_w
        out.append(f'<line x1="{x:.1f}" y1="{y0 - 4}" x2="{x:.1f}" y2="{height - 18}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{height - 4}" class="s" text-anchor="middle">{int(tick * 100)}%</text>')
    for r, row in enumerate(rows):
        gy = y0 + r * group_h
        out.append(f'<text x="{label_w - 6}" y="{gy + group_h / 2:.1f}" class="s" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(str(row["label"])[:30])}</text>')
        for s, value in enumerate(row["values"]):
            acc, ci = value if value else (None, None)
            y = gy + s * bar_h
            if acc is None:
                continue
            colour = PALETTE[s % len(PALETTE)]
            out.append(f'<rect x="{label_w}" y="{y + 1}" width="{acc * plot_w:.1f}" height="{bar_h - 3}" '
                       f'fill="{colour}"><title>{escape(str(row["label"]))}: {acc:.1%}</title></rect>')
            if ci:
                lo, hi = label_w + ci[0] * plot_w, label_w + ci[1] * plot_w
                cy = y + bar_h / 2
                out.append(f'<line x1="{lo:.1f}" y1="{cy:.1f}" x2="{hi:.1f}" y2="{cy:.1f}" class="ci"/>'
                           f'<line x1="{lo:.1f}" y1="{cy - 4:.1f}" x2="{lo:.1f}" y2="{cy + 4:.1f}" class="ci"/>'
                           f'<line x1="{hi:.1f}" y1="{cy - 4:.1f}" x2="{hi:.1f}" y2="{cy + 4:.1f}" class="ci"/>')
            out.append(f'<text x="{label_w + acc * plot_w + 4:.1f}" y="{y + bar_h - 3}" class="v">{acc:.0%}</text>')
    out.append("</svg>")
    return "".join(out)


def line_chart(series: dict[str, list[tuple[float, float]]], *, width: int = 640, height: int = 240,
               title: str = "", x_label: str = "step") -> str:
    """Lines (e.g. train/valid loss per step) on shared axes; empty string when nothing to plot."""
    series = {k: sorted(v) for k, v in series.items() if v}
    if not series:
        return ""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    left, right, top, bottom = 56, 16, 30, 34
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}" class="chart">']
    if title:
        out.append(f'<text x="4" y="14" class="t">{escape(title)}</text>')
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<line x1="{left}" y1="{py(yv):.1f}" x2="{width - right}" y2="{py(yv):.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{py(yv) + 4:.1f}" class="s" text-anchor="end">{yv:.3g}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" class="s" text-anchor="middle">'
               f'{escape(x_label)} ({x0:g}–{x1:g})</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if len(pts) == 1:
            x, y = pts[0]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        lx = left + 8 + i * 150
        out.append(f'<rect x="{lx}" y="18" width="10" height="3" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="23" class="s">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


__all__ = ["bar_chart", "line_chart"]
