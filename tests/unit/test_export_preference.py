"""TRL training rows from labelled records (pure): plain and conversational forms, rankings
expanded to pairs, and every excluded record given its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trl.data_utils import is_conversational, maybe_extract_prompt

from curata.core.errors import ValidationError
from curata.export.preference import to_dpo, to_kto, to_prompt_completion, to_sft
from curata.export.training import export_training


def pairwise(prompt: Any, texts: list[str], label: Any, rid: str = "r1") -> dict[str, Any]:
    context = {"messages": prompt} if isinstance(prompt, list) else {"prompt": prompt}
    responses = [{"id": chr(65 + i), "text": t} for i, t in enumerate(texts)]
    labels = None if label is ... else {"q": label}
    return {"curata_id": rid, **context, "responses": responses, "curata_labels": labels}


def test_dpo_plain_form_is_strings_and_not_conversational_for_trl() -> None:
    out = to_dpo(pairwise("Say hi", ["hello", "go away"], {"choice": "B"}), question="q",
                 conversational=False)  # fmt: skip
    assert out.excluded is None
    assert out.rows == [
        {"prompt": "Say hi", "chosen": "go away", "rejected": "hello", "curata_id": "r1"}
    ]
    assert not is_conversational(out.rows[0]) and maybe_extract_prompt(out.rows[0]) == out.rows[0]


def test_dpo_conversational_form_makes_a_plain_prompt_one_user_message() -> None:
    out = to_dpo(pairwise("Say hi", ["hello", "go away"], {"choice": "A"}), question="q",
                 conversational=True)  # fmt: skip
    assert out.rows[0]["prompt"] == [{"role": "user", "content": "Say hi"}]
    assert out.rows[0]["chosen"] == [{"role": "assistant", "content": "hello"}]
    assert is_conversational(out.rows[0])


def test_a_ranking_expands_to_one_pair_per_two_candidates_of_different_rank() -> None:
    # ranks: b best, a and c tied second, d last
    row = pairwise("p", ["a", "b", "c", "d"], [2, 1, 2, 3])
    out = to_dpo(row, question="q", conversational=False)
    pairs = [(r["chosen"], r["rejected"]) for r in out.rows]
    assert pairs == [("b", "a"), ("b", "c"), ("b", "d"), ("a", "d"), ("c", "d")]
    kto = to_kto(row, question="q", conversational=False)
    assert [(r["completion"], r["label"]) for r in kto.rows] == [
        ("a", False),
        ("b", True),
        ("c", False),
        ("d", False),
    ]
    assert to_sft(row, question="q").rows[0]["messages"][-1]["content"] == "b"


@pytest.mark.parametrize(
    ("label", "dpo", "kto", "sft"),
    [
        ({"choice": "tie"}, "tie", "tie", "tie"),
        ({"choice": "both_bad"}, "both_bad", None, "both_bad"),
        (None, "no consensus", "no consensus", "no consensus"),
        (..., "unlabelled", "unlabelled", "unlabelled"),
        ([1, 1], "tie", "tie", "tie"),
    ],
)
def test_records_without_a_preferred_response_are_excluded_with_a_reason(
    label: Any, dpo: str, kto: str | None, sft: str
) -> None:
    row = pairwise("p", ["a", "b"], label)
    assert to_dpo(row, question="q", conversational=False).excluded == dpo
    assert to_kto(row, question="q", conversational=False).excluded == kto
    assert to_sft(row, question="q").excluded == sft


def test_both_bad_gives_two_undesirable_kto_rows() -> None:
    out = to_kto(pairwise("p", ["a", "b"], {"choice": "both_bad"}), question="q",
                 conversational=False)  # fmt: skip
    assert [(r["completion"], r["label"]) for r in out.rows] == [("a", False), ("b", False)]


def test_sft_and_prompt_completion_take_chat_and_pair_records_as_they_are() -> None:
    chat = {
        "curata_id": "c",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ],
    }
    pair = {"curata_id": "p", "prompt": "2+2?", "response": "4"}
    assert to_sft(chat, question="").rows == [{"messages": chat["messages"], "curata_id": "c"}]
    assert to_sft(pair, question="").rows[0]["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert to_prompt_completion(pair, question="", conversational=False).rows == [
        {"prompt": "2+2?", "completion": "4", "curata_id": "p"}
    ]
    assert to_prompt_completion(chat, question="", conversational=True).rows[0] == {
        "prompt": [{"role": "user", "content": "hi"}],
        "completion": [{"role": "assistant", "content": "hello"}],
        "curata_id": "c",
    }
    text = {"curata_id": "t", "text": "just text"}
    assert to_sft(text, question="").excluded == "no prompt and response"
    assert to_dpo(pair, question="q", conversational=False).excluded == "not pairwise"


def _batches(rows: list[dict[str, Any]]) -> Any:
    return lambda: iter([rows])


def test_export_writes_one_form_per_file_and_refuses_to_write_nothing(tmp_path: Path) -> None:
    chat = [{"role": "user", "content": "hey"}]
    rows = [
        pairwise("plain", ["a", "b"], {"choice": "A"}, "r1"),
        pairwise(chat, ["c", "d"], {"choice": "B"}, "r2"),
    ]
    result = export_training(_batches(rows), fmt="dpo", out=tmp_path / "d.jsonl")
    assert result.conversational and result.rows == 2 and result.question == "q"
    out = tmp_path / "none.jsonl"
    ties = [pairwise("p", ["a", "b"], {"choice": "tie"})]
    with pytest.raises(ValidationError, match=r"no dpo rows to write: every one of 1 records"):
        export_training(_batches(ties), fmt="dpo", out=out)
    assert not out.exists()
    two = [{**rows[0], "curata_labels": {"q": {"choice": "A"}, "r": [1, 2]}}]
    with pytest.raises(ValidationError, match=r"several preference or ranking questions \(q, r\)"):
        export_training(_batches(two), fmt="dpo", out=out)
    picked = export_training(_batches(two), fmt="dpo", out=out, question="r")
    assert (picked.question, picked.rows, picked.conversational) == ("r", 1, False)
