"""The quality part of `make demo` (issue #4).

1. The safety project of the annotation part: its quality report by vendor (with an HTML page)
   and an independent audit of vendor acme, reviewed in-house, measured against acme's claim.
2. Validation by simulation: a ticket-triage project labelled by planted annotators (good,
   careless, spammer, adversarial, and one who drifts halfway); the report flags the bad ones,
   drift names the drifter and since when, label-noise detection sends suspects to review, and
   a quality gate blocks the release until the owner overrides it, which the audit log shows.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curata.core.records import Record

TOPICS = ["billing", "bug", "account", "praise"]
WORDS = {
    "billing": ["invoice", "charged twice", "refund", "payment failed", "VAT number"],
    "bug": ["crash", "error 500", "button does nothing", "page freezes", "sync broken"],
    "account": ["password reset", "two-factor", "change email", "delete my account", "locked"],
    "praise": ["love the app", "great support", "thank you", "works perfectly", "five stars"],
}


def run(curata: Callable[..., str], data: Path, workspace: Path) -> None:
    print("\n# Quality: reports, a vendor audit, and validation by simulation", flush=True)
    curata("quality", "report", "safety", "--by", "vendor")
    curata("quality", "report", "safety", "--html", str(data / "quality-safety.html"))
    curata("quality", "audit", "acme", "--project", "safety", "--size", "8", "--claimed", "0.95")
    reviewed = _review_audit(data, workspace)
    print(f"  rita (internal reviewer) decided on the {reviewed} sampled acme annotations")
    curata("quality", "audit", "acme", "--project", "safety")

    tickets = _tickets(data / "tickets.jsonl", 160)
    curata(
        "source", "add", "ticket-sample", "--kind", "synthetic", "--license", "CC0-1.0",
        "--origin", "demo://generated/tickets",
    )  # fmt: skip
    curata("ingest", str(tickets), "--source", "ticket-sample", "--dataset", "tickets")
    curata("user", "add", "demo", "--role", "lead")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": TOPICS}]}
    (data / "tickets_schema.json").write_text(json.dumps(schema), encoding="utf-8")
    curata(
        "project", "create", "triage", "--version", "tickets@1", "--schema",
        str(data / "tickets_schema.json"), "--overlap", "5", "--gold-share", "0.15",
        "--owner", "demo", "--member", "rita",
    )  # fmt: skip
    curata("simulate", "annotators", "triage", "--seed", "7", "--gold-fraction", "0.1")
    curata("quality", "report", "triage", "--html", str(data / "quality-triage.html"))
    curata("quality", "drift", "triage", "--by", "annotator", "--html", str(data / "drift.html"))
    curata("quality", "noise", "triage", "--review", "--limit", "5")
    curata("project", "gate", "triage", "--alpha", "topic=0.8", "--gold-accuracy", "0.9")
    curata("annotate", "release", "triage", "--aggregate", "dawid-skene", check=False)
    curata(
        "annotate", "release", "triage", "--aggregate", "dawid-skene", "--override-gates",
        "--reason", "planted bad annotators drag alpha down; Dawid-Skene discounts them",
    )  # fmt: skip
    curata("audit", "log", "--action", "release.gate_override")
    print(
        f"\n  HTML reports: {data / 'quality-safety.html'}, {data / 'quality-triage.html'}, "
        f"{data / 'drift.html'}"
    )


def _review_audit(data: Path, workspace: Path) -> int:
    """rita works the review queue (the calls behind POST /projects/safety/reviews/next):
    accept an annotation that matches the truth, fix one that does not."""
    from annotation_demo import build

    from curata.workspace import Workspace

    _, _, truth = build(data)
    done = 0
    with Workspace.open(workspace, user="demo") as ws:
        while (item := ws.reviews.next_review("safety", "rita")) is not None:
            rec = item.record
            want = truth[Record.from_pair(rec["prompt"], rec["response"], rec["metadata"]).id]
            for a in item.annotations:
                if a["review"] != "pending":
                    continue
                if a["answers"] == want:
                    ws.reviews.decide(a["annotation_id"], "rita", "accept")
                else:
                    ws.reviews.decide(a["annotation_id"], "rita", "fix", answers=want)
                done += 1
    return done


def _tickets(path: Path, n: int) -> Path:
    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        rows.append({"text": f"#{i}: {rng.choice(WORDS[topic])}, {rng.choice(WORDS[topic])}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
