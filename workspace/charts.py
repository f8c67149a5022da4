"""Server-side SVG charts for the staff dashboard: no JavaScript, no CDN, nothing the CSP has to allow.

Each function returns one ``<svg>`` element (a SafeString) to drop into a template with ``{{ chart }}``. The SVG has
``role="img"``, an ``aria-label`` and a ``<title>``, a viewBox and ``width="100%"`` so it scales with its container.
Every piece of text is escaped: labels come from user data (lead sources, staff names, call outcomes). Styling is
done with SVG presentation attributes only (fill=, stroke=), so no inline style is needed. Empty data, or data that
is all zero, draws a chart saying "No data" instead of failing.
"""

import datetime
import math
from collections.abc import Sequence
from typing import Literal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

__all__ = ["PALETTE", "bar_chart", "donut", "funnel", "line_chart"]

# Okabe-Ito, colour-blind friendly; the yellow (poor contrast on white) is left out. Colour i goes to item i.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
TEXT = "#374151"
MUTED = "#6B7280"
GRID = "#E5E7EB"
AXIS = "#9CA3AF"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
WIDTH = 600  # viewBox width; the SVG is drawn at 100% of its container's width
CHAR_W = 7.0  # rough width of one character at font-size 12, to keep labels from overlapping
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _n(x: float) -> str:
    """A coordinate, short: 12.0 -> '12', 12.345 -> '12.35'."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _fmt(value: float) -> str:
    return f"{value:,}"


def _pct(part: float, whole: float) -> str:
    if whole <= 0:
        return "0%"
    pct = 100 * part / whole
    if 0 < pct < 1:
        return "<1%"
    return f"{math.floor(pct + 0.5)}%"


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max(1, max_chars - 1)].rstrip() + "…"


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 12, fill: str = TEXT,
          weight: str = "", extra: str = "") -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{bold}{extra}>'
            f"{escape(content)}</text>")


def _svg(label: str, height: float, body: Sequence[str]) -> SafeString:
    title = escape(label)
    return mark_safe(  # every piece of text in body went through escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_n(height)}" width="100%" '
        f'role="img" aria-label="{title}" font-family="{FONT}" font-size="12">'
        f"<title>{title}</title>{''.join(body)}</svg>"
    )


def _no_data(label: str, height: float) -> SafeString:
    return _svg(label, height, [
        f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{_n(height - 1)}" rx="6" fill="#F9FAFB" stroke="{GRID}"/>',
        _text(WIDTH / 2, height / 2 + 5, "No data", anchor="middle", size=14, fill=MUTED),
    ])


def bar_chart(items: Sequence[tuple[str, int | float]], *, label: str, height: int = 220,
              value_format: str = "{:,}") -> SafeString:
    """Vertical bars, the value above each bar and the category below (long ones rotated and truncated)."""
    data = [(str(name), max(0, value)) for name, value in items]
    top = max((value for _, value in data), default=0)
    if not data or top <= 0:
        return _no_data(label, height)
    values = [value_format.format(value) for _, value in data]
    slot = (WIDTH - 24) / len(data)
    fits = max(len(name) for name, _ in data) * CHAR_W <= slot - 6
    if fits:
        names = [name for name, _ in data]
        left, bottom = 12.0, 26.0
    else:  # rotate the labels (steeper when the bars are narrow) and keep at most 16 characters of each
        names = [_truncate(name, 16) for name, _ in data]
        angle = next((a for a in (35, 60) if slot * math.sin(math.radians(a)) >= 14), 90)
        longest = max(len(name) for name in names) * CHAR_W
        left = max(12.0, len(names[0]) * CHAR_W * math.cos(math.radians(angle)) - slot / 2 + 10)
        bottom = longest * math.sin(math.radians(angle)) + 20
    # Too many bars for their values to fit above them: the values go in the tooltips and an axis on the left.
    on_top = max(len(v) for v in values) * CHAR_W <= (WIDTH - left - 12) / len(data) - 2
    if not on_top:
        left = max(left, 10 + len(value_format.format(top)) * CHAR_W)
    slot = (WIDTH - left - 12) / len(data)
    top_margin = 22.0 if on_top else 12.0
    plot_h = max(20.0, height - top_margin - bottom)
    base = top_margin + plot_h
    bar_w = min(56.0, slot * 0.66)
    body = [] if on_top else _y_grid(left, WIDTH - 12, base, plot_h, top, value_format)
    body.append(f'<line x1="{_n(left)}" y1="{_n(base)}" x2="{_n(WIDTH - 12)}" y2="{_n(base)}" stroke="{AXIS}"/>')
    for i, ((full, value), shown, name) in enumerate(zip(data, values, names, strict=True)):
        cx = left + slot * (i + 0.5)
        h = plot_h * value / top
        tip = escape(f"{full}: {shown}")
        body.append(
            f"<g><title>{tip}</title>"
            f'<rect x="{_n(cx - bar_w / 2)}" y="{_n(base - h)}" width="{_n(bar_w)}" height="{_n(h)}" rx="2" '
            f'fill="{colour(0)}"><title>{tip}</title></rect>'
            + (_text(cx, base - h - 6, shown, anchor="middle", weight="600") if on_top else "")
        )
        if fits:
            body.append(_text(cx, base + 17, name, anchor="middle") + "</g>")
        else:
            x, y = cx + 4, base + 12
            body.append(_text(x, y, name, anchor="end", extra=f' transform="rotate(-{angle} {_n(x)} {_n(y)})"') + "</g>")
    return _svg(label, height, body)


def _nice_mid(top: float) -> float | None:
    """A round number near the middle of 0..top for a gridline (1, 2, 2.5 or 5 times a power of ten)."""
    whole = isinstance(top, int)
    if top <= 0 or (whole and top < 2):
        return None
    half = top / 2
    power = 10.0 ** math.floor(math.log10(half))
    candidates = [round(m * power, 12) for m in (1, 2, 2.5, 5, 10)]
    if whole:
        candidates = [int(c) for c in candidates if c == int(c)]
    return min((c for c in candidates if 0 < c < top), key=lambda c: (abs(c - half), c), default=None)


def _y_grid(left: float, right: float, base: float, plot_h: float, top: float, value_format: str) -> list[str]:
    """Horizontal lines and labels at 0, a round number in the middle, and the maximum."""
    body = []
    for value in (0, _nice_mid(top), top):
        if value is None:
            continue
        y = base - plot_h * value / top
        body.append(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}" '
                    f'stroke="{AXIS if value == 0 else GRID}"/>')
        body.append(_text(left - 6, y + 4, value_format.format(value), anchor="end", fill=MUTED))
    return body


def _day(d: datetime.date) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}"


def line_chart(points: Sequence[tuple[datetime.date, int]], *, label: str, height: int = 220) -> SafeString:
    """A line with a dot per point (e.g. leads per day), dates along the bottom, 0, a round middle and the max."""
    data = sorted((day, max(0, int(value))) for day, value in points)
    top = max((value for _, value in data), default=0)
    if not data or top <= 0:
        return _no_data(label, height)
    left = 10 + len(_fmt(top)) * CHAR_W
    right, top_margin, bottom = 18.0, 14.0, 28.0
    plot_w, plot_h = WIDTH - left - right, height - top_margin - bottom
    base = top_margin + plot_h
    step_x = plot_w / (len(data) - 1) if len(data) > 1 else 0.0

    def x_of(i: int) -> float:
        return left + step_x * i if len(data) > 1 else left + plot_w / 2

    def y_of(value: float) -> float:
        return base - plot_h * value / top

    body = _y_grid(left, WIDTH - right, base, plot_h, top, "{:,}")
    every = 7 * math.ceil(len(data) / 60)
    ticks = [i for i in range(0, len(data) - 1, every) if len(data) - 1 - i >= every / 2 or i == 0]
    if len(data) - 1 not in ticks and (not ticks or (len(data) - 1 - ticks[-1]) * step_x >= 44):
        ticks.append(len(data) - 1)
    for i in ticks:
        anchor = "start" if i == 0 and len(data) > 1 else "end" if i == len(data) - 1 and len(data) > 1 else "middle"
        body.append(f'<line x1="{_n(x_of(i))}" y1="{_n(base)}" x2="{_n(x_of(i))}" y2="{_n(base + 4)}" stroke="{AXIS}"/>')
        body.append(_text(x_of(i), base + 18, _day(data[i][0]), anchor=anchor, fill=MUTED))
    coords = " ".join(f"{_n(x_of(i))},{_n(y_of(v))}" for i, (_, v) in enumerate(data))
    if len(data) > 1:
        body.append(f'<polygon points="{_n(left)},{_n(base)} {coords} {_n(WIDTH - right)},{_n(base)}" '
                    f'fill="{colour(0)}" fill-opacity="0.10"/>')
    body.append(f'<polyline points="{coords}" fill="none" stroke="{colour(0)}" stroke-width="2" '
                'stroke-linejoin="round" stroke-linecap="round"/>')
    r = 3.5 if len(data) < 2 or step_x >= 8 else 2
    for i, (day, value) in enumerate(data):
        body.append(f'<circle cx="{_n(x_of(i))}" cy="{_n(y_of(value))}" r="{r}" fill="#FFFFFF" stroke="{colour(0)}" '
                    f'stroke-width="2"><title>{escape(f"{_day(day)}: {_fmt(value)}")}</title></circle>')
    return _svg(label, height, body)


def funnel(stages: Sequence[tuple[str, int]], *, label: str,
           percent_of: Literal["total", "first"] = "total") -> SafeString:
    """One horizontal bar per stage, its count and its share of all stages (or of the first) beside it."""
    data = [(str(name), max(0, int(count))) for name, count in stages]
    top = max((count for _, count in data), default=0)
    if not data or top <= 0:
        return _no_data(label, 120)
    whole = data[0][1] if percent_of == "first" else sum(count for _, count in data)
    row, gap, label_w, value_w = 26.0, 10.0, 140.0, 110.0
    height = 12 + len(data) * (row + gap)
    bar_max = WIDTH - label_w - value_w - 8
    body = []
    for i, (name, count) in enumerate(data):
        y = 12 + i * (row + gap)
        w = bar_max * count / top
        text = f"{_fmt(count)} · {_pct(count, whole)}"
        tip = escape(f"{name}: {text}")
        body.append(
            f"<g><title>{tip}</title>"
            + _text(label_w - 10, y + row / 2 + 4, _truncate(name, 17), anchor="end")
            + f'<rect x="{_n(label_w)}" y="{_n(y)}" width="{_n(bar_max)}" height="{_n(row)}" rx="3" fill="#F3F4F6"/>'
            f'<rect x="{_n(label_w)}" y="{_n(y)}" width="{_n(w)}" height="{_n(row)}" rx="3" fill="{colour(i)}"/>'
            + _text(label_w + bar_max + 10, y + row / 2 + 4, text, weight="600")
            + "</g>"
        )
    return _svg(label, height, body)


def _point(cx: float, cy: float, r: float, fraction: float) -> tuple[float, float]:
    angle = 2 * math.pi * fraction - math.pi / 2  # clockwise from twelve o'clock
    return cx + r * math.cos(angle), cy + r * math.sin(angle)


def donut(items: Sequence[tuple[str, int]], *, label: str) -> SafeString:
    """A ring of arcs, one per item, with the total in the middle and a legend (label, count, percent)."""
    data = [(str(name), max(0, int(count))) for name, count in items]
    total = sum(count for _, count in data)
    if not data or total <= 0:
        return _no_data(label, 220)
    row = 24.0
    height = max(220.0, 24 + len(data) * row)
    cx, cy, r, ring = 110.0, height / 2, 80.0, 30.0
    body = []
    start = 0
    for i, (name, count) in enumerate(data):
        if count == 0:
            continue
        tip = f"<title>{escape(f'{name}: {_fmt(count)} ({_pct(count, total)})')}</title>"
        paint = f'fill="none" stroke="{colour(i)}" stroke-width="{_n(ring)}"'
        if count == total:  # an arc cannot close on itself: the full ring is a circle
            body.append(f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r)}" {paint}>{tip}</circle>')
        else:
            (x0, y0), (x1, y1) = _point(cx, cy, r, start / total), _point(cx, cy, r, (start + count) / total)
            large = 1 if count / total > 0.5 else 0
            body.append(f'<path d="M {_n(x0)} {_n(y0)} A {_n(r)} {_n(r)} 0 {large} 1 {_n(x1)} {_n(y1)}" {paint}>'
                        f"{tip}</path>")
        start += count
    if sum(1 for _, count in data if count) > 1:  # thin white gaps between the segments
        start = 0
        for _, count in data:
            if count:
                (x0, y0), (x1, y1) = (_point(cx, cy, r + ring / 2 + 1, start / total),
                                      _point(cx, cy, r - ring / 2 - 1, start / total))
                body.append(f'<line x1="{_n(x0)}" y1="{_n(y0)}" x2="{_n(x1)}" y2="{_n(y1)}" stroke="#FFFFFF" '
                            'stroke-width="2"/>')
                start += count
    body.append(_text(cx, cy + 4, _fmt(total), anchor="middle", size=22, weight="700"))
    body.append(_text(cx, cy + 22, "total", anchor="middle", size=11, fill=MUTED))
    legend_x, legend_y = 240.0, cy - len(data) * row / 2
    for i, (name, count) in enumerate(data):
        y = legend_y + i * row
        body.append(
            f"<g><title>{escape(f'{name}: {_fmt(count)} ({_pct(count, total)})')}</title>"
            f'<rect x="{_n(legend_x)}" y="{_n(y + 5)}" width="12" height="12" rx="2" fill="{colour(i)}"/>'
            + _text(legend_x + 20, y + 15, _truncate(name, 28))
            + _text(WIDTH - 70, y + 15, _fmt(count), anchor="end", weight="600")
            + _text(WIDTH - 12, y + 15, _pct(count, total), anchor="end", fill=MUTED)
            + "</g>"
        )
    return _svg(label, height, body)
