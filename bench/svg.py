"""A dependency-free SVG line chart: medians joined by lines, min-max as whiskers."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 230, 40, 55
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
DASHED = "6,4"


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= v:
            return m * step
    return 10 * step


def line_chart(title: str, x_label: str, y_label: str, series: list[dict]) -> str:
    """``series``: [{"name", "points": [(x, median, lo, hi)], "dashed": bool}]; returns SVG text."""
    xs = sorted({p[0] for s in series for p in s["points"]})
    y_max = _nice_max(max(max(p[3], p[1]) for s in series for p in s["points"]) * 1.05)
    x_min, x_max = (min(xs), max(xs)) if len(xs) > 1 else (xs[0] - 1, xs[0] + 1)
    pw, ph = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def X(x):
        return MARGIN_LEFT + (x - x_min) / (x_max - x_min) * pw

    def Y(y):
        return MARGIN_TOP + ph - y / y_max * ph

    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">'
        ),
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2 - MARGIN_RIGHT / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    for i in range(6):  # horizontal grid and y ticks
        y = y_max * i / 5
        out.append(f'<line x1="{MARGIN_LEFT}" y1="{Y(y):.1f}" x2="{MARGIN_LEFT + pw}" y2="{Y(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{MARGIN_LEFT - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    for x in xs:
        out.append(
            f'<line x1="{X(x):.1f}" y1="{MARGIN_TOP + ph}" x2="{X(x):.1f}" y2="{MARGIN_TOP + ph + 5}" stroke="#333"/>'
        )
        out.append(f'<text x="{X(x):.1f}" y="{MARGIN_TOP + ph + 18}" text-anchor="middle">{x:g}</text>')
    out.append(
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP + ph}" x2="{MARGIN_LEFT + pw}" y2="{MARGIN_TOP + ph}" stroke="#333"/>'
    )
    out.append(f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" y2="{MARGIN_TOP + ph}" stroke="#333"/>')
    out.append(f'<text x="{MARGIN_LEFT + pw / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(
        f'<text transform="translate(18,{MARGIN_TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    for n, s in enumerate(series):
        color = COLORS[n % len(COLORS)]
        pts = sorted(s["points"])
        dash = f' stroke-dasharray="{DASHED}"' if s.get("dashed") else ""
        path = " ".join(f"{X(x):.1f},{Y(m):.1f}" for x, m, _, _ in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for x, m, lo, hi in pts:
            if hi > lo:
                out.append(
                    f'<line x1="{X(x):.1f}" y1="{Y(lo):.1f}" x2="{X(x):.1f}" y2="{Y(hi):.1f}" '
                    f'stroke="{color}" stroke-width="1.2"/>'
                )
            out.append(f'<circle cx="{X(x):.1f}" cy="{Y(m):.1f}" r="3.5" fill="{color}"/>')
        ly = MARGIN_TOP + 10 + n * 20
        lx = MARGIN_LEFT + pw + 15
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 4}">{escape(s["name"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
