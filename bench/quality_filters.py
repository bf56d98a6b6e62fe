"""Quality filters (issue #5): docs/s of Curata's ``quality`` step against datatrove's four
filters (GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter,
datatrove's defaults = Curata's defaults) on the same corpus, in the same process; and how far
their keep/drop decisions agree. Goal: Curata >= 1x datatrove's docs/s.

datatrove runs as a pipeline of those four filters would: one ``filter(doc)`` call after the
other on the same ``Document``, stopping at the first that drops (C4 rewrites ``doc.text``, so
FineWeb sees the lines C4 kept, exactly as in a datatrove pipeline). Curata runs
``Quality(QualityParams()).apply(batch)`` (all four rule sets, same order) on batches of
``--batch`` records. Records and Documents are built before the clock starts.

Each timed run starts with cold word caches on both sides (a fresh Curata step, so a fresh
word-split memo; a freshly loaded spaCy tokenizer for datatrove, so an empty spaCy cache and
datatrove's ``split_into_parts`` LRU cleared) and fills them as it streams, as one pass over
a corpus does; ``--warm`` also times both with the caches left full from the previous run.
An untimed warm-up on the first 1,000 documents comes first (imports, spaCy load, regexes);
the timed runs alternate sides; best of ``--repeat`` (default 3).

The corpus (``--docs``, default 20,000, seed ``--seed``) is real English text shipped in
installed wheels (gensim's Wikipedia excerpt and Lee news corpus, licence texts, scikit-learn
dataset descriptions, package READMEs) shaped into web pages: articles with navigation,
headings, share/cookie/footer boilerplate, and pages that are mostly lists, menus, repeated
lines or paragraphs, hashtags, ellipsis teasers, number tables, code, lorem ipsum, or a few
words.

    .venv/bin/python bench/quality_filters.py [--docs 20000] [--repeat 3] [--warm]
"""

from __future__ import annotations

import argparse
import bz2
import gc
import random
import re
import statistics
import sys
import time
from collections import Counter
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import benchlib as bl

NAME = "quality_filters"
RULE_SETS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")

# -- corpus -----------------------------------------------------------------------------------


def _read(dist: str, path: str) -> str:
    try:
        return distribution(dist).read_text(path) or ""
    except PackageNotFoundError:
        return ""


def _gensim_data() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        sys.exit("this benchmark reads gensim's test corpora: pip install 'curata[bench]'")
    return Path(spec.origin).parent / "test" / "test_data"


_MARKUP = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+$")


def wiki_pages() -> list[list[str]]:
    """Paragraphs of each article of gensim's English Wikipedia excerpt (wiki markup removed
    by gensim's ``filter_wiki``, bold/italic quotes dropped, ``== H ==`` made plain lines)."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    wiki = _gensim_data() / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    pages = []
    with bz2.open(wiki) as f:
        for _title, text, _pageid in extract_pages(f):
            text = _MARKUP.sub("", filter_wiki(text))
            paras = []
            for para in re.split(r"\n\s*\n", text):
                lines = [_HEADING.sub(r"\1", ln.strip()) for ln in para.split("\n")]
                lines = [ln for ln in lines if ln and not ln.startswith(("|", "{", "!"))]
                if lines and not lines[0].upper().startswith("#REDIRECT"):
                    paras.append("\n".join(lines))
            if len(paras) >= 3:
                pages.append(paras)
    return pages


def news_stories() -> list[str]:
    """The Lee news corpus (one story per line)."""
    out = []
    for name in ("lee_background.cor", "lee.cor"):
        out += (_gensim_data() / name).read_text(encoding="latin-1").split("\n")
    return [" ".join(s.split()) for s in out if len(s.split()) >= 20]


def other_texts() -> tuple[list[str], list[str]]:
    """(prose, markdown) as the parity test reads them: licence texts and scikit-learn's
    dataset descriptions; package READMEs (their PyPI descriptions)."""
    licences = ("LICENSE_GPL2.0.txt", "LICENSE_LGPL_2.1.txt", "LICENSE_MPL_1.1.txt")
    prose = [_read("tld", f"licenses/{name}") for name in licences]
    descr = [f for f in distribution("scikit-learn").files or [] if f.suffix == ".rst"]
    prose += sorted(f.read_text("utf-8") for f in descr if "descr" in f.parts)
    names = ("pydantic", "fastapi", "rich", "typer", "datasketch", "ftfy", "datatrove", "ray")
    return [t for t in prose if t], [t for t in (_read(n, "METADATA") for n in names) if t]


MENU = ["Home", "News", "Sport", "Business", "About us", "Contact", "Blog", "Shop now"]
MENU += ["Login", "Sign up", "FAQ", "Careers"]
MENU += ["Subscribe", "Search", "Menu", "Weather", "Opinion"]
BOILERPLATE = [
    "Share this article on Facebook, Twitter or by email.",
    "This website uses cookies to improve your experience.",
    "By continuing to browse the site you agree to our use of cookies.",
    "Read our Privacy Policy and Terms of Use.",
    "Please enable JavaScript in your browser to view the comments.",
    "Copyright 2024 Example Media Ltd. All rights reserved.",
    "Sign up for our newsletter and never miss a story.",
    "Related articles",
    "Advertisement",
    "Click here to read more",
    "Posted by admin",
    "Tags: news, world, local",
    "Leave a comment",
]
CODE = ["function add(a, b) { return a + b; }", "if (x > 0) {", "  console.log('done');",
        "}", "var config = { debug: true };", "$(document).ready(function() {"]  # fmt: skip
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."


class CorpusBuilder:
    """Web-like pages from real text; deterministic from the seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pages = wiki_pages()
        self.news = news_stories()
        prose, readmes = other_texts()
        self.prose_paras = [p for t in prose for p in re.split(r"\n\s*\n", t) if p.strip()]
        self.readme_paras = [p for t in readmes for p in re.split(r"\n\s*\n", t) if p.strip()]
        texts = [p for page in self.pages for p in page] + self.news + self.prose_paras
        self.sentences = [
            s
            for t in texts
            for s in re.split(r"(?<=[.!?])\s+", " ".join(t.split()))
            if 5 <= len(s.split()) <= 40 and s[-1] in ".!?"
        ]

    def sentence(self, words: int = 0) -> str:
        return " ".join(self.rng.choice(self.sentences).split()[: words or None])

    def menu(self) -> str:
        items = self.rng.sample(MENU, self.rng.randint(3, 8))
        return (" | " if self.rng.random() < 0.5 else "\n").join(items)

    def boilerplate(self, k: int) -> str:
        return "\n".join(self.rng.sample(BOILERPLATE, k))

    def article(self) -> str:
        rng = self.rng
        if rng.random() < 0.7:
            page = rng.choice(self.pages)
            start = rng.randrange(len(page))
            body = page[start : start + rng.randint(1, 8)]
        else:
            body = rng.sample(self.news, rng.randint(1, 3))
        parts = []
        if rng.random() < 0.4:
            parts.append(self.menu())
        parts.append(self.sentence(rng.randint(3, 9)).rstrip(".!?"))  # a title
        parts += body
        if rng.random() < 0.4:
            parts.append(self.boilerplate(rng.randint(1, 4)))
        return "\n\n".join(parts)

    def listy(self) -> str:
        rng = self.rng
        mark = rng.choice(["- ", "\u2022 ", "* ", "-"])
        lines = [mark + self.sentence(rng.randint(2, 12)) for _ in range(rng.randint(5, 25))]
        if rng.random() < 0.5:
            lines.insert(0, self.sentence())
        return "\n".join(lines)

    def repeated(self) -> str:
        rng = self.rng
        paras = [self.sentence() for _ in range(rng.randint(3, 8))]
        if rng.random() < 0.5:
            paras += rng.choices(paras, k=rng.randint(2, 6))  # repeated paragraphs
            rng.shuffle(paras)
            return "\n\n".join(paras)
        line = self.sentence()
        return "\n".join(paras + [line] * rng.randint(3, 10))  # one line again and again

    def spam(self) -> str:
        rng = self.rng
        keyword = " ".join(self.sentence(rng.randint(2, 4)).split())
        body = [f"Best {keyword} deals. Buy {keyword} online. Cheap {keyword} here."
                for _ in range(rng.randint(3, 12))]  # fmt: skip
        tags = " ".join("#" + w.strip(".,;:()") for w in self.sentence(30).split())
        return "\n".join(body + ([tags] if rng.random() < 0.7 else []))

    def teaser(self) -> str:
        rng = self.rng
        ends = ["...", "\u2026", " ...", " [...]"]
        return "\n".join(
            self.sentence(rng.randint(6, 20)) + rng.choice(ends) for _ in range(rng.randint(3, 10))
        )

    def table(self) -> str:
        rng = self.rng
        rows = [self.sentence(rng.randint(4, 10))]
        for _ in range(rng.randint(4, 20)):
            rows.append(" | ".join(f"{rng.uniform(0, 1000):.{rng.randint(0, 2)}f}"
                                   for _ in range(rng.randint(2, 6))))  # fmt: skip
        return "\n".join(rows)

    def code(self) -> str:
        rng = self.rng
        return "\n".join([self.article(), *rng.sample(CODE, rng.randint(2, 5))])

    def lorem(self) -> str:
        return self.article() + "\n\n" + LOREM

    def short(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(1, 3)))

    def readme(self) -> str:
        start = self.rng.randrange(len(self.readme_paras))
        return "\n\n".join(self.readme_paras[start : start + self.rng.randint(2, 12)])

    def prose(self) -> str:
        start = self.rng.randrange(len(self.prose_paras))
        return "\n\n".join(self.prose_paras[start : start + self.rng.randint(1, 8)])

    def comments(self) -> str:
        rng = self.rng
        lines = []
        for _ in range(rng.randint(3, 12)):
            lines.append(f"{rng.choice(['Anna', 'Bob', 'kat99', 'J. Smith'])} says:")
            lines.append(" ".join(self.sentence() for _ in range(rng.randint(1, 3))))
            lines.append(rng.choice(["Reply", "Like", "Report"]))
        return "\n".join(lines)

    KINDS: tuple[tuple[str, float], ...] = (
        ("article", 0.50), ("prose", 0.06), ("readme", 0.06), ("comments", 0.05),
        ("listy", 0.06), ("repeated", 0.05), ("short", 0.05), ("spam", 0.04),
        ("teaser", 0.03), ("table", 0.03), ("code", 0.04), ("lorem", 0.03),
    )  # fmt: skip

    def build(self, docs: int) -> tuple[list[str], list[str]]:
        """``docs`` distinct documents and the kind each was made as."""
        names = [k for k, _ in self.KINDS]
        weights = [w for _, w in self.KINDS]
        texts: list[str] = []
        kinds: list[str] = []
        seen: set[str] = set()
        while len(texts) < docs:
            kind = self.rng.choices(names, weights)[0]
            text = getattr(self, kind)()
            if text.strip() and text not in seen:
                seen.add(text)
                texts.append(text)
                kinds.append(kind)
        return texts, kinds


# -- the two sides ----------------------------------------------------------------------------

_DATATROVE_REASONS = {
    "gopher_short_doc": "gopher_min_words", "gopher_long_doc": "gopher_max_words",
    "gopher_below_avg_threshold": "gopher_min_mean_word_length",
    "gopher_above_avg_threshold": "gopher_max_mean_word_length",
    "gopher_too_many_hashes": "gopher_max_symbol_word_ratio",
    "gopher_too_many_ellipsis": "gopher_max_symbol_word_ratio",
    "gopher_too_many_bullets": "gopher_max_bullet_lines_ratio",
    "gopher_too_many_end_ellipsis": "gopher_max_ellipsis_lines_ratio",
    "gopher_below_alpha_threshold": "gopher_min_alpha_words_ratio",
    "gopher_enough_stop_words": "gopher_min_stop_words",
    "lorem_ipsum": "c4_lorem_ipsum", "curly_bracket": "c4_curly_bracket",
    "too_few_sentences": "c4_min_sentences", "line_punct_ratio": "fineweb_min_line_punct_ratio",
    "short_line_ratio": "fineweb_max_short_line_ratio", "list_ratio": "fineweb_max_list_ratio",
    "char_dup_ratio": "fineweb_max_dup_line_char_ratio",
}  # fmt: skip


def datatrove_rule(reason: str | None) -> str:
    """datatrove's exclusion reason as the name of the Curata parameter of that rule."""
    if reason is None:
        return "(no reason)"
    if m := re.fullmatch(r"top_(\d+)_gram", reason):
        return f"repetition_max_top_ngram_char_frac[{m[1]}]"
    if m := re.fullmatch(r"duplicated_(\d+)_n_grams", reason):
        return f"repetition_max_dup_ngram_char_frac[{m[1]}]"
    return _DATATROVE_REASONS.get(reason, f"repetition_max_{reason}")


Verdict = str | None
"""None: kept; else the rule (Curata's parameter name) of the first failure."""


def datatrove_filters() -> list[Any]:
    from datatrove.pipeline import filters

    return [
        filters.GopherQualityFilter(),
        filters.GopherRepetitionFilter(),
        filters.C4QualityFilter(),
        filters.FineWebQualityFilter(),
    ]


def fresh_datatrove_caches() -> None:
    """An empty spaCy tokenizer cache (a new ``spacy.blank('en')``, loaded now, untimed) and
    an empty ``split_into_parts`` LRU."""
    from datatrove.utils import text as dt_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    tok = load_word_tokenizer("en")
    tok._tokenizer = None
    _ = tok.tokenizer
    dt_text.split_into_parts.cache_clear()


def run_datatrove(chain: list[Any], docs: list[Any]) -> list[Verdict]:
    """The filters chained on each Document, stopping at the first that drops."""
    out: list[Verdict] = []
    append = out.append
    for doc in docs:
        verdict = None
        for f in chain:
            res = f.filter(doc)
            if res is not True:
                verdict = datatrove_rule(res[1] if isinstance(res, tuple) else None)
                break
        append(verdict)
    return out


def run_datatrove_same_text(chain: list[Any], texts: list[str]) -> list[Verdict]:
    """Each filter on a fresh Document of the original text (C4's rewrite not passed on):
    Curata's semantics, for the agreement table only."""
    from datatrove.data import Document

    out: list[Verdict] = []
    for i, text in enumerate(texts):
        verdict = None
        for f in chain:
            res = f.filter(Document(text=text, id=str(i)))
            if res is not True:
                verdict = datatrove_rule(res[1] if isinstance(res, tuple) else None)
                break
        out.append(verdict)
    return out


def run_curata(step: Any, batches: list[list[Any]]) -> list[Verdict]:
    out: list[Verdict] = []
    for batch in batches:
        for d in step.apply(batch):
            out.append(None if d.action == "keep" else d.details.get("rule", "empty"))
    return out


# -- measuring --------------------------------------------------------------------------------


def _summary(seconds: list[float], docs: int) -> dict[str, Any]:
    best, median = min(seconds), statistics.median(seconds)
    return {"min_s": best, "median_s": median, "runs_s": seconds,
            "docs_per_s": docs / best, "docs_per_s_median": docs / median}  # fmt: skip


def agreement(ours: list[Verdict], theirs: list[Verdict], kinds: list[str]) -> dict[str, Any]:
    n = len(ours)
    same_decision = sum((a is None) == (b is None) for a, b in zip(ours, theirs, strict=True))
    same_rule = sum(a == b for a, b in zip(ours, theirs, strict=True))
    diffs = Counter(
        (k, a or "keep", b or "keep")
        for a, b, k in zip(ours, theirs, kinds, strict=True)
        if (a is None) != (b is None)
    )
    rule_diffs = Counter(
        (a or "keep", b or "keep") for a, b in zip(ours, theirs, strict=True) if a != b
    )
    return {
        "docs": n,
        "same_decision": same_decision,
        "same_decision_share": same_decision / n,
        "same_first_rule": same_rule,
        "same_first_rule_share": same_rule / n,
        "decision_differences": [
            {"kind": k, "curata": a, "datatrove": b, "count": c}
            for (k, a, b), c in diffs.most_common(12)
        ],
        "rule_differences": [
            {"curata": a, "datatrove": b, "count": c} for (a, b), c in rule_diffs.most_common(12)
        ],
    }


def measure(
    texts: list[str], kinds: list[str], batch: int, repeat: int, warm: bool
) -> dict[str, Any]:
    from datatrove.data import Document

    from curata.core.records import Record
    from curata.curation.steps.quality import Quality, QualityParams

    records = [Record.from_text(t) for t in texts]
    items = [(r.id, r) for r in records]
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    n = len(texts)

    def documents(sub: list[str]) -> list[Any]:
        return [Document(text=t, id=str(i)) for i, t in enumerate(sub)]

    # warm-up: imports, spaCy's blank English, regex compilation, first-call paths
    run_datatrove(datatrove_filters(), documents(texts[:1000]))
    run_curata(Quality(QualityParams()), [items[:1000]])

    modes = ["cold"] + (["warm"] if warm else [])
    times: dict[str, dict[str, list[float]]] = {m: {"curata": [], "datatrove": []} for m in modes}
    verdicts: dict[str, list[Verdict]] = {}
    warm_step = Quality(QualityParams())
    warm_chain = datatrove_filters()
    for mode in modes:
        for k in range(repeat):
            for side in ("curata", "datatrove") if k % 2 == 0 else ("datatrove", "curata"):
                if side == "curata":
                    step = Quality(QualityParams()) if mode == "cold" else warm_step
                    gc.collect()
                    t = time.perf_counter()
                    verdicts["curata"] = run_curata(step, batches)
                    times[mode]["curata"].append(time.perf_counter() - t)
                else:
                    docs = documents(texts)  # fresh: C4 rewrites doc.text
                    if mode == "cold":
                        fresh_datatrove_caches()
                        chain = datatrove_filters()
                    else:
                        chain = warm_chain
                    gc.collect()
                    t = time.perf_counter()
                    verdicts["datatrove"] = run_datatrove(chain, docs)
                    times[mode]["datatrove"].append(time.perf_counter() - t)
                print(f"  {mode} run {k + 1}/{repeat} {side:9} {times[mode][side][-1]:7.2f} s",
                      flush=True)  # fmt: skip
    verdicts["datatrove_same_text"] = run_datatrove_same_text(datatrove_filters(), texts)

    # per rule set on its own (no chaining), cold, one run each: where the time goes
    per_rule: dict[str, dict[str, float]] = {}
    for j, name in enumerate(RULE_SETS):
        step = Quality(QualityParams(rules=(name,)))
        gc.collect()
        t = time.perf_counter()
        run_curata(step, batches)
        ours = time.perf_counter() - t
        fresh_datatrove_caches()
        f = datatrove_filters()[j]
        docs = documents(texts)
        gc.collect()
        t = time.perf_counter()
        for doc in docs:
            f.filter(doc)
        theirs = time.perf_counter() - t
        per_rule[name] = {"curata_s": ours, "datatrove_s": theirs, "ratio": theirs / ours}

    out: dict[str, Any] = {
        "docs": n,
        "batch": batch,
        "repeat": repeat,
        "words_mean": statistics.fmean(len(t.split()) for t in texts),
        "chars_mean": statistics.fmean(len(t) for t in texts),
        "kinds": dict(Counter(kinds).most_common()),
        "kept": {
            "curata": sum(v is None for v in verdicts["curata"]),
            "datatrove": sum(v is None for v in verdicts["datatrove"]),
        },
        "first_rule_curata": dict(Counter(v or "keep" for v in verdicts["curata"]).most_common()),
        "agreement_pipeline": agreement(verdicts["curata"], verdicts["datatrove"], kinds),
        "agreement_same_text": agreement(
            verdicts["curata"], verdicts["datatrove_same_text"], kinds
        ),
        "per_rule_set_cold_one_run": per_rule,
    }
    for mode in modes:
        cur, dt = _summary(times[mode]["curata"], n), _summary(times[mode]["datatrove"], n)
        out[mode] = {"curata": cur, "datatrove": dt,
                     "ratio_min": dt["min_s"] / cur["min_s"],
                     "ratio_median": dt["median_s"] / cur["median_s"]}  # fmt: skip
    return out


def _print(r: dict[str, Any]) -> None:
    print(f"\n{r['docs']:,} documents, {r['words_mean']:.0f} words / {r['chars_mean']:.0f} "
          f"characters on average; kept: Curata {r['kept']['curata']:,}, datatrove "
          f"{r['kept']['datatrove']:,}")  # fmt: skip
    print("kinds: " + ", ".join(f"{k} {v}" for k, v in r["kinds"].items()))
    for mode in ("cold", "warm"):
        if mode not in r:
            continue
        m = r[mode]
        print(f"\n{mode} word caches (best of {r['repeat']}; median in brackets)")
        for side in ("curata", "datatrove"):
            s = m[side]
            runs = ", ".join(f"{x:.2f}" for x in s["runs_s"])
            print(f"  {side:10} {s['docs_per_s']:9,.0f} docs/s ({s['docs_per_s_median']:,.0f})"
                  f"   {s['min_s']:.2f} s  [{runs}]")  # fmt: skip
        print(f"  Curata / datatrove speed: {m['ratio_min']:.2f}x (median "
              f"{m['ratio_median']:.2f}x); goal >= 1x: "
              f"{'met' if m['ratio_min'] >= 1 else 'NOT met'}")  # fmt: skip
    print("\nper rule set alone (cold, one run):")
    for name, v in r["per_rule_set_cold_one_run"].items():
        print(f"  {name:18} Curata {v['curata_s']:6.2f} s  datatrove {v['datatrove_s']:6.2f} s"
              f"  {v['ratio']:.2f}x")  # fmt: skip
    labels = {
        "agreement_pipeline": "datatrove as a pipeline (C4 rewrites the text)",
        "agreement_same_text": "datatrove, every filter on the original text",
    }
    for key, label in labels.items():
        a = r[key]
        print(f"\nagreement with {label}: same keep/drop {a['same_decision']:,}/{a['docs']:,} "
              f"({a['same_decision_share']:.2%}), same first rule {a['same_first_rule']:,} "
              f"({a['same_first_rule_share']:.2%})")  # fmt: skip
        for d in a["decision_differences"]:
            print(
                f"  {d['count']:5}  {d['kind']:9} Curata {d['curata']}  datatrove {d['datatrove']}"
            )
    print("\nCurata's first failing rule: " + ", ".join(
        f"{k} {v}" for k, v in r["first_rule_curata"].items()))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--docs", "--records", type=int, default=20_000, dest="docs",
                   help="documents in the corpus (default 20,000)")  # fmt: skip
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    p.add_argument("--batch", type=int, default=2_000, help="Curata batch size (default 2,000)")
    p.add_argument("--warm", action="store_true", help="also time with warm word caches")
    args = p.parse_args()
    info = bl.header("Quality filters: Curata vs datatrove (issue #5)")
    print(f"datatrove {bl._version_of('datatrove')}, spacy {bl._version_of('spacy')}")
    import os

    print(f"load average at start: {os.getloadavg()}")
    t = time.perf_counter()
    texts, kinds = CorpusBuilder(args.seed).build(args.docs)
    print(f"corpus: {len(texts):,} documents in {time.perf_counter() - t:.1f} s", flush=True)
    result = measure(texts, kinds, args.batch, args.repeat, args.warm)
    result["load_average_end"] = os.getloadavg()
    _print(result)
    print(f"load average at end: {result['load_average_end']}")
    cmd = f".venv/bin/python bench/quality_filters.py --docs {args.docs} --repeat {args.repeat}"
    bl.save_result(NAME, {"machine": info, "command": cmd + (" --warm" if args.warm else ""),
                          "datatrove": bl._version_of("datatrove"), **result})  # fmt: skip


if __name__ == "__main__":
    main()
