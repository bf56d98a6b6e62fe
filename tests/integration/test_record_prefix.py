"""One rule for record ids everywhere (issue #12): `dataset record`, `why` and `lineage
--record` take the same prefixes (6+ hex digits), and refuse the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_jsonl

from curata.core.records import Record


def _twins() -> tuple[str, str]:
    """Two texts whose record ids share their first 6 hex digits (found by trying)."""
    seen: dict[str, str] = {}
    i = 0
    while True:
        text = f"twin candidate number {i}"
        prefix = Record.from_text(text).id[:6]
        if prefix in seen:
            return seen[prefix], text
        seen[prefix] = text
        i += 1


@pytest.fixture
def curated(cli, tmp_path: Path) -> dict[str, str]:
    """raw@1 with a record with an e-mail address, and twins; clean@1 with it redacted."""
    assert cli("init")[0] == 0
    add = ("source", "add", "web", "--kind", "crawl", "--license", "MIT", "--origin", "x")
    assert cli(*add)[0] == 0
    a, b = _twins()
    mail = "Write to jane.doe@example.com about the garden party"
    data = write_jsonl(tmp_path / "raw.jsonl", [{"text": t} for t in (mail, a, b)])
    assert cli("ingest", data, "--source", "web", "--dataset", "raw")[0] == 0
    spec = tmp_path / "p.yaml"
    spec.write_text("steps:\n  - pii\n", "utf-8")
    code, _, err = cli("curate", "raw@1", "--pipeline", spec, "--out", "clean")
    assert code == 0, err
    return {"mail": Record.from_text(mail).id, "twin": Record.from_text(a).id}


def test_dataset_record_takes_the_prefixes_why_and_lineage_take(cli, curated) -> None:
    full = curated["mail"]
    for prefix in (full[:6], full[:8], full[:12].upper(), full):
        code, out, err = cli("dataset", "record", "raw@1", prefix, "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert shown["id"] == full and shown["text"].startswith("Write to jane.doe@")
        code, out, err = cli("why", prefix, "--json")
        assert code == 0, err
        assert json.loads(out)["events"][0]["record_id"] == full
        code, out, err = cli("lineage", "--record", prefix, "--json")
        assert code == 0, err
        assert json.loads(out)["record_id"] == full


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("abc12",), "'abc12' is not a record id (32 hex digits, or a prefix of at least 6)"),
        (("xyz123",), "'xyz123' is not a record id (32 hex digits, or a prefix of at least 6)"),
        (("fffffff0",), "no record id starts with 'fffffff0'"),
    ],
)
def test_every_command_refuses_a_bad_id_the_same_way(
    cli, curated, args: tuple[str, ...], message: str
) -> None:
    for command in (("dataset", "record", "raw@1"), ("why",), ("lineage", "--record")):
        code, _, err = cli(*command, *args)
        assert code == 1 and err.strip() == f"error: {message}", (command, err)


def test_an_ambiguous_prefix_is_refused_by_every_command(cli, curated) -> None:
    prefix = curated["twin"][:6]
    for command in (("dataset", "record", "raw@1"), ("why",), ("lineage", "--record")):
        code, _, err = cli(*command, prefix)
        assert code == 1, (command, err)
        assert f"record id prefix {prefix!r} is ambiguous" in err, (command, err)
    code, out, err = cli("dataset", "record", "raw@1", curated["twin"], "--json")
    assert code == 0 and json.loads(out)["id"] == curated["twin"]
