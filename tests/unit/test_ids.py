"""Record ids: a hash of canonical content, the same on every machine."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curata.core.ids import canonical_json
from curata.core.records import Record, RecordShapeError, check_messages


def test_text_record_id_is_sha256_of_the_documented_canonical_form() -> None:
    # The canonical form is spelled out here by hand (sorted keys, no spaces, UTF-8 kept).
    canonical = '{"kind":"text","metadata":{"lang":"fr"},"text":"déjà vu"}'
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    assert Record.from_text("déjà vu", {"lang": "fr"}).id == expected


def test_chat_and_pair_ids_follow_the_same_rule() -> None:
    chat = '{"kind":"chat","messages":[{"content":"hi","role":"user"}],"metadata":{}}'
    pair = '{"kind":"pair","metadata":{},"prompt":"q","response":"a"}'
    assert (
        Record.from_messages([{"role": "user", "content": "hi"}]).id
        == hashlib.sha256(chat.encode()).hexdigest()[:32]
    )
    assert Record.from_pair("q", "a").id == hashlib.sha256(pair.encode()).hexdigest()[:32]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=10,
)


@given(st.text(), st.dictionaries(st.text(), json_values, max_size=6))
def test_id_ignores_key_order_and_roundtrips_through_storage(text: str, metadata: dict) -> None:
    record = Record.from_text(text, metadata)
    reordered = Record.from_text(text, dict(reversed(list(metadata.items()))))
    assert reordered.id == record.id
    assert Record.from_row(record.to_row()).id == record.id


@given(st.text(), st.text())
def test_different_content_gets_different_ids(a: str, b: str) -> None:
    assert (Record.from_text(a).id == Record.from_text(b).id) == (a == b)


def test_kind_is_part_of_identity() -> None:
    assert Record.from_text("x", {"response": "y"}).id != Record.from_pair("x", "y").id


def test_nan_has_no_canonical_form() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


@pytest.mark.parametrize(
    ("messages", "path"),
    [
        ("hello", "messages"),
        ([], "messages"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"role": "user"}], "messages[0].content"),
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": 3}],
            "messages[1].content",
        ),
    ],
)
def test_bad_messages_name_the_field_path(messages: object, path: str) -> None:
    with pytest.raises(RecordShapeError) as info:
        check_messages(messages)
    assert info.value.field_path == path


@given(
    st.one_of(
        st.builds(Record.from_text, st.text(), st.dictionaries(st.text(), json_values, max_size=4)),
        st.builds(Record.from_pair, st.text(), st.text(), st.dictionaries(st.text(), json_values)),
        st.builds(
            Record.from_messages,
            st.lists(
                st.fixed_dictionaries(
                    {"role": st.sampled_from(["user", "assistant"]), "content": st.text()}
                ),
                min_size=1,
                max_size=3,
            ),
        ),
    )
)
def test_cached_canonical_form_equals_serialising_the_whole_record(record: Record) -> None:
    whole = {"kind": record.kind, **record.content(), "metadata": record.metadata}
    assert record.canonical() == canonical_json(whole)


def test_a_record_pickles_to_its_equal_with_its_id_and_without_its_other_caches() -> None:
    import copy
    import pickle

    records = [
        Record.from_text("a  text", {"url": "https://x.example", "n": 1}),
        Record.from_text("no metadata"),
        Record.from_messages([{"role": "user", "content": "hi"}]),
        Record.from_pair("q", "a", {"k": [1, 2]}),
        Record.from_pairwise("q", ["one", "two"]),
    ]
    for record in records:
        fresh = pickle.loads(pickle.dumps(record))
        assert fresh == record and fresh.kind == record.kind
        assert fresh._cache == {}  # an id never asked for is not made up on the way
        known = record.id
        record.canonical()
        again = pickle.loads(pickle.dumps(record))
        assert again._cache == {"id": known}  # the id travels, the canonical text does not
        assert again.id == known == Record(**{
            f: getattr(record, f) for f in
            ("kind", "text", "messages", "prompt", "response", "metadata", "responses")
        }).id  # fmt: skip
        assert copy.deepcopy(record) == record and copy.copy(record) == record
        assert Record.from_row(record.to_row()) == record
    assert Record.from_text("x").to_row()["metadata"] == "{}"
