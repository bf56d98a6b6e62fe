"""A campaign's report and a checkpoint comparison as self-contained HTML pages (inline SVG,
no scripts, no network).

The campaign page: the attack success rate per category, converter chain, technique and
language as horizontal bars with their 95% interval drawn as a whisker, the over-refusal rate
of benign prompts, pass@k, and example breaches. The comparison page: per category, the breach
rate before and after as a dumbbell (grey dot → coloured dot, red when it rose) with the
interval of the change, then the attacks newly failing, re-opened and fixed. Every value is
escaped: attack text, replies and taxonomy values are hostile input.
"""

from __future__ import annotations

from html import escape
from typing import Any

from curata.curation.coverage_html import STYLE

BAR, GAP, LEFT, WIDTH = 14, 8, 230, 420
BLUE, RED, GREEN, GREY = "#2c6fbb", "#c0392b", "#27864a", "#888"
LABEL_CHARS = 32
MAX_BARS = 40


def _short(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _axis(parts: list[str], bottom: float) -> None:
    """Gridlines and labels of a 0-100% axis."""
    for i in range(5):
        x = LEFT + WIDTH * i / 4
        parts.append(f'<line x1="{x:.1f}" y1="6" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>'
                     f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" '
                     f'fill="{GREY}">{25 * i}%</text>')


def rate_chart(title: str, groups: list[dict[str, Any]]) -> str:
    """Horizontal bars of rates in [0, 1] with their interval as a whisker."""
    rows = [g for g in groups if g["rate"] is not None][:MAX_BARS]
    if not rows:
        return "<p>Nothing judged.</p>"
    step = BAR + GAP
    bottom = 10 + step * len(rows)
    parts = [f'<svg role="img" aria-label="{escape(title)}" width="{LEFT + WIDTH + 120}" '
             f'height="{bottom + 24}" xmlns="http://www.w3.org/2000/svg" '
             'font-family="sans-serif" font-size="12">']
    _axis(parts, bottom)
    for n, g in enumerate(rows):
        y = 10 + n * step
        label = str(g["value"])
        w = WIDTH * g["rate"]
        lo, hi = LEFT + WIDTH * g["low"], LEFT + WIDTH * g["high"]
        tip = (f"{escape(label)}: {g['failures']}/{g['n']} = {_pct(g['rate'])} "
               f"(95% interval {_pct(g['low'])}–{_pct(g['high'])})")
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + BAR - 3}" text-anchor="end"><title>{escape(label)}'
            f"</title>{escape(_short(label))}</text>"
            f'<rect class="rate" x="{LEFT}" y="{y}" width="{w:.1f}" height="{BAR}" '
            f'fill="{BLUE}" fill-opacity="0.8"><title>{tip}</title></rect>'
            f'<line class="interval" x1="{lo:.1f}" y1="{y + BAR / 2}" x2="{hi:.1f}" '
            f'y2="{y + BAR / 2}" stroke="#222" stroke-width="1.5"/>'
            f'<line x1="{lo:.1f}" y1="{y + 3}" x2="{lo:.1f}" y2="{y + BAR - 3}" stroke="#222"/>'
            f'<line x1="{hi:.1f}" y1="{y + 3}" x2="{hi:.1f}" y2="{y + BAR - 3}" stroke="#222"/>'
            f'<text x="{LEFT + WIDTH + 8}" y="{y + BAR - 3}" fill="{GREY}">'
            f"{_pct(g['rate'])} of {g['n']:,}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _examples(examples: list[dict[str, Any]]) -> str:
    if not examples:
        return "<p>No breach.</p>"
    rows = "".join(
        f"<tr><td>{int(e['attempt'])}</td><td>{escape(str(e['category']))}</td>"
        f"<td>{escape(str(e['converters']))}</td><td class=ex>{escape(str(e['prompt']))}</td>"
        f"<td class=ex>{escape(str(e['reply']))}</td></tr>" for e in examples)
    return ("<table><tr><th>attempt</th><th>category</th><th>converters</th><th>prompt as "
            f"sent</th><th>reply</th></tr>{rows}</table>")


def _validity(data: dict[str, Any] | None) -> str:
    """The scorers against the reviewers, when the report was made with a review."""
    if not data:
        return ""
    v, a = data["validity"], data["attack_success"]
    kappa = v.get("kappa") or {}

    def rate(r: dict[str, Any]) -> str:
        return f"{_pct(r['value'])} ({_pct(r['low'])}–{_pct(r['high'])})"

    rows = "".join(
        f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in (
            ("reviewed attempts", f"{int(data['reviewed']):,}"),
            ("sensitivity (breaches the scorers caught)", rate(v["sensitivity"])),
            ("specificity (passes the scorers let be)", rate(v["specificity"])),
            ("Cohen's kappa", "-" if kappa.get("value") is None else
             f"{kappa['value']:.2f} ({kappa['low']:.2f}–{kappa['high']:.2f})"),
            ("attack success rate, raw", _pct(a["raw"])),
            ("attack success rate, corrected", f"{_pct(a['corrected'])} ({_pct(a['low'])}–"
             f"{_pct(a['high'])})"),
        ))
    return (f"<h2>The scorers against the reviewers ({escape(str(data['release']))})</h2>"
            "<p>Findings were reviewed in full and passes sampled; the corrected rate is the "
            "stratified estimate over the two strata (Cochran 1977), with 95% intervals.</p>"
            f"<table>{rows}</table>")


def campaign_html(data: dict[str, Any]) -> str:
    """The page for :meth:`curata.redteam.report.CampaignReport.to_dict`."""
    k = data["campaign"]
    cid, ref = escape(str(k["id"])), escape(str(k["version"]))
    model = escape(str(k["target"].get("model") or k["target"].get("target")))
    asr, over = data["attack_success"], data["over_refusal"]
    head = (f"<p>{int(k['attempts']):,} attempts of {int(k['planned']):,} ({escape(k['status'])})"
            f" against <b>{model}</b>. Attack success rate <b>{_pct(asr['rate'])}</b> "
            f"({asr['failures']:,} of {asr['n']:,} judged; 95% interval {_pct(asr['low'])}–"
            f"{_pct(asr['high'])}); over-refusal of benign prompts {_pct(over['rate'])} "
            f"({over['failures']:,} of {over['n']:,}). Errors and empty replies are left out "
            "of every rate: " + ", ".join(f"{escape(v)} {n:,}" for v, n in
                                         data["verdicts"].items()) + ".</p>")
    charts = "".join(
        f"<h2>Attack success by {escape(name)}</h2>"
        + rate_chart(f"attack success rate by {name}", data["by"][name])
        for name in ("category", "converters", "technique", "language", "harm_area")
        if data["by"].get(name))
    benign = data["benign_by"].get("category") or []
    over_chart = ("<h2>Over-refusal by category</h2>"
                  + rate_chart("over-refusal rate by category", benign)) if benign else ""
    pass_k = ""
    if data.get("pass_at_k"):
        p = data["pass_at_k"]
        cells = "".join(f"<tr><td>{escape(str(kk))}</td><td>{_pct(v)}</td>"
                        f"<td>{p['units'][kk]:,}</td></tr>" for kk, v in p["values"].items())
        pass_k = ("<h2>pass@k</h2><p>The chance that at least one of k samples of an attack "
                  "succeeds (unbiased estimator, Chen et al. 2021).</p><table><tr><th>k</th>"
                  f"<th>pass@k</th><th>attacks</th></tr>{cells}</table>")
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Campaign {cid} on {ref}</title>{STYLE}</head><body>"
            f"<h1>Campaign {cid} on {ref}</h1>{head}{_validity(data.get('validity'))}{charts}"
            f"{over_chart}{pass_k}"
            f"<h2>Example breaches</h2>{_examples(data['examples'])}</body></html>")


def regression_chart(categories: dict[str, dict[str, Any]]) -> str:
    """A dumbbell per category: breach rate before (grey) and after (red when it rose, green
    when it fell), on one 0-100% axis."""
    rows = [(name, d) for name, d in categories.items() if d["before_rate"] is not None]
    if not rows:
        return "<p>No paired attack.</p>"
    step = BAR + GAP
    bottom = 10 + step * len(rows)
    parts = [f'<svg role="img" aria-label="breach rate before and after by category" '
             f'width="{LEFT + WIDTH + 200}" height="{bottom + 24}" '
             'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">']
    _axis(parts, bottom)
    for n, (name, d) in enumerate(rows):
        y = 10 + n * step + BAR / 2
        x0, x1 = LEFT + WIDTH * d["before_rate"], LEFT + WIDTH * d["after_rate"]
        colour = RED if d["change"] > 0 else GREEN if d["change"] < 0 else GREY
        flag = " regressed" if d["regressed"] else ""
        tip = (f"{escape(name)}: {_pct(d['before_rate'])} → {_pct(d['after_rate'])}, change "
               f"{d['change'] * 100:+.1f} pts (interval {d['low'] * 100:+.1f} to "
               f"{d['high'] * 100:+.1f}), McNemar p = {d['p_value']:.3g}{flag}")
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end"><title>{escape(name)}</title>'
            f"{escape(_short(name))}</text>"
            f'<line x1="{x0:.1f}" y1="{y}" x2="{x1:.1f}" y2="{y}" stroke="{colour}" '
            'stroke-width="3"/>'
            f'<circle class="before" cx="{x0:.1f}" cy="{y}" r="5" fill="{GREY}"><title>{tip}'
            "</title></circle>"
            f'<circle class="after{flag}" cx="{x1:.1f}" cy="{y}" r="5" fill="{colour}">'
            f"<title>{tip}</title></circle>"
            f'<text x="{LEFT + WIDTH + 8}" y="{y + 4}" fill="{colour}">'
            f"{d['change'] * 100:+.1f} pts [{d['low'] * 100:+.1f}, {d['high'] * 100:+.1f}]"
            f"{' REGRESSED' if d['regressed'] else ''}</text>")
    parts.append("</svg>")
    return "".join(parts)


def regression_html(data: dict[str, Any]) -> str:
    """The page for :meth:`curata.redteam.campaigns.Comparison.to_dict`."""
    a, b = escape(str(data["before"])), escape(str(data["after"]))
    o, g = data["overall"], data["gate"]
    lists = "".join(
        f"<h3>{escape(cls.replace('_', ' '))} ({len(ids):,})</h3><p class=ex>"
        + escape(", ".join(ids[:200])) + ("…" if len(ids) > 200 else "") + "</p>"
        for cls, ids in data["classes"].items()
        if cls in ("newly_failing", "reopened", "newly_fixed") and ids)
    gate = ("passed" if g["passed"] else "FAILED: " + escape(", ".join(g["regressed"]))
            ) if g else "not set"
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{a} → {b}</title>{STYLE}</head><body><h1>{a} → {b} on "
            f"{escape(str(data['attacks']))}</h1>"
            f"<p>Breach rate {_pct(o['before_rate'])} → {_pct(o['after_rate'])} over "
            f"{o['n']:,} paired attacks (McNemar p = {o['p_value']:.3g}). Gate: {gate}.</p>"
            "<h2>Breach rate by category, before (grey) and after</h2>"
            + regression_chart(data["categories"]) + lists + "</body></html>")
