"""The ``quality`` step: heuristic filters of the Gopher, C4 and FineWeb rule sets."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import Field

from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text
from curata.curation.steps.quality_rules import PUNCTUATION, TERMINAL_PUNCTUATION, WordSplitter

RuleSet = Literal["gopher_quality", "gopher_repetition", "c4", "fineweb"]
RULE_SETS: tuple[RuleSet, ...] = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
_POLICY = re.compile(
    "terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies"
)
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile(r"\n+")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_C4_END = (".", "?", "!", '"', "'")


def _limit(default: float | None, text: str) -> Any:
    return Field(default=default, ge=0, description=f"{text} None turns the rule off.")


def _switch(text: str) -> Any:
    return Field(default=True, description=text)


class QualityParams(TextParams):
    """Parameters of :class:`Quality`: the rule sets and their thresholds (published defaults).

    Thresholds are flat and prefixed by their rule set; ``min_``/``max_`` says which side fails
    and None turns a rule off. Shares and ratios are fractions (0.1 is 10%) of the lines,
    words or characters of the text; blank lines are not lines for FineWeb."""

    rules: tuple[RuleSet, ...] = Field(
        default=RULE_SETS,
        description="Rule sets applied, in order (the reason names the first rule that fails): "
        "gopher_quality, gopher_repetition, c4, fineweb.",
    )
    gopher_min_words: int | None = _limit(50, "Fewest words (symbols not counted).")
    gopher_max_words: int | None = _limit(100_000, "Most words (symbols not counted).")
    gopher_min_mean_word_length: float | None = _limit(3, "Lowest mean word length.")
    gopher_max_mean_word_length: float | None = _limit(10, "Highest mean word length.")
    gopher_max_symbol_word_ratio: float | None = _limit(0.1, "Most '#' (or ellipses) per word.")
    gopher_max_bullet_lines_ratio: float | None = _limit(
        0.9, "Share of lines starting with '-' or U+2022."
    )
    gopher_max_ellipsis_lines_ratio: float | None = _limit(
        0.3, "Share of lines ending in an ellipsis."
    )
    gopher_min_alpha_words_ratio: float | None = _limit(0.8, "Share of words with a letter.")
    gopher_min_stop_words: int | None = _limit(2, "Fewest distinct stop words present.")
    gopher_stop_words: tuple[str, ...] = Field(
        default=STOP_WORDS, description="The stop words (matched case-sensitively, as words)."
    )
    repetition_max_dup_line_frac: float | None = _limit(
        0.3, "Share of lines that repeat an earlier one."
    )
    repetition_max_dup_para_frac: float | None = _limit(0.3, "Share of paragraphs that repeat one.")
    repetition_max_dup_line_char_frac: float | None = _limit(
        0.2, "Share of characters in repeated lines."
    )
    repetition_max_dup_para_char_frac: float | None = _limit(
        0.2, "Share of characters in repeated paragraphs."
    )
    repetition_max_top_ngram_char_frac: dict[int, float] = Field(
        default={2: 0.2, 3: 0.18, 4: 0.16},
        description="Per n: share of characters covered by the most frequent word n-gram (its "
        "length times its count). Leave an n out to turn it off.",
    )
    repetition_max_dup_ngram_char_frac: dict[int, float] = Field(
        default={5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="Per n: share of characters in word n-grams repeating an earlier one (no "
        "overlap). Leave an n out to turn it off.",
    )
    c4_max_word_length: int | None = _limit(1000, "Ignore lines with a longer word.")
    c4_remove_citations: bool = _switch("Remove [1], [edit], [citation needed] from lines.")
    c4_terminal_punctuation: bool = _switch("Ignore lines not ending in . ? ! \" ' (or in ...).")
    c4_min_words_per_line: int | None = _limit(3, "Ignore lines with fewer words.")
    c4_lorem_ipsum: bool = _switch("Drop records with 'lorem ipsum' in a line not ignored.")
    c4_javascript: bool = _switch("Ignore lines that mention 'javascript'.")
    c4_curly_bracket: bool = _switch("Drop records with '{' in a line not ignored.")
    c4_policy: bool = _switch("Ignore lines on cookies, privacy policy or terms of use.")
    c4_min_sentences: int | None = _limit(5, "Fewest sentences in the lines not ignored.")
    fineweb_min_line_punct_ratio: float | None = _limit(
        0.12, "Share of lines ending in . ? ! or another terminal mark."
    )
    fineweb_line_punct_exclude_zero: bool = Field(
        default=False, description="Keep records where no line ends in terminal punctuation."
    )
    fineweb_max_short_line_ratio: float | None = _limit(0.67, "Share of short lines.")
    fineweb_short_line_length: int = Field(
        default=30, ge=0, description="Most characters of a short line."
    )
    fineweb_max_dup_line_char_ratio: float | None = _limit(
        0.01, "Most characters in repeated lines (newlines not counted)."
    )
    fineweb_max_list_ratio: float | None = _limit(0.3, "Most newlines per word.")

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if not self.rules:
            raise ValueError(f"rules: choose at least one of {', '.join(RULE_SETS)}")
        if len(set(self.rules)) != len(self.rules):
            raise ValueError("rules: a rule set is named twice")
        for name in ("repetition_max_top_ngram_char_frac", "repetition_max_dup_ngram_char_frac"):
            for n, frac in getattr(self, name).items():
                if n < 1 or frac < 0:
                    raise ValueError(f"{name}: n is at least 1 and a fraction at least 0")
        for unit in ("words", "mean_word_length"):
            low, high = getattr(self, f"gopher_min_{unit}"), getattr(self, f"gopher_max_{unit}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"gopher_min_{unit} {low} is greater than gopher_max_{unit}")


@dataclass(frozen=True)
class Failure:
    """The first rule a text fails: its rule set, parameter, measured value and threshold."""

    rule_set: str
    rule: str
    reason: str
    value: float | None = None
    limit: float | None = None


Check = tuple[str, str, float]
"""(parameter, what it measures, measured value); ``name[n]`` is entry n of a mapping."""
_LABELS = {"gopher_quality": "gopher", "gopher_repetition": "gopher repetition"}


def _first(rule_set: str, checks: Iterator[Check], p: QualityParams) -> Failure | None:
    """The first of the (lazily measured) checks whose value is beyond its threshold."""
    for rule, what, value in checks:
        name, _, n = rule.partition("[")
        limit = getattr(p, name)[int(n[:-1])] if n else getattr(p, name)
        below = "_min_" in name
        if limit is not None and ((value < limit) if below else (value > limit)):
            sign = "<" if below else ">"
            reason = f"{_LABELS.get(rule_set, rule_set)}: {what} {_num(value)} {sign} {limit}"
            return Failure(rule_set, rule, reason, value, limit)
    return None


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"


class _Text:
    """One text and the measurements rule sets share, each computed on first use."""

    def __init__(self, text: str, splitter: WordSplitter) -> None:
        self.text = text
        self.splitter = splitter

    @cached_property
    def words(self) -> list[str]:
        return self.splitter.words(self.text)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def _gopher_quality(t: _Text, p: QualityParams) -> Iterator[Check]:
    """Gopher's quality filter (Rae et al. 2021, appendix A.1.1; datatrove's
    GopherQualityFilter): symbols are words of punctuation only."""
    words = t.words
    others = [w for w in words if not w.isalpha()]
    symbols = [w for w in others if PUNCTUATION.issuperset(w)]
    count = len(words) - len(symbols)
    yield "gopher_min_words", "words", count
    yield "gopher_max_words", "words", count
    if count:
        mean = (sum(map(len, words)) - sum(map(len, symbols))) / count
        yield "gopher_min_mean_word_length", "mean word length", mean
        yield "gopher_max_mean_word_length", "mean word length", mean
    text, n = t.text, len(words)
    if n:
        yield "gopher_max_symbol_word_ratio", "hashes per word", text.count("#") / n
        ellipses = text.count("...") + text.count("\u2026")
        yield "gopher_max_symbol_word_ratio", "ellipses per word", ellipses / n
    if lines := t.lines:
        bullets = sum(1 for line in lines if line.lstrip().startswith(("\u2022", "-")))
        yield "gopher_max_bullet_lines_ratio", "share of bullet lines", bullets / len(lines)
        ends = sum(1 for line in lines if line.rstrip().endswith(("...", "\u2026")))
        yield "gopher_max_ellipsis_lines_ratio", "share of lines ending in '...'", ends / len(lines)
    if n:
        alpha = n - len(others) + sum(1 for w in others if any(map(str.isalpha, w)))
        yield "gopher_min_alpha_words_ratio", "share of words with a letter", alpha / n
    stop = len(set(p.gopher_stop_words).intersection(words))
    yield "gopher_min_stop_words", "distinct stop words", stop


def _gopher_repetition(t: _Text, p: QualityParams) -> Iterator[Check]:
    """Gopher's repetition filter (Rae et al. 2021, table A1; datatrove's
    GopherRepetitionFilter); character fractions are of the whole text."""
    text = t.text
    paragraphs = _PARAGRAPH_BREAK.split(text.strip())
    dups, chars = duplicates(paragraphs)
    yield "repetition_max_dup_para_frac", "duplicate paragraph fraction", dups / len(paragraphs)
    yield (
        "repetition_max_dup_para_char_frac",
        "duplicate paragraph character fraction",
        (chars / len(text)),
    )
    lines = _LINE_BREAKS.split(text)
    dups, chars = duplicates(lines)
    yield "repetition_max_dup_line_frac", "duplicate line fraction", dups / len(lines)
    yield (
        "repetition_max_dup_line_char_frac",
        "duplicate line character fraction",
        (chars / len(text)),
    )
    words = t.words
    for n in sorted(p.repetition_max_top_ngram_char_frac):
        if (top := top_ngram_chars(words, n)) is not None:
            rule = f"repetition_max_top_ngram_char_frac[{n}]"
            yield rule, f"top {n}-gram character fraction", top / len(text)
    ends = list(itertools.accumulate(map(len, words), initial=0))
    for n in sorted(p.repetition_max_dup_ngram_char_frac):
        repeated = duplicate_ngram_chars(words, n, ends)
        rule = f"repetition_max_dup_ngram_char_frac[{n}]"
        yield rule, f"duplicate {n}-gram character fraction", repeated / len(text)
        if not repeated:  # no n-gram repeats, so no longer one does
            break


def _c4(t: _Text, p: QualityParams) -> Failure | None:
    """C4's page filters (Raffel et al. 2020, section 2.2; datatrove's C4QualityFilter with
    lines as paragraphs). Lines are only ignored here, not removed from the record."""
    need = p.c4_min_sentences
    sentences = 0
    for raw in t.lines:
        line = original = raw.strip()
        if p.c4_remove_citations and "[" in line:
            line = _CITATION.sub("", line)
        if p.c4_terminal_punctuation and (not line.endswith(_C4_END) or line.endswith("...")):
            continue
        words = original.split()
        if p.c4_min_words_per_line is not None and len(words) < p.c4_min_words_per_line:
            continue
        longest = p.c4_max_word_length
        if longest is not None and len(original) > longest and max(map(len, words)) > longest:
            continue
        lower = line.lower()
        if p.c4_lorem_ipsum and "lorem ipsum" in lower:
            return Failure("c4", "c4_lorem_ipsum", "c4: 'lorem ipsum' in a line")
        if p.c4_javascript and "javascript" in lower:
            continue
        if p.c4_curly_bracket and "{" in line:
            return Failure("c4", "c4_curly_bracket", "c4: curly bracket in a line")
        if p.c4_policy and _POLICY.search(lower):
            continue
        if need is not None and sentences < need:
            sentences += t.splitter.count_sentences(line)
    return _first("c4", iter([("c4_min_sentences", "sentences in kept lines", sentences)]), p)


def _fineweb(t: _Text, p: QualityParams) -> Iterator[Check]:
    """FineWeb's own filters (Penedo et al. 2024, section 3.3; datatrove's
    FineWebQualityFilter), over non-blank lines."""
    text = t.text
    lines = [line for line in text.split("\n") if line.strip()]
    ended = sum(1 for line in lines if line[-1] in TERMINAL_PUNCTUATION) / len(lines)
    if not (ended == 0 and p.fineweb_line_punct_exclude_zero):
        yield "fineweb_min_line_punct_ratio", "share of lines ending in punctuation", ended
    short = sum(1 for line in lines if len(line) <= p.fineweb_short_line_length) / len(lines)
    yield "fineweb_max_short_line_ratio", "share of short lines", short
    repeated = duplicates(lines)[1] / (len(text) - text.count("\n"))
    yield "fineweb_max_dup_line_char_ratio", "duplicated-line character fraction", repeated
    yield "fineweb_max_list_ratio", "newlines per word", text.count("\n") / len(t.words)


def duplicates(items: Sequence[str]) -> tuple[int, int]:
    """(items that repeat an earlier item, their characters)."""
    counts = Counter(items)
    if len(counts) == len(items):
        return 0, 0
    return len(items) - len(counts), sum(len(x) * (c - 1) for x, c in counts.items() if c > 1)


def top_ngram_chars(words: list[str], n: int) -> int | None:
    """Characters of the most frequent word n-gram (joined by spaces) times its count; ties go
    to the first seen. None when there are fewer than n words."""
    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    if not grams:
        return None
    gram, count = grams.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def duplicate_ngram_chars(words: list[str], n: int, ends: list[int]) -> int:
    """Characters (spaces excluded) of the word n-grams that repeat an earlier n-gram, scanning
    left to right and jumping past each repeat; ``ends[i]`` is the length of ``words[:i]``.

    datatrove compares n-grams as their words glued without a separator; this compares the
    words (they differ only when two different splits glue into the same string)."""
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    if len(set(grams)) == len(grams):
        return 0
    seen: set[tuple[str, ...]] = set()
    add = seen.add
    chars = resume = 0
    for i, gram in enumerate(grams):
        if i < resume:
            continue
        if gram in seen:
            chars += ends[i + n] - ends[i]
            resume = i + n
        else:
            add(gram)
    return chars


_RULES: dict[str, Callable[[_Text, QualityParams], Failure | None]] = {
    "gopher_quality": lambda t, p: _first("gopher_quality", _gopher_quality(t, p), p),
    "gopher_repetition": lambda t, p: _first("gopher_repetition", _gopher_repetition(t, p), p),
    "c4": _c4,
    "fineweb": lambda t, p: _first("fineweb", _fineweb(t, p), p),
}


class Quality(Step):
    """Drop records whose selected text fails a heuristic quality rule of Gopher, C4 or FineWeb.

    The rules and their defaults are those published, as datatrove (0.10.1) implements them;
    words are split as datatrove splits English (see
    :mod:`~curata.curation.steps.quality_rules`). The text measured is every selected text
    joined by a blank line; a record with no text (or only whitespace) is dropped. The reason
    names the first rule that fails, its measured value and its threshold
    (``gopher: mean word length 2.1 < 3``); the details carry ``rule_set``, ``rule`` (the
    parameter that sets it), ``value`` and ``limit``. C4's line rules decide which lines count
    towards its sentence minimum; they do not rewrite the record.
    """

    name = "quality"
    summary = "Heuristic quality filters of Gopher, C4 and FineWeb (published thresholds)."
    Params = QualityParams
    params: QualityParams

    def __init__(self, params: QualityParams) -> None:
        super().__init__(params)
        self.splitter = WordSplitter()

    def check(self, text: str) -> Failure | None:
        """The first rule ``text`` fails, or None when it passes every rule set."""
        if not text.strip():
            return Failure("quality", "empty", "quality: no text to measure")
        t = _Text(text, self.splitter)
        for rule_set in self.params.rules:
            failure = _RULES[rule_set](t, self.params)
            if failure is not None:
                return failure
        return None

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Drop each record that fails a rule, naming the rule, the value and the threshold."""
        out: list[Decision] = []
        for _, record in batch:
            failure = self.check(joined_text(record, self.params.fields))
            if failure is None:
                out.append(Decision.keep())
            else:
                out.append(
                    Decision.drop(
                        failure.reason,
                        score=failure.value,
                        rule_set=failure.rule_set,
                        rule=failure.rule,
                        value=failure.value,
                        limit=failure.limit,
                    )
                )
        return out
