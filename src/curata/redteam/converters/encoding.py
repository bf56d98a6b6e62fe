"""Encodings an attack's text can be hidden in: base64, hexadecimal (base16) and ROT13.

These follow garak's ``encoding`` probes (``InjectBase64``: ``base64.b64encode`` and
``urlsafe_b64encode`` of the UTF-8 bytes; ``InjectHex``: ``binascii.b2a_hex``;
``InjectROT13``: the 26 Latin letters rotated by 13) and PyRIT's ``Base64Converter``: the
converter only encodes; asking the model to decode ("Decode the following BASE64…", garak's
templates) is a framing, added with the ``template`` converter. Base64 and base16 are RFC 4648.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import string

import pydantic

from curata.redteam.converters.base import Converter, ConverterParams


class Base64Params(ConverterParams):
    urlsafe: bool = pydantic.Field(
        default=False,
        description="Use the URL- and filename-safe alphabet (- and _ for + and /), RFC 4648 §5.",
    )


class Base64(Converter):
    """The text's UTF-8 bytes in base64 (RFC 4648 §4, padded)."""

    name = "base64"
    summary = "Encode the text's UTF-8 bytes as base64 (RFC 4648)."
    Params = Base64Params
    reversible = True
    params: Base64Params

    def convert(self, text: str) -> str:
        raw = text.encode("utf-8")
        encoded = base64.urlsafe_b64encode(raw) if self.params.urlsafe else base64.b64encode(raw)
        return encoded.decode("ascii")

    def decode(self, text: str) -> str:
        altchars = b"-_" if self.params.urlsafe else None
        try:
            raw = base64.b64decode(text.encode("ascii"), altchars=altchars, validate=True)
            return raw.decode("utf-8")
        except (UnicodeError, binascii.Error) as exc:
            raise self.fail(f"not base64 of UTF-8 text ({exc})") from exc


class HexParams(ConverterParams):
    uppercase: bool = pydantic.Field(
        default=False, description="Write the digits A-F in capitals (RFC 4648 base16 does)."
    )
    separator: str = pydantic.Field(
        default="", description="Text between two bytes' digits, e.g. ' ' for '48 69'."
    )

    @pydantic.field_validator("separator")
    @classmethod
    def _no_hex_digits(cls, value: str) -> str:
        if any(c in string.hexdigits for c in value):
            raise ValueError("the separator must not contain hexadecimal digits")
        return value


class Hex(Converter):
    """The text's UTF-8 bytes as two hexadecimal digits each."""

    name = "hex"
    summary = "Encode the text's UTF-8 bytes as hexadecimal digits (base16)."
    Params = HexParams
    reversible = True
    params: HexParams

    def convert(self, text: str) -> str:
        digits = text.encode("utf-8").hex()
        if self.params.uppercase:
            digits = digits.upper()
        pairs = (digits[i : i + 2] for i in range(0, len(digits), 2))
        return self.params.separator.join(pairs)

    def decode(self, text: str) -> str:
        sep = self.params.separator
        step = range(0, len(text), 2)
        pairs = text.split(sep) if sep and text else [text[i : i + 2] for i in step]
        if any(len(pair) != 2 for pair in pairs):
            raise self.fail("not hexadecimal bytes (expected two digits per byte)")
        try:
            return bytes.fromhex("".join(pairs)).decode("utf-8")
        except (UnicodeError, ValueError) as exc:
            raise self.fail(f"not hexadecimal UTF-8 text ({exc})") from exc


class Rot13(Converter):
    """Every Latin letter a-z, A-Z moved 13 places along the alphabet; other characters as
    they are. Its own inverse."""

    name = "rot13"
    summary = "Rotate the Latin letters by 13 places (ROT13); other characters unchanged."
    reversible = True

    def convert(self, text: str) -> str:
        return codecs.encode(text, "rot13")

    def decode(self, text: str) -> str:
        return codecs.decode(text, "rot13")
