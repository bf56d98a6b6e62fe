"""ASCII smuggling: the text written in invisible Unicode TAG characters.

The Tags block mirrors printable ASCII at U+E0020..U+E007E (``TAG LATIN SMALL LETTER A`` is
U+E0061 = U+E0000 + ``a``); renderers draw nothing for them, yet they reach the model as text
(Riley Goodside's finding, written up at
https://embracethered.com/blog/posts/2024/hiding-and-finding-text-with-unicode-tags/). PyRIT's
``AsciiSmugglerConverter`` maps each printable ASCII character to ``U+E0000 + code`` and can
wrap the result in U+E0001 (LANGUAGE TAG) … U+E007F (CANCEL TAG); garak's ``TagSmuggling`` buff
appends the tags to an emoji (a tag sequence follows an emoji base, UTS #51). Here the tags
follow a visible ``carrier`` (empty: the text alone, wholly invisible), with the control tags
on request.

The Tags block has no characters for anything but printable ASCII, so the text is first
written in ASCII with Python's ``unicode_escape`` (a newline as ``\\n``, ``é`` as ``\\xe9``, a
backslash as ``\\\\``): the inverse is then exact for any text.
"""

from __future__ import annotations

import pydantic

from curata.redteam.converters.base import Converter, ConverterParams

TAG_OFFSET = 0xE0000
BEGIN, END = "\U000e0001", "\U000e007f"


def is_tag(char: str) -> bool:
    """Whether ``char`` is in the Unicode Tags block (U+E0000..U+E007F)."""
    return 0xE0000 <= ord(char) <= 0xE007F


class TagSmugglingParams(ConverterParams):
    carrier: str = pydantic.Field(
        default="😈",
        description="Visible text the invisible tags follow (garak appends them to an "
        "emoji); empty for the tags alone.",
    )
    control: bool = pydantic.Field(
        default=False,
        description="Wrap the tags in U+E0001 (LANGUAGE TAG) and U+E007F (CANCEL TAG), as "
        "PyRIT's unicode_tags option does.",
    )

    @pydantic.field_validator("carrier")
    @classmethod
    def _visible(cls, value: str) -> str:
        if any(is_tag(c) for c in value):
            raise ValueError("the carrier must not contain tag characters")
        return value


class TagSmuggling(Converter):
    """The text as invisible TAG characters after a visible carrier (module docstring)."""

    name = "tag_smuggling"
    summary = "Hide the text in invisible Unicode TAG characters after a visible carrier."
    Params = TagSmugglingParams
    reversible = True
    params: TagSmugglingParams

    def convert(self, text: str) -> str:
        ascii_text = text.encode("unicode_escape").decode("ascii")
        tags = "".join(chr(TAG_OFFSET + ord(c)) for c in ascii_text)
        if self.params.control:
            tags = BEGIN + tags + END
        return self.params.carrier + tags

    def decode(self, text: str) -> str:
        carrier = self.params.carrier
        if not text.startswith(carrier):
            raise self.fail(f"the text does not start with the carrier {carrier!r}")
        tags = text[len(carrier) :]
        if self.params.control:
            if not (tags.startswith(BEGIN) and tags.endswith(END) and len(tags) >= 2):
                raise self.fail("the tags are not wrapped in U+E0001 … U+E007F")
            tags = tags[1:-1]
        chars = []
        for i, c in enumerate(tags):
            code = ord(c) - TAG_OFFSET
            if not 0x20 <= code <= 0x7E:
                raise self.fail(f"U+{ord(c):04X} at character {len(carrier) + i + 1} is no tag")
            chars.append(chr(code))
        try:
            return "".join(chars).encode("ascii").decode("unicode_escape")
        except UnicodeDecodeError as exc:
            raise self.fail(f"the hidden text is not a valid escape ({exc.reason})") from exc
