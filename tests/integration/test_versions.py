"""Versions: immutability, no-change detection, diff, tags, append, fetch and export."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import text_rows, write_jsonl

from curata.core.errors import AlreadyExistsError, NotFoundError, ValidationError


def ids_of(ws, ref: str) -> set[str]:
    return {i for batch in ws.datasets.iter_records(ref) for i, _ in batch}


@pytest.fixture
def two_versions(ws, tmp_path: Path):
    """raw@1: ids 0..99; raw@2: 0..4 dropped, 10 and 11 edited, 100..102 new (key 'id')."""
    write_jsonl(tmp_path / "v1.jsonl", text_rows(100))
    ws.ingest([tmp_path / "v1.jsonl"], source="web", dataset="raw", key="id")
    rows = text_rows(95, start=5)
    for row in rows:
        if row["id"] in (10, 11):
            row["text"] += " (edited)"
    write_jsonl(tmp_path / "v2.jsonl", rows + text_rows(3, start=100))
    ws.ingest([tmp_path / "v2.jsonl"], source="web", dataset="raw", message="update")
    return ws


def test_versions_are_numbered_with_parents_and_digest(two_versions) -> None:
    ws = two_versions
    v1, v2 = ws.datasets.version("raw@1"), ws.datasets.version("raw@2")
    assert (v1.record_count, v2.record_count) == (100, 98)
    assert v2.parents == ["raw@1"] and v1.parents == []
    assert (v2.added, v2.removed) == (5, 7)  # 3 new + 2 edited; 5 dropped + 2 edited
    assert v1.digest != v2.digest and len(v2.digest) == 64
    assert ws.datasets.version("raw").number == 2  # a bare name is the latest
    assert [v.number for v in ws.datasets.log("raw")] == [2, 1]


def test_old_versions_are_immutable(two_versions, tmp_path: Path) -> None:
    ws = two_versions
    before = ids_of(ws, "raw@1")
    write_jsonl(tmp_path / "v3.jsonl", text_rows(5, start=500))
    ws.ingest([tmp_path / "v3.jsonl"], source="web", dataset="raw")
    assert ids_of(ws, "raw@1") == before and len(before) == 100
    assert len(ids_of(ws, "raw@3")) == 5


def test_reingesting_unchanged_content_makes_no_version(two_versions, tmp_path: Path) -> None:
    ws = two_versions
    result = ws.ingest([tmp_path / "v2.jsonl"], source="web", dataset="raw")
    assert not result.changed and result.version.ref == "raw@2"
    assert len(ws.datasets.log("raw")) == 2


def test_digest_depends_on_content_not_order_or_format(ws, tmp_path: Path) -> None:
    rows = text_rows(50)
    write_jsonl(tmp_path / "a.jsonl", rows)
    write_jsonl(tmp_path / "b.jsonl", list(reversed(rows)))
    a = ws.ingest([tmp_path / "a.jsonl"], source="web", dataset="a").version
    b = ws.ingest([tmp_path / "b.jsonl"], source="web", dataset="b").version
    assert a.digest == b.digest
    again = ws.ingest([tmp_path / "b.jsonl"], source="web", dataset="a")
    assert not again.changed


def test_diff_with_key_reports_changed_records(two_versions) -> None:
    d = two_versions.datasets.diff("raw@1", "raw@2", samples=10)
    assert d.key == "id"  # the dataset's key, recorded at first ingest
    assert (d.added, d.removed, d.changed, d.unchanged) == (3, 5, 2, 93)
    assert sorted(c["key"] for c in d.samples["changed"]) == [10, 11]
    assert all(c["new"].endswith("(edited)") for c in d.samples["changed"])
    assert {s["preview"].split()[1] for s in d.samples["added"]} == {"100", "101", "102"}


def test_diff_without_identity_field(two_versions) -> None:
    d = two_versions.datasets.diff("raw@1", "raw@2", key="no_such_field")
    assert (d.added, d.removed, d.changed) == (5, 7, 0)
    plain = two_versions.datasets.diff("raw@1", "raw@2", by_key=False)
    assert (plain.key, plain.added, plain.removed, plain.changed) == (None, 5, 7, 0)
    back = two_versions.datasets.diff("raw@2", "raw@1")
    assert (back.added, back.removed, back.changed) == (5, 3, 2)


def test_diff_of_missing_version_is_a_clear_error(two_versions) -> None:
    with pytest.raises(NotFoundError, match=r"no version '9' of dataset 'raw' \(versions are 1..2"):
        two_versions.datasets.diff("raw@1", "raw@9")
    with pytest.raises(NotFoundError, match="unknown dataset 'nope'"):
        two_versions.datasets.diff("nope@1", "raw@1")


def test_append_adds_to_latest_version(two_versions, tmp_path: Path) -> None:
    ws = two_versions
    write_jsonl(tmp_path / "more.jsonl", text_rows(4, start=1000))
    v = ws.ingest([tmp_path / "more.jsonl"], source="web", dataset="raw", append=True).version
    assert v.record_count == 102 and (v.added, v.removed) == (4, 0)
    assert ids_of(ws, "raw@2") <= ids_of(ws, v.ref)
    again = ws.ingest([tmp_path / "more.jsonl"], source="web", dataset="raw", append=True)
    assert not again.changed


def test_records_keep_their_source(ws, tmp_path: Path) -> None:
    ws.sources.add("vendor-a", kind="vendor", license="LicenseRef-vendor-a", origin="s3://a")
    write_jsonl(tmp_path / "a.jsonl", text_rows(10))
    write_jsonl(tmp_path / "b.jsonl", text_rows(4, start=50))
    ws.ingest([tmp_path / "a.jsonl"], source="web", dataset="mix")
    v = ws.ingest([tmp_path / "b.jsonl"], source="vendor-a", dataset="mix", append=True).version
    assert v.sources == {"vendor-a": 4, "web": 10}


def test_tags_address_versions(two_versions) -> None:
    ws = two_versions
    ws.datasets.tag("raw@1", "baseline")
    assert ws.datasets.version("raw@baseline").number == 1
    assert ws.datasets.version("raw@1").tags == ["baseline"]
    with pytest.raises(AlreadyExistsError, match="use --force"):
        ws.datasets.tag("raw@2", "baseline")
    ws.datasets.tag("raw@2", "baseline", force=True)
    assert ws.datasets.version("raw@baseline").number == 2
    with pytest.raises(ValidationError, match="cannot be a number"):
        ws.datasets.tag("raw@2", "7")
    with pytest.raises(NotFoundError):
        ws.datasets.version("raw@nosuchtag")


def test_fetch_one_record_by_id(two_versions) -> None:
    ws = two_versions
    record_id, record = next(ws.datasets.iter_records("raw@1"))[0]
    assert ws.datasets.record("raw@1", record_id) == record
    removed = next(i for i in ids_of(ws, "raw@1") if i not in ids_of(ws, "raw@2"))
    for _ in range(3):  # the first lookup scans; later ones use the cached version index
        with pytest.raises(NotFoundError, match="is not in raw@2"):
            ws.datasets.record("raw@2", removed)
    for record_id, record in next(ws.datasets.iter_records("raw@2")):
        assert ws.datasets.record("raw@2", record_id) == record
    with pytest.raises(ValidationError):
        ws.datasets.record("raw@1", "zz' OR 1=1 --")


def test_export_jsonl_reingests_to_the_same_digest(two_versions, tmp_path: Path) -> None:
    ws = two_versions
    out = tmp_path / "out.jsonl"
    assert ws.export("raw@2", format="jsonl", out=out) == 98
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert {r["curata_id"] for r in rows} == ids_of(ws, "raw@2")
    again = ws.ingest([out], source="web", dataset="copy")
    assert again.version.digest == ws.datasets.version("raw@2").digest
    with pytest.raises(ValidationError, match="already exists"):
        ws.export("raw@2", format="jsonl", out=out)


def test_export_parquet_and_hf(two_versions, tmp_path: Path) -> None:
    ws = two_versions
    ws.export("raw@1", format="parquet", out=tmp_path / "x.parquet")
    table = pq.read_table(tmp_path / "x.parquet")
    assert table.num_rows == 100 and {"curata_id", "text", "id"} <= set(table.column_names)
    ws.export("raw@1", format="hf", out=tmp_path / "hf")
    import datasets

    loaded = datasets.load_dataset(str(tmp_path / "hf"), split="train")
    assert loaded.num_rows == 100
    assert set(loaded["curata_id"]) == ids_of(ws, "raw@1")
    assert "raw@1" in (tmp_path / "hf" / "README.md").read_text("utf-8")


def test_invalid_names_are_refused(ws, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", text_rows(2))
    for bad in ("a@b", "../x", "", "with space"):
        with pytest.raises(ValidationError, match="invalid dataset name"):
            ws.ingest([tmp_path / "a.jsonl"], source="web", dataset=bad)


def test_diff_keyed_by_a_content_field(ws, tmp_path: Path) -> None:
    """Pairs identified by their prompt: a new response is a change, not remove + add."""
    write_jsonl(tmp_path / "a.jsonl", [{"prompt": f"q{i}", "response": "old"} for i in range(5)])
    rows = [{"prompt": f"q{i}", "response": "new" if i < 2 else "old"} for i in range(5)]
    write_jsonl(tmp_path / "b.jsonl", rows)
    ws.ingest([tmp_path / "a.jsonl"], source="web", dataset="pairs")
    ws.ingest([tmp_path / "b.jsonl"], source="web", dataset="pairs")
    d = ws.datasets.diff("pairs@1", "pairs@2", key="prompt")
    assert (d.added, d.removed, d.changed, d.unchanged) == (0, 0, 2, 3)
    assert sorted(c["key"] for c in d.samples["changed"]) == ["q0", "q1"]
