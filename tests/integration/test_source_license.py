"""`source add --license` takes SPDX expressions, checked with license-expression's SPDX
licence list; custom terms are LicenseRef-NAME with --license-ref saying where they are
(issue #12). Errors name the bad token."""

from __future__ import annotations

import json

import pytest

ADD = ("source", "add", "s", "--kind", "crawl", "--origin", "https://example.org")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("MIT", "MIT"),
        ("mit or apache-2.0", "MIT OR Apache-2.0"),  # stored in SPDX's own spelling
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
        ("CC-BY-4.0 AND (MIT OR BSD-3-Clause)", "CC-BY-4.0 AND (MIT OR BSD-3-Clause)"),
    ],
)
def test_spdx_expressions_are_accepted_and_normalised(cli, given: str, stored: str) -> None:
    assert cli("init")[0] == 0
    code, out, err = cli(*ADD, "--license", given, "--json")
    assert code == 0, err
    assert json.loads(out)["license"] == stored and json.loads(out)["license_ref"] is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("Foo-1.0", "license: unknown SPDX license id 'Foo-1.0' in 'Foo-1.0'"),
        ("proprietary", "license: unknown SPDX license id 'proprietary' in 'proprietary'"),
        ("CC-BY-4.0 AND Fooo AND Baz-9", "license: unknown SPDX license ids 'Fooo', 'Baz-9' in"),
        ("MIT AND", "license: 'MIT AND' is not an SPDX expression: AND requires two or more"),
        (
            "Apache-2.0 WITH MIT",
            "license: 'Apache-2.0 WITH MIT' is not an SPDX expression: "
            'A plain license symbol cannot be used as an exception in a "WITH symbol" statement. '
            'for token: "MIT" at position: 16',
        ),
        ("MIT/Apache-2.0", "license: 'MIT/Apache-2.0' is not an SPDX expression"),
        ("  ", "license: must not be empty"),
    ],
)
def test_bad_licenses_are_refused_naming_the_token(cli, given: str, message: str) -> None:
    assert cli("init")[0] == 0
    code, _, err = cli(*ADD, "--license", given)
    assert code == 1 and err.startswith(f"error: {message}"), err
    assert "LicenseRef-" in err or "not an SPDX expression" in err or "empty" in err
    code, out, _ = cli("source", "list", "--json")
    assert json.loads(out) == []  # nothing registered


def test_custom_terms_are_a_license_ref_with_where_they_are(cli) -> None:
    assert cli("init")[0] == 0
    terms = "https://legal.acme.example/data-terms-v3.pdf"
    code, out, err = cli(*ADD, "--license", "LicenseRef-acme-internal AND CC-BY-4.0",
                         "--license-ref", terms, "--json")  # fmt: skip
    assert code == 0, err
    source = json.loads(out)
    assert source["license"] == "LicenseRef-acme-internal AND CC-BY-4.0"
    assert source["license_ref"] == terms
    code, out, _ = cli("source", "show", "s", "--json")
    assert json.loads(out)["license_ref"] == terms
    code, out, _ = cli("audit", "log", "--action", "source.add", "--json")
    assert json.loads(out)[0]["details"]["license_ref"] == terms
    # a LicenseRef without a ref is SPDX too (the terms are then known elsewhere)
    code, out, err = cli("source", "add", "t", "--kind", "vendor", "--origin", "s3://x",
                         "--license", "LicenseRef-vendor-dua", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["license_ref"] is None, err


def test_a_license_ref_needs_a_custom_license_in_the_expression(cli) -> None:
    assert cli("init")[0] == 0
    code, _, err = cli(*ADD, "--license", "MIT", "--license-ref", "https://x.example/terms")
    assert code == 1 and err.strip() == (
        "error: license-ref: 'MIT' names no custom license (LicenseRef-NAME) whose terms "
        "--license-ref could locate"
    )
