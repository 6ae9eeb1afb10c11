"""Tiny inline-SVG charts for the self-contained HTML reports (no JS chart library, no CDN)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

SMOOTHED = " (smoothed)"  # name suffix of a smoothed copy of a series (drawn in the same colour)
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
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = label_w + tick * plot_w
        out.append(f'<line x1="{tx:.1f}" y1="{y0 - 4}" x2="{tx:.1f}" y2="{height - 18}" class="grid"/>'
                   f'<text x="{tx:.1f}" y="{height - 4}" class="s" text-anchor="middle">{int(tick * 100)}%</text>')
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


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi], about ``count`` of them."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = [math.floor(lo / step + 1e-9) * step]
    while ticks[-1] < hi - step * 1e-9:  # stop at the first tick at or past hi
        ticks.append(ticks[-1] + step)
    return [round(t, 12) for t in ticks]


def _tick_label(v: float, percent: bool) -> str:
    return f"{v * 100:.0f}%" if percent else f"{v:g}"


def _axes(out: list[str], box: tuple[float, float, float, float], xt: list[float], yt: list[float],
          px: Any, py: Any, percent: bool) -> None:
    """Grid lines with labelled ticks on both axes."""
    left, top, right, bottom = box
    for yv in yt:
        out.append(f'<line x1="{left}" y1="{py(yv):.1f}" x2="{right}" y2="{py(yv):.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{py(yv) + 4:.1f}" class="s" text-anchor="end">'
                   f'{_tick_label(yv, percent)}</text>')
    for xv in xt:
        out.append(f'<line x1="{px(xv):.1f}" y1="{bottom}" x2="{px(xv):.1f}" y2="{bottom + 4}" class="axis"/>'
                   f'<text x="{px(xv):.1f}" y="{bottom + 15}" class="s" text-anchor="middle">{xv:g}</text>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>')


def line_chart(series: dict[str, list[tuple[float, float]]], *, width: int = 640, height: int = 240,
               title: str = "", x_label: str = "step", y_range: tuple[float, float] | None = None,
               percent: bool = False, dots: frozenset[str] | set[str] = frozenset(),
               faint: frozenset[str] | set[str] = frozenset()) -> str:
    """Lines (e.g. train/valid loss per step) on shared axes with round ticks; empty string when nothing
    to plot. ``dots``: series drawn with a marker per point (sparse evals); ``faint``: thin and pale
    (the raw series behind its smoothed line); ``y_range`` fixes the y axis (0–1 for rates)."""
    series = {k: sorted(v) for k, v in series.items() if v}
    if not series:
        return ""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    xt = nice_ticks(min(xs), max(xs), 6)
    yt = nice_ticks(*(y_range or (min(ys), max(ys))), 5)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    left, right, top, bottom = 56, 16, 42, 40
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / ((y1 - y0) or 1)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}" class="chart">']
    if title:
        out.append(f'<text x="4" y="14" class="t">{escape(title)}</text>')
    _axes(out, (left, top, width - right, top + ph), xt, yt, px, py, percent)
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" class="s" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    # a smoothed series shares its raw series' colour; the pale raw line gets no legend entry
    base_names = list(dict.fromkeys(n.removesuffix(SMOOTHED) for n in series))
    legend = 0
    for name, pts in series.items():
        colour = PALETTE[base_names.index(name.removesuffix(SMOOTHED)) % len(PALETTE)]
        _series(out, name, pts, colour, px, py, faint=name in faint, dots=name in dots or len(pts) == 1)
        if name in faint:
            continue
        lx = left + legend * 170
        legend += 1
        out.append(f'<rect x="{lx}" y="25" width="10" height="3" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="30" class="s">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _series(out: list[str], name: str, pts: list[tuple[float, float]], colour: str, px: Any, py: Any,
            *, faint: bool, dots: bool) -> None:
    path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
    style = 'stroke-width="1" stroke-opacity="0.35"' if faint else 'stroke-width="1.8"'
    out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" {style}/>')
    if dots:
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}">'
                       f'<title>{escape(name)} at {x:g}: {y:.4g}</title></circle>')


__all__ = ["SMOOTHED", "bar_chart", "line_chart", "nice_ticks"]
