"""The attack-set coverage report as a self-contained HTML page (inline SVG, no scripts).

One heat map per pair of taxonomy dimensions: a cell's blue deepens with its count (on a
square-root scale up to the grid's largest count), an empty cell is drawn white with a red
cross, a thin cell has an orange border; then the diversity numbers and the suggested cells.
Every value is escaped: attack text and taxonomy values are hostile input.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from curata.curation.coverage_html import STYLE

CELL, LEFT, TOP = 22, 200, 150
LABEL_CHARS = 28
BLUE, RED, ORANGE, GREY = "44,111,187", "#c0392b", "#e67e22", "#888"


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 3] + "..."


def heat_map(grid: dict[str, Any], *, thin: int) -> str:
    """An SVG heat map of one :class:`curata.redteam.coverage.PairGrid` (as a dict)."""
    row_dim, col_dim = (escape(str(d)) for d in grid["dims"])
    rows, cols, counts = grid["rows"], grid["cols"], grid["counts"]
    top = max((n for line in counts for n in line), default=0) or 1
    width, height = LEFT + CELL * len(cols) + 10, TOP + CELL * len(rows) + 10
    parts = [
        f'<svg role="img" aria-label="{row_dim} by {col_dim}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
        'font-size="11">'
    ]
    for k, col in enumerate(cols):
        x = LEFT + CELL * k + CELL / 2
        parts.append(
            f'<text transform="translate({x + 4:.1f},{TOP - 6}) rotate(-60)">'
            f"<title>{escape(str(col))}</title>{escape(_short(str(col)))}</text>"
        )
    for r, (row, line) in enumerate(zip(rows, counts, strict=True)):
        y = TOP + CELL * r
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + CELL * 0.7:.1f}" text-anchor="end">'
            f"<title>{escape(str(row))}</title>{escape(_short(str(row)))}</text>"
        )
        for k, (col, n) in enumerate(zip(cols, line, strict=True)):
            x = LEFT + CELL * k
            tip = f"<title>{escape(str(row))} × {escape(str(col))}: {int(n)}</title>"
            if n == 0:
                parts.append(
                    f'<g class="empty"><rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" '
                    f'fill="#fff" stroke="#ddd"/>{tip}<path d="M{x + 6} {y + 6}l10 10m0 -10'
                    f'l-10 10" stroke="{RED}" stroke-width="1.2"/></g>'
                )
                continue
            alpha = 0.12 + 0.88 * math.sqrt(n / top)
            stroke = ORANGE if n < thin else "#fff"
            ink = "#fff" if alpha > 0.55 else "#000"
            parts.append(
                f'<g class="{"thin" if n < thin else "full"}"><rect x="{x}" y="{y}" '
                f'width="{CELL}" height="{CELL}" fill="rgba({BLUE},{alpha:.2f})" '
                f'stroke="{stroke}" stroke-width="1.5"/>{tip}<text x="{x + CELL / 2}" '
                f'y="{y + CELL * 0.7:.1f}" text-anchor="middle" font-size="9" fill="{ink}">'
                f"{int(n)}</text></g>"
            )
    parts.append("</svg>")
    return f"<h3>{row_dim} × {col_dim}</h3>" + "".join(parts)


def _cells(cells: list[dict[str, Any]]) -> str:
    if not cells:
        return "<p>None: every cell holds enough attacks.</p>"
    body = "".join(
        f"<tr><td>{i}</td><td>{escape(str(c['dims'][0]))} = {escape(str(c['values'][0]))}</td>"
        f"<td>{escape(str(c['dims'][1]))} = {escape(str(c['values'][1]))}</td>"
        f"<td>{int(c['count'])}</td><td>{float(c['expected']):.2f}</td></tr>"
        for i, c in enumerate(cells, 1)
    )
    return (
        "<table><tr><th>#</th><th>row</th><th>column</th><th>attacks</th>"
        "<th>expected if independent</th></tr>" + body + "</table>"
    )


def _diversity(d: dict[str, Any]) -> str:
    dispersion = d.get("dispersion")
    shown = "undefined (fewer than two texts)" if dispersion is None else f"{dispersion:.3f}"
    return (
        "<h2>Diversity</h2><table>"
        f"<tr><th>texts</th><td>{int(d['texts'])}</td></tr>"
        f"<tr><th>near-duplicate rate (Jaccard ≥ {float(d['near_dup_threshold']):g})</th>"
        f"<td>{float(d['near_dup_rate']):.1%} ({int(d['near_duplicates'])} texts, "
        f"{int(d['near_dup_pair_count'])} pairs)</td></tr>"
        f"<tr><th>embedding dispersion (mean pairwise cosine distance)</th><td>{shown}</td></tr>"
        "</table>" + _pairs(d.get("near_dup_pairs", []), int(d["near_dup_pair_count"]))
    )


def _pairs(pairs: list[dict[str, Any]], count: int) -> str:
    if not pairs:
        return ""
    body = "".join(
        f"<tr><td>{int(p['a'])}</td><td class=ex>{escape(str(p['texts'][0]))}</td>"
        f"<td>{int(p['b'])}</td><td class=ex>{escape(str(p['texts'][1]))}</td>"
        f"<td>{float(p['jaccard']):.2f}</td></tr>"
        for p in pairs
    )
    more = f"<p class=ex>The first {len(pairs)} of {count} pairs.</p>" if count > len(pairs) else ""
    return (
        "<h3>Near-duplicate pairs</h3><table><tr><th>#</th><th>text</th><th>#</th>"
        "<th>text</th><th>Jaccard</th></tr>" + body + "</table>" + more
    )


def render_coverage(data: dict[str, Any]) -> str:
    """The page for :meth:`curata.redteam.coverage.AttackCoverage.to_dict`."""
    ref, thin = escape(str(data["ref"])), int(data["thin"])
    missing = "".join(
        f"<li>{escape(str(dim))}: {escape(', '.join(map(str, values)))}</li>"
        for dim, values in data["missing"].items()
        if values
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Attack coverage of {ref}</title>{STYLE}</head><body>"
        f"<h1>Attack coverage of {ref}</h1>"
        f"<p>{int(data['total']):,} attacks ({int(data['benign']):,} benign), "
        f"{int(data['cells']):,} cells over {len(data['grids'])} dimension pairs: "
        f"{len(data['empty']):,} empty, {len(data['thin_cells']):,} thin (fewer than {thin})."
        "</p>"
        + (f"<h2>Declared values no attack has</h2><ul>{missing}</ul>" if missing else "")
        + "<h2>Cells to fill next</h2><p>Empty cells first, then thin ones; within a count, "
        "the cells the marginal shares expect most attacks in.</p>"
        + _cells(data["suggestions"])
        + _diversity(data["diversity"])
        + "<h2>Coverage grids</h2><p>Blue deepens with the count; a red cross marks an empty "
        f"cell, an orange border a thin one (fewer than {thin}).</p>"
        + "".join(heat_map(g, thin=thin) for g in data["grids"])
        + "</body></html>"
    )
