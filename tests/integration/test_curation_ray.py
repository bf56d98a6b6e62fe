"""The Ray executor gives the local executor's result: the same version (content digest), the
same counts and the same events, in the same order, over many small batches with planted
exact and near duplicates, texts that normalise into an input record or into what an earlier
batch produced, records a needs-all step changes, and a step that fails only on records the
true run never gives it. Ray starts once for the module (2 CPUs) and runs both backends."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl
from tests.helpers import events_of, ingest_with_cli

from curata.core.errors import ValidationError
from curata.curation.pipeline import Pipeline, StepSpec, parse_pipeline
from curata.curation.steps.base import Decision, Item, Step, replace_texts

WORDS = [
    "river", "stone", "market", "winter", "signal", "garden", "copper", "lantern", "harbor",
    "meadow", "violet", "engine", "silver", "orchard", "thunder", "canvas", "pillow", "rocket",
    "marble", "forest", "candle", "saddle", "ribbon", "pepper", "anchor", "velvet", "bottle",
    "compass", "falcon", "ginger", "island", "jacket", "kettle", "ladder", "mirror", "needle",
]  # fmt: skip


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def corpus() -> list[dict[str, str]]:
    """About 300 texts: distinct ones, then planted twins of several kinds, shuffled."""
    rng = random.Random(7)
    base = [" ".join(rng.choice(WORDS) for _ in range(40)) + f" number {i}." for i in range(200)]
    rows = list(base)
    rows += [t.upper() for t in base[:25]]  # exact twins (exact_dedup compares lowercased)
    rows += [t.replace(" ", "  ", 3) for t in base[25:45]]  # normalise into an input record
    for t in base[45:60]:  # near twins: one word replaced
        words = t.split()
        words[20] = "zebra"
        rows.append(" ".join(words))
    for i in range(15):  # two variants normalising into a text that is not in the input
        text = " ".join(rng.choice(WORDS) for _ in range(30)) + f" pair {i}."
        rows += [text.replace(" ", "  ", 2), text.replace(" ", "   ", 1)]
    rows += [f"short {w}" for w in WORDS[:20]]  # too short for length
    rng.shuffle(rows)
    return [{"text": t} for t in rows]


PIPELINE = {
    "steps": [
        "normalize",
        "exact_dedup",
        {"near_dedup": {"ngram": 3, "threshold": 0.7}},
        {"length": {"min_words": 3}},
    ]
}


def counts(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k != "seconds"} for s in result.steps]


def curate_both(ws: Any, pipeline: Pipeline, batch_size: int) -> tuple[Any, Any]:
    a = ws.curation.curate("raw@1", pipeline, "a", batch_size=batch_size)
    b = ws.curation.curate("raw@1", pipeline, "b", executor="ray", batch_size=batch_size)
    return a, b


def test_ray_gives_the_local_result(ws, ray_cluster, tmp_path: Path) -> None:
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", corpus())], source="web", dataset="raw")
    a, b = curate_both(ws, parse_pipeline(PIPELINE), batch_size=16)
    assert b.created and b.version.digest == a.version.digest
    assert b.version.record_count == a.version.record_count == a.records_out
    assert (b.records_in, b.records_out) == (a.records_in, a.records_out)
    assert counts(b) == counts(a)
    events = events_of(ws, "a@1")
    assert events_of(ws, "b@1") == events and events
    # every planted kind happened, the unique-id rule both ways included
    dropped = {s["name"]: s["dropped"] for s in a.steps}
    assert dropped["normalize"] >= 20 + 15 and dropped["exact_dedup"] >= 25
    assert dropped["near_dedup"] >= 10 and dropped["length"] == 20
    reasons = [e[4] for e in events if e[1] == "normalize" and e[3] == "drop"]
    produced_here = {e[6] for e in events if e[3] == "change"}
    related = {e[5] for e in events if e[1] == "normalize" and e[3] == "drop"}
    assert all("already in the data" in r for r in reasons) and related & produced_here
    # why tells the same story about every removed record in both runs
    for record_id in {e[2] for e in events if e[3] == "drop"}:
        story = {"a@1": [], "b@1": []}  # type: dict[str, list[tuple[Any, ...]]]
        for e in ws.curation.why(record_id)["events"]:
            story[e["version"]].append((e["step"], e["action"], e["reason"], e["related"]))
        assert story["b@1"] == story["a@1"] and story["a@1"]


class Fold(Step):
    """Lower-cases and collapses whitespace (many texts become one record)."""

    name = "fold"
    summary = "fold case and whitespace"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        out = []
        for _, r in batch:
            text = " ".join((r.text or "").lower().split())
            changed = text != r.text
            out.append(Decision.change(replace_texts(r, {"text": text}), "folded") if changed
                       else Decision.keep())  # fmt: skip
        return out


class FirstWord(Step):
    """Keeps the first record of each first word, in stream order, and marks the kept ones
    whose word is short (a needs-all step that changes records)."""

    name = "first_word"
    summary = "one record per first word"
    needs_all = True

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.keeper: dict[str, int] = {}
        self.position = 0

    def summarize(self, batch: Sequence[Item]) -> Any:
        return [(r.text or " ").split()[0] for _, r in batch]

    def prepare(self, summaries: Iterator[Any]) -> None:
        index = 0
        for part in summaries:
            for word in part:
                self.keeper.setdefault(word, index)
                index += 1

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        out = []
        for _, r in batch:
            word = (r.text or " ").split()[0]
            if self.keeper[word] != self.position:
                out.append(Decision.drop(f"first word {word!r} seen before"))
            elif len(word) <= 5:
                out.append(Decision.change(replace_texts(r, {"text": f"{r.text} (short)"}), "mark"))
            else:
                out.append(Decision.keep())
            self.position += 1
        return out


class Fragile(Step):
    """Fails on any text containing 'poison' (which first_word always removes first)."""

    name = "fragile"
    summary = "fails on poison"

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        if any("poison" in (r.text or "") for _, r in batch):
            raise RuntimeError("poisoned")
        return [Decision.drop("ends in 7") if (r.text or "").endswith("7") else Decision.keep()
                for _, r in batch]  # fmt: skip


def test_ray_replays_order_dependent_steps_and_untraced_records(ws, ray_cluster, tmp_path):
    rng = random.Random(3)
    rows = []
    for i in range(120):  # pairs that fold into one text, not in the input
        head, second = WORDS[i % len(WORDS)], rng.choice(WORDS)
        rows.append({"text": f"{head}  {second} item {i % 40}"})
        rows.append({"text": f"{head.upper()} {second}  ITEM {i % 40}"})
    rng.shuffle(rows)
    rows = [{"text": f"{w} poison"} for w in WORDS] + rows  # each first, so each kept...
    rows += [{"text": f"{w} poison again"} for w in WORDS]  # ...and these dropped
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", rows)], source="web", dataset="raw")
    poison = {r["text"] for r in rows if "poison" in r["text"]}
    assert len(poison) == 2 * len(WORDS)
    steps = (Fold, FirstWord, Fragile)
    pipeline = Pipeline(tuple(StepSpec(s.name, s.Params(), s) for s in steps))
    with pytest.raises(Exception, match="poisoned"):  # the pipeline truly fails on poison...
        ws.curation.curate("raw@1", pipeline, "a", batch_size=8)
    rows = [r for r in rows if r["text"] not in poison or r["text"].endswith("again")]
    ws.ingest([write_jsonl(tmp_path / "raw2.jsonl", rows)], source="web", dataset="raw2")
    a = ws.curation.curate("raw2@1", pipeline, "a", batch_size=8)  # ...but not here
    b = ws.curation.curate("raw2@1", pipeline, "b", executor="ray", batch_size=8)
    assert b.version.digest == a.version.digest and counts(b) == counts(a)
    assert events_of(ws, "b@1") == events_of(ws, "a@1")
    changed = {s["name"]: s["changed"] for s in a.steps}
    assert changed["fold"] > 0 and changed["first_word"] > 0


def test_ray_address_only_with_the_ray_executor_and_the_cli(cli, ray_cluster, tmp_path):
    ingest_with_cli(cli, write_jsonl(tmp_path / "raw.jsonl", corpus()[:60]), "raw")
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps(PIPELINE), "utf-8")
    args = ("curate", "raw@1", "--pipeline", pipeline)
    address = ray_cluster.get_runtime_context().gcs_address
    code, _, err = cli(*args, "--out", "x", "--ray-address", address)
    assert code == 1 and "only used with the ray executor" in err
    code, out, err = cli(*args, "--out", "a", "--json")
    assert code == 0, err
    code, out2, err = cli(*args, "--out", "b", "--executor", "ray", "--ray-address", address,
                          "--json")  # fmt: skip
    assert code == 0, err
    local, ray = json.loads(out), json.loads(out2)
    assert ray["records_out"] == local["records_out"]
    show = [json.loads(cli("dataset", "show", f"{d}@1", "--json")[1]) for d in "ab"]
    assert show[0]["digest"] == show[1]["digest"]


def test_without_ray_the_error_says_what_to_install(ws, tmp_path, monkeypatch) -> None:
    ws.ingest([write_jsonl(tmp_path / "raw.jsonl", corpus()[:5])], source="web", dataset="raw")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ValidationError, match=r"pip install 'curata\[ray\]'"):
        ws.curation.curate("raw@1", parse_pipeline(PIPELINE), "b", executor="ray")
