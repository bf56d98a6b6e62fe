"""The language and quality steps: py3langid offline, every quality rule, parity with datatrove."""

from __future__ import annotations

import pickle
import random
import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

import pydantic
import pytest

from curata.core.records import Record
from curata.curation.steps.base import Decision
from curata.curation.steps.language import Language, LanguageParams
from curata.curation.steps.quality import Failure, Quality, QualityParams
from curata.curation.steps.quality_rules import WordSplitter


def apply(step: Language | Quality, *records: Record) -> list[Decision]:
    return step.apply([(r.id, r) for r in records])


def chat_record(user: str, assistant: str) -> Record:
    return Record.from_messages(
        [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    )


# -- language --------------------------------------------------------------------------------

SENTENCES = {
    "en": ["The cat sat on the mat and looked out of the window.",
           "The weather is nice today, so we will walk to the station."],
    "de": ["Der Hund spielt im Garten mit seinem Ball.",
           "Morgen fahren wir mit dem Zug nach Hamburg und besuchen meine Eltern."],
    "fr": ["Le chat dort sur le canapé depuis ce matin.",
           "Nous irons au marché samedi pour acheter des légumes frais."],
    "es": ["El perro corre por el parque todas las mañanas.",
           "Mañana vamos a visitar a mis abuelos en el pueblo."],
}  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "text"), [(lang, text) for lang, texts in SENTENCES.items() for text in texts]
)
def test_language_identifies_short_real_sentences(lang: str, text: str) -> None:
    step = Language(LanguageParams(allow=("en",)))
    code, confidence = step.identify(text)
    assert code == lang
    assert confidence > 0.75  # well above the default min_confidence (0.5)


def test_language_keeps_allowed_and_names_the_language_it_drops() -> None:
    step = Language(LanguageParams(allow=("en", "fr")))
    en, fr, de = (Record.from_text(SENTENCES[lang][0]) for lang in ("en", "fr", "de"))
    kept_en, kept_fr, dropped = apply(step, en, fr, de)
    assert kept_en.action == kept_fr.action == "keep"
    assert dropped.action == "drop"
    assert re.fullmatch(
        r"language 'de' \((0\.9\d|1\.00)\) not in allowed \[en, fr\]", dropped.reason
    )
    assert dropped.details["language"] == "de"
    assert dropped.score is not None and dropped.score > 0.9


def test_language_drops_low_confidence_even_in_an_allowed_language() -> None:
    unsure = Record.from_text("Yes, I think so.")  # py3langid: en with ~0.44
    [strict] = apply(Language(LanguageParams(allow=("en",))), unsure)
    assert strict.action == "drop"
    assert re.fullmatch(r"language 'en' confidence 0\.4\d < 0\.5", strict.reason)
    [lenient] = apply(Language(LanguageParams(allow=("en",), min_confidence=0.3)), unsure)
    assert lenient.action == "keep"


def test_language_write_field_records_the_language_of_kept_records() -> None:
    step = Language(LanguageParams(allow=("de",), write_field="lang"))
    german = Record.from_text(SENTENCES["de"][1], {"source": "web"})
    english = Record.from_text(SENTENCES["en"][0])
    changed, dropped = apply(step, german, english)
    assert changed.action == "change" and changed.record is not None
    assert re.fullmatch(r"language: de \((0\.9\d|1\.00)\)", changed.reason)
    meta = changed.record.metadata
    assert meta["source"] == "web"
    assert meta["lang"]["language"] == "de" and 0.9 < meta["lang"]["confidence"] <= 1
    assert changed.record.text == german.text and changed.record.id != german.id
    assert dropped.action == "drop" and dropped.record is None
    [again] = apply(step, changed.record)  # already recorded: nothing to change
    assert again.action == "keep"
    [plain] = apply(Language(LanguageParams(allow=("de",))), german)
    assert plain.action == "keep"


def test_language_reads_the_selected_fields_and_drops_records_without_text() -> None:
    chat = chat_record(SENTENCES["de"][0], SENTENCES["en"][1])
    assistant = Language(LanguageParams(allow=("en",), fields=("messages.assistant",)))
    user = Language(LanguageParams(allow=("en",), fields=("messages.user",)))
    assert apply(assistant, chat)[0].action == "keep"
    assert apply(user, chat)[0].reason.startswith("language 'de'")
    [blank] = apply(assistant, Record.from_text("  \n "))
    [no_role] = apply(Language(LanguageParams(allow=("en",), fields=("messages.tool",))), chat)
    assert blank.reason == no_role.reason == "language: no text to identify"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"allow": []}, "at least 1 item"),
        ({}, "Field required"),
        ({"allow": ["english"]}, "unknown language code 'english'"),
        ({"allow": ["en"], "min_confidence": 1.5}, "less than or equal to 1"),
        ({"allow": ["en"], "write_field": "meta.lang"}, "top-level metadata key"),
    ],
)
def test_language_params_are_checked(params: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        LanguageParams(**params)


# -- quality: words as datatrove (spaCy's English tokenizer) splits them ---------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("I don't know; it's fine.", ["I", "do", "n't", "know", ";", "it", "'s", "fine", "."]),
        ("(e.g. the U.S.A.) Mr. Smith", ["(", "e.g.", "the", "U.S.A.", ")", "Mr.", "Smith"]),
        ("state-of-the-art", ["state", "-", "of", "-", "the", "-", "art"]),
        ("see https://example.com/a?b=1.", ["see", "https://example.com/a?b=1", "."]),
        ("$5 or 10% or 3.5km", ["$", "5", "or", "10", "%", "or", "3.5", "km"]),
        ("wait... what:)", ["wait", "...", "what", ":)"]),
        ("end.Start and/or 1-2", ["end", ".", "Start", "and/or", "1", "-", "2"]),
    ],
)
def test_words_split_as_spacy_english_does(text: str, words: list[str]) -> None:
    assert WordSplitter().words(text) == words


@pytest.mark.parametrize(
    ("line", "count"),
    [
        ("One sentence here.", 1),
        ("It rained. Then it stopped! Did it?", 3),
        ("See e.g. the notes. Mr. Smith agreed.", 2),
        ('He said "stop." Then left...', 2),
    ],
)
def test_sentences_counted_as_spacy_sentencizer_does(line: str, count: int) -> None:
    assert WordSplitter().count_sentences(line) == count


# -- quality: each rule, triggered by a crafted text and not by a clean one ------------------

CLEAN_LINES = [
    "The river runs through the middle of the old town and divides it into two quarters.",
    "On the northern bank stand the market hall, the cathedral and most of the narrow streets.",
    "The southern bank was farmland until the railway arrived and brought new factories.",
    "Today both quarters are linked by four bridges, and the oldest dates from 1342.",
    "Visitors often walk along the water in the evening, when the lights of the cafes come on.",
    "The town council has planned a new park that will open to the public next spring.",
    "Local historians have collected letters and photographs that show how life has changed.",
]
CLEAN = "\n".join(CLEAN_LINES)
DISTINCT = " ".join(f"token{i}" for i in range(100))
NGRAM_HEAVY = " ".join(f"we like the very good item{i}" for i in range(30))


def failure(text: str, rule_set: str, **overrides: Any) -> Failure | None:
    return Quality(QualityParams.model_validate({"rules": [rule_set], **overrides})).check(text)


def test_a_clean_text_passes_every_rule_set() -> None:
    step = Quality(QualityParams())
    assert step.check(CLEAN) is None
    assert apply(step, Record.from_text(CLEAN))[0].action == "keep"


RULE_CASES = [
    # (rule set, text, overrides, rule, reason)
    ("gopher_quality", "The river runs through the old town.", {}, "gopher_min_words",
     "gopher: words 7 < 50"),
    ("gopher_quality", "word " * 100_001, {}, "gopher_max_words",
     "gopher: words 100001 > 100000"),
    ("gopher_quality", " ".join(["it is a cat and the dog"] * 10), {},
     "gopher_min_mean_word_length", "gopher: mean word length 2.429 < 3"),
    ("gopher_quality", "internationalization characteristically " * 30, {},
     "gopher_max_mean_word_length", "gopher: mean word length 19 > 10"),
    ("gopher_quality", CLEAN + "\n" + " ".join(f"#tag{i}" for i in range(20)), {},
     "gopher_max_symbol_word_ratio", "gopher: hashes per word 0.129 > 0.1"),
    ("gopher_quality", CLEAN + "\n" + "wait ... " * 20, {}, "gopher_max_symbol_word_ratio",
     "gopher: ellipses per word 0.129 > 0.1"),
    ("gopher_quality", "\n".join("- " + line for line in CLEAN_LINES), {},
     "gopher_max_bullet_lines_ratio", "gopher: share of bullet lines 1 > 0.9"),
    ("gopher_quality", CLEAN.replace(".", "..."), {}, "gopher_max_ellipsis_lines_ratio",
     "gopher: share of lines ending in '...' 1 > 0.3"),
    ("gopher_quality", CLEAN + "\n" + " ".join(str(i) for i in range(40)), {},
     "gopher_min_alpha_words_ratio", "gopher: share of words with a letter 0.671 < 0.8"),
    ("gopher_quality", "Cats sleep often in warm rooms. Dogs run fast in green parks. " * 5, {},
     "gopher_min_stop_words", "gopher: distinct stop words 0 < 2"),
    ("gopher_repetition", "\n\n".join([*CLEAN_LINES[:2], *CLEAN_LINES[:2], CLEAN_LINES[2]]), {},
     "repetition_max_dup_para_frac", "gopher repetition: duplicate paragraph fraction 0.4 > 0.3"),
    ("gopher_repetition", "\n\n".join([*CLEAN_LINES[:2], *CLEAN_LINES[:2], CLEAN_LINES[2]]),
     {"repetition_max_dup_para_frac": None}, "repetition_max_dup_para_char_frac",
     "gopher repetition: duplicate paragraph character fraction 0.3954 > 0.2"),
    ("gopher_repetition", "\n".join([*CLEAN_LINES[:2], *CLEAN_LINES[:2], CLEAN_LINES[2]]), {},
     "repetition_max_dup_line_frac", "gopher repetition: duplicate line fraction 0.4 > 0.3"),
    ("gopher_repetition", "\n".join([*CLEAN_LINES[:2], *CLEAN_LINES[:2], CLEAN_LINES[2]]),
     {"repetition_max_dup_line_frac": None}, "repetition_max_dup_line_char_frac",
     "gopher repetition: duplicate line character fraction 0.3991 > 0.2"),
    *(
        ("gopher_repetition", NGRAM_HEAVY, {"repetition_max_top_ngram_char_frac": {n: frac}},
         f"repetition_max_top_ngram_char_frac[{n}]",
         f"gopher repetition: top {n}-gram character fraction {value} > {frac}")
        for n, frac, value in [(2, 0.2, "0.2445"), (3, 0.18, "0.3842"), (4, 0.16, "0.5588")]
    ),
    *(
        ("gopher_repetition", DISTINCT + " " + " ".join(DISTINCT.split()[:40]),
         {"repetition_max_dup_ngram_char_frac": {n: frac}},
         f"repetition_max_dup_ngram_char_frac[{n}]",
         f"gopher repetition: duplicate {n}-gram character fraction")
        for n, frac in [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.1)]
    ),
    ("c4", CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", {},
     "c4_lorem_ipsum", "c4: 'lorem ipsum' in a line"),
    ("c4", CLEAN + "\nCall it with { and close it later.", {}, "c4_curly_bracket",
     "c4: curly bracket in a line"),
    ("c4", "\n".join(CLEAN_LINES[:4]), {}, "c4_min_sentences",
     "c4: sentences in kept lines 4 < 5"),
    ("fineweb", "\n".join(line.rstrip(".") for line in CLEAN_LINES), {},
     "fineweb_min_line_punct_ratio", "fineweb: share of lines ending in punctuation 0 < 0.12"),
    ("fineweb", "\n".join(f"Line number {i} ends." for i in range(10)), {},
     "fineweb_max_short_line_ratio", "fineweb: share of short lines 1 > 0.67"),
    ("fineweb", CLEAN + "\n" + CLEAN_LINES[0], {}, "fineweb_max_dup_line_char_ratio",
     "fineweb: duplicated-line character fraction 0.1231 > 0.01"),
    ("fineweb", "\n".join(f"Extraordinarily{i}remarkable unquestionably{i}." for i in range(20)),
     {}, "fineweb_max_list_ratio", "fineweb: newlines per word 0.3167 > 0.3"),
]  # fmt: skip


@pytest.mark.parametrize(("rule_set", "text", "overrides", "rule", "reason"), RULE_CASES)
def test_each_rule_is_triggered_by_a_crafted_text(
    rule_set: str, text: str, overrides: dict[str, Any], rule: str, reason: str
) -> None:
    found = failure(text, rule_set, **overrides)
    assert found is not None
    assert (found.rule_set, found.rule) == (rule_set, rule)
    assert found.reason.startswith(reason)
    assert failure(CLEAN, rule_set, **overrides) is None
    if found.limit is not None:  # with the rule turned off, the text passes it
        name, _, n = rule.partition("[")
        without = failure(text, rule_set, **{**overrides, name: {} if n else None})
        assert without is None or without.rule != rule


C4_BASE = "\n".join(CLEAN_LINES[:4])  # four sentences: one short of C4's five


@pytest.mark.parametrize(
    ("line", "override"),
    [
        ("Please enable JavaScript to read the rest of this page.", {"c4_javascript": False}),
        ("This site uses cookies to measure its traffic.", {"c4_policy": False}),
        ("More details follow in the next chapter", {"c4_terminal_punctuation": False}),
        ("Yes.", {"c4_min_words_per_line": None}),
        (f"A word {'x' * 1001} here.", {"c4_max_word_length": None}),
    ],
)
def test_c4_ignores_lines_that_its_line_rules_reject(line: str, override: dict[str, Any]) -> None:
    text = C4_BASE + "\n" + line
    assert failure(text, "c4") == failure(C4_BASE, "c4")  # the line does not count
    assert failure(text, "c4", **override) is None  # unless that rule is off


def test_c4_counts_sentences_and_removes_citations() -> None:
    assert failure(C4_BASE + "\nIt rained. Then it stopped.", "c4") is None
    cited = C4_BASE + "\nIt rained all week.[1]"
    assert failure(cited, "c4") is None
    assert failure(cited, "c4", c4_remove_citations=False) is not None


def test_quality_decision_names_rule_value_and_limit() -> None:
    step = Quality(QualityParams())
    [dropped] = apply(step, Record.from_text("Too short to be a document."))
    assert dropped.action == "drop"
    assert dropped.reason == "gopher: words 6 < 50"
    details = {"rule_set": "gopher_quality", "rule": "gopher_min_words", "value": 6, "limit": 50}
    assert dropped.details == details and dropped.score == 6


def test_quality_applies_rule_sets_in_the_order_given() -> None:
    text = CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.\n" + CLEAN_LINES[0]
    first_c4 = Quality(QualityParams(rules=("c4", "fineweb"))).check(text)
    first_fineweb = Quality(QualityParams(rules=("fineweb", "c4"))).check(text)
    assert first_c4 is not None and first_c4.rule == "c4_lorem_ipsum"
    assert first_fineweb is not None and first_fineweb.rule == "fineweb_max_dup_line_char_ratio"


def test_quality_reads_selected_fields_and_drops_records_without_text() -> None:
    chat = chat_record("Tell me about the town?", CLEAN)
    pair = Record.from_pair("Describe the town.", CLEAN)
    step = Quality(QualityParams(fields=("messages.assistant", "response")))
    assert [d.action for d in apply(step, chat, pair)] == ["keep", "keep"]
    [blank] = apply(step, Record.from_text("   \n"))
    assert blank.reason == "quality: no text to measure"
    [user_only] = apply(Quality(QualityParams(fields=("messages.user",))), chat)
    assert user_only.action == "drop"


def test_quality_step_pickles_without_its_word_cache() -> None:
    step = Quality(QualityParams())
    before = step.check(CLEAN + "\n" + CLEAN_LINES[0])
    copy = pickle.loads(pickle.dumps(step))
    assert copy.check(CLEAN + "\n" + CLEAN_LINES[0]) == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rules": []}, "choose at least one"),
        ({"rules": ["c4", "c4"]}, "named twice"),
        ({"rules": ["gopher"]}, "rules.0"),
        ({"gopher_min_words": -1}, "greater than or equal to 0"),
        ({"gopher_min_words": 200, "gopher_max_words": 100}, "greater than gopher_max_words"),
        ({"repetition_max_top_ngram_char_frac": {0: 0.2}}, "n is at least 1"),
        ({"c4_min_sentencs": 3}, "Extra inputs are not permitted"),
    ],
)
def test_quality_params_are_checked(params: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        QualityParams(**params)


# -- quality: parity with datatrove ----------------------------------------------------------


def _read(dist: str, path: str) -> str:
    try:
        return distribution(dist).read_text(path) or ""
    except PackageNotFoundError:
        return ""


def _real_texts() -> tuple[list[str], list[str]]:
    """(prose, markdown) shipped in installed wheels: licence texts and scikit-learn's dataset
    descriptions, and package READMEs (their PyPI descriptions, pinned by pyproject.toml)."""
    licences = ("LICENSE_GPL2.0.txt", "LICENSE_LGPL_2.1.txt", "LICENSE_MPL_1.1.txt")
    prose = [_read("tld", f"licenses/{name}") for name in licences]
    descr = [f for f in distribution("scikit-learn").files or [] if f.suffix == ".rst"]
    prose += sorted(f.read_text("utf-8") for f in descr if "descr" in f.parts)
    names = ("pydantic", "fastapi", "rich", "typer", "datasketch", "ftfy", "datatrove")
    return [t for t in prose if t], [t for t in map(_read, names, ["METADATA"] * 7) if t]


_NOISE = {
    "lorem": ["Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "lorem ipsum dolor sit"],
    "js": ["Please enable JavaScript in your browser to view this page.", "Needs javascript"],
    "policy": ["This website uses cookies to improve your experience.", "Privacy Policy"],
    "code": ["function add(a, b) { return a + b; }", "if (x > 0) {", "  console.log('done');"],
    "menu": ["Home", "About us", "Contact", "Blog", "Shop now", "Login", "Sign up", "FAQ"],
    "chat": ["I don't think it's done, but we'll see.", "You're right: it isn't what we'd do!"],
}


def quality_fixture(seed: int = 5, generated: int = 145, windows: int = 60) -> list[str]:
    """Documents for the parity test: windows of real text as shipped, and documents mixed
    from blocks of real sentences and of web noise (bullets, menus, repeated lines and
    paragraphs, hashtags, ellipses, lorem ipsum, javascript and cookie lines, code, citations,
    number tables, very long words, fragments), deterministic from ``seed``."""
    rng = random.Random(seed)
    prose, readmes = _real_texts()
    paragraphs = [p for t in prose + readmes for p in re.split(r"\n\s*\n", t) if p.strip()]
    sentences = [
        s
        for t in prose
        for p in re.split(r"\n\s*\n", t)
        for s in re.split(r"(?<=[.!?])\s+", " ".join(p.split()))
        if 5 <= len(s.split()) <= 40 and s[-1] in ".!?"
    ]
    docs = []
    for _ in range(windows):
        start = rng.randrange(len(paragraphs))
        docs.append("\n\n".join(paragraphs[start : start + rng.randint(1, 10)]))

    def pick(k: int = 0) -> str:
        return " ".join(rng.choice(sentences).split()[: k or None])

    def table(n: int) -> str:
        cells = [f"{rng.uniform(0, 1000):.{rng.randint(0, 2)}f}" for _ in range(6 * n)]
        return "\n".join(" | ".join(cells[i : i + rng.randint(2, 6)]) for i in range(0, 6 * n, 6))

    def noise(kind: str) -> Callable[[int, list[str]], str]:
        return lambda n, _: "\n".join(rng.sample(_NOISE[kind], rng.randint(1, 2)))

    blocks: dict[str, Callable[[int, list[str]], str]] = {
        "prose": lambda n, _: " ".join(pick() for _ in range(n)),
        "lines": lambda n, _: "\n".join(pick() for _ in range(n)),
        "bullets": lambda n, _: "\n".join(
            rng.choice(["- ", "\u2022 ", "* ", "-"]) + pick(rng.randint(2, 12)) for _ in range(n)
        ),
        "repeat_line": lambda n, _: "\n".join([pick()] * n),
        "repeat_para": lambda n, made: rng.choice(made) if made else pick(),
        "hashtags": lambda n, _: " ".join("#" + w.strip(".,;:()") for w in pick(30).split()),
        "ellipsis": lambda n, _: "\n".join(
            pick(rng.randint(3, 9)) + rng.choice(["...", "\u2026", " ..."]) for _ in range(n)
        ),
        "citation": lambda n, _: pick() + rng.choice(["[1]", "[edit]", "[citation needed]"]),
        "numbers": lambda n, _: table(n),
        "long_word": lambda n, _: pick()[:-1] + " " + "x" * rng.choice([900, 1200]) + ".",
        "fragment": lambda n, _: pick(rng.randint(1, 6)),
        **{kind: noise(kind) for kind in _NOISE},
    }  # fmt: skip
    kinds = ["prose"] * 8 + ["lines"] * 4 + list(blocks)
    for _ in range(generated):
        made: list[str] = []
        for _ in range(rng.choice([1, 1, 2, 3, 4, 5, 6, 8])):
            made.append(blocks[rng.choice(kinds)](rng.randint(2, 9), made))
        docs.append(rng.choice(["\n\n", "\n", "\n\n\n"]).join(made))
    return docs


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


def _datatrove_rule(reason: str) -> str:
    """datatrove's exclusion reason as the name of the Curata parameter of that rule."""
    if m := re.fullmatch(r"top_(\d+)_gram", reason):
        return f"repetition_max_top_ngram_char_frac[{m[1]}]"
    if m := re.fullmatch(r"duplicated_(\d+)_n_grams", reason):
        return f"repetition_max_dup_ngram_char_frac[{m[1]}]"
    return _DATATROVE_REASONS.get(reason, f"repetition_max_{reason}")


@pytest.mark.slow
def test_quality_agrees_with_datatrove_on_a_fixture() -> None:
    """Curata's rule sets against datatrove's filters, defaults on both sides (datatrove's
    English words come from spaCy's blank tokenizer, which needs no downloaded data).

    On this fixture they agree on every document and every first failing rule. Known causes
    of disagreement elsewhere: (1) word splits in scripts spaCy lists as uncased (CJK, Thai),
    whose character classes Curata builds from unicodedata; (2) duplicate n-grams compared as
    word tuples, where datatrove glues the words without a separator; (3) sentence ends:
    Curata uses datatrove's terminal punctuation, spaCy's sentencizer 31 fewer rare-script
    marks; (4) whitespace-only documents, which Curata always drops and datatrove's
    repetition filter keeps.
    """
    pytest.importorskip("datatrove")
    from datatrove.data import Document
    from datatrove.pipeline import filters

    docs = quality_fixture()
    assert len(docs) >= 200
    theirs: dict[str, Any] = {
        "gopher_quality": filters.GopherQualityFilter(),
        "gopher_repetition": filters.GopherRepetitionFilter(),
        "c4": filters.C4QualityFilter(),
        "fineweb": filters.FineWebQualityFilter(),
    }
    ours = {name: Quality(QualityParams.model_validate({"rules": [name]})) for name in theirs}
    decisions = dict.fromkeys(theirs, 0)
    rules = dict.fromkeys(theirs, 0)
    kept = dict.fromkeys(theirs, 0)
    for i, text in enumerate(docs):  # document by document: datatrove caches its words
        for name, reference in theirs.items():
            result = reference.filter(Document(text=text, id=str(i)))  # C4 rewrites the text
            found = ours[name].check(text)
            expected = None if result is True else _datatrove_rule(result[1])
            decisions[name] += (found is None) == (expected is None)
            rules[name] += (found and found.rule) == expected
            kept[name] += expected is None
    for name in theirs:
        assert 0.1 * len(docs) < kept[name] < 0.9 * len(docs), name  # both outcomes occur
        assert decisions[name] >= 0.99 * len(docs), f"{name}: {decisions[name]}/{len(docs)}"
        assert rules[name] >= 0.99 * len(docs), f"{name}: {rules[name]}/{len(docs)}"
