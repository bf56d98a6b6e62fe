"""Leetspeak: letters written as the digits and symbols that look like them.

The table is PyRIT's ``LeetspeakConverter`` in its deterministic mode (the first substitution
of each letter: a→4, b→8, c→(, e→3, g→9, i→1, l→1, o→0, s→5, t→7, z→2), applied to both
cases, so ``leet`` becomes ``1337``. Not reversible: ``i`` and ``l`` both become ``1``.
"""

from __future__ import annotations

from curata.redteam.converters.base import Converter

LEET = {"a": "4", "b": "8", "c": "(", "e": "3", "g": "9", "i": "1", "l": "1", "o": "0",
        "s": "5", "t": "7", "z": "2"}  # fmt: skip
TABLE = str.maketrans({**LEET, **{k.upper(): v for k, v in LEET.items()}})


class Leetspeak(Converter):
    """Letters replaced by look-alike digits and symbols (see the module docstring)."""

    name = "leetspeak"
    summary = "Write letters as look-alike digits and symbols (a→4, e→3, o→0, …)."

    def convert(self, text: str) -> str:
        return text.translate(TABLE)
