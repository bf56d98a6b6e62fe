"""The first-character scan answers exactly what the plain regular-expression scans answer:
the earliest refusal construction (sorted finditer hits of every pattern) and the guard
alternation's re.sub, on every fixture text and thousands of shuffled ones."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from curata.redteam.scorers import patterns
from curata.redteam.scorers.base import normalised
from curata.redteam.scorers.refusal import GUARD_SCAN, REFUSAL_SCAN, first_refusal, guarded
from curata.redteam.scorers.scan import FirstCharScan, first_chars, needles

FIXTURES = Path(__file__).parents[1] / "fixtures" / "redteam"


def _texts() -> list[str]:
    texts: list[str] = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line)
            texts += [v for k, v in row.items() if k in ("reply", "prompt", "response")
                      and isinstance(v, str)]
    words = " ".join(texts).split()
    rng = random.Random(7)
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 60)))
              for _ in range(3000)]
    return [normalised(t) for t in texts]


def test_the_scans_agree_with_plain_regular_expressions() -> None:
    texts = _texts()
    assert len(texts) > 3000
    plain_guard = re.compile("|".join(patterns.GUARDS))
    refusals_found = 0
    for text in texts:
        blanked = plain_guard.sub(lambda m: " " * len(m.group()), text)
        assert guarded(text) == blanked
        hits = sorted((m.start(), m.end(), lang, m.group())
                      for lang, p in patterns.REFUSAL_RE for m in p.finditer(blanked))
        assert first_refusal(text) == (hits[0] if hits else None)
        refusals_found += bool(hits)
    assert refusals_found > 100  # the comparison covered texts with refusals too


def test_first_characters_are_worked_out_from_the_parsed_pattern() -> None:
    from re import _parser  # type: ignore[attr-defined]

    def chars(pattern: str) -> tuple[frozenset[str] | None, bool]:
        return first_chars(list(_parser.parse(pattern)))

    assert chars(r"\bsorry") == (frozenset("s"), False)
    assert chars(r"(?:i|we) (?:can't|won't)") == (frozenset("iw"), False)
    assert chars(r"[a-c]x") == (frozenset("abc"), False)
    assert chars(r"(?:please )?help") == (frozenset("ph"), False)
    assert chars(r"\w+") == (None, False)  # a category: not worked out, searched whole
    assert chars(r"x*") == (frozenset("x"), True)
    scan = FirstCharScan([("a", re.compile(r"\w+ing")), ("b", re.compile(r"\bno\b"))])
    # "no" at 4 starts before "nothing" at 10 (\w+ing cannot span the spaces)
    assert scan.earliest("say no to nothing") == [(4, 6, "b", "no")]
    assert scan.blank("no, nothing") == re.sub(r"\w+ing|\bno\b",
                                               lambda m: " " * len(m.group()), "no, nothing")


@pytest.mark.parametrize("scan", [GUARD_SCAN, REFUSAL_SCAN])
def test_the_refusal_patterns_all_have_known_first_characters(scan: FirstCharScan) -> None:
    assert scan.patterns and not scan._anywhere  # every pattern is indexed


def test_needles_are_strings_every_match_contains() -> None:
    from re import _parser  # type: ignore[attr-defined]

    def of(pattern: str) -> frozenset[str] | None:
        return needles(list(_parser.parse(pattern)))

    # the most selective necessary piece: the alternation's words, not the one-letter "i"
    assert of(r"\bi ?(?:won't|cannot)") == frozenset({"won't", "cannot"})
    assert of(r"\bi ?(?:can't|cannot)") == frozenset({"can"})  # re factors out the prefix
    assert of(r"\bsorry,? (?:but )?no") == frozenset({"sorry"})
    assert of(r"(?:please )?help") == frozenset({"help"})  # an optional group needs nothing
    assert of(r"(?:ab|c)+d") == frozenset({"d"})
    assert of(r"x?") is None and of(r"[a-c]+") is None and of(r"a|") is None
    assert of(r"(?i:sorry)") is None  # a case-blind group says nothing about the text
    # every guard match in the fixture texts holds one of that guard's needles
    texts = _texts()
    matched = 0
    for pattern in patterns.GUARDS:
        found = of(pattern)
        assert found, pattern
        for text in texts:
            for match in re.finditer(pattern, text):
                matched += 1
                assert any(n in match.group() for n in found), (pattern, match.group())
    assert matched > 20
    # the guards' prefilter is on, and the agreement test above saw texts on both sides of it
    assert GUARD_SCAN._needles is not None
    with_needle = [t for t in texts if any(n in t for n in GUARD_SCAN._needles)]
    assert with_needle and len(with_needle) < len(texts)
