"""The simple curation steps: normalize, length, field_filter and exact_dedup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ftfy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.helpers import decide

from curata.core.records import Record
from curata.curation.steps.base import Decision, Item, Step
from curata.curation.steps.exact_dedup import ExactDedup, ExactDedupParams
from curata.curation.steps.field_filter import FieldFilter, FieldFilterParams
from curata.curation.steps.length import Length, LengthParams
from curata.curation.steps.normalize import FTFY_CONFIG, Normalize, NormalizeParams, repair_unicode


def items(*records: Record) -> list[Item]:
    return [(r.id, r) for r in records]


def run_all(step: Step, batches: Sequence[Sequence[Record]]) -> list[Decision]:
    """Drive a needs_all step as an executor does: summarize every batch, prepare, apply."""
    assert step.needs_all
    step.prepare(iter([step.summarize(items(*b)) for b in batches]))
    return [d for b in batches for d in step.apply(items(*b))]


def chat(*turns: tuple[str, str], **metadata: Any) -> Record:
    return Record.from_messages([{"role": r, "content": c} for r, c in turns], metadata)


def assert_param_error(params: type, field: str, **kwargs: Any) -> None:
    with pytest.raises(ValidationError) as info:
        params(**kwargs)
    assert field in str(info.value)


# -- normalize -------------------------------------------------------------------------------


def normalized(text: str, **params: Any) -> str:
    return Normalize(NormalizeParams(**params)).normalize(text)


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("itâ€™s", "it’s"),
        ("cafÃ©", "café"),
        ("schÃ¶n", "schön"),
        ("â€œquotedâ€\x9d", "“quoted”"),
        # ftfy's documented examples (README and fix_encoding_and_explain docstring); curly
        # quotes stay curly because FTFY_CONFIG does not uncurl them
        ("âœ” No problems", "✔ No problems"),
        (
            "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.",
            "The Mona Lisa doesn’t have eyebrows.",
        ),
        ("sÃ³", "só"),
        ("voilÃ le travail", "voilà le travail"),
        ("¯\\_(ã\x83\x84)_/¯", "¯\\_(ツ)_/¯"),
    ],
)
def test_normalize_repairs_mojibake(broken: str, fixed: str) -> None:
    record = Record.from_text(broken, {"src": "web"})
    [decision] = decide(Normalize(NormalizeParams()), record)
    assert decision.action == "change"
    assert decision.record == Record.from_text(fixed, {"src": "web"})
    assert decision.reason == "normalised: unicode repaired (mojibake)"


def test_normalize_reason_lists_every_kind_of_change() -> None:
    [decision] = decide(Normalize(NormalizeParams()), Record.from_text("cafÃ©  cre\u0300me\x07"))
    assert decision.record is not None and decision.record.text == "café crème"
    assert decision.reason == (
        "normalised: unicode repaired (mojibake), NFC, control characters, whitespace"
    )
    assert decision.details["fields"] == ["text"]


def test_normalize_leaves_entities_quotes_and_fullwidth_alone_by_default() -> None:
    text = "“Tom &amp; Jerry” ＬＯＵＤ ﬁ"
    assert normalized(text) == "“Tom &amp; Jerry” ＬＯＵＤ fi"  # ftfy still splits ligatures
    assert normalized(text, form="NFKC") == "“Tom &amp; Jerry” LOUD fi"
    assert normalized("cafÃ©", fix_unicode=False) == "cafÃ©"


def test_repair_unicode_matches_ftfy_fix_text() -> None:
    text = "line one cafÃ©\r\nline two ﬂuﬃ\x1b[36mblue\x1b[0m\nitâ€™s\n" * 3
    fixed, labels = repair_unicode(text)
    assert fixed == ftfy.fix_text(text, FTFY_CONFIG)
    assert sorted(labels) == ["ligatures", "line breaks", "mojibake", "terminal escapes"]


def test_normalize_unicode_form() -> None:
    assert normalized("e\u0301") == "é"
    assert normalized("e\u0301", form="none") == "e\u0301"
    assert normalized("x\u00b2", form="NFKC") == "x2"


def test_normalize_control_characters() -> None:
    assert normalized("a\x00b\x1fc\x7fd\ufeffe\x9bf", fix_unicode=False) == "abcdef"
    # with repair on, ftfy first reads a C1 control as the Windows-1252 character it encodes
    assert normalized("a\x00b\x1fc\x7fd\ufeffe\x9bf") == "abcde\u203af"
    assert normalized("a\r\nb\rc\x0cd\u2028e", fix_unicode=False) == "a\nb\nc\nd\ne"
    assert normalized("col1\tcol2\n") == "col1\tcol2"
    assert normalized("a\x00b", control=False, fix_unicode=False) == "a\x00b"


def test_normalize_whitespace() -> None:
    text = "\n\n  def f():  \n      return  1\t\t+ 2 \n\n\n\n\nend\u00a0\u00a0here\n\n"
    assert normalized(text) == "  def f():\n      return 1 + 2\n\n\nend here"
    assert normalized(text, max_blank_lines=0) == "  def f():\n      return 1 + 2\nend here"
    assert normalized(text, keep_indent=False) == " def f():\n return 1 + 2\n\n\nend here"
    assert normalized(text, whitespace=False) == text
    assert normalized("one\ttab and\u00a0one nbsp") == "one\ttab and\u00a0one nbsp"


def test_normalize_reaches_a_fixed_point() -> None:
    # collapsing the tab and space exposes mojibake that ftfy repairs in a second round
    assert normalized("voilÃ\t le travail") == "voilà le travail"


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec=None), max_size=60))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalized(text)
    assert normalized(once) == once


@pytest.mark.parametrize(
    "text", ["cafÃ©  ", "  indented\n\n\n\n\nx", "Ã\x00©", "a \u3000\u00a0 b", "ÃƒÂ©\r\n"]
)
def test_normalize_is_idempotent_on_tricky_text(text: str) -> None:
    once = normalized(text)
    assert normalized(once) == once


def test_normalize_keeps_clean_records_and_never_drops() -> None:
    step = Normalize(NormalizeParams())
    clean = Record.from_text("Already clean.\n\nTwo paragraphs.")
    decisions = decide(step, clean, Record.from_text(""), Record.from_pair("q", "a"))
    assert [d.action for d in decisions] == ["keep", "keep", "keep"]


def test_normalize_chat_only_the_selected_roles() -> None:
    record = chat(("system", "Be  brief."), ("user", "cafÃ©?"), ("assistant", "Yes  ."))
    [d] = decide(Normalize(NormalizeParams(fields=("messages.user",))), record)
    assert d.record is not None and d.record.messages == [
        {"role": "system", "content": "Be  brief."},
        {"role": "user", "content": "café?"},
        {"role": "assistant", "content": "Yes  ."},
    ]
    assert d.details["fields"] == ["messages[1].content"]
    [d] = decide(Normalize(NormalizeParams()), record)
    assert d.record is not None
    assert [m["content"] for m in d.record.messages or []] == ["Be brief.", "café?", "Yes ."]


def test_normalize_pair_fields() -> None:
    record = Record.from_pair("cafÃ©", "ok  then", {"k": 1})
    [d] = decide(Normalize(NormalizeParams(fields=("response",))), record)
    assert d.record == Record.from_pair("cafÃ©", "ok then", {"k": 1})
    assert d.reason == "normalised: whitespace"


def test_normalize_params_errors_name_the_field() -> None:
    assert_param_error(NormalizeParams, "form", form="NFD")
    assert_param_error(NormalizeParams, "max_blank_lines", max_blank_lines=-1)
    assert_param_error(NormalizeParams, "nfc", nfc=True)
    assert_param_error(NormalizeParams, "messages.bot", fields=("messages.bot",))


# -- length ----------------------------------------------------------------------------------


def test_length_reasons_name_the_bound_and_value() -> None:
    step = Length(LengthParams(min_words=50))
    [d] = decide(step, Record.from_text(" ".join(["word"] * 12)))
    assert (d.action, d.reason) == ("drop", "too short: 12 words < min_words 50")
    assert d.details == {"bound": "min_words", "limit": 50, "value": 12}
    step = Length(LengthParams(max_chars=4000))
    [d] = decide(step, Record.from_text("x" * 5000))
    assert d.reason == "too long: 5000 chars > max_chars 4000"


def test_length_bounds_are_inclusive_and_none_is_unbounded() -> None:
    step = Length(LengthParams(min_chars=3, max_chars=5, min_words=1, max_words=2))
    texts = ["ab", "abc", "ab de", "abcdef", "a b c", ""]
    actions = [d.action for d in decide(step, *map(Record.from_text, texts))]
    assert actions == ["drop", "keep", "keep", "drop", "drop", "drop"]
    assert decide(Length(LengthParams()), Record.from_text(""))[0].action == "keep"


def test_length_chat_and_pair_measure_the_selected_text() -> None:
    record = chat(("user", "one two"), ("assistant", "three four five six"))
    assert decide(Length(LengthParams(max_words=5)), record)[0].reason == (
        "too long: 6 words > max_words 5"
    )
    user_only = Length(LengthParams(max_words=5, fields=("messages.user",)))
    assert decide(user_only, record)[0].action == "keep"
    pair = Record.from_pair("short?", "a much longer answer here")
    prompt_only = Length(LengthParams(min_words=3, fields=("prompt",)))
    assert decide(prompt_only, pair)[0].reason == "too short: 1 words < min_words 3"
    # joined by a blank line: 6 + 2 + 25 characters
    assert decide(Length(LengthParams(max_chars=32)), pair)[0].reason == (
        "too long: 33 chars > max_chars 32"
    )


def test_length_params_errors_name_the_field() -> None:
    assert_param_error(LengthParams, "min_words", min_words=-1)
    assert_param_error(LengthParams, "max_chars", min_chars=10, max_chars=5)
    assert_param_error(LengthParams, "max_words", max_words="many")


# -- field_filter ----------------------------------------------------------------------------


def keep_by_filter(*conditions: dict[str, Any], mode: str = "all") -> FieldFilter:
    return FieldFilter(FieldFilterParams.model_validate({"conditions": conditions, "mode": mode}))


def test_field_filter_drop_reason_names_condition_and_value() -> None:
    step = keep_by_filter({"field": "lang", "op": "in", "value": ["en"]})
    kept, dropped = decide(
        step, Record.from_text("a", {"lang": "en"}), Record.from_text("b", {"lang": "de"})
    )
    assert kept.action == "keep"
    assert (dropped.action, dropped.reason) == ("drop", "metadata.lang = 'de' not in ['en']")
    assert dropped.details == {"condition": 0, "field": "lang", "op": "in"}


@pytest.mark.parametrize(
    ("op", "value", "actual", "reason"),
    [
        ("in", ["a", "b"], "c", "metadata.f = 'c' not in ['a', 'b']"),
        ("not_in", ["spam"], "spam", "metadata.f = 'spam' in excluded ['spam']"),
        ("eq", "books", "web", "metadata.f = 'web' != 'books'"),
        ("ne", "web", "web", "metadata.f = 'web' equals excluded 'web'"),
        ("lt", 3, 3, "metadata.f = 3 not < 3"),
        ("le", 3, 3.5, "metadata.f = 3.5 not <= 3"),
        ("gt", 0.5, 0.5, "metadata.f = 0.5 not > 0.5"),
        ("ge", 0.5, 0.2, "metadata.f = 0.2 not >= 0.5"),
        ("ge", "2024-01-01", "2023-12-31", "metadata.f = '2023-12-31' not >= '2024-01-01'"),
        ("ge", 0.5, "high", "metadata.f = 'high' cannot be compared with 0.5 (ge)"),
        ("missing", None, 1, "metadata.f = 1 is present (missing)"),
        ("matches", r"^https://", "http://x", "metadata.f = 'http://x' does not match '^https://'"),
        ("matches", r"\d", 7, "metadata.f = 7 is not a string (matches '\\\\d')"),
    ],
)
def test_field_filter_each_op_fails_with_a_reason(
    op: str, value: Any, actual: Any, reason: str
) -> None:
    condition = {"field": "f", "op": op} | ({} if value is None else {"value": value})
    [d] = decide(keep_by_filter(condition), Record.from_text("x", {"f": actual}))
    assert (d.action, d.reason) == ("drop", reason)


@pytest.mark.parametrize(
    ("op", "value", "actual"),
    [
        ("in", ["a", "b"], "b"),
        ("not_in", ["spam"], "ham"),
        ("eq", 2, 2),
        ("ne", "web", "books"),
        ("lt", 3, 2),
        ("le", 3, 3),
        ("gt", 0.5, 0.6),
        ("ge", 0.5, 0.5),
        ("exists", None, None),
        ("matches", r"wiki", "en.wikipedia.org"),
    ],
)
def test_field_filter_each_op_holds(op: str, value: Any, actual: Any) -> None:
    condition = {"field": "f", "op": op} | ({} if value is None else {"value": value})
    [d] = decide(keep_by_filter(condition), Record.from_text("x", {"f": actual}))
    assert d.action == "keep"


@pytest.mark.parametrize("op", ["in", "not_in", "eq", "ne", "lt", "ge", "exists", "matches"])
def test_field_filter_a_missing_field_fails_everything_but_missing(op: str) -> None:
    value = {"in": ["x"], "not_in": ["x"], "exists": None, "matches": "x"}.get(op, 1)
    condition = {"field": "source.name", "op": op} | ({} if value is None else {"value": value})
    [d] = decide(keep_by_filter(condition), Record.from_text("x", {"source": {}}))
    assert d.action == "drop"
    assert d.reason.startswith("metadata.source.name is missing (")
    [d] = decide(keep_by_filter({"field": "source.name", "op": "missing"}), Record.from_text("x"))
    assert d.action == "keep"


def test_field_filter_dotted_paths_and_list_indexes() -> None:
    meta = {"source": {"name": "wiki", "tags": ["news", "en"]}, "score": 0.9}
    step = keep_by_filter(
        {"field": "source.name", "op": "eq", "value": "wiki"},
        {"field": "source.tags.1", "op": "in", "value": ["en", "fr"]},
        {"field": "score", "op": "ge", "value": 0.5},
    )
    assert decide(step, Record.from_text("x", meta))[0].action == "keep"
    [d] = decide(
        step, Record.from_text("x", {**meta, "source": {"name": "wiki", "tags": ["news"]}})
    )
    assert d.reason == "metadata.source.tags.1 is missing (in ['en', 'fr'])"


def test_field_filter_any_mode_lists_every_failure() -> None:
    step = keep_by_filter(
        {"field": "lang", "op": "eq", "value": "en"},
        {"field": "trusted", "op": "exists"},
        mode="any",
    )
    records = [
        Record.from_text("a", {"lang": "en"}),
        Record.from_pair("q", "a", {"trusted": True}),
        chat(("user", "hi"), lang="de"),
    ]
    kept_text, kept_pair, dropped_chat = decide(step, *records)
    assert kept_text.action == kept_pair.action == "keep"
    assert dropped_chat.reason == (
        "no condition holds: metadata.lang = 'de' != 'en'; metadata.trusted is missing (exists)"
    )


def test_field_filter_without_conditions_keeps_everything() -> None:
    for mode in ("all", "any"):
        assert decide(keep_by_filter(mode=mode), Record.from_text("x"))[0].action == "keep"


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ({"field": "f", "op": "matches", "value": "(unclosed"}, "conditions.0.value"),
        ({"field": "f", "op": "in", "value": "en"}, "conditions.0.value"),
        ({"field": "f", "op": "exists", "value": 1}, "conditions.0.value"),
        ({"field": "f", "op": "lt", "value": [1]}, "conditions.0.value"),
        ({"field": "f", "op": "like", "value": "x"}, "conditions.0.op"),
        ({"field": "a..b", "op": "exists"}, "conditions.0.field"),
        ({"field": "f", "op": "eq", "value": 1, "extra": 2}, "conditions.0.extra"),
    ],
)
def test_field_filter_params_errors_name_the_field(condition: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as info:
        FieldFilterParams.model_validate({"conditions": [condition]})
    assert named in str(info.value)
    assert_param_error(FieldFilterParams, "mode", mode="most")


def test_field_filter_bad_regex_message_says_why() -> None:
    with pytest.raises(ValidationError, match="bad regular expression '\\(unclosed'"):
        keep_by_filter({"field": "f", "op": "matches", "value": "(unclosed"})


# -- exact_dedup -----------------------------------------------------------------------------


def dedup(**params: Any) -> ExactDedup:
    return ExactDedup(ExactDedupParams(**params))


def test_exact_dedup_across_batches_keeps_first_by_default() -> None:
    a = Record.from_text("Hello   World", {"n": 1})
    b = Record.from_text("hello world\n", {"n": 2})
    c = Record.from_text("something else", {"n": 3})
    d = Record.from_text("HELLO WORLD", {"n": 4})
    decisions = run_all(dedup(), [[a, b], [c], [d]])
    assert [x.action for x in decisions] == ["keep", "drop", "keep", "drop"]
    assert decisions[1].reason == f"exact duplicate of {a.id} (same normalised text)"
    assert decisions[1].related == decisions[3].related == a.id
    assert decisions[3].details == {"keep": "first", "twins": 3}


def test_exact_dedup_normalisation_params() -> None:
    a, b = Record.from_text("Hello  world"), Record.from_text("hello world")
    assert [x.action for x in run_all(dedup(lowercase=False), [[a, b]])] == ["keep", "keep"]
    assert [x.action for x in run_all(dedup(collapse_whitespace=False), [[a, b]])] == [
        "keep",
        "keep",
    ]
    assert [x.action for x in run_all(dedup(), [[a, b]])] == ["keep", "drop"]


def test_exact_dedup_keep_longest_ties_go_to_the_first() -> None:
    short = Record.from_text("same text", {"i": 0})
    longer = Record.from_text("  same   text  ", {"i": 1})
    tie = Record.from_text("  SAME   TEXT  ", {"i": 2})
    decisions = run_all(dedup(keep="longest"), [[short], [longer, tie]])
    assert [x.action for x in decisions] == ["drop", "keep", "drop"]
    assert decisions[0].related == decisions[2].related == longer.id


@pytest.mark.parametrize(("order", "survivor"), [("max", 2), ("min", 1)])
def test_exact_dedup_keep_by_metadata(order: str, survivor: int) -> None:
    records = [
        Record.from_text("dup", {"score": "n/a"}),
        Record.from_text("dup", {"score": 0.2}),
        Record.from_text("dup", {"score": 0.9}),
        Record.from_text("dup", {"score": 0.9, "later": True}),
        Record.from_text("dup", {}),
    ]
    step = dedup(keep="metadata", keep_field="score", keep_order=order)
    decisions = run_all(step, [records[:2], records[2:]])
    assert [x.action == "keep" for x in decisions] == [i == survivor for i in range(5)]
    assert {x.related for x in decisions if x.action == "drop"} == {records[survivor].id}


def test_exact_dedup_keep_by_nested_metadata_and_without_any_value() -> None:
    a = Record.from_text("dup", {"q": {"stars": 3}})
    b = Record.from_text("dup", {"q": {"stars": 5}})
    step = dedup(keep="metadata", keep_field="q.stars")
    assert [x.action for x in run_all(step, [[a, b]])] == ["drop", "keep"]
    no_values = [Record.from_text("dup", {"k": i}) for i in range(3)]
    assert [x.action for x in run_all(step, [no_values])] == ["keep", "drop", "drop"]


def test_exact_dedup_chat_and_pair_fields() -> None:
    first = chat(("user", "What is 2+2?"), ("assistant", "4"))
    second = chat(("user", "what is 2+2?"), ("assistant", "Four."))
    no_system = chat(("user", "hi"))
    also_no_system = chat(("user", "hello"))
    step = dedup(fields=("messages.user",))
    actions = [x.action for x in run_all(step, [[first, second, no_system, also_no_system]])]
    assert actions == ["keep", "drop", "keep", "keep"]
    assert [x.action for x in run_all(dedup(), [[first, second]])] == ["keep", "keep"]
    system_only = dedup(fields=("messages.system",))
    assert [x.action for x in run_all(system_only, [[no_system, also_no_system]])] == [
        "keep",
        "keep",
    ]
    p1, p2 = Record.from_pair("Q", "A", {"i": 1}), Record.from_pair("q", "B", {"i": 2})
    assert [x.action for x in run_all(dedup(fields=("prompt",)), [[p1, p2]])] == ["keep", "drop"]


def test_exact_dedup_key_keeps_fields_and_kinds_apart() -> None:
    text = Record.from_text("q\n\na")
    pair = Record.from_pair("q", "a")
    swapped = chat(("assistant", "q"), ("user", "a"))
    same_roles = chat(("user", "q"), ("assistant", "a"))
    decisions = run_all(dedup(), [[text, pair, swapped, same_roles]])
    assert [x.action for x in decisions] == ["keep"] * 4


def test_exact_dedup_summaries_are_compact() -> None:
    record = Record.from_text("a long text " * 1000, {"score": 2})
    [(digest, length, value, record_id)] = dedup(keep="metadata", keep_field="score").summarize(
        items(record)
    )
    assert isinstance(digest, bytes) and len(digest) == 16
    assert (length, value, record_id) == (0, 2.0, record.id)
    [(_, length, value, _)] = dedup(keep="longest").summarize(items(record))
    assert (length, value) == (12000, None)


def test_exact_dedup_apply_needs_prepare() -> None:
    with pytest.raises(RuntimeError, match="prepare"):
        dedup().apply(items(Record.from_text("x")))


def test_exact_dedup_params_errors_name_the_field() -> None:
    assert_param_error(ExactDedupParams, "keep_field", keep="metadata")
    assert_param_error(ExactDedupParams, "keep_field", keep="first", keep_field="score")
    assert_param_error(ExactDedupParams, "keep", keep="last")
    assert_param_error(ExactDedupParams, "keep_order", keep_order="desc")


def test_step_metadata_and_default_params() -> None:
    steps: dict[type[Step], str] = {
        Normalize: "normalize",
        Length: "length",
        FieldFilter: "field_filter",
        ExactDedup: "exact_dedup",
    }
    for cls, name in steps.items():
        assert cls.name == name and cls.summary
        assert cls.needs_all is (cls is ExactDedup)
        for field in cls.Params.model_fields.values():
            assert field.description, (name, field)
        cls(cls.Params())
