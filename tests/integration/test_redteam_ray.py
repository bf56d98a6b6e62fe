"""Red-team campaigns on Ray (``curata redteam run|resume --executor ray``): the shards of a
campaign against the deterministic scripted target give the local run's attempts and verdicts;
a worker that dies mid-way keeps what it recorded and ``resume`` makes exactly the rest; bad
executor flags are refused before a campaign is recorded. Ray starts once for the module
(2 CPUs), as in test_curation_ray."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from curata.cluster.redteam import check_options, is_local, run_on_ray, shard_params
from curata.core.errors import ValidationError
from curata.redteam.targets import RunnerParams
from curata.redteam.targets.callable import CallableTarget

FIXTURES = Path(__file__).parents[1] / "fixtures" / "redteam"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    # the killing target below is defined here: ship it by value, whatever the workers import
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _units(ws: Any, campaign_id: str) -> dict[tuple[str, int, int], str]:
    return {
        (a.attack_id, a.variant, a.sample): a.verdict
        for a in ws.campaigns.iter_attempts(campaign_id)
    }


def _by_category(ws: Any, campaign_id: str) -> dict[str, tuple[int, int]]:
    report = ws.campaigns.report(campaign_id).to_dict()
    return {g["value"]: (g["n"], g["failures"]) for g in report["by"]["category"]}


def test_ray_shards_give_the_local_result(ws, ray_cluster) -> None:
    ws.redteam.import_attacks(FIXTURES / "curata_attacks.jsonl", dataset="mixed", source="web")
    spec = {"attacks": "mixed@1", "target": "scripted", "converters": ["leetspeak", "base64"]}
    local = ws.campaigns.create(**spec, samples=2)
    on_ray = ws.campaigns.create(**spec, samples=2)
    assert local.planned == on_ray.planned == 11 * 3 * 2  # 11 attacks x 3 variants x 2 samples
    local = ws.campaigns.run(local.id)
    seen: list[int] = []
    on_ray = run_on_ray(ws, on_ray.id, workers=2, progress=lambda p: seen.append(p.done))
    assert local.status == on_ray.status == "completed"
    assert on_ray.attempts == local.attempts == 66
    assert on_ray.verdicts == local.verdicts
    # attempt by attempt: the same units, each with the local verdict (the double is
    # deterministic), and the report's per-category rates therefore the same
    assert _units(ws, on_ray.id) == _units(ws, local.id)
    assert _by_category(ws, on_ray.id) == _by_category(ws, local.id)
    run = on_ray.stats["runs"][-1]
    assert run["executor"]["workers"] == 2 and run["attempts"] == 66
    # the shards are disjoint halves of the plan: 66 units, places 0, 2, ... and 1, 3, ...
    assert sorted(s["attempts"] for s in run["executor"]["shards"]) == [33, 33]
    # the workers' target statistics add up to the local run's (some attempts take 2 turns)
    local_stats = local.stats["runs"][-1]["target_stats"]
    for key in ("attempts", "requests", "outcomes"):
        assert run["target_stats"][key] == local_stats[key]
    assert seen and seen[-1] == 66
    # a completed campaign is left as it is
    assert run_on_ray(ws, on_ray.id, workers=2).stats["runs"] == on_ray.stats["runs"]


def _dies_on(marker: Path, trigger: str, prompt: str) -> str:
    """A target that answers slowly, and kills its whole process (the Ray worker) when it is
    sent ``trigger`` while ``marker`` exists."""
    time.sleep(0.1)
    if prompt == trigger and marker.exists():
        os._exit(17)
    return "I can't help with that."


def test_a_worker_that_dies_keeps_its_attempts_and_resume_makes_the_rest(
    ws, ray_cluster, tmp_path: Path
) -> None:
    ws.redteam.import_attacks(FIXTURES / "curata_attacks.jsonl", dataset="mixed", source="web")
    attacks = [s.attack for s in ws.redteam.iter_attacks("mixed@1")]
    marker = tmp_path / "kill"
    marker.touch()
    # 11 attacks x (as written, leetspeak): with 2 shards, places 0, 2, 4, ... (every attack
    # as written) are shard 1's and the leetspeak ones shard 2's; shard 1 dies at its 10th
    target = CallableTarget.of(partial(_dies_on, marker, attacks[9].prompt), label="dies")
    campaign = ws.campaigns.create(
        attacks="mixed@1",
        target=target,
        converters=["leetspeak"],
        runner=RunnerParams(concurrency=1),
    )
    assert campaign.planned == 22
    died = run_on_ray(ws, campaign.id, workers=2, target=target)
    assert died.status == "failed"
    assert "shard 1 of 2" in (died.error or "") and "died" in (died.error or "")
    kept = _units(ws, campaign.id)
    variants = Counter(variant for _, variant, _ in kept)
    assert variants[1] == 11  # the other shard finished
    assert 0 < variants[0] <= 10  # what the dead one wrote before it died is kept
    marker.unlink()
    resumed = run_on_ray(ws, campaign.id, workers=2, target=target)
    assert resumed.status == "completed" and resumed.attempts == 22
    after = _units(ws, campaign.id)
    assert len(after) == 22 and all(after[unit] == v for unit, v in kept.items())
    assert resumed.stats["runs"][-1]["attempts"] == 22 - len(kept)  # nothing made twice


def test_executor_options(tmp_path: Path) -> None:
    assert is_local(None) and is_local("local") and is_local("127.0.0.1:6379")
    assert not is_local("auto") and not is_local("10.0.0.5:6379")
    assert not is_local("ray://head:10001")
    shares = shard_params(RunnerParams(max_attempts=10, rate_limit=6.0, concurrency=4), 4)
    assert [s.max_attempts for s in shares] == [3, 3, 2, 2]  # 10 = 3 + 3 + 2 + 2
    assert all(s.rate_limit == 1.5 and s.concurrency == 4 for s in shares)
    assert [s.max_tokens for s in shares] == [None] * 4

    class Sqlite:
        database_url = f"sqlite:///{tmp_path}/x.db"

    with pytest.raises(ValidationError, match="SQLite"):
        check_options(Sqlite(), executor="ray", address="10.0.0.5:6379", workers=None)  # type: ignore[arg-type]
    check_options(Sqlite(), executor="ray", address="127.0.0.1:6379", workers=2)  # type: ignore[arg-type]


def test_cli_runs_on_ray_and_refuses_bad_flags(cli, ray_cluster, database_url) -> None:
    assert cli("init")[0] == 0
    code, _, err = cli(
        "source", "add", "corpora", "--kind", "crawl", "--license", "MIT",
        "--origin", "https://example.org",
    )  # fmt: skip
    assert code == 0, err
    fixture = FIXTURES / "curata_attacks.jsonl"
    code, _, err = cli("redteam", "import", fixture, "--dataset", "mixed", "--source", "corpora")
    assert code == 0, err
    base = ("redteam", "run", "--attacks", "mixed@1", "--target", "scripted")
    bad = [
        (("--ray-address", "127.0.0.1:6379"), "--ray-address is only used with --executor ray"),
        (("--ray-workers", "2"), "--ray-workers is only used with --executor ray"),
        (("--executor", "dask"), "executor: 'dask' is not one of local, ray"),
        (("--executor", "ray", "--ray-workers", "0"), "--ray-workers must be between 1"),
    ]
    if database_url is None:
        bad.append((("--executor", "ray", "--ray-address", "10.0.0.5:6379"), "SQLite"))
    for args, message in bad:
        code, _, err = cli(*base, *args)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
    code, out, _ = cli("redteam", "status", "--json")
    assert json.loads(out) == []  # nothing recorded by a refused run
    code, out, err = cli(*base, "--executor", "ray", "--ray-workers", "2", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["status"] == "completed" and done["attempts"] == done["planned"] == 11
    code, _, err = cli("redteam", "resume", done["id"], "--ray-workers", "3")
    assert code != 0 and "--ray-workers is only used with --executor ray" in err
    code, out, err = cli("redteam", "resume", done["id"], "--executor", "ray", "--json")
    assert code == 0 and json.loads(out)["status"] == "completed", err
