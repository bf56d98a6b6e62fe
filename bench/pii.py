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
are ``Pii.find`` in two configurations:

* ``defaults``: the step's default parameters (every entity but URL, ``min_score`` 0.4, phone
  validity checked in Presidio's eight regions); no metadata is read;
* ``region_field``: the same, with ``region_field: country``, each record's metadata
  ``country`` being the country of the fake person its sentence was drawn from (the generator
  draws one per sentence; the benchmark notes which, without changing the random stream). The
  first phone number of a template is that person's, in their country's format; a template's
  second and third come from the generator's en_US provider, which that country says nothing
  about. The breakdown reports phone recall for the two sources apart.

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

Real text: the default step also runs over the English Wikipedia excerpt and the Lee news
corpus in gensim's test data (3.4 M characters, unlabelled, with next to no phone numbers in
them), and every phone number it finds there is listed: each is most likely a false positive.

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
    country: str  # the fake person's country (ISO 3166 alpha-2) the sentence was drawn from
    person_phone: str  # that person's phone number, as the CSV writes it


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
        people = _record_people(faker)
        samples = faker.generate_new_fake_sentences(num_samples=n)
    assert len(people) == len(samples)
    out = []
    for s, person in zip(samples, people, strict=True):
        gold = tuple(
            sorted(
                (Span(sp.start_position, sp.end_position, sp.entity_type) for sp in s.spans),
                key=lambda sp: (sp.start, sp.end),
            )
        )
        for sp in gold:  # the labels must point at the text they name
            assert 0 <= sp.start < sp.end <= len(s.full_text), (s.full_text, sp)
        out.append(
            Sentence(
                s.full_text,
                gold,
                int(s.template_id or 0),
                str(person["country_code"]),
                str(person["phone_number"]),
            )
        )
    return out


def _record_people(faker: Any) -> list[dict[str, Any]]:
    """Make the generator note the fake person each sentence is drawn from. It draws one per
    template it parses, and some providers parse templates of their own (an address) inside a
    sentence's, so only the draws of the outermost parse are noted. Noting takes nothing from
    the random stream: the sentences are the same as without it."""
    generator = faker._sentence_faker.factories[0]
    draw, match_to_span = generator._get_random_record, generator._match_to_span
    people: list[dict[str, Any]] = []
    depth = 0

    def noted_draw() -> dict[str, Any]:
        person: dict[str, Any] = draw()
        if depth == 1:
            people.append(dict(person))
        return person

    def noted_match(text: str, **kwargs: Any) -> Any:
        nonlocal depth
        depth += 1
        try:
            return match_to_span(text, **kwargs)
        finally:
            depth -= 1

    generator._get_random_record = noted_draw
    generator._match_to_span = noted_match
    return people


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
    phones: list[tuple[int, Span, bool]] = []  # (sentence, gold phone, found?)
    for i, (s, pred) in enumerate(zip(sentences, predictions, strict=True)):
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
            if g.entity == "PHONE_NUMBER":
                phones.append((i, g, g in hit_gold))
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
        "phones": phones,
    }


def phone_breakdown(sentences: Sequence[Sentence], res: dict[str, Any]) -> dict[str, Any]:
    """Phone recall by where the number came from (the fake person's own, written in their
    country's format, or the generator's en_US provider, which mixes US, UK, Indian, Swiss and
    Swedish formats), and why the rest were missed."""
    from curata.curation.steps import pii_phone

    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    countries: Counter[str] = Counter()  # of the misses a record's region would find
    examples: dict[str, list[str]] = defaultdict(list)
    for i, g, hit in res["phones"]:
        s = sentences[i]
        value = s.text[g.start : g.end]
        source = "person's own" if value == s.person_phone else "generator's provider"
        total[source] += 1
        found[source] += hit
        if hit:
            continue
        context = pii_phone.phone_context(s.text, g.start, g.end)
        if sum(c.isdigit() for c in value) < pii_phone.MIN_GROUPED_DIGITS:
            why = "under 6 digits"
        elif context is None:
            why = "an identifier's noun before it"
        elif pii_phone._street_number(s.text, g.start, g.end) or pii_phone._not_a_phone(
            s.text, g.start, g.end
        ):
            why = "read as a street number, a date or an amount"
        elif not context and _valid_in(value, [s.country]) and source == "person's own":
            why = "no phone word next to it, valid in the person's country"
            countries[s.country] += 1
        elif not context:
            why = "no phone word next to it, valid in no region checked"
        else:
            why = "other"
        reasons[why] += 1
        examples[why].append(value)
    return {
        "recall_by_source": {k: (found[k] / total[k], total[k]) for k in sorted(total)},
        "miss_reasons": dict(reasons.most_common()),
        "miss_examples": {k: v[:6] for k, v in examples.items()},
        "valid_in_persons_country": dict(countries.most_common()),
    }


def _valid_in(value: str, regions: Sequence[str]) -> list[str]:
    """The regions in which phonenumbers finds a valid number in ``value``."""
    import phonenumbers

    return [
        r
        for r in regions
        if any(True for _ in phonenumbers.PhoneNumberMatcher(value, r, leniency=1))
    ]


def real_text() -> dict[str, list[str]]:
    """Unlabelled real text with (almost) no phone numbers in it: the paragraphs of the English
    Wikipedia excerpt and the Lee news corpus in the gensim wheel's test data (what
    bench/near_dedup.py reads), or nothing when gensim is not installed."""
    try:
        import bz2

        import gensim
        from gensim.corpora.wikicorpus import extract_pages, filter_wiki
    except ImportError:
        return {}
    from pathlib import Path

    data = Path(gensim.__file__).parent / "test" / "test_data"
    wiki: list[str] = []
    with bz2.open(
        data / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    ) as f:
        for _title, text, _pageid in extract_pages(f):
            wiki += [p for p in filter_wiki(text).split("\n") if p.strip()]
    lee = [
        line
        for name in ("lee_background.cor", "lee.cor")
        for line in (data / name).read_text(errors="replace").splitlines()
        if line.strip()
    ]
    return {"Wikipedia excerpt": wiki, "Lee news corpus": lee}


# -- run --------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


CONFIGS = {  # name: (step parameters, what the records carry)
    "defaults": ({}, "no metadata is read"),
    "region_field": (
        {"region_field": "country"},
        "each record's metadata 'country' is its fake person's country",
    ),
}


def measure(
    step: Any, sentences: Sequence[Sentence], items: Sequence[Any], repeat: int
) -> tuple[list[list[Span]], dict[str, Any]]:
    """The step's predictions on every sentence (``Pii.find`` with the regions ``apply`` would
    check), and the speed of ``Pii.apply`` over 1,000-record batches."""
    with benchlib.timer() as t_find:
        predictions = [
            [Span(f.start, f.end, f.entity) for f in step.find(s.text, regions=step.regions_of(r))]
            for s, (_, r) in zip(sentences, items, strict=True)
        ]
    seconds = []
    for _ in range(repeat):
        with benchlib.timer() as t_apply:
            decisions = [
                d for i in range(0, len(items), BATCH) for d in step.apply(items[i : i + BATCH])
            ]
        seconds.append(t_apply["s"])
    # apply() and find() must agree on what was found
    for d, pred in zip(decisions, predictions, strict=True):
        assert d.details.get("found", {}) == dict(sorted(Counter(x.entity for x in pred).items()))
    n = len(sentences)
    return predictions, {
        "sentences_per_s_apply_median": n / statistics.median(seconds),
        "sentences_per_s_apply_best": n / min(seconds),
        "sentences_per_s_find": n / t_find["s"],
        "apply_seconds": seconds,
    }


def print_table(res: dict[str, Any]) -> dict[str, float | None]:
    """The per-type table; returns the micro-averaged scores over the six targets."""
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
    print(f"false positives by (predicted on gold type): {res['confusions']}")
    return micro


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
    t0 = time.perf_counter()
    _recognizers()
    Pii(PiiParams()).find("warm-up: call 212-555-0123 or jane@example.com")
    print(f"setup:   recognizers built in {time.perf_counter() - t0:.1f} s (not timed below)")
    records = [Record.from_text(s.text, metadata={"country": s.country}) for s in sentences]
    items = [(r.id, r) for r in records]
    print(f"regions: phone_regions {', '.join(PiiParams().phone_regions)} (the default)")

    rng = random.Random(0)
    section: dict[str, Any] = {
        "machine": info,
        "sentences": len(sentences),
        "seed": args.seed,
        "mean_chars": chars / len(sentences),
    }
    for name, (params, carries) in CONFIGS.items():
        step = Pii(PiiParams.model_validate(params))
        predictions, speed = measure(step, sentences, items, args.repeat)
        res = score(sentences, predictions)
        print(f"\n== {name} {params or ''}: {carries}")
        print(
            f"speed:   Pii.apply {speed['sentences_per_s_apply_median']:,.0f} sentences/s "
            f"(median of {args.repeat}; best {speed['sentences_per_s_apply_best']:,.0f}); "
            f"the first pass, Pii.find, {speed['sentences_per_s_find']:,.0f} sentences/s"
        )
        micro = print_table(res)
        phones = phone_breakdown(sentences, res)
        by_source = ", ".join(
            f"{k} {r:.3f} of {n}" for k, (r, n) in phones["recall_by_source"].items()
        )
        print(f"PHONE_NUMBER recall by source: {by_source}")
        print(f"PHONE_NUMBER misses by reason: {phones['miss_reasons']}")
        if phones["valid_in_persons_country"]:
            print(f"  the person's country of those: {phones['valid_in_persons_country']}")
        for why, values in phones["miss_examples"].items():
            print(f"  {why}: {values}")
        for title, key in (("missed", "misses"), ("false positive", "false_positives")):
            for entity, found in sorted(res[key].items()):
                show = rng.sample(found, min(args.examples, len(found)))
                print(f"{title} {entity}: {len(found)}")
                for value, text in show:
                    print(f"  {value!r:32} in {text[:110]!r}")
        for entity, found in sorted(res["loose"].items()):
            show = rng.sample(found, min(args.examples, len(found)))
            print(f"overlap but not exact {entity}: {len(found)}")
            for gold_value, pred_value, _text in show:
                print(f"  gold {gold_value!r:28} predicted {pred_value!r}")
        section[name] = {
            "params": params,
            **speed,
            "per_entity": res["per_entity"],
            "micro": micro,
            "confusions": res["confusions"],
            "phones": phones,
        }
    section["not_targeted_gold"] = res["not_targeted_gold"]
    print(f"\nnot targeted (gold only): {res['not_targeted_gold']}")

    corpora = real_text()
    step = Pii(PiiParams())
    for name, texts in corpora.items():
        found = [(t, f) for t in texts for f in step.find(t)]
        counts = Counter(f.entity for _, f in found)
        size = sum(map(len, texts))
        print(
            f"\nreal text, {name} ({len(texts):,} paragraphs, {size / 1e6:.1f} M characters), "
            f"findings with the defaults: {dict(sorted(counts.items())) or 'none'}"
        )
        for t, f in found:
            if f.entity == "PHONE_NUMBER":
                print(f"  {t[f.start : f.end]!r:24} in {t[max(0, f.start - 40) : f.end + 30]!r}")
        section.setdefault("real_text", {})[name] = {"chars": size, "findings": dict(counts)}
    if not corpora:
        print("\nreal text: skipped (gensim, from the bench extra, is not installed)")
    benchlib.save_result("pii", section)


if __name__ == "__main__":
    main()
