"""PII detection (issue #5): precision and recall per entity type of Curata's ``pii`` step on
labelled sentences generated from ``presidio-evaluator``'s templates.

Data: ``PresidioSentenceFaker`` (presidio-evaluator 0.3.2) with its bundled templates
(``raw_data/templates.txt``), its fake-person records (``FakeNameGenerator.com_3000.csv``:
people from many countries, with their local phone formats) and its Faker providers, locale
``en_US``, seeded (Faker, ``random``, NumPy). Two changes, both for offline determinism and
realism, neither touching the labels: the hospital provider's WikiData download is replaced by
its built-in fallback list, and the templates' literal ``\\n`` (two characters, the file's
notation for a line break in one-line templates) becomes a real newline before generation.

Gold labels are the generator's spans, with its entity names. Curata's targets are EMAIL_ADDRESS,
PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, IP_ADDRESS and US_SSN (the same names); every other gold
type (PERSON, STREET_ADDRESS, DOMAIN_NAME, ...) is not targeted and only counted. Predictions
are ``Pii.find`` with the step's default parameters (every entity but URL, ``min_score`` 0.4).

Scoring, per entity type, spans matched one to one (gold spans in text order, each taking the
unmatched prediction of the same type that overlaps it most):

* overlap match: the prediction covers at least 50% of the gold span's characters;
* exact match: same start and end.

Precision = matched predictions / predictions of that type; recall = matched gold spans / gold
spans of that type; F1 their harmonic mean. A prediction of a targeted type that matches no gold
span is a false positive even where it overlaps a gold span of another type (that overlap is
reported as a confusion). Predictions of Curata's secret types (API_KEY, ...) have no gold
type here and are listed as false positives.

Speed: sentences/s of ``Pii.apply`` over 1,000-record batches of ``Record.from_text`` (what an
executor calls), one process, recognizers built beforehand (Presidio's import is not timed).

    .venv/bin/python bench/pii.py [--sentences 20000] [--seed 42] [--examples 10]
"""

from __future__ import annotations

import contextlib
import io
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import benchlib

TARGETS = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN")
GOAL_RECALL = 0.95
MIN_OVERLAP = 0.5
BATCH = 1_000


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    entity: str


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    gold: tuple[Span, ...]
    template: int


# -- data -------------------------------------------------------------------------------------


def generate(n: int, seed: int) -> list[Sentence]:
    """``n`` labelled sentences from presidio-evaluator's templates, reproducible from ``seed``."""
    try:
        from presidio_evaluator.data_generator import (
            PresidioSentenceFaker,
            presidio_additional_entity_providers,
            presidio_templates_file_path,
        )
        from presidio_evaluator.data_generator.faker_extensions import HospitalProvider
    except ImportError as e:
        sys.exit(
            f"this benchmark needs presidio-evaluator ({e}): "
            "pip install --no-deps presidio-evaluator==0.3.2 Faker==40.63.0"
        )

    class OfflineHospitalProvider(HospitalProvider):  # type: ignore[misc]
        """The hospital provider without its WikiData query (its fallback list instead)."""

        def load_wiki_hospitals(self) -> list[str]:
            return list(self.default_list)

    providers = [
        OfflineHospitalProvider if p is HospitalProvider else p
        for p in presidio_additional_entity_providers
    ]
    templates = [
        line.strip().replace("\\n", "\n")
        for line in presidio_templates_file_path.read_text().splitlines()
        if line.strip()
    ]
    quiet = io.StringIO()  # it prints which defaults it uses, and a progress bar
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        faker = PresidioSentenceFaker(
            locale="en_US",
            lower_case_ratio=0.05,
            sentence_templates=templates,
            entity_providers=providers,
            random_seed=seed,
        )
        samples = faker.generate_new_fake_sentences(num_samples=n)
    out = []
    for s in samples:
        gold = tuple(
            sorted(
                (Span(sp.start_position, sp.end_position, sp.entity_type) for sp in s.spans),
                key=lambda sp: (sp.start, sp.end),
            )
        )
        for sp in gold:  # the labels must point at the text they name
            assert 0 <= sp.start < sp.end <= len(s.full_text), (s.full_text, sp)
        out.append(Sentence(s.full_text, gold, int(s.template_id or 0)))
    return out


# -- scoring ----------------------------------------------------------------------------------


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def match(gold: Sequence[Span], pred: Sequence[Span], *, exact: bool) -> list[tuple[Span, Span]]:
    """One-to-one (gold, prediction) pairs of the same type: exact bounds, or the prediction
    covering at least ``MIN_OVERLAP`` of the gold span's characters (largest overlap first)."""
    pairs: list[tuple[Span, Span]] = []
    used: set[int] = set()
    for g in gold:
        best, best_overlap = -1, 0
        for i, p in enumerate(pred):
            if i in used or p.entity != g.entity:
                continue
            if exact:
                if (p.start, p.end) == (g.start, g.end):
                    best, best_overlap = i, g.end - g.start
                    break
                continue
            ov = _overlap(g, p)
            if ov >= MIN_OVERLAP * (g.end - g.start) and ov > best_overlap:
                best, best_overlap = i, ov
        if best >= 0:
            used.add(best)
            pairs.append((g, pred[best]))
    return pairs


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float | None]:
    p = tp / n_pred if n_pred else None
    r = tp / n_gold if n_gold else None
    f = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
    return {"precision": p, "recall": r, "f1": f if p is not None and r is not None else None}


def score(sentences: Sequence[Sentence], predictions: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Per-type counts and precision/recall/F1 (overlap and exact), plus examples of errors."""
    gold_n: Counter[str] = Counter()
    pred_n: Counter[str] = Counter()
    tp: dict[str, Counter[str]] = {"overlap": Counter(), "exact": Counter()}
    misses: dict[str, list[tuple[str, str]]] = defaultdict(list)
    false_pos: dict[str, list[tuple[str, str]]] = defaultdict(list)
    loose: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # overlap but not exact
    confusions: Counter[tuple[str, str]] = Counter()  # (predicted, gold type it sits on)
    for s, pred in zip(sentences, predictions, strict=True):
        gold = [g for g in s.gold if g.entity in TARGETS]
        gold_n.update(g.entity for g in s.gold)
        pred_n.update(p.entity for p in pred)
        pairs = match(gold, pred, exact=False)
        exact = match(gold, pred, exact=True)
        tp["overlap"].update(g.entity for g, _ in pairs)
        tp["exact"].update(g.entity for g, _ in exact)
        hit_gold = {g for g, _ in pairs}
        hit_pred = {p for _, p in pairs}
        exact_gold = {g for g, _ in exact}
        for g in gold:
            if g not in hit_gold:
                misses[g.entity].append((s.text[g.start : g.end], s.text))
        for g, p in pairs:
            if g not in exact_gold:
                loose[g.entity].append((s.text[g.start : g.end], s.text[p.start : p.end], s.text))
        for p in pred:
            if p in hit_pred:
                continue
            under = [g.entity for g in s.gold if _overlap(g, p) > 0]
            confusions[(p.entity, under[0] if under else "-")] += 1
            false_pos[p.entity].append((s.text[p.start : p.end], s.text))
    rows: dict[str, Any] = {}
    for entity in (*TARGETS, *sorted(set(pred_n) - set(TARGETS))):
        rows[entity] = {
            "gold": gold_n[entity],
            "predicted": pred_n[entity],
            "tp_overlap": tp["overlap"][entity],
            "tp_exact": tp["exact"][entity],
            "overlap": prf(tp["overlap"][entity], pred_n[entity], gold_n[entity]),
            "exact": prf(tp["exact"][entity], pred_n[entity], gold_n[entity]),
        }
    return {
        "per_entity": rows,
        "not_targeted_gold": {e: n for e, n in sorted(gold_n.items()) if e not in TARGETS},
        "confusions": {f"{a} on {b}": n for (a, b), n in confusions.most_common()},
        "misses": dict(misses),
        "false_positives": dict(false_pos),
        "loose": dict(loose),
    }


def _valid_in(value: str, regions: Sequence[str]) -> list[str]:
    """The regions in which phonenumbers finds a valid number in ``value``."""
    import phonenumbers

    return [
        r
        for r in regions
        if any(True for _ in phonenumbers.PhoneNumberMatcher(value, r, leniency=1))
    ]


def phone_breakdown(
    sentences: Sequence[Sentence], res: dict[str, Any], checked: Sequence[str]
) -> dict[str, Any]:
    """Why phone numbers were missed, and the recall on those Presidio's validation can accept
    (valid, per phonenumbers, in one of the regions the recognizer checks)."""
    import phonenumbers

    everywhere = sorted(phonenumbers.SUPPORTED_REGIONS)
    reasons: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for value, _text in res["misses"].get("PHONE_NUMBER", []):
        digits = sum(c.isdigit() for c in value)
        if _valid_in(value, checked):
            if digits < 7:
                why = "valid in a checked region, under the 7-digit pre-check"
            elif value.isdigit():
                why = "valid in a checked region, bare digits with no context word before"
            else:
                why = "valid in a checked region, other"
        elif _valid_in(value, everywhere):
            why = "valid only in regions the recognizer does not check"
        else:
            why = "not a valid number in any region"
        reasons[why] += 1
        examples[why].append(value)
    in_scope = 0
    for s in sentences:
        for g in s.gold:
            if g.entity == "PHONE_NUMBER" and _valid_in(s.text[g.start : g.end], checked):
                in_scope += 1
    missed_in_scope = sum(n for why, n in reasons.items() if why.startswith("valid in a checked"))
    return {
        "checked_regions": list(checked),
        "miss_reasons": dict(reasons.most_common()),
        "miss_examples": {k: v[:6] for k, v in examples.items()},
        "in_scope_gold": in_scope,
        "in_scope_recall": (in_scope - missed_in_scope) / in_scope if in_scope else None,
    }


# -- run --------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def main() -> None:
    p = benchlib.parser(__doc__.split("\n\n")[0])
    p.set_defaults(seed=42)
    p.add_argument("--sentences", type=int, default=20_000, help="labelled sentences (>= 2,000)")
    p.add_argument("--repeat", type=int, default=3, help="timed passes of Pii.apply")
    p.add_argument("--examples", type=int, default=8, help="errors printed per entity type")
    args = p.parse_args()
    info = benchlib.header("PII detection (issue #5): Curata's pii step on presidio-evaluator data")

    from curata.core.records import Record
    from curata.curation.steps.pii import Pii, PiiParams, _recognizers

    t0 = time.perf_counter()
    sentences = generate(args.sentences, args.seed)
    gen_s = time.perf_counter() - t0
    chars = sum(len(s.text) for s in sentences)
    print(
        f"data:    {len(sentences):,} sentences ({chars / len(sentences):.0f} characters on "
        f"average) from {len({s.template for s in sentences})} templates, seed {args.seed}, "
        f"generated in {gen_s:.1f} s"
    )

    step = Pii(PiiParams())
    t0 = time.perf_counter()
    _recognizers()
    step.find("warm-up: call 212-555-0123 or jane@example.com")
    print(f"setup:   recognizers built in {time.perf_counter() - t0:.1f} s (not timed below)")

    records = [Record.from_text(s.text) for s in sentences]
    items = [(r.id, r) for r in records]
    with benchlib.timer() as t_find:  # the predictions scored below
        predictions = [
            [Span(f.start, f.end, f.entity) for f in step.find(s.text)] for s in sentences
        ]
    seconds = []
    for _ in range(args.repeat):
        with benchlib.timer() as t_apply:
            decisions = [
                d for i in range(0, len(items), BATCH) for d in step.apply(items[i : i + BATCH])
            ]
        seconds.append(t_apply["s"])
    # apply() and find() must agree on what was found
    for d, pred in zip(decisions, predictions, strict=True):
        assert d.details.get("found", {}) == dict(sorted(Counter(x.entity for x in pred).items()))
    speed = len(sentences) / statistics.median(seconds)
    print(
        f"speed:   Pii.apply {speed:,.0f} sentences/s (median of {args.repeat}; best "
        f"{len(sentences) / min(seconds):,.0f}; {speed * chars / len(sentences) / 1e3:,.0f}"
        f" thousand characters/s); the first pass, Pii.find, "
        f"{len(sentences) / t_find['s']:,.0f} sentences/s"
    )

    res = score(sentences, predictions)
    print()
    print(
        f"{'entity':<15}{'gold':>6}{'pred':>6}  {'P':>5}  {'R':>5}  {'F1':>5}  "
        f"| exact {'P':>5}  {'R':>5}  {'F1':>5}  goal R>={GOAL_RECALL}"
    )
    for entity, row in res["per_entity"].items():
        o, e = row["overlap"], row["exact"]
        goal = ""
        if entity in TARGETS:
            goal = "met" if (o["recall"] or 0) >= GOAL_RECALL else "NOT met"
        print(
            f"{entity:<15}{row['gold']:>6}{row['predicted']:>6}  {_fmt(o['precision'])}  "
            f"{_fmt(o['recall'])}  {_fmt(o['f1'])}  | exact {_fmt(e['precision'])}  "
            f"{_fmt(e['recall'])}  {_fmt(e['f1'])}  {goal}"
        )
    tot_gold = sum(res["per_entity"][e]["gold"] for e in TARGETS)
    tot_pred = sum(r["predicted"] for r in res["per_entity"].values())
    tot_tp = sum(res["per_entity"][e]["tp_overlap"] for e in TARGETS)
    micro = prf(tot_tp, tot_pred, tot_gold)
    print(
        f"{'micro (all)':<15}{tot_gold:>6}{tot_pred:>6}  {_fmt(micro['precision'])}  "
        f"{_fmt(micro['recall'])}  {_fmt(micro['f1'])}"
    )
    print(f"not targeted (gold only): {res['not_targeted_gold']}")
    print(f"false positives by (predicted on gold type): {res['confusions']}")

    checked = list(_recognizers()["PHONE_NUMBER"][0].supported_regions)
    phones = phone_breakdown(sentences, res, checked)
    print(
        f"\nPHONE_NUMBER misses by reason (recognizer checks {', '.join(checked)}): "
        f"{phones['miss_reasons']}"
    )
    print(
        f"PHONE_NUMBER recall on the {phones['in_scope_gold']} gold numbers valid in a checked "
        f"region: {_fmt(phones['in_scope_recall'])}"
    )
    for why, values in phones["miss_examples"].items():
        print(f"  {why}: {values}")

    rng = random.Random(0)
    for title, key in (("missed", "misses"), ("false positive", "false_positives")):
        for entity, found in sorted(res[key].items()):
            show = rng.sample(found, min(args.examples, len(found)))
            print(f"\n{title} {entity}: {len(found)}")
            for value, text in show:
                print(f"  {value!r:32} in {text[:110]!r}")
    for entity, found in sorted(res["loose"].items()):
        show = rng.sample(found, min(args.examples, len(found)))
        print(f"\noverlap but not exact {entity}: {len(found)}")
        for gold_value, pred_value, _text in show:
            print(f"  gold {gold_value!r:28} predicted {pred_value!r}")

    benchlib.save_result(
        "pii",
        {
            "machine": info,
            "sentences": len(sentences),
            "seed": args.seed,
            "sentences_per_s_apply_median": speed,
            "apply_seconds": seconds,
            "mean_chars": chars / len(sentences),
            "per_entity": res["per_entity"],
            "micro": micro,
            "not_targeted_gold": res["not_targeted_gold"],
            "confusions": res["confusions"],
            "phone_misses": phones,
        },
    )


if __name__ == "__main__":
    main()
