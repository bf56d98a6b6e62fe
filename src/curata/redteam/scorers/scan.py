"""Many regular expressions over one text, without running each over the whole text.

Python's ``re`` tries every alternative of an alternation at every position, so a hundred
refusal constructions cost a hundred passes over each reply — about 0.6 ms, which caps a
campaign near 1,500 replies a second on one core before anything else is done. A
:class:`FirstCharScan` works out, from each parsed pattern, the characters its matches can
start with (and whether it starts with ``\\b`` before a letter, so can only start where a word
does), and at each position tries only the patterns that can start there. It answers exactly
what the plain scans answer (the tests compare them on every fixture reply and thousands of
shuffled ones):

- :meth:`FirstCharScan.earliest`: every match starting at the leftmost position where any
  pattern matches (the first of the sorted ``finditer`` hits of all patterns);
- :meth:`FirstCharScan.blank`: what ``re.sub`` of the patterns' alternation (in order) with
  spaces of the same length gives.

When a few literal strings can be worked out such that every match of every pattern contains
one of them (:func:`needles`), a text holding none of them is answered at once: the guard
phrases of the refusal scorer ("I can't stress enough", "ich kann nicht genug ...") all need
one of 18 strings, which most replies do not hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

Hit = tuple[int, int, str, str]
"""``(start, end, tag, matched text)``."""
Entry = tuple[int, str, re.Pattern[str]]
"""``(position in the pattern list, tag, pattern)``."""


def first_chars(items: Any) -> tuple[frozenset[str] | None, bool]:
    """The characters a match of the parsed pattern ``items`` can start with (``None``: any,
    or not worked out) and whether it can match the empty string; zero-width assertions are
    skipped, since they consume nothing."""
    out: set[str] = set()
    for op, av in items:
        if op is sre.AT:
            continue
        if op is sre.LITERAL:
            return frozenset(out | {chr(av)}), False
        if op is sre.IN:
            chars: set[str] = set()
            for kind, arg in av:
                if kind is sre.LITERAL:
                    chars.add(chr(arg))
                elif kind is sre.RANGE and arg[1] - arg[0] <= 512:
                    chars |= {chr(c) for c in range(arg[0], arg[1] + 1)}
                else:
                    return None, False
            return frozenset(out | chars), False
        if op is sre.SUBPATTERN or op is sre.BRANCH:
            alternatives = [av[3]] if op is sre.SUBPATTERN else av[1]
            can_be_empty = False
            for alternative in alternatives:
                sub, empty = first_chars(list(alternative))
                if sub is None:
                    return None, False
                out |= sub
                can_be_empty |= empty
            if not can_be_empty:
                return frozenset(out), False
            continue
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            low, _, item = av
            sub, empty = first_chars(list(item))
            if sub is None:
                return None, False
            out |= sub
            if low >= 1 and not empty:
                return frozenset(out), False
            continue
        return None, False
    return frozenset(out), True


def needles(items: Any) -> frozenset[str] | None:
    """Literal strings one of which every match of the parsed pattern ``items`` contains
    (``None``: none worked out). Of the pattern's necessary pieces (each run of literal
    characters, each group, alternation or repeat that needs one of its own) the most
    selective is taken: the one whose shortest string is longest."""
    found: list[frozenset[str]] = []
    run: list[str] = []

    def close() -> None:
        if run:
            found.append(frozenset({"".join(run)}))
            run.clear()

    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        close()
        sub: frozenset[str] | None = None
        if op is sre.SUBPATTERN:
            if av[1] & re.IGNORECASE:  # (?i:...): its literals say nothing about the text
                continue
            sub = needles(list(av[3]))
        elif op is sre.BRANCH:
            alternatives = [needles(list(a)) for a in av[1]]
            if all(a is not None for a in alternatives):
                sub = frozenset().union(*(a for a in alternatives if a is not None))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            sub = needles(list(av[2]))
        if sub:
            found.append(sub)
    close()
    if not found:
        return None
    return max(found, key=lambda strings: (min(len(x) for x in strings), -len(strings)))


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


class FirstCharScan:
    """Tagged patterns indexed by the characters their matches can start with (module
    docstring). Patterns whose start cannot be worked out are searched whole."""

    MAX_NEEDLES = 32
    """More needle strings than this cost more to look for than they save."""

    def __init__(self, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> None:
        self.patterns = list(patterns)
        self._needles = _needles(self.patterns, self.MAX_NEEDLES)
        at_word: dict[str, list[Entry]] = {}
        at_any: dict[str, list[Entry]] = {}
        self._anywhere: list[Entry] = []
        for i, (tag, pattern) in enumerate(self.patterns):
            parsed = list(_parser.parse(pattern.pattern, pattern.flags))
            chars, empty = first_chars(parsed)
            if chars is None or empty:
                self._anywhere.append((i, tag, pattern))
                continue
            word = bool(parsed) and parsed[0] == (sre.AT, sre.AT_BOUNDARY) and all(
                _is_word(c) for c in chars)
            for char in chars:
                (at_word if word else at_any).setdefault(char, []).append((i, tag, pattern))
        # per character, the candidates inside a word and at a word's start, in pattern order
        self._inside: dict[str, tuple[Entry, ...]] = {c: tuple(v) for c, v in at_any.items()}
        self._start: dict[str, tuple[Entry, ...]] = {
            c: tuple(sorted([*at_any.get(c, ()), *at_word.get(c, ())], key=lambda e: e[0]))
            for c in {*at_any, *at_word}
        }
        # per character, the candidates as one alternation (in pattern order): one match call
        # tells whether any candidate matches there, and which first (what re.sub takes)
        flags = {p.flags for _, p in self.patterns}

        def joined(table: dict[str, tuple[Entry, ...]]) -> dict[str, re.Pattern[str]]:
            return {c: re.compile("|".join(f"(?:{e[2].pattern})" for e in entries),
                                  next(iter(flags)))
                    for c, entries in table.items()} if len(flags) == 1 else {}

        self._start_any = joined(self._start)
        self._inside_any = joined(self._inside)
        # where a candidate can start: a character of the start table after a non-word
        # character (or at the beginning), one of the inside table after a word character;
        # the regular-expression engine skips every other position at C speed
        def char_class(table: dict[str, tuple[Entry, ...]]) -> str:
            return "[" + "".join(re.escape(c) for c in sorted(table)) + "]"

        at_start = rf"(?<!\w)({char_class(self._start)})" if self._start else r"(?!)()"
        inside = rf"(?<=\w)({char_class(self._inside)})" if self._inside else r"(?!)()"
        self._positions = re.compile(f"{at_start}|{inside}")

    def earliest(self, text: str) -> list[Hit]:
        """Every pattern's match starting at the leftmost position where any matches
        (empty when none does)."""
        if self._needles is not None and not any(n in text for n in self._needles):
            return []
        stop = len(text)
        hits: list[Hit] = []
        for _, tag, pattern in self._anywhere:
            m = pattern.search(text)
            if m is not None and m.start() <= stop:
                if m.start() < stop:
                    hits = []
                stop = m.start()
                hits.append((m.start(), m.end(), tag, m.group()))
        start, inside = self._start, self._inside
        start_any, inside_any = self._start_any, self._inside_any
        for position in self._positions.finditer(text, 0, min(stop + 1, len(text))):
            at = position.start()
            char = text[at]
            first = (start_any if position.group(1) else inside_any).get(char)
            if first is not None and first.match(text, at) is None:
                continue  # no candidate matches here
            candidates = start[char] if position.group(1) else inside[char]
            found = [(at, m.end(), tag, m.group()) for _, tag, pattern in candidates
                     if (m := pattern.match(text, at)) is not None]
            if found:
                return found + hits if at == stop else found
        return hits

    def blank(self, text: str) -> str:
        """``re.sub`` of the alternation of the patterns (in order) by spaces of the same
        length: at each position the first pattern in order that matches wins, and the scan
        goes on after it."""
        if self._needles is not None and not any(n in text for n in self._needles):
            return text
        if self._anywhere:  # the plain way keeps the alternation's semantics exactly
            joined = re.compile("|".join(p.pattern for _, p in self.patterns))
            return joined.sub(lambda m: " " * len(m.group()), text)
        parts: list[str] = []
        start, inside = self._start, self._inside
        start_any, inside_any = self._start_any, self._inside_any
        done = 0
        position = self._positions.search(text, 0)
        while position is not None:
            at = position.start()
            char = text[at]
            first = (start_any if position.group(1) else inside_any).get(char)
            if first is not None:
                m = first.match(text, at)  # the first candidate in order that matches
                if m is not None and m.end() > at:
                    parts += [text[done:at], " " * (m.end() - at)]
                    done = m.end()  # re.sub goes on reading the original text from here
            else:
                candidates = start[char] if position.group(1) else inside[char]
                for _, _, pattern in candidates:
                    m = pattern.match(text, at)
                    if m is not None and m.end() > at:
                        parts += [text[done:at], " " * (m.end() - at)]
                        done = m.end()
                        break
            position = self._positions.search(text, done if done > at else at + 1)
        parts.append(text[done:])
        return "".join(parts)


def _needles(patterns: Sequence[tuple[str, re.Pattern[str]]], most: int) -> tuple[str, ...] | None:
    """The needle strings of all ``patterns`` together (module docstring), without those that
    hold a shorter one; ``None`` when a pattern has none, a pattern ignores case, or there are
    more than ``most``."""
    strings: set[str] = set()
    for _, pattern in patterns:
        if pattern.flags & re.IGNORECASE:
            return None
        found = needles(list(_parser.parse(pattern.pattern, pattern.flags)))
        if found is None:
            return None
        strings |= found
    kept: list[str] = []
    for string in sorted(strings, key=len):
        if not any(k in string for k in kept):
            kept.append(string)
    return tuple(kept) if len(kept) <= most else None
