"""What the scripted test double understands: the readings of an obfuscated text.

:func:`readings` undoes the common obfuscations a naive keyword guardrail misses, returning
every plausible plain reading of a text, lower case: invisible characters removed and
tag-character smuggling decoded, Unicode compatibility forms (NFKC), homoglyphs (Cyrillic and
Greek look-alikes) and diacritics folded, character spacing (``b o m b``, ``b-o-m-b``) closed
up, leetspeak (``b0mb``, ``k1ll`` / ``ki11``) and ROT13 reversed, base64 and hex payloads
decoded, and split payloads (``a = "bo"``, ``b = "mb"``, ``z = a + b``) assembled. Pure
functions of the text: the scripted target's guardrail and "model" call them, and nothing here
is a detector meant for real traffic.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
import unicodedata
from collections.abc import Iterable

INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"),
    None,
)
"""Zero-width and other invisible characters, deleted."""

TAG_BASE = 0xE0000
"""Unicode tag characters U+E0020-U+E007E mirror printable ASCII (smuggled, invisible text)."""

HOMOGLYPHS = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "с": "c", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t",
    "у": "y", "х": "x", "ԁ": "d", "ԝ": "w", "ɡ": "g", "п": "n", "г": "r", "ь": "b",
    "А": "a", "В": "b", "С": "c", "Е": "e", "Н": "h", "І": "i", "Ј": "j", "К": "k", "М": "m",
    "О": "o", "Р": "p", "Ѕ": "s", "Т": "t", "Х": "x", "У": "y", "Ԁ": "d", "Ԝ": "w",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "γ": "y", "μ": "u",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    # Latin look-alikes outside ASCII
    "ı": "i", "ȷ": "j", "ʟ": "l", "ɑ": "a", "ǀ": "l", "ⅼ": "l",
})
"""Look-alike letters mapped to the ASCII letter they imitate (NFKC handles full-width and
mathematical alphanumerics; this covers the scripts NFKC leaves alone)."""

LEET_I = str.maketrans({"4": "a", "@": "a", "8": "b", "(": "c", "3": "e", "6": "g", "9": "g",
                        "1": "i", "!": "i", "|": "l", "0": "o", "5": "s", "$": "s", "7": "t",
                        "+": "t", "2": "z"})
LEET_L = str.maketrans({"4": "a", "@": "a", "8": "b", "(": "c", "3": "e", "6": "g", "9": "g",
                        "1": "l", "!": "i", "|": "l", "0": "o", "5": "s", "$": "s", "7": "t",
                        "+": "t", "2": "z"})
"""Leetspeak, with ``1`` read as ``i`` and as ``l`` (``k1ll``, ``ki11``)."""

SPACED = re.compile(r"(?<![^\W_])(?:[^\W_][\s._\-*·|/]{1,3}){2,}[^\W_](?![^\W_])")
"""A run of three or more single characters each followed by a separator: ``b o m b``."""

ASSIGNED = re.compile(
    r"""\b([A-Za-z]\w{0,2})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"""
)
JOINED = re.compile(r"\b[A-Za-z]\w{0,2}\s*=\s*([A-Za-z]\w{0,2}(?:\s*\+\s*[A-Za-z]\w{0,2})+)")
"""Payload splitting: string variables (``a = "how to "``) and their sum (``z = a + b``)."""

BASE64 = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
HEX = re.compile(r"(?:0x)?(?:[0-9a-fA-F]{2}(?:[\s:,]|\\x)?){4,}")


def visible(text: str) -> str:
    """``text`` without invisible characters and tag characters."""
    return "".join(c for c in text.translate(INVISIBLE) if not _is_tag(c))


def smuggled(text: str) -> str:
    """The ASCII text hidden in tag characters, or an empty string."""
    return "".join(chr(ord(c) - TAG_BASE) for c in text if 0xE0020 <= ord(c) <= 0xE007E)


def fold(text: str) -> str:
    """Lower case, with compatibility forms, homoglyphs and diacritics folded (spacing kept)."""
    text = unicodedata.normalize("NFKC", text).translate(HOMOGLYPHS)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return text.lower()


def unspaced(text: str, words: Iterable[str] = ()) -> str:
    """Character-spaced runs closed up (``b o m b`` -> ``bomb``; two or more spaces between
    letters are a word boundary, ``h o w   t o`` -> ``how to``); within a closed run, a space
    is put back before each of ``words`` glued to a letter, so that a run that swallowed its
    neighbour (``a b o m b`` -> ``a bomb``) still shows the word."""
    stems = tuple(words)

    def close(match: re.Match[str]) -> str:
        words = [re.sub(r"[\s._\-*·|/]+", "", word) for word in re.split(r"\s{2,}",
                                                                         match.group(0))]
        run = " ".join(words)
        for stem in stems:
            run = re.sub(rf"(?<=[^\W_]){re.escape(stem)}", f" {stem}", run)
        return run

    return SPACED.sub(close, text)


def payloads(text: str) -> list[str]:
    """Texts decoded from the base64 and hex tokens of ``text`` that decode to readable UTF-8."""
    found: list[str] = []
    for token in BASE64.findall(text):
        raw = token.rstrip("=")
        padded = raw + "=" * (-len(raw) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = _readable(decode(padded))
            except (binascii.Error, ValueError):
                continue
            if decoded:
                found.append(decoded)
                break
    for token in HEX.findall(text):
        digits = re.sub(r"0x|\\x|[\s:,]", "", token)
        if len(digits) % 2:
            digits = digits[:-1]
        try:
            decoded = _readable(bytes.fromhex(digits))
        except ValueError:
            continue
        if decoded:
            found.append(decoded)
    return found


def joined(text: str) -> str | None:
    """The string a payload-split prompt asks to assemble (``z = a + b + c`` over its string
    variables), or None."""
    values = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
              for m in ASSIGNED.finditer(text)}
    for match in JOINED.finditer(text):
        names = [name.strip() for name in match.group(1).split("+")]
        if all(name in values for name in names):
            return "".join(_unescape(values[name]) for name in names)
    return None


def readings(text: str, words: Iterable[str] = ()) -> list[str]:
    """Every plain reading of ``text``, folded, without repeats, the direct one first; ``words``
    are the stems :func:`unspaced` keeps apart."""
    stems = tuple(words)
    sources = [visible(text)]
    hidden = smuggled(text)
    if hidden:
        sources.append(hidden)
    sources += payloads(sources[0])
    assembled = joined(sources[0])
    if assembled:
        sources.append(assembled)
    out: dict[str, None] = {}
    for source in sources:
        folded = fold(source)
        base, closed = _squash(folded), _squash(unspaced(folded, stems))
        for reading in (base, closed, closed.translate(LEET_I), closed.translate(LEET_L),
                        codecs.decode(closed, "rot13")):
            out.setdefault(reading, None)
    return list(out)


def _unescape(value: str) -> str:
    try:
        decoded = json.loads(f'"{value}"')
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def _squash(text: str) -> str:
    return " ".join(text.split())


def _is_tag(char: str) -> bool:
    return 0xE0000 <= ord(char) <= 0xE007F


def _readable(data: bytes) -> str | None:
    """``data`` as text when it is UTF-8, mostly printable and has letters; else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or sum(c.isprintable() or c.isspace() for c in text) < 0.95 * len(text):
        return None
    return text if sum(c.isalpha() for c in text) >= max(3, len(text) // 3) else None
