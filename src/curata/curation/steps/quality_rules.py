"""Words, sentences and character sets of the ``quality`` step, as datatrove measures them.

datatrove (0.10.1) splits English text into words with spaCy's blank English tokenizer and
into sentences with spaCy's sentencizer (no downloaded data; nltk is not used for English).
:class:`WordSplitter` re-implements that tokenizer's algorithm
(``spacy.tokenizer.Tokenizer.explain``) without importing spaCy: text split on whitespace,
then per chunk spaCy's English special cases (contractions, abbreviations, emoticons; the
same 1,343), prefixes, suffixes, URLs and infixes. Character classes are built from
:mod:`unicodedata` rather than copied from spaCy, so scripts spaCy treats as uncased (CJK,
Thai) may split differently; English text agrees token for token (see the parity test).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from typing import Any

# -- character sets (datatrove.utils.text) ---------------------------------------------------


def _expand(spec: str) -> frozenset[str]:
    """The characters of ``spec``, where ``a-b`` is the inclusive range (``-`` is not a member)."""
    out: set[str] = set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.update(map(chr, range(ord(spec[i]), ord(spec[i + 2]) + 1)))
            i += 3
        else:
            out.add(spec[i])
            i += 1
    return frozenset(out)


TERMINAL_PUNCTUATION = _expand(
    "!.?\u0589\u061d-\u061f\u06d4\u0700-\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965\u104a"
    "\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4-\u17d6\u17d9\u17da\u1803\u1809\u1944"
    "\u1945\u1aa8-\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d"
    "\u2047-\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877"
    "\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d-\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01"
    "\uff0e\uff1f\uff61\U00010a56\U00010a57\U00010f55-\U00010f59\U00010f86-\U00010f89"
    "\U00011047\U00011048\U000110be-\U000110c1\U00011141-\U00011143\U000111c5\U000111c6"
    "\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9"
    "\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9-\U000115d7\U00011641\U00011642"
    "\U0001173c-\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c"
    "\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f"
    "\U00016af5\U00016b37\U00016b38\U00016b44\U00016e98\U0001bc9f\U0001da88"
)
"""Sentence-ending characters (datatrove's ``TERMINAL_PUNCTUATION``)."""

PUNCTUATION = (
    TERMINAL_PUNCTUATION
    | frozenset(string.punctuation)
    | _expand("\x00-\x08\x0b-\x1f\x7f-\x9f")
    | _expand(
        "\xab\xb4\xbb\u2013\u2014\u2019\u201c-\u201e\u2026\u2236\u2501\u25ba\u3001\u3002"
        "\u3008-\u300d\u3010\u3011\uff01\uff05\uff08\uff09\uff0c\uff0e\uff11\uff1a\uff1b"
        "\uff1f\uff5e"
    )
)
"""Characters a word may consist of and still be a symbol (datatrove's ``PUNCTUATION_SET``)."""

# -- spaCy's English tokenizer rules (spacy/lang/char_classes.py, punctuation.py) ------------

_LOWER = "".join(c for c in map(chr, range(0x2000)) if c.islower())
_UPPER = "".join(c for c in map(chr, range(0x2000)) if c.isupper())
_ICONS = "".join(c for c in map(chr, range(0xA0, 0x1FB00)) if unicodedata.category(c) == "So")
_ALPHA = r"^\W\d_"  # negated: a class of letters of any script


def _list(spec: str) -> list[str]:
    """The whitespace-separated items of ``spec``."""
    return spec.split()


_PUNCT = _list(
    "\u2026 \u2026\u2026 , : ; ! ? \xbf \u061f \xa1 ( ) [ ] { } < > _ # * & \u3002 \uff1f "
    "\uff01 \uff0c \u3001 \uff1b \uff1a \uff5e \xb7 \u0964 \u060c \u06d4 \u061b \u066a"
)
_QUOTES = _list(
    "' \" \u201d \u201c ` \u2018 \xb4 \u2019 \u201a , \u201e \xbb \xab \u300c \u300d \u300e "
    "\u300f \uff08 \uff09 \u3014 \u3015 \u3010 \u3011 \u300a \u300b \u3008 \u3009 \u27e6 \u27e7"
)
_CURRENCY = ["$", "\xa3", "\u20ac", "\xa5", "\u0e3f", "US$", "C$", "A$", "\ufdfc"] + [
    chr(c) for c in range(0x20A0, 0x20C0)
]
_UNITS = _list(
    "km km\xb2 km\xb3 m m\xb2 m\xb3 dm dm\xb2 dm\xb3 cm cm\xb2 cm\xb3 mm mm\xb2 mm\xb3 ha "
    "\xb5m nm yd in ft kg g mg \xb5g t lb oz m/s km/h kmh mph hPa Pa mbar mb MB kb KB gb GB "
    "tb TB T G M K %"
)
_HYPHENS = ["-", "\u2013", "\u2014", "--", "---", "\u2014\u2014", "~"]


def _alt(items: Iterable[str]) -> str:
    return "|".join(re.escape(item) for item in items)


def _cls(chars: Iterable[str]) -> str:
    """The members of a regex character class, contiguous code points as ranges (a class
    listing thousands of characters outside the BMP is slow to match)."""
    points = sorted({ord(c) for item in chars for c in item})
    out: list[str] = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        first, last = re.escape(chr(points[i])), re.escape(chr(points[j]))
        out.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return "".join(out)


_ICON = f"[{_cls(_ICONS)}]"
_Q = _cls(_QUOTES)
_PREFIX = re.compile(  # used with .match
    rf"(?:\u00a7|%|=|\u2014|\u2013|\+(?![0-9])|{_alt(_PUNCT)}|\.\.+|\u2026|{_alt(_QUOTES)}"
    rf"|{_alt(_CURRENCY)}|{_ICON})"
)
_SUFFIX = re.compile(
    rf"(?:{_alt(_PUNCT)}|\.\.+|\u2026|{_alt(_QUOTES)}|{_ICON}|'s|'S|\u2019s|\u2019S|\u2014"
    rf"|\u2013|(?<=[0-9])\+|(?<=\u00b0[FfCcKk])\.|(?<=[0-9])(?:{_alt(_CURRENCY)})"
    rf"|(?<=[0-9])(?:{_alt(_UNITS)})|(?<=[0-9{_cls(_LOWER)}%\u00b2\-+{_cls(_PUNCT)}|{_Q}])\."
    rf"|(?<=[{_cls(_UPPER)}][{_cls(_UPPER)}])\.)$"
)
_INFIX = re.compile(
    rf"\.\.+|\u2026|{_ICON}|(?<=[0-9])[+\-*^](?=[0-9-])"
    rf"|(?<=[{_cls(_LOWER)}{_Q}])\.(?=[{_cls(_UPPER)}{_Q}])|(?<=[{_ALPHA}]),(?=[{_ALPHA}])"
    rf"|(?<=[{_ALPHA}]|[0-9])(?:{_alt(_HYPHENS)})(?=[{_ALPHA}])"
    rf"|(?<=[{_ALPHA}]|[0-9])[:<>=/](?=[{_ALPHA}])"
)
_URL = re.compile(
    r"^(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?(?:(?!(?:10|127)(?:\.\d{1,3}){3})"
    r"(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))|(?:(?:[A-Za-z0-9\u00a1-\uffff]"
    r"[A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
    rf"(?:[{_cls(_LOWER)}]{{2,63}}))(?::\d{{2,5}})?(?:[/?#]\S*)?$"
)


_CONTRACTIONS = (  # (words, their endings; "+" separates the tokens of an ending)
    ("i", "'m m 'm+a m+a"),
    ("i you he she it we they", "'ll ll 'll+'ve ll+ve 'd d 'd+'ve d+ve"),
    ("i you we they", "'ve ve"),
    ("you we they", "'re re"),
    ("he she it who what when where why how there that this", "'s s"),
    ("who what when where why how there that this these those", "'ll ll 'll+'ve ll+ve"),
    ("who what when where why how there that this these those", "'d d 'd+'ve d+ve"),
    ("who what when where why how there these those", "'re re 've ve"),
    ("ca could do does did had may might must need ought sha should wo would", "n't nt"),
    ("ca could do does did had may might must need ought sha should wo would", "n't+'ve nt+ve"),
    ("could might must should would not", "'ve ve"),
    ("ai are is was were have has dare", "n't nt"),
    ("can", "not"),
    ("gon", "na"),
    ("got", "ta"),
    ("let", "'s"),
    ("c'm", "on"),
)


def _special_cases() -> dict[str, tuple[str, ...]]:
    """spaCy's English tokenizer exceptions (spacy/lang/en/tokenizer_exceptions.py and the
    base exceptions): the chunks that split in a fixed way or not at all."""
    exc: dict[str, tuple[str, ...]] = {}

    def add(*parts: str) -> None:
        exc["".join(parts)] = parts

    for words, endings in _CONTRACTIONS:
        for word in words.split():
            for cased in (word, word[0].upper() + word[1:]):
                for ending in endings.split():
                    add(cased, *ending.split("+"))
    for h in range(1, 13):
        for period in ("a.m.", "am", "p.m.", "pm"):
            add(str(h), period)
    add("y'", "all")
    add("y", "all")
    add("how", "'d", "'y")
    add("How", "'d", "'y")
    single = _list(
        "doin goin nothin nuthin ol somethin lovin havin Doin Goin Nothin Nuthin Ol Somethin "
        "Lovin Havin"
    )
    single = [*single, *(w + "'" for w in single), "em", "'em", "ll", "'ll", "nuff", "'nuff"]
    single += _list(
        "'S 's \u2018S \u2018s and/or w/o 're 'Cause 'cause 'cos 'Cos 'coz 'Coz 'cuz 'Cuz 'bout "
        "ma'am Ma'am o'clock O'clock Mt. Ak. Ala. Apr. Ariz. Ark. Aug. Calif. Colo. Conn. Dec. "
        "Del. Feb. Fla. Ga. Ia. Id. Ill. Ind. Jan. Jul. Jun. Kan. Kans. Ky. La. Mar. Mass. Mich. "
        "Minn. Miss. N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. S.C. "
        "Sep. Sept. Tenn. Va. Wash. Wis. 'd a.m. Adm. Bros. co. Co. Corp. D.C. Dr. e.g. E.g. "
        "E.G. Gen. Gov. i.e. I.e. I.E. Inc. Jr. Ltd. Md. Messrs. Mo. Mont. Mr. Mrs. Ms. p.m. "
        "Ph.D. Prof. Rep. Rev. Sen. St. vs. v.s. ' '' C++ <space> \\\") \\t \\n \u2014"
    )
    single += [f"{c}." for c in "abcdefghijklmnopqrstuvwxyz\xe4\xf6\xfc"]
    single += _list(  # emoticons
        ":) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 "
        ";) ;-) (; (-; :( :-( :(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ "
        "=| :| :-| ]= =[ :1 :P :-P :p :-p :O :-O :o :-o :0 :-0 :() >:o :* :-* :3 :-3 =3 :> "
        ":-> :X :-X :x :-x :D :-D ;D ;-D =D xD XD xDD XDD 8D 8-D ^_^ ^__^ ^___^ >.< >.> <.< "
        "._. ;_; -_- -__- v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0 o.O O.o O.O o.o 0.0 o.0 "
        "0.o @_@ <3 <33 <333 </3 (^_^) (-_-) (._.) (>_<) (*_*) (\xac_\xac) \u0ca0_\u0ca0 "
        "\u0ca0\ufe35\u0ca0 (\u0ca0_\u0ca0) \xaf\\(\u30c4)/\xaf "
        "(\u256f\xb0\u25a1\xb0\uff09\u256f\ufe35\u253b\u2501\u253b ><(((*>"
    )
    exc.update((s, (s,)) for s in single)
    for u in "cfkCFK":
        add("\xb0", u, ".")
    for word in _list("Ill ill Its its Hell hell Shell shell Shed shed were Were Well well Whore"):
        exc.pop(word, None)
    exc.pop("whore")
    exc.update(  # every apostrophe also as a typographic one
        {
            k.replace("'", "\u2019"): tuple(p.replace("'", "\u2019") for p in v)
            for k, v in exc.items()
            if "'" in k
        }
    )
    return exc


SPECIAL_CASES = _special_cases()


def _suffix_length(rest: str, start: int) -> int:
    """Length of the suffix spaCy splits off ``rest[start:]`` (its leftmost suffix match).

    Every suffix is at most 5 characters long but a run of dots, so the search starts near
    the end (lookbehinds still see the characters before it)."""
    pos = len(rest) - 6
    if rest.endswith(".."):
        pos = min(pos, len(rest.rstrip(".")))
    match = _SUFFIX.search(rest[start:], max(pos - start, 0))
    return len(rest) - start - match.start() if match else 0


def _split_chunk(chunk: str, specials: dict[str, tuple[str, ...]]) -> list[str]:
    """One whitespace-free chunk as spaCy's tokenizer splits it (``Tokenizer._split_affixes``
    and ``_attach_tokens``)."""
    if chunk in specials:
        return list(specials[chunk])
    prefixes: list[str] = []
    suffixes: list[str] = []
    rest = chunk
    last = -1
    while rest and len(rest) != last and rest not in specials:
        last = len(rest)
        match = _PREFIX.match(rest)
        pre = match.end() if match else 0
        if pre and rest[pre:] in specials:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
            break
        suf = _suffix_length(rest, pre)
        if suf and rest[:-suf] in specials:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
            break
        if pre:
            prefixes.append(rest[:pre])
        if suf:
            suffixes.append(rest[-suf:])
        rest = rest[pre : len(rest) - suf]
    out = prefixes
    if rest in specials:
        out.extend(specials[rest])
    elif rest and _URL.match(rest):
        out.append(rest)
    elif rest:
        start = 0
        for match in _INFIX.finditer(rest):
            if match.start() == 0:
                continue
            if match.start() != start:
                out.append(rest[start : match.start()])
            if match.end() != match.start():
                out.append(match.group())
            start = match.end()
        if rest[start:]:
            out.append(rest[start:])
    out.extend(reversed(suffixes))
    return out


def _affix_specials() -> dict[tuple[str, ...], str]:
    """Special cases that the affix rules split, by their split form (spaCy's special matcher
    merges such token runs back into one case, e.g. ``:`` ``)`` into ``:)``)."""
    out: dict[tuple[str, ...], str] = {}
    for orth in SPECIAL_CASES:
        parts = tuple(_split_chunk(orth, {}))
        if len(parts) > 1:
            out[parts] = orth
    return out


_AFFIX_SPECIALS = _affix_specials()
_AFFIX_FIRSTS = frozenset(parts[0] for parts in _AFFIX_SPECIALS)
_AFFIX_LENGTHS = sorted({len(parts) for parts in _AFFIX_SPECIALS}, reverse=True)


def _merge_specials(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in _AFFIX_FIRSTS:
            for n in _AFFIX_LENGTHS:
                orth = _AFFIX_SPECIALS.get(tuple(tokens[i : i + n]))
                if orth is not None:
                    out.extend(SPECIAL_CASES[orth])
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        else:
            out.append(tokens[i])
            i += 1
    return out


class WordSplitter:
    """Split text into words as datatrove does for English (spaCy's blank ``en`` tokenizer,
    whitespace tokens dropped), memoising each distinct whitespace-free chunk."""

    def __init__(self, cache_size: int = 200_000) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}
        self._cache_size = cache_size

    def __getstate__(self) -> dict[str, Any]:  # a copy for another process starts empty
        return {"_cache": {}, "_cache_size": self._cache_size}

    def chunk(self, chunk: str) -> tuple[str, ...]:
        """The words of one whitespace-free chunk."""
        words = self._cache.get(chunk)
        if words is None:
            if chunk.isalpha() and chunk not in SPECIAL_CASES:  # no rule splits letters
                tokens = [chunk]
            else:
                tokens = _split_chunk(chunk, SPECIAL_CASES)
            if len(tokens) > 1 and not _AFFIX_FIRSTS.isdisjoint(tokens):
                tokens = _merge_specials(tokens)
            words = tuple(tokens)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            if len(chunk) <= 64:  # long chunks (URLs, base64) rarely repeat
                self._cache[chunk] = words
        return words

    def words(self, text: str) -> list[str]:
        """The words of ``text``, punctuation tokens included."""
        cache = self._cache
        out: list[str] = []
        for chunk in text.split():
            words = cache.get(chunk)
            out.extend(self.chunk(chunk) if words is None else words)
        return out

    def count_sentences(self, line: str) -> int:
        """Sentences in ``line`` as spaCy's sentencizer counts them: a new one starts at the
        first non-punctuation word after a sentence-ending token (one of
        :data:`TERMINAL_PUNCTUATION`, which has 31 rare-script marks more than spaCy's)."""
        count = 1
        seen_end = False
        for word in self.words(line):
            if word in TERMINAL_PUNCTUATION:
                seen_end = True
            elif seen_end and not _is_punct(word):
                count += 1
                seen_end = False
        return count


def _is_punct(word: str) -> bool:
    return all(unicodedata.category(c).startswith("P") for c in word)
