"""curation.diskmap: an id map on disk with a Bloom filter in front (issue #17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from curata.curation import diskmap
from curata.curation.diskmap import DiskMap


def test_values_sets_and_misses(tmp_path: Path) -> None:
    m = DiskMap(tmp_path / "m.sqlite")
    m.put_many([("a", ("b", 2)), ("c", None)])
    m.add_many(["d"])
    assert m.get_many(["a", "c", "d", "x", "a"]) == {"a": ("b", 2), "c": None, "d": None}
    assert m.contains_many(["x", "d", "y"]) == {"d"}
    assert "a" in m and "zz" not in m and 3 not in m
    assert len(m) == 3
    m.put_many([("a", "replaced")])
    assert m.get_many(["a"]) == {"a": "replaced"} and len(m) == 3
    m.close()


def test_reopened_map_answers_from_its_file(tmp_path: Path) -> None:
    """A resumed run reopens the map: the ids on file must be found (the filter is rebuilt)."""
    first = DiskMap(tmp_path / "m.sqlite")
    first.put_many((f"id-{i}", i) for i in range(5000))
    first.close()
    again = DiskMap(tmp_path / "m.sqlite")
    found = again.get_many([f"id-{i}" for i in range(0, 10_000, 7)])
    assert found == {f"id-{i}": i for i in range(0, 5000, 7)}


@pytest.mark.parametrize("bits", [64, 1 << 20])
def test_a_crowded_filter_is_slower_never_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int
) -> None:
    """With a filter far too small every lookup passes it (64 bits) and SQLite decides; with a
    roomy one the answers are the same."""
    monkeypatch.setattr(diskmap, "BLOOM_BITS", bits)
    m = DiskMap(tmp_path / "m.sqlite")
    stored = {f"r{i}" for i in range(0, 20_000, 3)}
    m.add_many(sorted(stored))
    asked = [f"r{i}" for i in range(20_000)]
    assert m.contains_many(asked) == stored
    assert len(m._maybe(asked)) >= len(stored)  # the filter never rules out a stored id
    if bits > 64:
        assert len(m._maybe(asked)) < len(stored) + 200  # and rules out most of the others
