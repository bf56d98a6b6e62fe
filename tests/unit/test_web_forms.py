"""The form guard's reading of a urlencoded body (``curata.web.forms.form_problem``)."""

from __future__ import annotations

from urllib.parse import urlencode

from curata.web.forms import form_problem


def test_well_formed_forms_pass_whatever_their_text() -> None:
    body = urlencode({"name": "ann", "note": "café ✓ <script>", "empty": ""}).encode()
    assert form_problem(body) is None
    assert form_problem(b"") is None and form_problem(b"a=1&&b") is None  # as browsers send
    assert form_problem("note=café".encode()) is None  # raw UTF-8, not escaped


def test_a_bad_value_or_name_is_named() -> None:
    assert form_problem(b"ok=1&note=caf%E9") == (
        "form field 'note': not UTF-8 text (byte 4 of the value)"
    )
    assert form_problem(b"note=\xff") == "form field 'note': not UTF-8 text (byte 1 of the value)"
    assert form_problem(b"a=1&%FF=2") == "form field 2: its name is not UTF-8 text"
    assert form_problem(b"x=a%00b") == "form field 'x': contains a NUL character"
    assert form_problem(b"x%00=1") == "form field 'x\\x00': contains a NUL character"
