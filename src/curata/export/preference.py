"""Training rows from labelled records, in the shapes TRL's trainers take (pure, no I/O).

Each format is one function over one exported row (see :func:`curata.core.records.flat_row`:
content, metadata, ``curata_id`` and a release's ``curata_labels``) returning a
:class:`Converted`: the training rows it gives and, when it gives none, why.

=================  ===========================================================================
dpo                ``prompt``, ``chosen``, ``rejected`` (DPOTrainer, RewardTrainer)
sft                ``messages`` (SFTTrainer, conversational language modelling)
kto                ``prompt``, ``completion``, ``label`` (KTOTrainer, unpaired preference)
prompt-completion  ``prompt``, ``completion`` (SFTTrainer, prompt-completion)
=================  ===========================================================================

With ``conversational`` the prompt is a list of ``{role, content}`` messages (a chat context
as it is, a plain prompt as one user message) and each response one assistant message;
without it they are plain strings. Every row also carries ``curata_id``, the record it came
from.

How a preference becomes training rows: a choice of ``A`` or ``B`` is one pair (chosen,
rejected). A ranking gives one pair per two candidates of different ranks, the better-ranked
one chosen (``[1, 2, 3]`` → (1st, 2nd), (1st, 3rd), (2nd, 3rd); equal ranks give no pair). For
KTO, the chosen candidate (or the candidates ranked first) are desirable and the others
undesirable; ``both_bad`` makes both undesirable. SFT and prompt-completion take the single
preferred candidate. What a record cannot give is excluded with a reason, never dropped
silently: ``tie``, ``both_bad`` (DPO, SFT), ``no consensus`` (the release's vote was tied),
``unlabelled`` and ``not pairwise``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

TRAINING_FORMATS = ("dpo", "sft", "kto", "prompt-completion")
Row = dict[str, Any]


@dataclass(frozen=True)
class Converted:
    """The training rows one record gives, or why it gives none."""

    rows: list[Row] = field(default_factory=list)
    excluded: str | None = None


def preference_questions(labels: dict[str, Any] | None) -> set[str]:
    """Names of the questions in a release's labels whose value is a preference or a ranking."""
    return {name for name, value in (labels or {}).items() if _is_preference(value)}


def _is_preference(value: Any) -> bool:
    if isinstance(value, dict):
        return "choice" in value
    return isinstance(value, list) and bool(value) and all(_is_rank(r) for r in value)


def _is_rank(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def has_chat_context(row: Row) -> bool:
    """Whether a record's prompt is a chat context (so its training rows are conversational)."""
    return isinstance(row.get("messages"), list)


def _prompt(row: Row, conversational: bool) -> str | list[dict[str, Any]]:
    if has_chat_context(row):
        messages: list[dict[str, Any]] = row["messages"]
        return messages
    prompt = str(row.get("prompt") or "")
    return [{"role": "user", "content": prompt}] if conversational else prompt


def _answer(text: str, conversational: bool) -> str | list[dict[str, Any]]:
    return [{"role": "assistant", "content": text}] if conversational else text


def _judgement(row: Row, question: str) -> tuple[list[int] | None, str | None]:
    """Each candidate's rank (1 best) from the row's preference or ranking label, or why
    there is none."""
    if not isinstance(row.get("responses"), list):
        return None, "not pairwise"
    labels = row.get("curata_labels") or {}
    if question not in labels:
        return None, "unlabelled"
    value = labels[question]
    if value is None:
        return None, "no consensus"
    if isinstance(value, list):
        if len(value) != len(row["responses"]):
            return None, "ranking does not match the responses"
        return [int(r) for r in value], None
    choice = value.get("choice") if isinstance(value, dict) else value
    if choice in ("tie", "both_bad"):
        return None, str(choice)
    if choice not in ("A", "B") or len(row["responses"]) != 2:
        return None, "preference does not match the responses"
    return ([1, 2] if choice == "A" else [2, 1]), None


def _texts(row: Row) -> list[str]:
    return [str(r.get("text", "")) for r in row["responses"]]


def to_dpo(row: Row, *, question: str, conversational: bool) -> Converted:
    """``prompt``/``chosen``/``rejected`` rows: one per preferred pair of candidates."""
    ranks, why = _judgement(row, question)
    if ranks is None:
        return Converted(excluded=why)
    texts = _texts(row)
    prompt = _prompt(row, conversational)
    pairs = [(i, j) for i in range(len(ranks)) for j in range(len(ranks)) if ranks[i] < ranks[j]]
    pairs.sort(key=lambda p: (ranks[p[0]], ranks[p[1]], p))
    if not pairs:
        return Converted(excluded="tie")
    return Converted(
        [
            {
                "prompt": prompt,
                "chosen": _answer(texts[i], conversational),
                "rejected": _answer(texts[j], conversational),
                "curata_id": row["curata_id"],
            }
            for i, j in pairs
        ]
    )


def to_kto(row: Row, *, question: str, conversational: bool) -> Converted:
    """``prompt``/``completion``/``label`` rows: one per candidate, desirable or not."""
    labels = row.get("curata_labels") or {}
    value = labels.get(question)
    both_bad = isinstance(value, dict) and value.get("choice") == "both_bad"
    ranks, why = _judgement(row, question)
    if ranks is None and not both_bad:
        return Converted(excluded=why)
    texts = _texts(row)
    if ranks is None:
        desirable = [False] * len(texts)
    else:
        if len(set(ranks)) == 1:
            return Converted(excluded="tie")
        desirable = [r == min(ranks) for r in ranks]
    prompt = _prompt(row, conversational)
    return Converted(
        [
            {
                "prompt": prompt,
                "completion": _answer(text, conversational),
                "label": good,
                "curata_id": row["curata_id"],
            }
            for text, good in zip(texts, desirable, strict=True)
        ]
    )


def _best(row: Row, question: str) -> tuple[str | None, str | None]:
    """The single preferred candidate's text of a pairwise row, or why there is none."""
    ranks, why = _judgement(row, question)
    if ranks is None:
        return None, why
    best = [i for i, r in enumerate(ranks) if r == min(ranks)]
    if len(best) != 1:
        return None, "tie"
    return _texts(row)[best[0]], None


def _completion_of(row: Row, question: str) -> tuple[Any, str | None, str | None]:
    """(prompt, completion text, why not) of any record that has a prompt and an answer:
    a pairwise record's preferred candidate, a pair's response, a chat's last assistant turn."""
    if isinstance(row.get("responses"), list):
        text, why = _best(row, question)
        return (None, None, why) if text is None else (row, text, None)
    if isinstance(row.get("response"), str) and isinstance(row.get("prompt"), str):
        return row, row["response"], None
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if len(messages) < 2:
            return None, None, "no prompt before the response"
        if last.get("role") == "assistant" and isinstance(last.get("content"), str):
            return {"messages": messages[:-1]}, last["content"], None
        return None, None, "no assistant turn to learn"
    return None, None, "no prompt and response"


def to_sft(row: Row, *, question: str, conversational: bool = True) -> Converted:
    """``messages`` rows: the prompt and its preferred (or only) response as a conversation."""
    source, text, why = _completion_of(row, question)
    if text is None:
        return Converted(excluded=why)
    prompt = _prompt(source, True)
    assert isinstance(prompt, list)
    return Converted([{"messages": [*prompt, *_answer(text, True)], "curata_id": row["curata_id"]}])


def to_prompt_completion(row: Row, *, question: str, conversational: bool) -> Converted:
    """``prompt``/``completion`` rows: the prompt and its preferred (or only) response."""
    source, text, why = _completion_of(row, question)
    if text is None:
        return Converted(excluded=why)
    return Converted(
        [
            {
                "prompt": _prompt(source, conversational),
                "completion": _answer(text, conversational),
                "curata_id": row["curata_id"],
            }
        ]
    )


Converter = Callable[..., Converted]
CONVERTERS: dict[str, Converter] = {
    "dpo": to_dpo,
    "sft": to_sft,
    "kto": to_kto,
    "prompt-completion": to_prompt_completion,
}


def is_conversational(fmt: str, rows: Iterable[Row]) -> bool:
    """Whether a format's rows are written as conversations: always for SFT, else when any
    record has a chat context (one form per file, so ``datasets`` reads one schema)."""
    return fmt == "sft" or any(has_chat_context(row) for row in rows)
