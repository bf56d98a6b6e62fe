"""The curation executor and service with small steps defined here: every drop and change is
recorded with its reason, needs-all steps see every record first (over several batches), a
failing step leaves nothing behind, and `why` follows a record through changes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field
from sqlalchemy import func, select
from tests.conftest import write_jsonl

from curata.core.errors import NotFoundError, ValidationError
from curata.curation.executors.local import StepFailed
from curata.curation.pipeline import Pipeline, StepSpec
from curata.curation.steps.base import Decision, Item, Step, StepParams, replace_texts
from curata.store.tables import CurationEventRow, StepRunRow


class Upper(Step):
    name = "upper"
    summary = "upper-case the text"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        out = []
        for _, record in batch:
            text = record.text or ""
            new = replace_texts(record, {"text": text.upper()})
            out.append(Decision.change(new, "upper-cased") if text != text.upper() else Decision())
        return out


class MinWordsParams(StepParams):
    words: int = Field(default=2, ge=1)


class MinWords(Step):
    name = "min_words"
    summary = "drop short texts"
    Params = MinWordsParams

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        want = self.params.words  # type: ignore[attr-defined]
        return [
            Decision.drop(f"{len((r.text or '').split())} words < {want}")
            if len((r.text or "").split()) < want
            else Decision.keep()
            for _, r in batch
        ]


class FirstOfKin(Step):
    """Keeps the first record of each first letter (sees every record first)."""

    name = "first_of_kin"
    summary = "one record per first letter"
    needs_all = True

    def __init__(self, params: StepParams) -> None:
        super().__init__(params)
        self.keeper: dict[str, str] = {}
        self.seen_batches = 0

    def summarize(self, batch: Sequence[Item]) -> Any:
        return [(rid, (r.text or " ")[0]) for rid, r in batch]

    def prepare(self, summaries: Iterator[Any]) -> None:
        for part in summaries:
            self.seen_batches += 1
            for rid, letter in part:
                self.keeper.setdefault(letter, rid)

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        out = []
        for rid, r in batch:
            kept = self.keeper[(r.text or " ")[0]]
            out.append(
                Decision.keep()
                if kept == rid
                else Decision.drop(f"same first letter as {kept}", related=kept, score=1.0)
            )
        return out


class Explodes(Step):
    name = "explodes"
    summary = "fails"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        raise RuntimeError("boom")


def pipeline(*steps: type[Step], **params: dict[str, Any]) -> Pipeline:
    return Pipeline(
        tuple(StepSpec(s.name, s.Params.model_validate(params.get(s.name, {})), s) for s in steps)
    )


@pytest.fixture
def raw_ws(ws, tmp_path: Path):
    """The workspace with raw@1: six short food texts, ingested through the Python API."""
    texts = ["apple pie", "avocado toast", "banana", "blueberry muffin", "cherry tart", "cake"]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", [{"text": t} for t in texts])],
              source="web", dataset="raw")  # fmt: skip
    return ws


def ids_by_text(ws, ref: str) -> dict[str, str]:
    return {r.text: i for b in ws.datasets.iter_records(ref) for i, r in b}


def test_a_run_records_every_drop_and_change(raw_ws) -> None:
    ws = raw_ws
    before = ids_by_text(ws, "raw@1")
    result = ws.curation.curate(
        "raw@1", pipeline(MinWords, Upper, FirstOfKin), "clean", batch_size=2
    )
    assert result.created and result.version.ref == "clean@1"
    kept = ids_by_text(ws, "clean@1")
    # banana and cake are one word; of the rest, one per first letter, the first seen
    assert set(kept) == {"APPLE PIE", "BLUEBERRY MUFFIN", "CHERRY TART"}
    assert (result.records_in, result.records_out) == (6, 3)
    steps = {s["name"]: s for s in result.steps}
    assert steps["min_words"]["dropped"] == 2 and steps["upper"]["changed"] == 4
    assert steps["first_of_kin"]["records_in"] == 4 and steps["first_of_kin"]["dropped"] == 1
    assert result.version.parents == ["raw@1"]
    # why: banana was dropped by min_words; avocado was upper-cased, then dropped
    banana = ws.curation.why(before["banana"])
    [event] = banana["events"]
    assert event["step"] == "min_words" and event["version"] == "clean@1"
    assert event["reason"] == "1 words < 2" and event["action"] == "drop"
    avocado = ws.curation.why(before["avocado toast"][:10])
    first, second = avocado["events"]
    assert first["action"] == "change" and first["step"] == "upper"
    assert second["action"] == "drop" and second["step"] == "first_of_kin"
    assert second["related"] == kept["APPLE PIE"] and second["record_id"] == first["new_id"]
    # asking about the new id tells where it came from
    assert ws.curation.why(first["new_id"])["came_from"][0]["record_id"] == before["avocado toast"]
    with ws.projects.sessions() as s:
        runs = s.scalars(select(StepRunRow).order_by(StepRunRow.position)).all()
        assert [r.name for r in runs] == ["min_words", "upper", "first_of_kin"]
        assert runs[0].params == {"words": 2} and "min_words v1" in runs[0].code_version
        assert s.scalar(select(func.count()).select_from(CurationEventRow)) == 2 + 4 + 1


def test_the_needs_all_step_saw_every_batch_before_deciding(raw_ws) -> None:
    ws = raw_ws
    step_seen: list[int] = []

    class Spy(FirstOfKin):
        def prepare(self, summaries: Iterator[Any]) -> None:
            super().prepare(summaries)
            step_seen.append(self.seen_batches)

    ws.curation.curate("raw@1", pipeline(Spy), "clean", batch_size=2)
    assert step_seen == [3]  # six records in batches of two, all summarised first


def test_a_rerun_gives_the_same_version(raw_ws) -> None:
    ws = raw_ws
    first = ws.curation.curate("raw@1", pipeline(MinWords, Upper), "clean")
    again = ws.curation.curate("raw@1", pipeline(MinWords, Upper), "clean", batch_size=1)
    assert not again.created and again.version.ref == "clean@1"
    assert again.version.digest == first.version.digest


def test_a_failing_step_leaves_nothing(raw_ws) -> None:
    ws = raw_ws
    with pytest.raises(StepFailed, match="step 'explodes' failed on the batch starting at"):
        ws.curation.curate("raw@1", pipeline(Upper, Explodes), "clean")
    with pytest.raises(NotFoundError):
        ws.datasets.version("clean")
    with ws.projects.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StepRunRow)) == 0
        assert s.scalar(select(func.count()).select_from(CurationEventRow)) == 0


def test_bad_requests(raw_ws) -> None:
    ws = raw_ws
    with pytest.raises(ValidationError, match="input's own dataset"):
        ws.curation.curate("raw@1", pipeline(Upper), "raw")
    with pytest.raises(ValidationError, match="executor: 'spark' is not one of local"):
        ws.curation.curate("raw@1", pipeline(Upper), "clean", executor="spark")
    with pytest.raises(NotFoundError):
        ws.curation.curate("raw@9", pipeline(Upper), "clean")
    with pytest.raises(ValidationError, match=r"'zz' is not a record id \(32 hex digits"):
        ws.curation.why("zz")
    with pytest.raises(NotFoundError, match="no curation run removed or changed"):
        ws.curation.why("0" * 32)


def test_a_needs_all_step_applied_again_on_a_later_pass_decides_the_same(ws, tmp_path) -> None:
    """exact_dedup is applied twice (on the pass that collects for the step after it, then on
    the final pass): its decisions must not depend on how often it was called."""
    from curata.curation.pipeline import parse_pipeline
    from curata.curation.steps.exact_dedup import ExactDedup

    texts = ["same text here", "other words there", "same text here", "third one now"]
    rows = [{"text": t, "n": i} for i, t in enumerate(texts)]  # metadata keeps ids distinct
    ws.ingest([write_jsonl(tmp_path / "d.jsonl", rows)], source="web", dataset="raw")
    spec = Pipeline(
        (
            StepSpec("exact_dedup", ExactDedup.Params(), ExactDedup),
            StepSpec("first_of_kin", StepParams(), FirstOfKin),
        )
    )
    result = ws.curation.curate("raw@1", spec, "clean", batch_size=1)
    assert parse_pipeline(["exact_dedup"]).steps[0].name == "exact_dedup"
    kept = {r.text for b in ws.datasets.iter_records("clean@1") for _, r in b}
    assert kept == {"same text here", "other words there", "third one now"}
    assert {s["name"]: s["dropped"] for s in result.steps} == {"exact_dedup": 1, "first_of_kin": 0}
    with ws.projects.sessions() as s:
        events = s.scalars(select(CurationEventRow)).all()
        assert len(events) == 1 and events[0].related_id != events[0].record_id


def test_a_needs_all_steps_seconds_exclude_producing_its_summaries() -> None:
    """prepare_timed counts prepare's own work, not the reading and summarising that feed it
    (which the executor times separately): 3 summaries taking 50 ms each to produce and a
    prepare doing 20 ms of its own work give about 20 ms, not 170 ms."""
    import time

    from curata.curation.executors.local import prepare_timed

    def slow() -> Iterator[int]:
        for i in range(3):
            time.sleep(0.05)
            yield i

    class Waits(FirstOfKin):
        def prepare(self, summaries: Iterator[Any]) -> None:
            assert list(summaries) == [0, 1, 2]
            time.sleep(0.02)

    own = prepare_timed(Waits(StepParams()), slow())
    assert 0.015 <= own < 0.1
