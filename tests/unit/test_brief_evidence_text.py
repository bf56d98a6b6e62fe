"""`brief show` prints a brief's evidence in a line or two, not a screenful of JSON."""

from __future__ import annotations

import json

from curata.cli.briefs import EVIDENCE_CHARS, _evidence_text


def test_an_attribution_shows_its_first_suspect() -> None:
    evidence = {"suspects": [{"sentence": "refusal failures +12 pts; 83% ..."}, {"sentence": "x"}],
                "attributed": [{"nearest": list(range(500))}]}  # fmt: skip
    first = "attribution, first suspect: refusal failures +12 pts; 83% ..."
    assert _evidence_text(evidence) == first


def test_other_evidence_is_its_json_cut_with_the_full_length_named() -> None:
    small = {"eval_run": 3, "pass_rate": 0.71}
    assert _evidence_text(small) == json.dumps(small, sort_keys=True)
    big = {"notes": "n" * 1000}
    text = _evidence_text(big)
    full = len(json.dumps(big, sort_keys=True))
    assert text.startswith(json.dumps(big, sort_keys=True)[:EVIDENCE_CHARS])
    assert text.endswith(f"… ({full:,} characters; all of it with --json)")
    assert _evidence_text({}) == "-"
