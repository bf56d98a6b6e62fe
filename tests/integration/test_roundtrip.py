"""Property: any records survive ingest → export → re-ingest with the same ids and content."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curata.core.records import Record

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
metadata = st.dictionaries(
    names.filter(lambda k: k not in {"text", "messages", "prompt", "response", "curata_id"}),
    st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(names, c, max_size=3),
        max_leaves=6,
    ),
    max_size=4,
)
records = st.one_of(
    st.builds(Record.from_text, st.text(max_size=200), metadata),
    st.builds(Record.from_pair, st.text(max_size=50), st.text(max_size=50), metadata),
    st.builds(
        Record.from_messages,
        st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["system", "user", "assistant"]),
                    "content": st.text(max_size=40),
                }
            ),
            min_size=1,
            max_size=4,
        ),
        metadata,
    ),
)
counter = itertools.count()


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(records, min_size=1, max_size=12))
def test_export_then_reingest_is_the_identity(ws, tmp_path: Path, batch: list[Record]) -> None:
    n = next(counter)
    source = tmp_path / f"in-{n}.jsonl"
    source.write_text("".join(json.dumps(r.to_flat()) + "\n" for r in batch), "utf-8")
    v1 = ws.ingest([source], source="web", dataset=f"rt-{n}").version
    assert v1.record_count == len({r.id for r in batch})
    out = tmp_path / f"out-{n}.jsonl"
    ws.export(v1.ref, format="jsonl", out=out)
    v2 = ws.ingest([out], source="web", dataset=f"rt2-{n}").version
    assert v2.digest == v1.digest
    stored = {i: r for b in ws.datasets.iter_records(v2.ref) for i, r in b}
    assert stored == {r.id: r for r in batch}
