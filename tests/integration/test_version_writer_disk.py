"""A version's state on disk while it is written (issue #17): the writer keeps the version's
ids, its parent's and the added manifest rows in SQLite, and asks the record store which
payloads it holds (in memory for a small store; its B-tree index behind a Bloom filter for a
large one). Both lookups give the same versions, its files go when it ends, and its memory
does not grow with the number of records."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import text_rows, write_jsonl

from curata.core.records import Record
from curata.store import entries
from curata.store import records as store_records


def history(ws: Any, tmp_path: Path) -> list[tuple[str, int, int, int, str]]:
    """Ingest a first version, an edit that removes a few, an append, an unchanged re-ingest,
    one that removes most (the manifest rewritten), and a file with repeats; return each
    version's (ref, records, added, removed, digest)."""
    tmp_path.mkdir()
    rows = text_rows(300)
    write_jsonl(tmp_path / "v1.jsonl", rows)
    edited = [dict(r, text=r["text"] + " (ed)") if r["id"] % 9 == 0 else r for r in rows[7:]]
    write_jsonl(tmp_path / "v2.jsonl", edited)
    write_jsonl(tmp_path / "more.jsonl", text_rows(40, start=1000))
    write_jsonl(tmp_path / "few.jsonl", rows[:20] + text_rows(5, start=2000))
    write_jsonl(tmp_path / "twice.jsonl", rows[:30] + rows[:30] + text_rows(3, start=3000))
    ws.ingest([tmp_path / "v1.jsonl"], source="web", dataset="raw", key="id")
    ws.ingest([tmp_path / "v2.jsonl"], source="web", dataset="raw", message="edit")
    ws.ingest([tmp_path / "more.jsonl"], source="web", dataset="raw", append=True)
    again = ws.ingest([tmp_path / "more.jsonl"], source="web", dataset="raw", append=True)
    assert not again.changed
    ws.ingest([tmp_path / "few.jsonl"], source="web", dataset="raw", force=True)
    twice = ws.ingest([tmp_path / "twice.jsonl"], source="web", dataset="raw", force=True)
    assert twice.duplicates == 30
    out = []
    for number in range(1, 6):
        v = ws.datasets.version(f"raw@{number}")
        out.append((v.ref, v.record_count, v.added, v.removed, v.digest))
    return out


def ids_in_order(ws: Any, ref: str) -> list[str]:
    return [i for batch in ws.datasets.iter_records(ref) for i, _ in batch]


def test_store_lookups_through_the_index_give_the_same_versions(
    ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curata.workspace import Workspace

    # past 50 removed ids (and 5% of the parent) the manifest is rewritten, not deleted from
    monkeypatch.setattr(store_records, "DELETE_CHUNK", 50)
    expected = history(ws, tmp_path / "a")
    # the counts follow from the files: 300; 293 (ids 0-6 gone, the 33 multiples of 9 edited:
    # 33 added, 7 + 33 removed); 40 appended; 25 (ids 0-19 of which 11 are in the parent
    # unedited, and 5 new: 14 added, 333 - 11 removed, a rewrite); 33 (ids 0-29 once, 3 new:
    # 10 + 3 added, the 5 new of before removed)
    assert [v[1:4] for v in expected] == [
        (300, 300, 0), (293, 33, 40), (333, 40, 0), (25, 14, 322), (33, 13, 5),
    ]  # fmt: skip
    for ref, count, *_, digest in expected:
        ids = ids_in_order(ws, ref)
        assert len(ids) == len(set(ids)) == count
        assert digest == hashlib.sha256("".join(sorted(ids)).encode()).hexdigest()

    monkeypatch.setattr(store_records, "SCAN_ROWS", 0)  # every store is "large"
    monkeypatch.setattr(store_records, "LOOKUP_ROWS", 7)
    scans = []
    real = store_records.StoredIds.rows_of

    def counted(self: Any, *args: Any) -> Any:
        scans.append(1)
        return real(self, *args)

    monkeypatch.setattr(store_records.StoredIds, "rows_of", counted)
    # a filter of 1,024 bits: nearly every id "may be stored", so most new payloads come from
    # the spill of maybe-stored records after the scan finds them absent
    for name, bits in (("large", store_records.BLOOM_BITS), ("saturated", 1 << 10)):
        monkeypatch.setattr(store_records, "BLOOM_BITS", bits)
        other = Workspace.create(tmp_path / name, database_url=None, user="tester")
        other.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        try:
            scans.clear()
            assert history(other, tmp_path / f"{name}-files") == expected
            assert scans  # the maybe-stored records were resolved by a scan of the store
            for ref, *_ in expected:
                assert ids_in_order(other, ref) == ids_in_order(ws, ref)
            # no payload was stored twice: the store holds each id once
            ids = other.store.records().to_table(columns=["id"]).column("id").to_pylist()
            assert len(ids) == len(set(ids))
        finally:
            other.close()


def test_the_writer_removes_its_files_when_it_commits_or_is_given_up(
    ws: Any, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    store = ws.store
    store.initialise()
    writer = store.version_writer("k1", None, scratch=scratch)
    writer.add([Record(kind="text", text="a")], source=None, origins=[None])
    assert len(list(scratch.iterdir())) == 1
    result = writer.commit()
    assert result.record_count == 1 and list(scratch.iterdir()) == []
    given_up = store.version_writer("k2", None, scratch=scratch)
    given_up.add([Record(kind="text", text="b")], source=None, origins=[None])
    given_up.close()
    given_up.close()  # twice is fine
    assert list(scratch.iterdir()) == []


def test_writer_memory_does_not_grow_with_the_records(
    ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak Python memory of writing 20k records and of 80k differ by far less than the ~450
    bytes a record the in-memory writer took (27 MB here); the payload buffer, the lookup
    gathering and the rows read back at a time are bounded by their settings. The second and
    third versions are written over a store that holds the first's records ("large": the
    Bloom filter, the spill of maybe-stored records and the scan at the commit)."""
    monkeypatch.setattr(store_records, "FRAGMENT_ROWS", 4_000)
    monkeypatch.setattr(store_records, "LOOKUP_ROWS", 2_000)
    monkeypatch.setattr(store_records, "SCAN_ROWS", 0)
    monkeypatch.setattr(entries, "READ_ROWS", 2_000)
    store = ws.store
    store.initialise()

    def peak(n: int, key: str, text: str) -> int:
        writer = store.version_writer(key, None, scratch=tmp_path / "s")
        tracemalloc.start()
        for start in range(0, n, 1000):
            batch = [Record(kind="text", text=f"{text} {i}") for i in range(start, start + 1000)]
            writer.add(batch, source="web", origins=[None] * len(batch))
        result = writer.commit()
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.record_count == n
        return top

    peak(80_000, "first", "document")  # imports and caches; the payloads the next ones reuse
    small, large = peak(20_000, "small", "document"), peak(80_000, "large", "document")
    assert large - small < 4 * 1024 * 1024, (small, large)
    rows = store.records().count_rows()
    assert rows == 80_000  # the second and third stored no payload again


def test_a_curation_over_a_large_store_writes_what_a_small_one_does(
    ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output writer of a resumable (in-process) run keeps its files outside the run's
    resumable scratch directory, which the run empties when it starts: with every store
    "large", the maybe-stored records' spill must survive to the commit."""
    from curata.curation.pipeline import parse_pipeline

    rows = text_rows(400) + [dict(r, id=r["id"] + 1000) for r in text_rows(40)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    ws.ingest([tmp_path / "in.jsonl"], source="web", dataset="raw")
    pipeline = parse_pipeline(["normalize", "exact_dedup"])
    small = ws.curation.curate("raw@1", pipeline, "small", batch_size=64).version
    monkeypatch.setattr(store_records, "SCAN_ROWS", 0)
    monkeypatch.setattr(store_records, "LOOKUP_ROWS", 50)
    large = ws.curation.curate("raw@1", pipeline, "large", batch_size=64).version
    # the 40 repeated texts (other ids in metadata) are exact duplicates: 400 kept
    assert large.record_count == small.record_count == 400 and large.digest == small.digest
    assert ids_in_order(ws, large.ref) == ids_in_order(ws, small.ref)
    assert list((ws.home / "scratch").iterdir()) == []
