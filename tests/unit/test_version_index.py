"""The in-memory version index: exact answers, including ids that share their first 64 bits."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from curata.store.records import ID_DTYPE, VersionIndex, id_prefix_u64


def test_prefix_is_the_first_sixteen_hex_digits() -> None:
    ids = np.array(["0123456789abcdef" + "0" * 16, "f" * 32], dtype=ID_DTYPE)
    assert list(id_prefix_u64(ids)) == [0x0123456789ABCDEF, 0xFFFFFFFFFFFFFFFF]


def test_lookup_is_exact_even_when_prefixes_collide() -> None:
    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(1000)]
    twins = ["abcdef0123456789" + "0" * 16, "abcdef0123456789" + "1" * 16]  # same 64-bit prefix
    all_ids = ids + twins
    rows = list(range(100, 100 + len(all_ids)))
    index = VersionIndex.build(pa.table({"record_id": all_ids, "row": rows}))
    for record_id, row in zip(all_ids, rows, strict=True):
        assert index.row_of(record_id) == row
    assert index.row_of("abcdef0123456789" + "2" * 16) is None
    assert index.row_of("0" * 32) is None
