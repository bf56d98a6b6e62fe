"""The quality report as a self-contained HTML page with SVG charts (no scripts, no network).

Charts: gold accuracy per group with its Wilson interval, and agreement with the consensus,
each a horizontal dot-and-whisker plot on a 0-100% axis; flagged groups are drawn in red and
listed with their reasons. Every name is escaped: a hostile annotator name is shown, not run.
"""

from __future__ import annotations

from html import escape
from typing import Any

ROW = 26
LEFT = 220
WIDTH = 460
RED, BLUE, GREY = "#c0392b", "#2c6fbb", "#888"


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
        f"<title>Quality of {escape(data['project'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;"
        "text-align:left}h2{margin-top:1.5em}</style></head><body>"
        f"<h1>Quality of {escape(data['project'])}, by {escape(data['by'])}</h1>"
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
        + "<h2>Numbers</h2><table><tr><th>"
        + escape(data["by"])
        + "</th><th>labels</th><th>gold</th><th>consensus</th><th>est. accuracy</th>"
        "<th>flags</th></tr>" + rows + "</table></body></html>"
    )
