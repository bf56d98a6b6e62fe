"""Random capitalisation: a seeded share of the lower-case letters written in capitals.

PyRIT's ``RandomCapitalLettersConverter`` capitalises the letters at a percentage of randomly
drawn positions; here ``rate`` is the share of the text's lower-case letters (rounded up) and
the positions come from ``seed``. A letter whose capital is more than one character (``ß``)
stays as it is, so the text keeps its length.
"""

from __future__ import annotations

import math

import pydantic

from curata.redteam.converters.base import Converter, SeededParams


class RandomCapsParams(SeededParams):
    rate: float = pydantic.Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of the lower-case letters to capitalise (rounded up; 1 = all).",
    )


class RandomCaps(Converter):
    """Lower-case letters capitalised at seeded positions (module docstring)."""

    name = "random_caps"
    summary = "Capitalise a seeded random share of the lower-case letters."
    Params = RandomCapsParams
    random = True
    params: RandomCapsParams

    def convert(self, text: str) -> str:
        places = [i for i, c in enumerate(text) if c.islower() and len(c.upper()) == 1]
        chars = list(text)
        for i in self.rng().sample(places, math.ceil(self.params.rate * len(places))):
            chars[i] = chars[i].upper()
        return "".join(chars)
