"""Ingest: every format, every record kind, and every kind of bad input (nothing committed)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import text_rows, write_jsonl

from curata.core.errors import InputError, NotFoundError


def nothing_committed(ws, dataset: str = "raw") -> None:
    with pytest.raises(NotFoundError):
        ws.datasets.get(dataset)
    assert ws.store.records().count_rows() == 0


def test_jsonl_ingest_creates_version_one(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", text_rows(20))
    result = ws.ingest([path], source="web", dataset="raw", message="first")
    v = result.version
    assert result.changed and v.ref == "raw@1" and v.record_count == 20
    assert v.author == "tester" and v.message == "first" and v.sources == {"web": 20}
    assert v.parents == [] and v.operation == "ingest"
    records = [r for batch in ws.datasets.iter_records("raw@1") for r in batch]
    assert sorted(r.text for _, r in records) == sorted(row["text"] for row in text_rows(20))
    assert all(r.metadata == {"id": int(r.text.split()[1])} for _, r in records)


def test_all_formats_give_the_same_records(ws, tmp_path: Path) -> None:
    rows = [{"text": f"line {i}", "lang": "en"} for i in range(5)]
    jsonl = write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "a.json").write_text(json.dumps(rows), "utf-8")
    with (tmp_path / "a.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "lang"])
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    digests = set()
    for name in ("a.jsonl", "a.json", "a.csv", "a.parquet", "b.jsonl.gz"):
        v = ws.ingest([tmp_path / name], source="web", dataset=name.replace(".", "-")).version
        assert v.record_count == 5, name
        digests.add(v.digest)
    assert len(digests) == 1  # same content → same ids, whatever the file format
    assert jsonl.exists()


def test_several_files_in_one_ingest_with_progress(ws, tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", text_rows(12_000))
    b = write_jsonl(tmp_path / "b.jsonl", text_rows(3, start=50_000))
    seen: list[tuple[int, int]] = []
    result = ws.ingest(
        [a, b], source="web", dataset="raw", progress=lambda d, t: seen.append((d, t))
    )
    assert result.version.record_count == 12_003 and result.records_read == 12_003
    total = a.stat().st_size + b.stat().st_size
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total and len(done) >= 3
    graph = ws.lineage.upstream("raw@1")
    assert sorted(e["records"] for e in graph.edges) == [3, 12_000]


def test_duplicate_source_is_refused(ws) -> None:
    from curata.core.errors import AlreadyExistsError

    with pytest.raises(AlreadyExistsError, match="source 'web' already exists"):
        ws.sources.add("web", kind="crawl", license="MIT", origin="https://other.example")
    assert ws.sources.get("web").license == "CC-BY-4.0"


def test_text_format_one_record_per_line(ws, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("first line\n\nsecond line\n", "utf-8")
    v = ws.ingest([path], source="web", dataset="notes").version
    texts = sorted(r.text for b in ws.datasets.iter_records(v.ref) for _, r in b)
    assert texts == ["first line", "second line"]


def test_chat_and_pair_records(ws, tmp_path: Path) -> None:
    chat = write_jsonl(
        tmp_path / "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                    {"role": "assistant", "content": "Paris."},
                ],
                "domain": "geo",
            }
        ],
    )
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"q": "2+2?", "a": "4", "split": "train"}])
    v1 = ws.ingest([chat], source="web", dataset="chat").version
    v2 = ws.ingest(
        [pairs], source="web", dataset="pairs", prompt_field="q", response_field="a"
    ).version
    [(_, c)] = next(ws.datasets.iter_records(v1.ref))
    [(_, p)] = next(ws.datasets.iter_records(v2.ref))
    assert c.kind == "chat" and len(c.messages) == 3 and c.metadata == {"domain": "geo"}
    assert (p.kind, p.prompt, p.response, p.metadata) == ("pair", "2+2?", "4", {"split": "train"})


def test_csv_messages_column_holds_json(ws, tmp_path: Path) -> None:
    path = tmp_path / "chat.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["conv", "team"])
        writer.writerow([json.dumps([{"role": "user", "content": "hi"}]), "a"])
    v = ws.ingest([path], source="web", dataset="c", messages_field="conv").version
    [(_, rec)] = next(ws.datasets.iter_records(v.ref))
    assert rec.messages == [{"role": "user", "content": "hi"}] and rec.metadata == {"team": "a"}


def test_identical_records_are_stored_once_across_datasets(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", text_rows(10) + text_rows(3))  # 3 repeated lines
    result = ws.ingest([path], source="web", dataset="one")
    assert result.version.record_count == 10 and result.duplicates == 3
    ws.ingest([path], source="web", dataset="two")
    assert ws.store.records().count_rows() == 10
    again = ws.ingest([path], source="web", dataset="two", append=True)
    assert not again.changed and again.duplicates == 3  # only repeats within the input count


# -- bad input ---------------------------------------------------------------------------------


def test_malformed_jsonl_names_file_and_line(ws, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "ok too"}\n{"text": oops}\n', "utf-8")
    with pytest.raises(InputError) as info:
        ws.ingest([path], source="web", dataset="raw")
    assert f"{path}:3" in str(info.value) and "malformed JSON" in str(info.value)
    nothing_committed(ws)


def test_later_bad_batch_commits_nothing(ws, tmp_path: Path) -> None:
    rows = [json.dumps(r) for r in text_rows(12_000)]
    rows[11_500] = "[1, 2]"
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(rows) + "\n", "utf-8")
    with pytest.raises(InputError, match=f"{path}:11501: expected a JSON object, got list"):
        ws.ingest([path], source="web", dataset="raw")
    nothing_committed(ws)


def test_missing_text_field_names_field_and_first_offending_line(ws, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl", [{"text": "a"}, {"text": "b"}, {"body": "c"}, {"body": "d"}]
    )
    with pytest.raises(InputError) as info:
        ws.ingest([path], source="web", dataset="raw")
    assert str(info.value).startswith(f"{path}:3: field 'text': missing (every record needs it")
    assert str(info.value).endswith("this record has: body")
    with pytest.raises(InputError) as info:
        ws.ingest([path], source="web", dataset="raw", text_field="text")
    assert str(info.value) == f"{path}:3: field 'text': missing (every record needs it)"
    nothing_committed(ws)


def test_a_file_may_mix_record_kinds(ws, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"text": "plain"},
            {"messages": [{"role": "user", "content": "hi"}]},
            {"prompt": "p", "completion": "c"},
        ],
    )
    v = ws.ingest([path], source="web", dataset="mixed").version
    kinds = sorted(r.kind for b in ws.datasets.iter_records(v.ref) for _, r in b)
    assert kinds == ["chat", "pair", "text"]


def test_wrong_type_and_unknown_kind(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": 42}])
    with pytest.raises(InputError, match="field 'text': expected a string, got int"):
        ws.ingest([path], source="web", dataset="raw")
    path = write_jsonl(tmp_path / "b.jsonl", [{"body": "x", "title": "y"}])
    with pytest.raises(InputError, match=r"b.jsonl:1: cannot tell the record kind.*body, title"):
        ws.ingest([path], source="web", dataset="raw")
    nothing_committed(ws)


def test_bad_chat_message_names_the_path(ws, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}],
    )
    with pytest.raises(InputError, match=r"c.jsonl:1: field 'messages\[1\].role': unknown role"):
        ws.ingest([path], source="web", dataset="raw")
    nothing_committed(ws)


def test_invalid_utf8_is_named_and_encoding_option_reads_it(ws, tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputError) as info:
        ws.ingest([path], source="web", dataset="raw")
    assert f"{path}:2: invalid utf-8 (byte 0xe9" in str(info.value)
    assert "--encoding" in str(info.value)
    nothing_committed(ws)
    v = ws.ingest([path], source="web", dataset="raw", encoding="latin-1").version
    texts = sorted(r.text for b in ws.datasets.iter_records(v.ref) for _, r in b)
    assert texts == ["café", "ok"]


def test_empty_file_is_refused(ws, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", "utf-8")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n", "utf-8")
    for path in (empty, blank):
        with pytest.raises(InputError, match=f"{path}: no records"):
            ws.ingest([path], source="web", dataset="raw")
    nothing_committed(ws)


def test_unknown_source_and_missing_file(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", text_rows(2))
    with pytest.raises(InputError, match="unknown source 'nope'"):
        ws.ingest([path], source="nope", dataset="raw")
    with pytest.raises(InputError, match=r"missing\.jsonl: no such file"):
        ws.ingest([tmp_path / "missing.jsonl"], source="web", dataset="raw")
    nothing_committed(ws)


def test_ten_megabyte_record_is_handled_and_limit_is_named(ws, tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": big}, {"text": "small"}])
    v = ws.ingest([path], source="web", dataset="raw").version
    assert v.record_count == 2
    rec = ws.datasets.record("raw@1", next(ws.datasets.iter_records("raw@1"))[0][0])
    assert len(rec.text) in (len(big), len("small"))
    with pytest.raises(InputError) as info:
        ws.ingest([path], source="web", dataset="other", max_record_bytes=1024 * 1024)
    assert f"{path}:1: record of" in str(info.value)
    assert "exceeds the limit of 1,048,576 bytes" in str(info.value)
    assert "--max-record-bytes" in str(info.value)


def test_csv_row_with_extra_values_is_named(ws, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("text,lang\nhello,en\nbad,en,extra\n", "utf-8")
    with pytest.raises(InputError, match=r"a.csv:3: 3 values for 2 columns"):
        ws.ingest([path], source="web", dataset="raw")
    nothing_committed(ws)


def test_not_a_parquet_file(ws, tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    path.write_text("not parquet", "utf-8")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        ws.ingest([path], source="web", dataset="raw")


def test_unknown_extension_asks_for_format(ws, tmp_path: Path) -> None:
    path = tmp_path / "a.data"
    path.write_text('{"text": "x"}\n', "utf-8")
    with pytest.raises(InputError, match="use --format"):
        ws.ingest([path], source="web", dataset="raw")
    assert ws.ingest([path], source="web", dataset="raw", format="jsonl").version.record_count == 1


def test_hostile_text_is_stored_verbatim(ws, tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script> [bold]not markup[/bold] \u202e\x00"
    path = write_jsonl(
        tmp_path / "h.jsonl", [{"text": hostile, "meta": "'; DROP TABLE sources;--"}]
    )
    v = ws.ingest([path], source="web", dataset="raw").version
    [(_, rec)] = next(ws.datasets.iter_records(v.ref))
    assert rec.text == hostile and rec.metadata == {"meta": "'; DROP TABLE sources;--"}
    assert ws.sources.get("web").name == "web"
