"""Homoglyphs: Latin letters swapped for Cyrillic and Greek letters that look the same.

Every pair is an entry of Unicode's confusables list (UTS #39,
https://www.unicode.org/Public/security/latest/confusables.txt, e.g.
``0430 ; 0061 ; MA # CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A``), the list
PyRIT's ``UnicodeConfusableConverter`` draws from through ``confusable_homoglyphs``. Only
whole-letter look-alikes from scripts a keyword filter would not fold are used, so the text
reads the same to a person and differs byte for byte. ``rate`` of the replaceable letters
(rounded up) are replaced, at positions drawn from ``seed``.
"""

from __future__ import annotations

import math

import pydantic

from curata.redteam.converters.base import Converter, SeededParams

CONFUSABLES = {
    "a": "\u0430", "c": "\u0441", "d": "\u0501", "e": "\u0435", "h": "\u04bb", "i": "\u0456",
    "j": "\u0458", "l": "\u04cf", "o": "\u043e", "p": "\u0440", "q": "\u051b", "s": "\u0455",
    "u": "\u03c5", "v": "\u03bd", "w": "\u051d", "x": "\u0445", "y": "\u0443",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d", "I": "\u0406",
    "J": "\u0408", "K": "\u041a", "M": "\u041c", "N": "\u039d", "O": "\u041e", "P": "\u0420",
    "S": "\u0405", "T": "\u0422", "X": "\u0425", "Y": "\u04ae", "Z": "\u0396",
}  # fmt: skip
"""Latin letter → its Cyrillic or Greek confusable (UTS #39 confusables.txt)."""


class HomoglyphParams(SeededParams):
    rate: float = pydantic.Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of the replaceable letters to replace (rounded up; 1 = all).",
    )


class Homoglyph(Converter):
    """Latin letters replaced by confusable Cyrillic or Greek ones (module docstring)."""

    name = "homoglyph"
    summary = "Swap Latin letters for look-alike Cyrillic/Greek ones (Unicode confusables)."
    Params = HomoglyphParams
    random = True
    params: HomoglyphParams

    def convert(self, text: str) -> str:
        places = [i for i, c in enumerate(text) if c in CONFUSABLES]
        count = math.ceil(self.params.rate * len(places))
        chars = list(text)
        for i in self.rng().sample(places, count):
            chars[i] = CONFUSABLES[chars[i]]
        return "".join(chars)
