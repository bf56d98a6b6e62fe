"""The preference part of `make demo`: pairwise records judged by two annotators, released,
and exported as a DPO file TRL's DPOTrainer takes.

Each record is a prompt (plain, or a chat context) with two candidate responses from two
models; the simulated annotators prefer the helpful, correct one, call some pairs a tie and
some both bad; those are left out of the DPO file and counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curata.workspace import Workspace

GOOD, WEAK = "support-bot-2", "support-bot-1"
# (prompt or chat context, better answer, worse answer, verdict of both annotators)
PAIRS: list[tuple[Any, str, str, str]] = [
    (
        "How long does a refund to a credit card take?",
        "Refunds reach your card within five business days of approval.",
        "Refunds are instant.",
        "better",
    ),
    (
        "Where do I find my tracking number?",
        "It is in the shipping confirmation email and under Orders in your account.",
        "Ask the courier.",
        "better",
    ),
    (
        [
            {"role": "system", "content": "You are a courteous support agent."},
            {"role": "user", "content": "My two-factor code never arrives. What can I do?"},
        ],
        "Check the phone number in Settings > Security, then request a new code; codes "
        "expire after ten minutes.",
        "Turn two-factor off.",
        "better",
    ),
    (
        "Can I change the delivery window after ordering?",
        "Yes: open the order and choose Change delivery window before it ships.",
        "Yes, you can change it on the order page until the parcel ships.",
        "tie",
    ),
    (
        "Does the warranty cover a cracked screen?",
        "Every repair is free forever.",
        "Warranties never cover anything.",
        "both_bad",
    ),
    (
        "How do I update the firmware?",
        "Open the app, choose Device > Firmware, and keep the device charging during the update.",
        "Firmware updates itself, nothing to do.",
        "better",
    ),
]


def build(data: Path) -> Path:
    """Write the pairwise records: the better answer is A on even rows, B on odd ones."""
    rows = []
    for i, (prompt, good, weak, _) in enumerate(PAIRS):
        candidates = [{"text": good, "model": GOOD}, {"text": weak, "model": WEAK}]
        if i % 2:
            candidates.reverse()
        context = {"messages": prompt} if isinstance(prompt, list) else {"prompt": prompt}
        rows.append({**context, "responses": candidates, "case": i})
    path = data / "support_pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _verdict(record: dict[str, Any]) -> str:
    """What a careful annotator answers: the letter they were shown beside the better answer
    (candidates come blind, as letter and text, in an order drawn per assignment), or
    tie/both_bad."""
    _, good, _, verdict = PAIRS[record["metadata"]["case"]]
    if verdict != "better":
        return verdict
    return next(r["letter"] for r in record["responses"] if r["text"] == good)


def run(curata: Callable[..., str], data: Path, workspace: Path) -> None:
    """Ingest pairwise records, judge them, release and export DPO pairs."""
    print("\n# Preference: pairwise records → judgements → a DPO file for TRL", flush=True)
    pairs = build(data)
    curata(
        "source", "add", "support-pairs", "--kind", "synthetic", "--license", "CC0-1.0",
        "--origin", "demo://generated/support-pairs",
    )  # fmt: skip
    curata("ingest", str(pairs), "--source", "support-pairs", "--dataset", "support-pairs")
    with Workspace.open(workspace, user="demo") as ws:
        for name in ("pia", "paul"):
            ws.workforce.add_user(name, role="annotator")
    schema = {"questions": [{"type": "preference", "name": "better"}]}
    (data / "pairs_schema.json").write_text(json.dumps(schema), encoding="utf-8")
    curata(
        "project", "create", "support-prefs", "--version", "support-pairs@1", "--schema",
        str(data / "pairs_schema.json"), "--overlap", "2", "--member", "pia", "--member", "paul",
    )  # fmt: skip
    judged = 0
    with Workspace.open(workspace, user="demo") as ws:  # the annotators, through the queue service
        for user in ("pia", "paul"):
            while (view := ws.queue.next_task("support-prefs", user)) is not None:
                ws.queue.submit(view.assignment_id, user, {"better": _verdict(view.record)})
                judged += 1
    print(f"  2 annotators judged {judged} pairs (by candidate letter)")
    curata("annotate", "release", "support-prefs")
    out = data / "support-prefs-dpo.jsonl"
    curata(
        "dataset", "export", "support-prefs-labels@1", "--format", "dpo", "--out", str(out),
        capture=True,
    )  # fmt: skip
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    print(f"  first pair: chosen {first['chosen'][0]['content']!r}")
