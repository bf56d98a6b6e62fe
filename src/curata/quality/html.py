"""The quality report as a self-contained HTML page with SVG charts (no scripts, no network).

Charts: gold accuracy per group with its Wilson interval, and agreement with the consensus,
each a horizontal dot-and-whisker plot on a 0-100% axis; flagged groups are drawn in red and
listed with their reasons; agreement over time per cohort (one line per cohort and question,
over equal time bins); confusion matrices of each annotator against the consensus, shaded by
row share. The drift page draws the same time chart for every stream with an alert.
Every name is escaped: a hostile annotator name is shown, not run.
"""

from __future__ import annotations

from bisect import bisect_right
from html import escape
from typing import Any

from curata.stats.agreement import stat_label

ROW = 26
LEFT = 220
WIDTH = 460
RED, BLUE, GREY = "#c0392b", "#2c6fbb", "#888"
PALETTE = ("#2c6fbb", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d35400")
STYLE = (
    "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;"
    "text-align:left}h2{margin-top:1.5em}table.cm td{text-align:right;border:1px solid #eee}"
    "</style>"
)


def _chart(title: str, groups: list[dict[str, Any]], value: str, low: str, high: str) -> str:
    rows = [g for g in groups if g.get(value) is not None]
    if not rows:
        return f"<h2>{escape(title)}</h2><p>No data.</p>"
    height = ROW * len(rows) + 40
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{LEFT + WIDTH + 60}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
        'font-size="12">'
    ]
    for tick in range(0, 101, 25):
        x = LEFT + WIDTH * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 25}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="{GREY}">'
            f"{tick}%</text>"
        )
    for i, g in enumerate(rows):
        y = 20 + i * ROW
        colour = RED if g.get("flags") else BLUE
        x = LEFT + WIDTH * g[value]
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{escape(str(g["group"]))}</text>'
        )
        if g.get(low) is not None and g.get(high) is not None:
            x0, x1 = LEFT + WIDTH * g[low], LEFT + WIDTH * g[high]
            parts.append(
                f'<line x1="{x0:.1f}" y1="{y}" x2="{x1:.1f}" y2="{y}" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="{colour}"><title>'
            f"{escape(str(g['group']))}: {g[value]:.1%}</title></circle>"
            f'<text x="{LEFT + WIDTH + 8}" y="{y + 4}" fill="{GREY}">{g[value]:.0%}</text>'
        )
    parts.append("</svg>")
    return f"<h2>{escape(title)}</h2>" + "".join(parts)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _time_chart(
    title: str, series: list[dict[str, Any]], marks: list[tuple[str, str]] | None = None
) -> str:
    """One line per series over its time bins (x: bin start), y: 0-100%; ``marks`` are
    (ISO time, label) drawn as dashed lines at the bin holding that time."""
    series = [s for s in series if s["bins"]]
    if not series:
        return f"<h2>{escape(title)}</h2><p>No data.</p>"
    starts = sorted({b["start"] for s in series for b in s["bins"]})
    pos = {start: i for i, start in enumerate(starts)}
    width, height, left, top = 560, 220, 50, 10
    step = width / max(len(starts) - 1, 1)
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{left + width + 20}" '
        f'height="{height + 60}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
        'font-size="12">'
    ]
    for tick in range(0, 101, 25):
        y = top + height * (1 - tick / 100)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{GREY}">{tick}%</text>'
        )
    for label, i, anchor in ((starts[0], 0, "start"), (starts[-1], len(starts) - 1, "end")):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{top + height + 16}" text-anchor="{anchor}" '
            f'fill="{GREY}">{escape(label[:16].replace("T", " "))} UTC</text>'
        )
    for when, label in marks or ():
        i = bisect_right(starts, when) - 1
        if 0 <= i < len(starts):
            x = left + i * step
            parts.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" stroke="{RED}" '
                f'stroke-dasharray="4 3"><title>{escape(label)}</title></line>'
                f'<text x="{x + 4:.1f}" y="{top + 12}" fill="{RED}">{escape(label)}</text>'
            )
    legend = []
    for n, s in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        name = f"{s['who']} · {s['question']}"
        points = [
            (left + pos[b["start"]] * step, top + height * (1 - b["rate"])) for b in s["bins"]
        ]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            + '"/>'
        )
        for (x, y), b in zip(points, s["bins"], strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                f"{escape(name)} from {escape(b['start'])}: {b['rate']:.0%} of {b['n']}"
                "</title></circle>"
            )
        legend.append(f'<span style="color:{colour}">&#9632;</span> {escape(name)}')
    parts.append("</svg>")
    return (
        f"<h2>{escape(title)}</h2>"
        + "".join(parts)
        + '<p style="font-size:12px">'
        + " &nbsp; ".join(legend)
        + "</p>"
    )


def _confusion(matrices: list[dict[str, Any]]) -> str:
    if not matrices:
        return ""
    out = ["<h2>Confusion matrices against the consensus</h2>"
           "<p>Rows: the consensus label; columns: the annotator's label; shading: share of "
           "the row.</p>"]  # fmt: skip
    for m in matrices:
        labels = [escape(str(label)) for label in m["labels"]]
        head = "".join(f"<th>{label}</th>" for label in labels)
        for who, rows in m["annotators"].items():
            body = []
            for label, row in zip(labels, rows, strict=True):
                total = sum(row) or 1
                cells = "".join(
                    f'<td style="background:rgba(44,111,187,{count / total:.2f})">{count}</td>'
                    for count in row
                )
                body.append(f"<tr><th>{label}</th>{cells}</tr>")
            out.append(
                f"<h3>{escape(str(who))} · {escape(m['question'])}</h3>"
                f'<table class="cm"><tr><th></th>{head}</tr>{"".join(body)}</table>'
            )
    return "".join(out)


def _agreement(questions: list[dict[str, Any]]) -> str:
    if not questions:
        return ""
    rows = []
    for q in questions:
        name = escape(str(q["question"]))
        if "skipped" in q or not q.get("statistics"):
            why = escape(str(q.get("skipped", "nothing pairable")))
            rows.append(f"<tr><td>{name}</td><td colspan=4>{why}</td></tr>")
            continue
        for s in q["statistics"]:
            interval = "—" if s["low"] is None else f"{s['low']:.3f} – {s['high']:.3f}"
            value = "undefined" if s["value"] is None else f"{s['value']:.3f}"
            rows.append(
                f"<tr><td>{name}</td><td>{escape(stat_label(s))}</td>"
                f"<td>{value}</td><td>{interval}</td><td>{s['units']}</td></tr>"
            )
    return (
        "<h2>Agreement per question</h2><table><tr><th>question</th><th>statistic</th>"
        "<th>value</th><th>interval</th><th>units</th></tr>" + "".join(rows) + "</table>"
    )


def _gold_by_question(groups: list[dict[str, Any]], confidence: str) -> str:
    names = sorted({q for g in groups for q in g.get("gold_by_question", {})})
    if len(names) < 2:
        return ""  # one question: the chart above says it all
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = []
    for g in groups:
        cells = []
        for n in names:
            q = g.get("gold_by_question", {}).get(n)
            cells.append(
                "<td>—</td>"
                if not q or q["accuracy"] is None
                else f"<td>{q['accuracy']:.0%} of {q['answered']} "
                f"({q['low']:.2f}-{q['high']:.2f})</td>"
            )
        rows.append(f"<tr><td>{escape(str(g['group']))}</td>{''.join(cells)}</tr>")
    return (
        f"<h2>Gold accuracy per question ({confidence} Wilson interval)</h2>"
        f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def render_drift(data: dict[str, Any]) -> str:
    """The page for a :func:`curata.quality.drift.drift_report` result."""
    alerted = {(a["kind"], a["who"], a["question"]) for a in data["alerts"]}
    items = "".join(f"<li>{escape(a['message'])}</li>" for a in data["alerts"])
    cohorts = [s for s in data["series"] if s["kind"] == "cohort"]
    flagged = [s for s in data["series"] if (s["kind"], s["who"], s["question"]) in alerted]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Drift in {escape(data['project'])}</title>{STYLE}</head><body>"
        f"<h1>Drift in {escape(data['project'])}</h1>"
        + (f"<h2>Alerts</h2><ul>{items}</ul>" if items else "<p>No drift detected.</p>")
        + (
            _time_chart(
                "Agreement over time: streams with an alert",
                flagged,
                [(a["since"], f"{a['who']} since") for a in data["alerts"]],
            )
            if flagged
            else ""
        )
        + _time_chart("Agreement over time per cohort", cohorts)
        + "</body></html>"
    )


def _labels(labels: dict[str, str] | None) -> str:
    if not labels:
        return ""
    return (
        f"<p>Agreement and consensus read the {escape(labels['agreement'])}. "
        f"Annotator scores read {escape(labels['annotators'])}.</p>"
    )


def render_report(data: dict[str, Any]) -> str:
    """The page for a :func:`curata.quality.report.quality_report` result."""
    groups = data["groups"]
    confidence = f"{data['confidence']:.0%}"
    rows = "".join(
        "<tr>"
        f"<td>{escape(str(g['group']))}</td><td>{g['annotations']}</td>"
        f"<td>{_pct(g['gold_accuracy'])} of {g['gold_answered']}</td>"
        f"<td>{_pct(g['consensus_agreement'])}</td>"
        f"<td>{_pct(g['estimated_accuracy'])}</td>"
        f"<td>{escape('; '.join(g['flags']))}</td>"
        "</tr>"
        for g in groups
    )
    flagged = "".join(
        f"<li><b>{escape(str(g['group']))}</b>: {escape(reason)}</li>"
        for g in groups
        for reason in g["flags"]
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Quality of {escape(data['project'])}</title>{STYLE}</head><body>"
        f"<h1>Quality of {escape(data['project'])}, by {escape(data['by'])}</h1>"
        + _labels(data.get("labels"))
        + (f"<h2>Flagged</h2><ul>{flagged}</ul>" if flagged else "<p>Nobody is flagged.</p>")
        + _chart(
            f"Gold accuracy with its {confidence} Wilson interval",
            groups,
            "gold_accuracy",
            "gold_low",
            "gold_high",
        )
        + _chart(
            f"Agreement with the Dawid-Skene consensus ({confidence} interval)",
            groups,
            "consensus_agreement",
            "consensus_low",
            "consensus_high",
        )
        + _time_chart("Agreement over time per cohort", data.get("over_time", []))
        + _gold_by_question(groups, confidence)
        + _agreement(data.get("agreement", []))
        + "<h2>Numbers</h2><table><tr><th>"
        + escape(data["by"])
        + "</th><th>labels</th><th>gold</th><th>consensus</th><th>est. accuracy</th>"
        "<th>flags</th></tr>"
        + rows
        + "</table>"
        + _confusion(data.get("confusion", []))
        + "</body></html>"
    )
