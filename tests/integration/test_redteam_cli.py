"""`curata redteam` as a user runs it: list the converters, convert a text through a chain and
back, and get a one-line error for an unknown converter, a bad parameter or a chain that
cannot be undone."""

from __future__ import annotations

import base64
import codecs
import json

from curata.redteam.converters import registry


def test_converters_list_names_every_registered_converter(cli) -> None:
    code, out, _ = cli("redteam", "converters", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [c["name"] for c in listed] == sorted(registry())
    by_name = {c["name"]: c for c in listed}
    assert by_name["base64"]["reversible"] and not by_name["leetspeak"]["reversible"]
    assert by_name["homoglyph"]["random"]
    assert all(p["description"] for c in listed for p in c["params"])
    code, text, _ = cli("redteam", "converters", "list")
    assert code == 0 and "rot13 (reversible)" in text


def test_convert_applies_the_chain_in_order_and_decodes_it(cli) -> None:
    # rot13 then base64, checked with the standard library's own codecs
    expected = base64.b64encode(codecs.encode("Open the vault", "rot13").encode()).decode()
    code, out, _ = cli("redteam", "convert", "-c", "rot13 | base64", "Open the vault")
    assert (code, out) == (0, expected + "\n")
    code, out, _ = cli("redteam", "convert", "-c", "rot13|base64", "--decode", expected, "--json")
    data = json.loads(out)
    assert code == 0 and data["decoded"] == "Open the vault"
    assert [c["name"] for c in data["converters"]] == ["rot13", "base64"]


def test_convert_errors_name_what_is_wrong(cli) -> None:
    code, _, err = cli("redteam", "convert", "-c", "base65", "x")
    assert code == 1 and err.startswith("error: unknown converter 'base65' (known: base64,")
    code, _, err = cli("redteam", "convert", "-c", "homoglyph:rate=2", "x")
    assert code == 1 and "converter 'homoglyph' param 'rate'" in err
    code, _, err = cli("redteam", "convert", "-c", "leetspeak", "--decode", "x")
    assert code == 1 and "'leetspeak' has no inverse" in err
    assert len(err.strip().splitlines()) == 1
