"""Data cards (issue #16): a released version's Hugging Face card and Croissant JSON-LD, generated
from lineage, checked against what the test built; the JSON-LD validated and read by
``mlcroissant``; hostile names kept inert in YAML and Markdown."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import write_jsonl

from curata.curation.coverage_service import save_report
from curata.curation.pipeline import parse_pipeline
from curata.stewardship import datacard

HEADINGS = [
    "# Dataset Card for check-labels",
    "## Dataset Details",
    "### Dataset Description",
    "### Dataset Sources",
    "## Uses",
    "### Direct Use",
    "### Out-of-Scope Use",
    "## Dataset Structure",
    "## Dataset Creation",
    "### Curation Rationale",
    "### Source Data",
    "#### Data Collection and Processing",
    "#### Who are the source data producers?",
    "### Annotations",
    "#### Annotation process",
    "#### Who are the annotators?",
    "#### Annotators per item and agreement",
    "### Personal and Sensitive Information",
    "## Bias, Risks, and Limitations",
    "### Known gaps",
    "### Recommendations",
    "## EU AI Act Article 10(2)",
    "### (a) Relevant design choices",
    "### (b) Data collection processes and origin of data",
    "### (c) Data-preparation operations",
    "### (d) Assumptions",
    "### (e) Examination of possible biases",
    "### (f) Measures to detect, prevent and mitigate biases",
    "### (g) Identified data gaps or shortcomings, and how they are addressed",
    "## More Information",
]
HF_KEYS = {"license", "task_categories", "language", "size_categories", "pretty_name", "configs"}


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter (parsed) and the Markdown body of a card."""
    assert text.startswith("---\n")
    head, sep, body = text[4:].partition("\n---\n")
    assert sep, "the front matter is not closed"
    meta = yaml.safe_load(head)
    assert isinstance(meta, dict)
    return meta, body


def headings(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("#")]


def sentence(i: int) -> str:
    return f"The harbour committee published report number {i} about ships and the weather."


@pytest.fixture
def released(ws, tmp_path: Path) -> dict[str, Any]:
    """ingest 10 rows (2 duplicates up to case and spacing, 3 with an email) → exact_dedup + pii
    → a project (overlap 2, guideline v1): ann labels all 8 items, bob 5 of them, disagreeing
    with ann once → release; a coverage report of clean@1 against a target with a topic the
    data lacks."""
    rows = [
        {"n": i, "topic": "a" if i < 6 else "b",
         "text": sentence(i) + (f" Write to clerk{i}@example.com." if i in (1, 3, 5) else "")}
        for i in range(8)
    ]  # fmt: skip
    rows += [
        {"n": 100, "topic": "a", "text": sentence(0).upper()},
        {"n": 102, "topic": "a", "text": sentence(2).replace(" ", "   ")},
    ]
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw",
              message="harbour reports")  # fmt: skip
    pipeline = parse_pipeline({"steps": ["exact_dedup", {"pii": {"salt": "pepper-secret"}}]})
    ws.curation.curate("raw@1", pipeline, "clean", message="dedupe and redact")
    target = [{"text": sentence(i), "topic": t} for i, t in enumerate("aabbcccc")]
    save_report(
        ws.home,
        ws.coverage.report("clean@1", write_jsonl(tmp_path / "t.jsonl", target), by=["topic"],
                           embed=False),
    )  # fmt: skip
    ws.workforce.add_user("ann", vendor="acme", cohorts=["night-shift"])
    ws.workforce.add_user("bob", vendor="beta", cohorts=["day-shift"])
    schema = {"questions": [{"type": "label", "name": "ok", "labels": ["yes", "no"]}]}
    ws.projects.create("check", version="clean@1", schema=schema, overlap=2,
                       members=["ann", "bob"])  # fmt: skip
    ws.projects.guidelines.publish("check", "Answer yes when the report is even-numbered.")
    answers: dict[str, dict[int, str]] = {"ann": {}, "bob": {}}
    for user, limit in (("ann", 8), ("bob", 5)):
        while len(answers[user]) < limit:
            view = ws.queue.next_task("check", user)
            assert view is not None
            found = re.search(r"report number (\d+)", view.record["text"])
            assert found
            n = int(found.group(1))
            value = "yes" if n % 2 == 0 else "no"
            if user == "bob" and len(answers[user]) == limit - 1:
                value = "no" if value == "yes" else "yes"  # bob's one disagreement
            ws.queue.submit(view.assignment_id, user, {"ok": value})
            answers[user][n] = value
    result = ws.releases.release("check")
    return {"ws": ws, "ref": result.version.ref, "answers": answers}


def test_card_states_what_was_built(released, tmp_path: Path) -> None:
    import krippendorff

    ws, ref, answers = released["ws"], released["ref"], released["answers"]
    facts = datacard.gather(ws, ref)
    assert (facts.ref, facts.record_count) == ("check-labels@1", 8)
    [source] = facts.sources
    assert (source.name, source.license, source.records) == ("web", "CC-BY-4.0", 8)
    steps = {s.name: s for s in facts.steps}
    assert list(steps) == ["exact_dedup", "pii"]
    assert (steps["exact_dedup"].records_in, steps["exact_dedup"].dropped) == (10, 2)
    assert (steps["pii"].records_out, steps["pii"].changed) == (8, 3)
    assert "salt" not in steps["pii"].params
    assert facts.pii[0]["by_type"] == {"EMAIL_ADDRESS": {"entities": 3, "records": 3}}
    [a] = facts.annotations
    assert a.per_item == {1: 3, 2: 5}  # ann labelled 8 items, bob 5 of them
    assert (a.labelled, a.unlabelled, a.aggregate) == (8, 0, "majority")
    assert (a.annotators, a.vendors, a.cohorts) == (
        ["ann", "bob"], ["acme", "beta"], ["day-shift", "night-shift"],
    )  # fmt: skip
    assert a.guidelines == ["check@v1"]
    # nominal alpha over the 5 doubly-labelled items, by the krippendorff package
    both = sorted(answers["bob"])
    coded = [[{"yes": 1.0, "no": 0.0}[answers[u][n]] for n in both] for u in ("ann", "bob")]
    expected = krippendorff.alpha(reliability_data=coded, level_of_measurement="nominal")
    assert a.alpha["ok"] == pytest.approx(expected)
    assert facts.languages == {"en": 1.0}
    assert facts.coverage[0]["version"] == "clean@1"
    assert [b["label"] for b in facts.coverage[0]["brief"]] == ["topic=c"]

    paths = datacard.write_cards(ws, ref)
    assert paths == {
        "md": ws.home / "cards" / ref / "README.md",
        "croissant": ws.home / "cards" / ref / "croissant.json",
    }
    text = paths["md"].read_text("utf-8")
    meta, body = split_card(text)
    assert set(meta) >= HF_KEYS
    assert meta["license"] == "cc-by-4.0"
    assert meta["language"] == ["en"]
    assert meta["size_categories"] == ["n<1K"]
    assert "text-classification" in meta["task_categories"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "check-labels-v1.jsonl"}]
    assert headings(body) == HEADINGS
    for fact in (
        "exact\\_dedup: 10 in, 8 out, 2 dropped",
        "pii: 8 in, 8 out, 0 dropped, 3 changed",
        "EMAIL\\_ADDRESS 3 in 3 records",
        "annotators per item 1 to 2 (mean 1.62 over 8 labelled items)",
        "2 annotators (ann, bob); cohorts day-shift, night-shift; vendors acme, beta",
        "check@v1",
        "license CC-BY-4.0",
        "topic=c is under-represented (0.0% of the data, 50.0% of the target",
    ):
        assert fact in body, fact
    assert "pepper-secret" not in text


def test_croissant_validates_and_its_records_load(released) -> None:
    import mlcroissant as mlc

    ws, ref = released["ws"], released["ref"]
    folder = ws.home / "cards" / ref
    paths = datacard.write_cards(ws, ref, formats=["croissant"])
    assert set(paths) == {"croissant"}
    doc = json.loads(paths["croissant"].read_text("utf-8"))
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert doc["license"] == ["https://spdx.org/licenses/CC-BY-4.0.html"]
    dataset = mlc.Dataset(jsonld=paths["croissant"])
    assert not dataset.metadata.ctx.issues.errors
    # the RAI properties are read back under their vocabulary terms
    assert dataset.metadata.annotations_per_item == doc["rai:annotationsPerItem"]
    assert "1 to 2 (mean 1.62" in doc["rai:annotationsPerItem"]
    assert dataset.metadata.data_biases == doc["rai:dataBiases"]
    assert (
        dataset.metadata.personal_sensitive_information == doc["rai:personalSensitiveInformation"]
    )
    for term in ("dataCollection", "dataCollectionType", "dataAnnotationProtocol",
                 "dataAnnotationPlatform", "annotatorDemographics", "dataPreprocessingProtocol",
                 "dataLimitations", "dataUseCases", "dataReleaseMaintenancePlan"):  # fmt: skip
        assert doc[f"rai:{term}"], term
    # the canonical export's digest is that of the file 'dataset export --format jsonl' writes
    [canonical] = doc["distribution"]
    ws.export(ref, format="jsonl", out=folder / canonical["contentUrl"])
    data = (folder / canonical["contentUrl"]).read_bytes()
    assert canonical["sha256"] == hashlib.sha256(data).hexdigest()
    assert canonical["contentSize"] == f"{len(data)} B"
    records = list(dataset.records("records"))
    assert len(records) == 8
    exported = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert sorted(r["records/curata_id"].decode() for r in records) == sorted(
        e["curata_id"] for e in exported
    )
    # a tied item (ann and bob disagree) is released with no label: None on both sides
    labels = sorted(r["records/curata_labels"]["records/curata_labels/ok"] or b"" for r in records)
    assert labels == sorted((e["curata_labels"]["ok"] or "").encode() for e in exported)


def test_extra_files_are_listed_with_their_digest(released, tmp_path: Path) -> None:
    ws, ref = released["ws"], released["ref"]
    ws.export(ref, format="parquet", out=tmp_path / "train.parquet")
    doc = datacard.croissant(datacard.gather(ws, ref, files=[tmp_path / "train.parquet"]))
    extra = doc["distribution"][1]
    assert extra["name"] == "train.parquet"
    assert extra["encodingFormat"] == "application/x-parquet"
    assert extra["sha256"] == hashlib.sha256((tmp_path / "train.parquet").read_bytes()).hexdigest()


def test_hostile_names_stay_inert(ws, tmp_path: Path) -> None:
    import mlcroissant as mlc

    ws.sources.add(
        "evil", kind="human", license="LicenseRef-evil",
        origin="<script>alert(1)</script>\n---\nlicense: mit\n# Injected heading",
        consent='said "yes"\n\n## Fake section', owner="x: y # z | `rm -rf` [link](javascript:x)",
        license_ref="https://terms.example/evil\n---\ninjected: true",
    )  # fmt: skip
    rows = [{"<img src=x onerror=alert(1)>": "v", "text": "A plain sentence about boats."}]
    ws.ingest([write_jsonl(tmp_path / "e.jsonl", rows)], source="evil", dataset="raw",
              message="</details><script>x</script>\n---\ninjected: true")  # fmt: skip
    facts = datacard.gather(ws, "raw@1", intended_use="---\n# Heading\n<b>bold</b>")
    text = datacard.markdown(facts)
    meta, body = split_card(text)
    assert meta["license_link"] == "https://terms.example/evil --- injected: true"
    assert set(meta) == HF_KEYS | {"license_name", "license_link", "annotations_creators",
                                    "language_creators", "tags"}  # fmt: skip
    assert meta["license"] == "other" and meta["license_name"] == "LicenseRef-evil"
    assert [line for line in text.splitlines() if line == "---"] == ["---", "---"]
    assert not re.search(r"<(script|img|b|/details)", text, re.IGNORECASE)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Injected heading" in body and "# Injected heading" not in headings(body)
    assert all(not h.startswith(("# Heading", "## Fake")) for h in headings(body))
    assert "\\[link\\](javascript:x)" in body  # no link is formed
    doc = datacard.croissant(facts)
    assert json.loads(json.dumps(doc)) == doc
    dataset = mlc.Dataset(jsonld=doc)
    assert not dataset.metadata.ctx.issues.errors
    names = [f["name"] for f in doc["recordSet"][0]["field"]]
    assert "<img src=x onerror=alert(1)>" in names  # named as it is, with a safe @id
    assert all(re.fullmatch(r"records/[A-Za-z0-9_.-]+", f["@id"])
               for f in doc["recordSet"][0]["field"])  # fmt: skip


def test_export_folder_card_is_the_generated_card(released, tmp_path: Path) -> None:
    ws, ref = released["ws"], released["ref"]
    ws.export(ref, format="hf", out=tmp_path / "hf")
    meta, body = split_card((tmp_path / "hf" / "README.md").read_text("utf-8"))
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "train/data-*.arrow"}]
    assert headings(body) == HEADINGS


@pytest.mark.parametrize(
    ("count", "label"),
    [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (99_999, "10K<n<100K"),
     (1_000_000, "1M<n<10M"), (5_000_000_000, "1B<n<10B"), (10**13, "n>1T")],
)  # fmt: skip
def test_size_category_bins(count: int, label: str) -> None:
    assert datacard.size_category(count) == label
