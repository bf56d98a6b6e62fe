"""Characters pulled apart: a separator between every two characters of the text.

``char_spacing`` follows PyRIT's ``CharacterSpaceConverter`` ("h e l l o"; the bypass of
Meta's Prompt-Guard classifier Robust Intelligence described), without its removal of
punctuation, so the inverse is exact. ``zero_width`` puts an invisible zero-width character
there instead (the "imperceptible" perturbations of Boucher et al., *Bad Characters*, 2021):
the text looks unchanged and no longer matches a keyword. Both are reversible: the decoder
takes every other character, after checking that every gap holds the separator.
"""

from __future__ import annotations

from typing import Literal

import pydantic

from curata.redteam.converters.base import Converter, ConverterParams

ZERO_WIDTH = {
    "U+200B": "\u200b",  # ZERO WIDTH SPACE
    "U+200C": "\u200c",  # ZERO WIDTH NON-JOINER
    "U+200D": "\u200d",  # ZERO WIDTH JOINER
    "U+2060": "\u2060",  # WORD JOINER
    "U+FEFF": "\ufeff",  # ZERO WIDTH NO-BREAK SPACE
}


def spread(text: str, separator: str) -> str:
    """``separator`` between every two characters (code points) of ``text``."""
    return separator.join(text)


def gather(text: str, separator: str, *, converter: Converter) -> str:
    """The inverse of :func:`spread`; a text that is not its output is an error."""
    step = len(separator) + 1
    if text and (len(text) + len(separator)) % step:
        raise converter.fail("the text's length does not fit the separator")
    for i in range(1, len(text), step):
        if text[i : i + len(separator)] != separator:
            raise converter.fail(f"no separator at character {i + 1}")
    return text[::step]


class CharSpacingParams(ConverterParams):
    separator: str = pydantic.Field(
        default=" ", min_length=1, description="What to put between every two characters."
    )


class CharSpacing(Converter):
    """A separator (a space by default) between every two characters."""

    name = "char_spacing"
    summary = "Put a separator (a space by default) between every two characters."
    Params = CharSpacingParams
    reversible = True
    params: CharSpacingParams

    def convert(self, text: str) -> str:
        return spread(text, self.params.separator)

    def decode(self, text: str) -> str:
        return gather(text, self.params.separator, converter=self)


class ZeroWidthParams(ConverterParams):
    character: Literal["U+200B", "U+200C", "U+200D", "U+2060", "U+FEFF"] = pydantic.Field(
        default="U+200B",
        description="The invisible character inserted: zero width space U+200B, non-joiner "
        "U+200C, joiner U+200D, word joiner U+2060 or no-break space U+FEFF.",
    )


class ZeroWidth(Converter):
    """A zero-width character between every two characters (invisible when rendered)."""

    name = "zero_width"
    summary = "Insert an invisible zero-width character between every two characters."
    Params = ZeroWidthParams
    reversible = True
    params: ZeroWidthParams

    def convert(self, text: str) -> str:
        return spread(text, ZERO_WIDTH[self.params.character])

    def decode(self, text: str) -> str:
        return gather(text, ZERO_WIDTH[self.params.character], converter=self)
