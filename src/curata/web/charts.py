"""Charts for the web pages as SVG strings, drawn on the server (no JavaScript, no network).

Four kinds, each a pure function of plain values:

* :func:`line_chart`: rates over time, one line per series with its 95% interval shaded as a
  band (agreement or gold accuracy per cohort or vendor);
* :func:`bar_chart`: horizontal bars of rates with their interval as a whisker, in groups
  (attack success rate by category, one group per campaign or checkpoint);
* :func:`throughput_chart`: work done per day as columns with the running total as a line,
  against the total needed (a project's throughput and backlog);
* :func:`coverage_chart`: a dataset's share per slice as bars against the target's share as
  ticks, the slices short of the target (the gaps to source) in red (``curata coverage``).

A lineage graph is drawn by :mod:`curata.web.graph_svg` with the same helpers.

Every chart is ``role="img"`` with a ``<title>`` and ``<desc>`` it is labelled by, has a legend,
says "no data yet" when there is nothing to draw, and uses colours with at least 3:1 contrast
on white (WCAG 1.4.11; text at least 4.5:1). Every label is user data (cohort, question and
campaign names, attack categories): it is XML-escaped, and characters XML cannot hold are
dropped, so the SVG stays well-formed, and shows ``<script>`` as text, whatever a name holds.
The pages show the same numbers in a table next to each chart.

The quality report (:mod:`curata.quality.html`) and the red-team report
(:mod:`curata.redteam.report_html`) draw their own, stand-alone pages; these charts are for the
site, where the stylesheet and the accessibility requirements are the site's.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0b5cad", "#b34700", "#1a7f37", "#6f42c1", "#a4161a", "#00707a", "#4a5563",
           "#8a5300")
"""Series colours: each at least 3:1 against white (graphics), most 4.5:1."""
INK, MUTED, GRID = "#1b1f24", "#4a5563", "#d0d7de"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
LABEL_CHARS = 28
EMPTY = "no data yet"

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Point:
    """One point of a line: ``x`` is its label on the time axis (points of all series that share
    a label are drawn at the same place), ``y`` a rate in [0, 1] with its interval."""

    x: str
    y: float
    low: float | None = None
    high: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point]


@dataclass(frozen=True)
class Bar:
    """One bar: a rate in [0, 1] (``None``: nothing measured, drawn as a label only)."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class BarGroup:
    name: str
    bars: Sequence[Bar]


def text(value: object) -> str:
    """``value`` as XML text or attribute content: escaped, characters XML 1.0 cannot hold
    dropped."""
    return escape(_NOT_XML.sub("", str(value)), quote=True)


def short(value: object, n: int = LABEL_CHARS) -> str:
    s = str(value)
    return s if len(s) <= n else s[: n - 1] + "…"


def pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def nice_top(value: float, steps: int = 4) -> int:
    """The smallest axis top at or above ``value`` whose ``steps`` equal steps are whole
    numbers: any whole step up to 10, then 1, 2, 2.5 or 5 times a power of ten (``6`` → 8:
    ticks 0 2 4 6 8; ``99`` → 100: ticks 0 25 50 75 100)."""
    raw = max(value, 1) / steps
    if raw <= 10:
        return math.ceil(raw) * steps
    power = 10 ** (len(str(int(raw))) - 1)
    for nice in (1, 2, 2.5, 5, 10):
        if nice * power >= raw:
            return int(nice * power * steps)
    return int(10 * power * steps)  # not reached: 10 * power > raw


def _clamp(v: float) -> float:
    return min(1.0, max(0.0, v))


def _ident(kind: str, title: str, ident: str | None) -> str:
    if ident:
        return re.sub(r"[^a-z0-9-]", "-", ident.lower())[:60] or kind
    return f"{kind}-{hashlib.sha1(title.encode('utf-8', 'replace')).hexdigest()[:10]}"


def _open(kind: str, title: str, desc: str, width: float, height: float,
          ident: str | None, empty: bool = False) -> list[str]:
    key = _ident(kind, title, ident)
    cls = f"chart chart-{kind}" + (" empty" if empty else "")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="{cls}" '
        f'aria-labelledby="{key}-t {key}-d" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" {FONT} fill="{INK}">'
        f'<title id="{key}-t">{text(title)}</title><desc id="{key}-d">{text(desc)}</desc>'
    ]


def _empty(kind: str, title: str, desc: str, ident: str | None) -> str:
    parts = _open(kind, title, desc or EMPTY, 360, 60, ident, empty=True)
    parts.append(f'<text class="empty" x="180" y="34" text-anchor="middle" fill="{MUTED}">'
                 f"{EMPTY}</text></svg>")
    return "".join(parts)


def _percent_axis(left: float, width: float, bottom: float) -> list[str]:
    """A horizontal 0 to 100% axis with grid lines down to ``bottom``."""
    parts = ['<g class="axis">']
    for tick in range(0, 101, 25):
        x = left + width * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{bottom:.1f}" '
                     f'stroke="{GRID}"/><text x="{x:.1f}" y="{bottom + 14:.1f}" '
                     f'text-anchor="middle" fill="{MUTED}">{tick}%</text>')
    parts.append("</g>")
    return parts


def _legend(parts: list[str], items: Sequence[tuple[str, str, str]], x: float, y: float,
            width: float) -> float:
    """Legend entries ``(name, colour, mark)`` (mark: ``box`` or ``line``) left to right,
    wrapping at ``width``; returns the y below the last row."""
    parts.append('<g class="legend">')
    cx, cy = x, y
    for name, colour, mark in items:
        label = short(name, 64)
        w = 22 + 7 * len(label)
        if cx > x and cx + w > x + width:
            cx, cy = x, cy + 18
        if mark == "line":
            swatch = (f'<line x1="{cx:.1f}" y1="{cy - 4:.1f}" x2="{cx + 14:.1f}" '
                      f'y2="{cy - 4:.1f}" stroke="{colour}" stroke-width="3"/>')
        elif mark == "dash":
            swatch = (f'<line x1="{cx:.1f}" y1="{cy - 4:.1f}" x2="{cx + 14:.1f}" '
                      f'y2="{cy - 4:.1f}" stroke="{colour}" stroke-width="2" '
                      'stroke-dasharray="4 3"/>')
        else:
            swatch = (f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" '
                      f'fill="{colour}"/>')
        parts.append(f'<g class="legend-item">{swatch}<text x="{cx + 18:.1f}" y="{cy:.1f}">'
                     f"<title>{text(name)}</title>{text(label)}</text></g>")
        cx += w + 12
    parts.append("</g>")
    return cy + 10


def line_chart(title: str, series: Sequence[Series], *, desc: str = "",
               ident: str | None = None, sort_x: bool = False) -> str:
    """Rates over time: one line per series (its points in order of their ``x`` labels'
    first appearance across the series; with ``sort_x``, of the labels sorted, for labels
    that sort as they should be read, such as ISO times), the interval between ``low`` and
    ``high`` shaded as a band where the points have one; y from 0 to 100%."""
    series = [s for s in series if s.points]
    if not series:
        return _empty("line", title, desc, ident)
    xs: list[str] = []
    for s in series:
        for p in s.points:
            if p.x not in xs:
                xs.append(p.x)
    if sort_x:  # series binned at different times interleave: each line left to right
        xs.sort()
        series = [Series(s.name, sorted(s.points, key=lambda p: p.x)) for s in series]
    left, top, width, height = 48, 12, 560, 200
    step = width / max(len(xs) - 1, 1)
    pos = {x: left + (i * step if len(xs) > 1 else width / 2) for i, x in enumerate(xs)}

    def y_of(v: float) -> float:
        return top + height * (1 - _clamp(v))

    parts: list[str] = []
    parts.append('<g class="axis">')
    for tick in range(0, 101, 25):
        y = y_of(tick / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end" fill="{MUTED}">{tick}%</text>')
    ends = [(xs[0], "start")] + ([(xs[-1], "end")] if len(xs) > 1 else [])
    for label, anchor in ends:
        parts.append(f'<text x="{pos[label]:.1f}" y="{top + height + 16}" text-anchor="{anchor}" '
                     f'fill="{MUTED}">{text(short(label, 24))}</text>')
    parts.append("</g>")
    for n, s in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        parts.append(f'<g class="series" data-series="{n}">')
        banded = [p for p in s.points if p.low is not None and p.high is not None]
        if banded:
            upper = [f"{pos[p.x]:.1f},{y_of(p.high or 0):.1f}" for p in banded]
            lower = [f"{pos[p.x]:.1f},{y_of(p.low or 0):.1f}" for p in reversed(banded)]
            if len(banded) == 1:  # one point: a narrow box, so the band is visible
                x = pos[banded[0].x]
                hi, lo = y_of(banded[0].high or 0), y_of(banded[0].low or 0)
                upper = [f"{x - 4:.1f},{hi:.1f}", f"{x + 4:.1f},{hi:.1f}"]
                lower = [f"{x + 4:.1f},{lo:.1f}", f"{x - 4:.1f},{lo:.1f}"]
            parts.append(f'<polygon class="band" fill="{colour}" fill-opacity="0.18" '
                         f'stroke="none" points="{" ".join(upper + lower)}"/>')
        coords = [(pos[p.x], y_of(p.y)) for p in s.points]
        if len(coords) > 1:
            parts.append(f'<polyline class="line" fill="none" stroke="{colour}" '
                         'stroke-width="2" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
        for (x, y), p in zip(coords, s.points, strict=True):
            interval = (f" (95% interval {pct(p.low)}–{pct(p.high)})"
                        if p.low is not None and p.high is not None else "")
            of = f" of {p.n}" if p.n is not None else ""
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                         f'fill="{colour}"><title>{text(s.name)}, {text(p.x)}: '
                         f"{pct(p.y)}{of}{interval}</title></circle>")
        parts.append("</g>")
    below = _legend(parts, [(s.name, PALETTE[n % len(PALETTE)], "line")
                            for n, s in enumerate(series)], left, top + height + 38, width)
    head = _open("line", title, desc or f"{len(series)} series over {len(xs)} periods",
                 left + width + 24, below + 4, ident)
    return "".join(head + parts) + "</svg>"


def bar_chart(title: str, groups: Sequence[BarGroup], *, desc: str = "",
              ident: str | None = None, max_bars: int = 60) -> str:
    """Horizontal bars of rates on a 0-100% axis, each with its interval as a whisker; one
    block per group (headed by its name, in the group's colour), one bar per value in it."""
    groups = [g for g in groups if g.bars]
    if not groups:
        return _empty("bar", title, desc, ident)
    left, width, bar, gap, heading = 200, 380, 14, 6, 20
    rows: list[tuple[int, BarGroup | None, Bar | None]] = []
    for n, g in enumerate(groups):
        rows.append((n, g, None))
        rows.extend((n, None, b) for b in g.bars[:max_bars])
    y = 8.0
    body: list[str] = []
    for n, group, b in rows:
        colour = PALETTE[n % len(PALETTE)]
        if group is not None:
            body.append(f'<text class="group" x="4" y="{y + 14:.1f}" font-weight="600">'
                        f"<title>{text(group.name)}</title>{text(short(group.name, 60))}</text>")
            y += heading
            continue
        assert b is not None
        mid = y + bar / 2
        body.append(f'<text x="{left - 8}" y="{mid + 4:.1f}" text-anchor="end">'
                    f"<title>{text(b.label)}</title>{text(short(b.label))}</text>")
        if b.value is not None:
            w = width * _clamp(b.value)
            of = f" of {b.n}" if b.n is not None else ""
            interval = (f" (95% interval {pct(b.low, 1)}–{pct(b.high, 1)})"
                        if b.low is not None and b.high is not None else "")
            body.append(f'<rect class="bar" x="{left}" y="{y:.1f}" width="{w:.1f}" '
                        f'height="{bar}" fill="{colour}"><title>{text(b.label)}: '
                        f"{pct(b.value, 1)}{of}{interval}</title></rect>")
            if b.low is not None and b.high is not None:
                lo, hi = left + width * _clamp(b.low), left + width * _clamp(b.high)
                body.append(
                    f'<g class="whisker" stroke="{INK}" stroke-width="1.5">'
                    f'<line x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" y2="{mid:.1f}"/>'
                    f'<line x1="{lo:.1f}" y1="{y + 2:.1f}" x2="{lo:.1f}" y2="{y + bar - 2:.1f}"/>'
                    f'<line x1="{hi:.1f}" y1="{y + 2:.1f}" x2="{hi:.1f}" y2="{y + bar - 2:.1f}"/>'
                    "</g>")
            label = f"{pct(b.value)}" + (f" of {b.n:,}" if b.n is not None else "")
        else:
            label = "not measured"
        body.append(f'<text x="{left + width + 8}" y="{mid + 4:.1f}" fill="{MUTED}">'
                    f"{text(label)}</text>")
        y += bar + gap
    bottom = y + 4
    n_bars = sum(1 for _, g, _b in rows if g is None)
    parts = _percent_axis(left, width, bottom)
    parts.extend(body)
    below = _legend(parts, [(g.name, PALETTE[n % len(PALETTE)], "box")
                            for n, g in enumerate(groups)], 4, bottom + 36, left + width)
    head = _open("bar", title, desc or f"{n_bars} rates in {len(groups)} groups",
                 left + width + 90, below + 4, ident)
    return "".join(head + parts) + "</svg>"


def throughput_chart(title: str, days: Sequence[tuple[str, int]], *, needed: int | None = None,
                     unit: str = "labels", desc: str = "", ident: str | None = None) -> str:
    """Work done per day (``(day, count)`` in order) as columns on the left axis, the running
    total as a line on the right axis, and ``needed`` (the whole backlog) as a dashed line on
    the same right axis."""
    if not days:
        return _empty("throughput", title, desc, ident)
    left, top, width, height = 48, 12, 520, 180
    peak = max(max(c for _, c in days), 1)
    cumulative: list[int] = []
    running = 0
    for _, c in days:
        running += c
        cumulative.append(running)
    peak = nice_top(peak)
    scale = nice_top(max(running, needed or 0, 1))
    slot = width / len(days)
    col = max(2.0, min(40.0, slot * 0.7))
    parts: list[str] = ['<g class="axis">']
    for i in range(5):
        y = top + height * (1 - i / 4)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'fill="{MUTED}">{round(peak * i / 4)}</text><text x="{left + width + 6}" '
                     f'y="{y + 4:.1f}" fill="{MUTED}">{round(scale * i / 4)}</text>')
    ends = [(0, days[0][0], "start")] + ([(len(days) - 1, days[-1][0], "end")]
                                         if len(days) > 1 else [])
    for i, label, anchor in ends:
        x = left + slot * i + (slot - col) / 2 + (col if anchor == "end" else 0)
        parts.append(f'<text x="{x:.1f}" y="{top + height + 16}" text-anchor="{anchor}" '
                     f'fill="{MUTED}">{text(short(label, 24))}</text>')
    parts.append("</g>")
    per_day, running_colour, needed_colour = PALETTE[0], PALETTE[1], MUTED
    for i, (day, count) in enumerate(days):
        h = height * count / peak
        x = left + slot * i + (slot - col) / 2
        parts.append(f'<rect class="day" x="{x:.1f}" y="{top + height - h:.1f}" '
                     f'width="{col:.1f}" height="{h:.1f}" fill="{per_day}">'
                     f"<title>{text(day)}: {count} {text(unit)} "
                     f"({cumulative[i]} so far)</title></rect>")
    points = [(left + slot * i + slot / 2, top + height * (1 - c / scale))
              for i, c in enumerate(cumulative)]
    parts.append(f'<polyline class="cumulative" fill="none" stroke="{running_colour}" '
                 'stroke-width="2" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                 + '"/>')
    parts += [f'<circle class="so-far" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
              f'fill="{running_colour}"/>' for x, y in points]  # one day is a point, not a line
    items: list[tuple[str, str, str]] = [(f"{unit} per day (left axis)", per_day, "box"),
                                         (f"{unit} so far (right axis)", running_colour, "line")]
    if needed:
        ny = top + height * (1 - needed / scale)
        parts.append(f'<line class="needed" x1="{left}" y1="{ny:.1f}" x2="{left + width}" '
                     f'y2="{ny:.1f}" stroke="{needed_colour}" stroke-width="2" '
                     f'stroke-dasharray="4 3"><title>{needed} {text(unit)} needed</title></line>')
        items.append((f"{unit} needed", needed_colour, "dash"))
    below = _legend(parts, items, left, top + height + 40, width)
    head = _open("throughput", title,
                 desc or f"{unit} per day over {len(days)} days, {running} in all"
                 + (f" of {needed} needed" if needed else ""),
                 left + width + 60, below + 4, ident)
    return "".join(head + parts) + "</svg>"


@dataclass(frozen=True)
class Share:
    """One slice of a coverage comparison: its share of the data and of the target (in
    [0, 1]); ``short`` when it is a gap to close (under-represented beyond the brief's
    threshold), with ``to_parity`` records of it bringing it to the target's share."""

    label: str
    data: float
    target: float
    short: bool = False
    to_parity: int | None = None


@dataclass(frozen=True)
class ShareGroup:
    name: str
    shares: Sequence[Share]


GAP = PALETTE[4]
"""The colour of a slice short of its target share (red, 4.5:1 on white)."""


def coverage_chart(title: str, groups: Sequence[ShareGroup], *, desc: str = "",
                   ident: str | None = None, max_bars: int = 30) -> str:
    """Coverage against a target: per slice, its share of the data as a bar and its share of
    the target as a tick on the same 0-100% axis; bars of slices short of the target (the
    gaps) in :data:`GAP` with class ``bar gap``, the others in the first palette colour."""
    groups = [g for g in groups if g.shares]
    if not groups:
        return _empty("coverage", title, desc, ident)
    left, width, bar, gap, heading = 200, 380, 14, 6, 20
    y = 8.0
    body: list[str] = []
    n_bars = n_gaps = 0
    for g in groups:
        body.append(f'<text class="group" x="4" y="{y + 14:.1f}" font-weight="600">'
                    f"<title>{text(g.name)}</title>{text(short(g.name, 60))}</text>")
        y += heading
        for s in g.shares[:max_bars]:
            n_bars += 1
            n_gaps += s.short
            mid = y + bar / 2
            colour, cls = (GAP, "bar gap") if s.short else (PALETTE[0], "bar")
            parity = (f", ~{s.to_parity:,} records to reach the target share"
                      if s.short and s.to_parity else "")
            tip = (f"{s.label}: {pct(s.data, 1)} of the data, {pct(s.target, 1)} of the "
                   f"target{parity}")
            body.append(f'<text x="{left - 8}" y="{mid + 4:.1f}" text-anchor="end">'
                        f"<title>{text(s.label)}</title>{text(short(s.label))}</text>")
            body.append(f'<rect class="{cls}" data-share="{s.data:.6f}" x="{left}" '
                        f'y="{y:.1f}" width="{width * _clamp(s.data):.1f}" height="{bar}" '
                        f'fill="{colour}"><title>{text(tip)}</title></rect>')
            tx = left + width * _clamp(s.target)
            body.append(f'<line class="target" data-share="{s.target:.6f}" x1="{tx:.1f}" '
                        f'y1="{y - 3:.1f}" x2="{tx:.1f}" y2="{y + bar + 3:.1f}" stroke="{INK}" '
                        f'stroke-width="2.5"><title>{text(tip)}</title></line>')
            label = f"{pct(s.data)} / {pct(s.target)}" + (" short" if s.short else "")
            body.append(f'<text x="{left + width + 8}" y="{mid + 4:.1f}" '
                        f'fill="{GAP if s.short else MUTED}">{text(label)}</text>')
            y += bar + gap
        if len(g.shares) > max_bars:
            body.append(f'<text x="{left}" y="{y + 10:.1f}" fill="{MUTED}">'
                        f"… {len(g.shares) - max_bars} more slices</text>")
            y += heading
    bottom = y + 4
    parts = _percent_axis(left, width, bottom)
    parts.extend(body)
    below = _legend(parts, [("share of the data", PALETTE[0], "box"),
                            ("short of the target (a gap)", GAP, "box"),
                            ("share of the target", INK, "line")],
                    4, bottom + 36, left + width)
    head = _open("coverage", title,
                 desc or f"{n_bars} slices in {len(groups)} groups, {n_gaps} short of the target",
                 left + width + 110, below + 4, ident)
    return "".join(head + parts) + "</svg>"
