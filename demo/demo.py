"""`make demo`: the main job on the embedded default (SQLite + local files, no servers).

Builds a small, realistic corpus itself (nothing is downloaded), then runs the CLI as a user
would: a workspace, two sources with different licenses, an ingest, an update, the diff and
the lineage; then curation, annotation, quality, preference data exported for DPO, red teaming,
and the closed loop (loop_demo.py): release with a data card, training and evaluation runs,
attribution, a remediation brief and its effect; then the web application.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE / "workspace"
DATA = HERE / "data"
CURATA = str(Path(sys.executable).with_name("curata"))

TOPICS = {
    "billing": ["invoice", "refund", "charge", "subscription", "receipt", "payment method"],
    "shipping": ["parcel", "courier", "tracking number", "delivery window", "customs form"],
    "account": ["password reset", "two-factor code", "email change", "account lock"],
    "product": ["battery life", "firmware update", "warranty", "screen calibration"],
}
OPENERS = [
    "Customers often ask about the {t}.",
    "A common question concerns the {t}.",
    "This guide explains the {t} in plain words.",
    "Before contacting support, check the {t}.",
]
DETAILS = [
    "It usually takes two to five business days.",
    "You can change it from the settings page at any time.",
    "Keep the confirmation email until the issue is closed.",
    "If the problem persists, a specialist will call you back.",
    "Most cases are solved without opening a ticket.",
]
QUESTIONS = [
    "Hi, I have a problem with my {t}. Can you help?",
    "Why did my {t} not work this morning?",
    "How do I fix the {t} on my account?",
]
ANSWERS = [
    "I'm sorry about that. Let me check your {t} right away.",
    "Thanks for reaching out. The {t} can be updated from your profile.",
    "I understand. I've escalated the {t} issue to our specialists.",
]


def article(rng: random.Random, doc_id: int) -> dict[str, object]:
    topic = rng.choice(list(TOPICS))
    term = rng.choice(TOPICS[topic])
    text = " ".join([rng.choice(OPENERS).format(t=term), *rng.sample(DETAILS, k=rng.randint(2, 4))])
    return {
        "doc_id": f"kb-{doc_id:05d}",
        "text": text,
        "topic": topic,
        "lang": "en",
        "url": f"https://help.example.com/articles/{doc_id}",
    }


def conversation(rng: random.Random, conv_id: int) -> dict[str, object]:
    topic = rng.choice(list(TOPICS))
    term = rng.choice(TOPICS[topic])
    question = rng.choice(QUESTIONS).format(t=term)
    if conv_id % 9 == 4:  # some customers leave contact details in the chat
        phone = f"+1 415 555 01{conv_id % 100:02d}"
        question += f" You can reach me at customer{conv_id}@example.com or {phone}."
    messages = [
        {"role": "system", "content": "You are a courteous support agent."},
        {"role": "user", "content": question},
        {"role": "assistant", "content": rng.choice(ANSWERS).format(t=term)},
    ]
    if rng.random() < 0.4:
        messages += [
            {"role": "user", "content": "Thanks. How long will that take?"},
            {"role": "assistant", "content": rng.choice(DETAILS)},
        ]
    return {"doc_id": f"chat-{conv_id:05d}", "messages": messages, "topic": topic}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build_corpus() -> dict[str, Path]:
    """Generate the files of the demo (deterministic: the same bytes on every machine)."""
    rng = random.Random(20261125)
    DATA.mkdir(parents=True, exist_ok=True)
    articles = [article(rng, i) for i in range(1_500)]
    chats = [conversation(rng, i) for i in range(600)]
    update = [dict(a) for a in articles if int(str(a["doc_id"])[3:]) % 50 != 7]  # 30 retired
    for a in update:
        if rng.random() < 0.02:  # ~2% revised by the help-center team
            a["text"] = str(a["text"]) + " Updated: refunds now take one business day."
    update += [article(rng, i) for i in range(1_500, 1_540)]  # 40 new articles
    return {
        "crawl": write_jsonl(DATA / "help_center_2026-10.jsonl", articles),
        "chats": write_jsonl(DATA / "support_chats_2026-10.jsonl", chats),
        "update": write_jsonl(DATA / "help_center_2026-11.jsonl", update),
    }


def curata(
    *args: str,
    capture: bool = False,
    quiet: bool = False,
    check: bool = True,
    home: Path | None = None,
) -> str:
    """Run one CLI command, echoing it the way a user would type it (``check=False``: a step
    that is meant to be refused; its exit status is shown and the demo goes on; ``home``:
    another workspace than the demo's)."""
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    where = f"CURATA_HOME={os.path.relpath(home, HERE.parent)} " if home else ""
    print(f"\n$ {where}curata {shown}", flush=True)
    env = {**os.environ, "CURATA_HOME": str(home or WORKSPACE), "LANCE_LOG": "error"}
    env.setdefault("CURATA_USER", "demo")
    done = subprocess.run([CURATA, *args], env=env, capture_output=capture, text=True)
    if done.returncode != 0 and not check:
        print(f"(refused as expected, exit {done.returncode})", flush=True)
        print(done.stderr or "", end="", flush=True)
        return done.stdout or ""
    if done.returncode != 0:
        sys.exit(f"demo step failed (exit {done.returncode}): curata {shown}\n{done.stderr or ''}")
    if capture and not quiet:
        print(done.stdout, end="")
    return done.stdout or ""


def main() -> None:
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    shutil.rmtree(DATA, ignore_errors=True)
    files = build_corpus()
    print(f"Generated a sample corpus in {DATA.relative_to(HERE.parent)}/")
    curata("init")
    curata(
        "source",
        "add",
        "help-center",
        "--kind",
        "crawl",
        "--license",
        "CC-BY-4.0",
        "--origin",
        "https://help.example.com/articles",
        "--collected-at",
        "2026-10-31",
        "--pii",
        "none",
        "--owner",
        "data-ops",
    )
    curata(
        "source",
        "add",
        "support-chats",
        "--kind",
        "internal",
        "--license",
        "LicenseRef-internal-only",
        "--origin",
        "s3://acme-support/exports/2026-10",
        "--collected-at",
        "2026-10-31",
        "--consent",
        "customer ToS 4.2 (model improvement)",
        "--pii",
        "unknown",
        "--owner",
        "support-ops",
    )
    curata("source", "list")
    curata(
        "ingest",
        str(files["crawl"]),
        "--source",
        "help-center",
        "--dataset",
        "support-kb",
        "--key",
        "doc_id",
        "-m",
        "October help-center crawl",
    )
    curata(
        "ingest",
        str(files["chats"]),
        "--source",
        "support-chats",
        "--dataset",
        "support-kb",
        "--append",
        "-m",
        "add October support conversations",
    )
    curata(
        "ingest",
        str(files["chats"]),
        "--source",
        "support-chats",
        "--dataset",
        "support-kb",
        "--append",
    )
    # November: the help center revised some articles, retired some, added some. The new
    # crawl plus the unchanged conversations is the whole next version (a snapshot).
    snapshot = DATA / "support_kb_2026-11.jsonl"
    snapshot.write_text(files["update"].read_text("utf-8") + files["chats"].read_text("utf-8"))
    curata(
        "ingest",
        str(snapshot),
        "--source",
        "help-center",
        "--dataset",
        "support-kb",
        "-m",
        "November help-center crawl",
    )
    curata("dataset", "log", "support-kb")
    curata("dataset", "diff", "support-kb@2", "support-kb@3", "--samples", "3")
    curata("dataset", "tag", "support-kb@3", "release-candidate")
    curata("dataset", "show", "support-kb@release-candidate")
    curata("lineage", "support-kb@3")
    record_id = _first_changed_record()
    curata("lineage", "--record", record_id)
    curata(
        "dataset",
        "export",
        "support-kb@3",
        "--format",
        "hf",
        "--out",
        str(DATA / "support-kb-v3-hf"),
    )
    run_curation()
    from annotation_demo import run as run_annotation

    run_annotation(curata, DATA, WORKSPACE)
    from quality_demo import run as run_quality

    run_quality(curata, DATA, WORKSPACE)
    from preference_demo import run as run_preference

    run_preference(curata, DATA, WORKSPACE)
    from redteam_demo import run as run_redteam

    run_redteam(curata, DATA, WORKSPACE)
    from loop_demo import run as run_loop

    run_loop(curata, DATA, WORKSPACE)
    from web_demo import run as run_web

    run_web(curata, DATA, WORKSPACE)
    curata("audit", "log", "--limit", "8")
    home, data = WORKSPACE.relative_to(HERE.parent), DATA.relative_to(HERE.parent)
    print(
        f"\nDone. The workspace is in {home}/; try "
        f"'CURATA_HOME={home} .venv/bin/curata dataset list'.\nWhere to look:\n"
        f"  the web app       CURATA_HOME={home} .venv/bin/curata serve  (tokens in "
        f"{home}/web-sign-in.txt)\n"
        f"  the loop          {data}/loop/ (attribution-v2.json, drift-assist-b2.html, eval "
        f"results), {home}/cards/ (data cards), {home}/policy-reports/\n"
        f"  quality           {data}/quality-safety.html, {data}/quality-triage.html, "
        f"{data}/drift.html\n"
        f"  red team          {data}/redteam/ (campaign.html, regression.html, coverage)"
    )


PIPELINE = """\
# support-kb curation: every removal and change is explained (curata why RECORD_ID)
steps:
  - normalize
  - exact_dedup
  - near_dedup: {threshold: 0.7}
  - pii: {action: placeholder}
  - length: {min_words: 8}
"""


def run_curation() -> None:
    """Curate the November snapshot: the template-built articles hold many exact and near
    duplicates, some chats hold e-mail addresses and phone numbers."""
    print("\n# Curation: normalise, deduplicate, redact personal data, filter", flush=True)
    pipeline = DATA / "pipeline.yaml"
    pipeline.write_text(PIPELINE, encoding="utf-8")
    curata("steps", "list")
    out = curata(
        "curate", "support-kb@3", "--pipeline", str(pipeline), "--out", "support-clean",
        "--json", capture=True, quiet=True,
    )  # fmt: skip
    result = json.loads(out)
    curata("lineage", "support-clean@1")
    shown: set[str] = set()
    for example in result["examples"]:  # one record per step that removed or changed some
        if example["step"] not in shown:
            shown.add(example["step"])
            curata("why", example["record_id"])
    curata("pii", "report", "support-clean@1")


def _first_changed_record() -> str:
    env = {**os.environ, "CURATA_HOME": str(WORKSPACE), "LANCE_LOG": "error"}
    out = subprocess.run(
        [CURATA, "dataset", "diff", "support-kb@2", "support-kb@3", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return str(json.loads(out)["samples"]["changed"][0]["new_id"])


if __name__ == "__main__":
    main()
