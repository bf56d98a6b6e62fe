"""The coverage report as a self-contained HTML page (inline SVG, no scripts, no network).

Per field and for the embedding clusters: a horizontal grouped bar chart, data share above
target share for every slice, on an axis scaled to the largest share; the JSD beside each
title; the sourcing brief as a table. Every name and example is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

DATA, TARGET, GREY, RED = "#2c6fbb", "#e67e22", "#888", "#c0392b"
BAR, GAP, LEFT, WIDTH = 10, 8, 240, 420
LABEL_CHARS = 36
MAX_BARS = 30
SCALES = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Axis ends: the first that holds the largest share, so each quarter tick is a round number."""
STYLE = (
    "<style>body{font-family:sans-serif;margin:2em;max-width:64em}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;"
    "text-align:left;vertical-align:top}h2{margin-top:1.5em}.ex{color:#555;font-size:12px}"
    "</style>"
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _jsd(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 3] + "..."


def bar_chart(title: str, rows: list[tuple[str, float, float]]) -> str:
    """A grouped horizontal bar chart of (label, data share, target share) rows."""
    rows = rows[:MAX_BARS]
    if not rows:
        return "<p>No data.</p>"
    top = max(max(d, t) for _, d, t in rows)
    scale = next(s for s in SCALES if top <= s + 1e-12)
    step = 2 * BAR + GAP
    height = step * len(rows) + 50
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{LEFT + WIDTH + 70}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
        'font-size="12">'
    ]
    bottom = 10 + step * len(rows)
    for i in range(5):
        share = scale * i / 4
        x = LEFT + WIDTH * i / 4
        parts.append(
            f'<line x1="{x:.1f}" y1="6" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="{GREY}">'
            f"{share * 100:g}%</text>"
        )
    for n, (label, data, target) in enumerate(rows):
        y = 10 + n * step
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + BAR + 4}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(_short(label))}</text>"
        )
        for k, (share, colour, who) in enumerate(
            ((data, DATA, "data"), (target, TARGET, "target"))
        ):
            w = WIDTH * share / scale
            yy = y + k * BAR
            parts.append(
                f'<rect class="bar-{who}" x="{LEFT}" y="{yy}" width="{w:.1f}" height="{BAR - 1}" '
                f'fill="{colour}"><title>{escape(label)}: {who} {share:.1%}</title></rect>'
                f'<text x="{LEFT + w + 4:.1f}" y="{yy + BAR - 1}" fill="{GREY}" font-size="10">'
                f"{share:.1%}</text>"
            )
    parts.append(
        f'<rect x="{LEFT}" y="{bottom + 24}" width="10" height="10" fill="{DATA}"/>'
        f'<text x="{LEFT + 14}" y="{bottom + 33}">data</text>'
        f'<rect x="{LEFT + 70}" y="{bottom + 24}" width="10" height="10" fill="{TARGET}"/>'
        f'<text x="{LEFT + 84}" y="{bottom + 33}">target</text></svg>'
    )
    more = len(rows) == MAX_BARS
    return "".join(parts) + ("<p class=ex>Only the first slices are drawn.</p>" if more else "")


def _short_table(short: list[dict[str, Any]], name: Any) -> str:
    if not short:
        return "<p>No slice is under-represented.</p>"
    body = []
    for s in short:
        label = name(s)
        examples = "".join(f"<div class=ex>{escape(e)}</div>" for e in s.get("examples", []))
        records = "-" if s["records_to_parity"] is None else f"{s['records_to_parity']:,}"
        body.append(
            f"<tr><td>{escape(label)}</td><td>{_pct(s['data_share'])}</td>"
            f"<td>{_pct(s['target_share'])}</td><td>{s['gap'] * 100:+.1f} pts</td>"
            f"<td>{records}</td><td>{examples}</td></tr>"
        )
    return (
        "<table><tr><th>slice</th><th>data</th><th>target</th><th>gap</th>"
        "<th>records to parity</th><th>target examples</th></tr>" + "".join(body) + "</table>"
    )


def _field(f: dict[str, Any]) -> str:
    kind = "numeric, quantile bins of the target" if f["kind"] == "numeric" else "categorical"
    rows = [(str(s["slice"]), s["data_share"], s["target_share"]) for s in f["slices"]]
    return (
        f"<h2>{escape(str(f['field']))} <small>({kind}; JSD {_jsd(f['jsd'])})</small></h2>"
        + bar_chart(f"Shares by {f['field']}", rows)
        + "<h3>Most under-represented</h3>"
        + _short_table(f["under_represented"], lambda s: str(s["slice"]))
    )


def _cluster_name(s: dict[str, Any]) -> str:
    terms = ", ".join(s.get("terms", []))
    return f"{s['slice']}: {terms}" if terms else str(s["slice"])


def _clusters(c: dict[str, Any] | None) -> str:
    if c is None:
        return ""
    if "skipped" in c:
        return f"<h2>Embedding clusters</h2><p>Skipped: {escape(str(c['skipped']))}</p>"
    rows = [(_cluster_name(s), s["data_share"], s["target_share"]) for s in c["slices"]]
    return (
        f"<h2>Embedding clusters <small>(k = {c['k']}; JSD {_jsd(c['jsd'])}; "
        f"{c['data_sample']:,} data and {c['target_sample']:,} target records embedded)"
        "</small></h2>"
        + bar_chart("Shares by embedding cluster", rows)
        + "<h3>Most under-represented</h3>"
        + _short_table(c["under_represented"], _cluster_name)
    )


def _brief(data: dict[str, Any]) -> str:
    items = data["brief"]
    if not items:
        return f"<h2>Sourcing brief</h2><p>{escape(data['brief_text'])}.</p>"
    body = "".join(
        f"<tr><td>{escape(str(i['label']))}</td>"
        f"<td>{'-' if i['records'] is None else format(i['records'], ',')}</td>"
        f"<td>{_pct(i['data_share'])}</td><td>{_pct(i['target_share'])}</td>"
        f"<td>{i['gap'] * 100:+.1f} pts</td></tr>"
        for i in items
    )
    return (
        "<h2>Sourcing brief</h2>"
        f"<p><b>{escape(data['brief_text'])}</b>. Each count brings its slice alone to the "
        "target share; they are alternatives, not a sum.</p>"
        "<table><tr><th>slice</th><th>records to add</th><th>data</th><th>target</th>"
        "<th>gap</th></tr>" + body + "</table>"
    )


def render_coverage(data: dict[str, Any]) -> str:
    """The page for a :func:`curata.curation.coverage_service.coverage_report` result."""
    version, target = escape(str(data["version"])), escape(str(data["target"]))
    jsd_rows = "".join(
        f"<tr><td>{escape(str(f['field']))}</td><td>{_jsd(f['jsd'])}</td></tr>"
        for f in data["fields"]
    )
    clusters = data.get("clusters")
    if clusters and "jsd" in clusters:
        jsd_rows += f"<tr><td>embedding clusters</td><td>{_jsd(clusters['jsd'])}</td></tr>"
    summary = (
        "<h2>Jensen-Shannon divergence</h2><p>0: the same distribution; 1: disjoint "
        "(base 2).</p><table><tr><th>compared on</th><th>JSD</th></tr>" + jsd_rows + "</table>"
        if jsd_rows
        else ""
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Coverage of {version}</title>{STYLE}</head><body>"
        f"<h1>Coverage of {version} against {target}</h1>"
        f"<p>{data['data_records']:,} records in the version, {data['target_records']:,} in "
        "the target sample.</p>"
        + _brief(data)
        + summary
        + "".join(_field(f) for f in data["fields"])
        + _clusters(clusters)
        + "</body></html>"
    )
