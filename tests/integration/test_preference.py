"""Preference data that trains a model (#12): pairwise records → a preference project → answers
through the queue → release → TRL files that load in ``datasets`` and pass TRL's own checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

from curata.core.errors import InputError, NotFoundError, ValidationError

SYSTEM = {"role": "system", "content": "Answer in one sentence."}
# prompt key → (record, what ann1 answers, what ann2 answers)
ITEMS: dict[str, tuple[dict[str, Any], Any, Any]] = {
    "capital": (
        {"prompt": "Capital of France?", "responses": ["Paris.", "Lyon."], "topic": "geo"},
        "A",
        {"choice": "A"},
    ),
    "boil": (
        {
            "prompt": "Boiling point of water at sea level?",
            "responses": [
                {"id": "small", "text": "About 90 C.", "model": "small-1"},
                {"id": "large", "text": "100 degrees Celsius.", "model": "large-2"},
            ],
        },
        "large",  # by the candidate's id
        "B",  # by its letter
    ),
    "sum": (
        {
            "messages": [SYSTEM, {"role": "user", "content": "What is 2 + 2?"}],
            "responses": [
                {"text": "4.", "model": "large-2"},
                {"text": "Five.", "model": "small-1"},
            ],
        },
        "A",
        "A",
    ),
    "colour": (
        {"prompt": "Colour of the sky?", "responses": ["Blue.", "Azure."]},
        "tie",
        "tie",
    ),
    "moon": (
        {"prompt": "Who walked on Mars first?", "responses": ["Armstrong.", "Gagarin."]},
        "both_bad",
        "both_bad",
    ),
    "split": (
        {"prompt": "Best editor?", "responses": ["vim.", "emacs."]},
        "A",
        "B",
    ),
}
SCHEMA = {"questions": [{"type": "preference", "name": "better"}]}


def _key(record: dict[str, Any]) -> str:
    prompt = record.get("prompt") or record["messages"][-1]["content"]
    return next(k for k, (row, _, _) in ITEMS.items() if (row.get("prompt") or "") == prompt
                or ("messages" in row and row["messages"][-1]["content"] == prompt))  # fmt: skip


def _as_shown(shown: dict[str, Any], row: dict[str, Any], answer: Any) -> Any:
    """ITEMS name candidates by the record's letter or id; an annotator answers by the letter
    shown to them (candidates are shown blind, in their own order)."""
    choice = answer["choice"] if isinstance(answer, dict) else answer
    if choice in ("tie", "both_bad"):
        return answer
    ids = [c.get("id") if isinstance(c, dict) else None for c in row["responses"]]
    candidate = row["responses"][ids.index(choice) if choice in ids else "AB".index(choice)]
    text = candidate if isinstance(candidate, str) else candidate["text"]
    letter = next(c["letter"] for c in shown["responses"] if c["text"] == text)
    return {**answer, "choice": letter} if isinstance(answer, dict) else letter


def _labelled(ws, tmp_path: Path) -> str:
    """Ingest ITEMS, run the project through the queue with two annotators, release."""
    path = write_jsonl(tmp_path / "prefs.jsonl", [row for row, _, _ in ITEMS.values()])
    v = ws.ingest([path], source="web", dataset="prefs").version
    for name in ("ann1", "ann2"):
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create("judge", version=v.ref, schema=SCHEMA, overlap=2, members=["ann1", "ann2"])
    for column, user in ((1, "ann1"), (2, "ann2")):
        while (view := ws.queue.next_task("judge", user)) is not None:
            assert view.record["kind"] == "pairwise"
            row, *answers = ITEMS[_key(view.record)]
            answer = _as_shown(view.record, row, answers[column - 1])
            ws.queue.submit(view.assignment_id, user, {"better": answer})
    return ws.releases.release("judge").version.ref


def test_pairwise_jsonl_ingests_as_first_class_records(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prefs.jsonl", [row for row, _, _ in ITEMS.values()])
    v = ws.ingest([path], source="web", dataset="prefs").version
    records = {_key(r.content()): r for batch in ws.datasets.iter_records(v.ref) for _, r in batch}
    assert v.record_count == 6 and {r.kind for r in records.values()} == {"pairwise"}
    boil = records["boil"]
    assert boil.prompt == "Boiling point of water at sea level?" and boil.messages is None
    assert boil.responses == [
        {"id": "small", "text": "About 90 C.", "model": "small-1"},
        {"id": "large", "text": "100 degrees Celsius.", "model": "large-2"},
    ]
    assert records["sum"].messages == ITEMS["sum"][0]["messages"]
    assert records["capital"].metadata == {"topic": "geo"}


def test_a_jsonl_export_of_pairwise_records_reingests_to_the_same_ids(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prefs.jsonl", [row for row, _, _ in ITEMS.values()])
    v = ws.ingest([path], source="web", dataset="prefs").version
    ws.export(v.ref, format="jsonl", out=tmp_path / "out.jsonl")
    again = ws.ingest([tmp_path / "out.jsonl"], source="web", dataset="again").version
    assert again.digest == v.digest and again.record_count == 6


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "q", "responses": ["only"]}, ":2: field 'responses': a pairwise record"),
        ({"responses": ["a", "b"]}, ":2: field 'prompt': missing"),
        ({"prompt": "q", "responses": ["a", 42]}, ":2: field 'responses[1]': expected a string"),
        ({"prompt": "q", "responses": ["a", {"text": ["x"]}]}, ":2: field 'responses[1].text'"),
    ],
)
def test_malformed_pairwise_input_names_file_line_and_field_and_commits_nothing(
    ws, tmp_path: Path, row: dict[str, Any], message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [ITEMS["capital"][0], row])
    with pytest.raises(InputError) as info:
        ws.ingest([path], source="web", dataset="prefs")
    assert f"{path}{message}" in str(info.value)
    with pytest.raises(NotFoundError):
        ws.datasets.get("prefs")


def test_a_preference_over_a_candidate_the_record_lacks_is_refused(ws, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prefs.jsonl", [ITEMS["capital"][0]])
    v = ws.ingest([path], source="web", dataset="prefs").version
    ws.workforce.add_user("ann1", role="annotator")
    ws.projects.create("judge", version=v.ref, schema=SCHEMA, overlap=1, members=["ann1"])
    view = ws.queue.next_task("judge", "ann1")
    with pytest.raises(ValidationError) as info:
        ws.queue.submit(view.assignment_id, "ann1", {"better": "C"})
    assert "question 'better': choice 'C' is not a response of this record" in str(info.value)
    done = ws.queue.submit(view.assignment_id, "ann1", {"better": "B"})
    assert done.answers == {"better": {"choice": "B"}}


def _tokenizer(words: set[str]) -> Any:
    """A word-level tokenizer built here (no download), with a plain chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[UNK]", "[PAD]", "[EOS]", *sorted(words)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [EOS] {% endfor %}"
        "{% if add_generation_prompt %}<assistant> {% endif %}"
    )
    return tokenizer


def _words(*texts: str) -> set[str]:
    from tokenizers import pre_tokenizers

    split = pre_tokenizers.Whitespace()
    return {w for t in texts for w, _ in split.pre_tokenize_str(t)}


def _spaced(text: str) -> str:
    """``text`` as the word-level tokenizer decodes it (its pieces joined by spaces)."""
    from tokenizers import pre_tokenizers

    return " ".join(w for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(text))


def test_release_exports_dpo_that_trl_reads_with_ties_and_both_bad_counted(
    ws, tmp_path: Path
) -> None:
    from datasets import load_dataset
    from trl.data_utils import is_conversational, maybe_apply_chat_template, maybe_extract_prompt

    ref = _labelled(ws, tmp_path)
    out = tmp_path / "dpo.jsonl"
    result = ws.export_training(ref, format="dpo", out=out)
    assert (result.records, result.used, result.rows) == (6, 3, 3)
    assert result.excluded == {"tie": 1, "both_bad": 1, "no consensus": 1}
    assert result.conversational and result.question == "better"

    user = lambda text: [{"role": "user", "content": text}]  # noqa: E731
    said = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    expected = {  # written from ITEMS: what the annotators chose, and the other candidate
        "Capital of France?": (user("Capital of France?"), said("Paris."), said("Lyon.")),
        "Boiling point of water at sea level?": (
            user("Boiling point of water at sea level?"),
            said("100 degrees Celsius."),
            said("About 90 C."),
        ),
        "What is 2 + 2?": (
            [SYSTEM, *user("What is 2 + 2?")],
            said("4."),
            said("Five."),
        ),
    }
    data = load_dataset("json", data_files=str(out), split="train")
    assert data.num_rows == 3
    got = {row["prompt"][-1]["content"]: row for row in data}
    assert set(got) == set(expected)
    for prompt, (messages, chosen, rejected) in expected.items():
        row = got[prompt]
        assert (row["prompt"], row["chosen"], row["rejected"]) == (messages, chosen, rejected)
        assert is_conversational(row)
        assert maybe_extract_prompt(row) == row  # the prompt is explicit already

    texts = [m["content"] for r in data for k in ("prompt", "chosen", "rejected") for m in r[k]]
    tokenizer = _tokenizer(_words(*texts, "<user> <assistant> <system>"))
    rendered = maybe_apply_chat_template(got["What is 2 + 2?"], tokenizer)
    assert rendered["prompt"].endswith("<user> What is 2 + 2? [EOS] <assistant> ")
    assert rendered["chosen"] == "4. [EOS] " and rendered["rejected"] == "Five. [EOS] "
    _dpo_trainer_reads(data, tokenizer, tmp_path, chosen={"4.", "Paris.", "100 degrees Celsius."})


def _dpo_trainer_reads(data: Any, tokenizer: Any, tmp_path: Path, *, chosen: set[str]) -> None:
    """TRL's DPOTrainer tokenises the export, on a tiny model made here (nothing downloaded)."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo-run"),
        report_to="none",
        use_cpu=True,
        max_steps=1,
        per_device_train_batch_size=3,
        save_strategy="no",
    )
    trainer = DPOTrainer(
        model=LlamaForCausalLM(config),
        ref_model=LlamaForCausalLM(config),
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
    )
    decoded = {tokenizer.decode(r["chosen_ids"]) for r in trainer.train_dataset}
    assert decoded == {f"{_spaced(text)} [EOS]" for text in chosen}
    assert trainer.train().global_step == 1  # one optimisation step on the exported pairs


def test_sft_kto_and_prompt_completion_exports_follow_the_preference(ws, tmp_path: Path) -> None:
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    ref = _labelled(ws, tmp_path)
    sft = ws.export_training(ref, format="sft", out=tmp_path / "sft.jsonl")
    assert (sft.rows, sft.excluded) == (3, {"tie": 1, "both_bad": 1, "no consensus": 1})
    rows = load_dataset("json", data_files=str(tmp_path / "sft.jsonl"), split="train")
    assert sorted(r["messages"][-1]["content"] for r in rows) == sorted(
        ["Paris.", "100 degrees Celsius.", "4."]
    )
    assert all(is_conversational(r) and r["messages"][-1]["role"] == "assistant" for r in rows)

    kto = ws.export_training(ref, format="kto", out=tmp_path / "kto.jsonl")
    # both-bad gives two undesirable rows; ties and the split vote give none
    assert (kto.rows, kto.excluded) == (8, {"tie": 1, "no consensus": 1})
    rows = load_dataset("json", data_files=str(tmp_path / "kto.jsonl"), split="train")
    labelled = sorted((r["completion"][0]["content"], r["label"]) for r in rows)
    assert labelled == sorted(
        [
            ("Paris.", True),
            ("Lyon.", False),
            ("100 degrees Celsius.", True),
            ("About 90 C.", False),
            ("4.", True),
            ("Five.", False),
            ("Armstrong.", False),
            ("Gagarin.", False),
        ]
    )

    pc = ws.export_training(ref, format="prompt-completion", out=tmp_path / "pc.parquet")
    rows = load_dataset("parquet", data_files=str(tmp_path / "pc.parquet"), split="train")
    assert pc.rows == rows.num_rows == 3
    assert {r["prompt"][-1]["content"]: r["completion"][0]["content"] for r in rows} == {
        "Capital of France?": "Paris.",
        "Boiling point of water at sea level?": "100 degrees Celsius.",
        "What is 2 + 2?": "4.",
    }


def test_cli_export_dpo_reports_the_excluded_counts(cli, tmp_path: Path) -> None:
    from curata.workspace import Workspace

    assert cli("init")[0] == 0
    with Workspace.open(cli.home) as ws:  # type: ignore[attr-defined]
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        ref = _labelled(ws, tmp_path)
    out = tmp_path / "dpo.jsonl"
    code, stdout, stderr = cli("dataset", "export", ref, "--format", "dpo", "--out", out)
    assert code == 0, stderr
    assert stdout.strip() == (
        f"Exported 3 dpo rows from 3 of 6 records (conversational) to {out}; "
        "excluded: 1 both_bad, 1 no consensus, 1 tie"
    )
    assert len(out.read_text().splitlines()) == 3
    unlabelled = tmp_path / "x.jsonl"
    code, _, stderr = cli("dataset", "export", "prefs@1", "--format", "dpo", "--out", unlabelled)
    assert code == 1 and "dpo needs preference or ranking labels" in stderr
    assert not unlabelled.exists()
    first = json.loads(out.read_text().splitlines()[0])
    assert set(first) == {"prompt", "chosen", "rejected", "curata_id"}
