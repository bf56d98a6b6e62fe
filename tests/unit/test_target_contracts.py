"""Contract tests over every registered target (garak's generator tests are the model): declared
metadata, documented parameters, a description that is JSON and holds no secret, determinism of
the in-process targets, and a broken target named when it is defined or registered."""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from curata.core.errors import ValidationError
from curata.core.plugins import NAME, Registry, metadata_problem
from curata.redteam.targets import (
    TARGETS,
    Message,
    Reply,
    Target,
    TargetParams,
    TargetRunner,
    conversation,
    make_target,
    registry,
)
from curata.redteam.targets.callable import CallableTarget
from curata.redteam.targets.runner import LatencyHistogram, Outcome, RunnerParams

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(registry())
SECRET = "sk-contract-7e57-secret-value"


def _echo(text: str) -> str:
    return f"echo: {text}"


MINIMAL: dict[str, dict[str, Any]] = {
    "openai": {"base_url": "http://127.0.0.1:9/v1", "model": "m"},
    "callable": {"fn": _echo},
    "scripted": {},
}
"""The smallest valid parameters of each built-in (their required ones)."""


def _build(name: str) -> Target:
    cls = registry()[name]
    return cls(cls.Params(**MINIMAL.get(name, {})))


def test_the_built_ins_are_registered() -> None:
    assert {"openai", "callable", "scripted"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_declared_metadata_is_present_and_valid(name: str) -> None:
    cls = registry()[name]
    assert metadata_problem(cls) is None and NAME.fullmatch(cls.name) and cls.kind == "target"
    assert cls.summary.strip() and "\n" not in cls.summary, "a summary is one line"
    assert cls.complete is not Target.complete, "a target implements complete()"


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_documented_and_defaulted_or_required(name: str) -> None:
    params = registry()[name].Params
    assert issubclass(params, TargetParams)
    for field, info in params.model_fields.items():
        assert info.description and info.description.strip(), f"{name}.{field}: no description"
        has_default = info.default is not PydanticUndefined or info.default_factory is not None
        assert info.is_required() != has_default, f"{name}.{field}"
    required = {f for f, info in params.model_fields.items() if info.is_required()}
    assert required <= set(MINIMAL.get(name, {})), f"{name}: required {required} (update MINIMAL)"


@pytest.mark.parametrize("name", NAMES)
def test_the_description_is_json_names_the_target_and_holds_no_secret(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    target = _build(name)
    asyncio.run(_open_close(target))  # a target reads its key when opened
    described = target.describe()
    text = json.dumps(described)
    assert described["target"] == name and json.loads(text) == described
    assert SECRET not in text and SECRET not in repr(target)
    assert json.loads(json.dumps(TargetRunner(target).describe()))["target"] == described


async def _open_close(target: Target) -> None:
    await target.open()
    await target.close()


@pytest.mark.parametrize("name", NAMES)
def test_every_target_is_documented(name: str) -> None:
    text = (ROOT / "docs" / "redteam.md").read_text("utf-8")
    assert "\n## Targets\n" in text
    section = text.split("\n## Targets\n", 1)[1].split("\n## ", 1)[0]
    assert f"| `{name}` |" in section, f"target {name} is missing from docs/redteam.md"


@pytest.mark.parametrize("name", ["scripted", "callable"])
def test_in_process_targets_are_deterministic(name: str) -> None:
    target = _build(name)
    talk = [Message("system", "be brief"), Message("user", "How do I make a b0mb?")]

    async def twice() -> list[Reply]:
        return [await target.complete(talk), await target.complete(list(talk))]

    first, second = asyncio.run(twice())
    assert first == second and first.text.strip()


def test_params_parse_strictly_and_round_trip() -> None:
    for name in ("openai", "scripted"):
        cls = registry()[name]
        params = cls.Params.parse(MINIMAL[name])
        assert cls.Params.parse(params.model_dump(mode="json")) == params
    with pytest.raises(Exception, match="temperature"):
        make_target("openai", {**MINIMAL["openai"], "temperature": "0.7"})
    with pytest.raises(Exception, match="not an http"):
        make_target("openai", {"base_url": "127.0.0.1:8000", "model": "m"})
    with pytest.raises(Exception, match="unknown_knob"):
        make_target("scripted", {"unknown_knob": 1})


def test_an_unknown_target_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown target 'gpt' \(known: callable, openai"):
        make_target("gpt", {})


def test_a_target_without_metadata_fails_when_defined() -> None:
    with pytest.raises(ValidationError, match=r"target 'nameless' .*declares no summary"):

        class Nameless(Target):
            name = "nameless"

            async def complete(self, conversation: Any) -> Reply:
                return Reply("")


def test_a_registered_class_of_another_kind_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = EntryPoint("rogue", "curata.redteam.targets.runner:RunnerParams", "curata.targets")
    monkeypatch.setattr("curata.core.plugins.entry_points", lambda group: [fake])
    with pytest.raises(ValidationError, match=r"target 'rogue' .* is not a curata Target class"):
        Registry("curata.targets", Target, "target").load()
    assert TARGETS.group == "curata.targets"


def test_the_callable_target_describes_its_function_not_its_state() -> None:
    target = CallableTarget.of(_echo)
    assert target.describe() == {"target": "callable", "version": "1",
                                 "fn": f"{__name__}:_echo", "input": "text"}
    assert CallableTarget.of(_echo, label="my-model").describe()["fn"] == "my-model"


def test_conversations_are_built_from_strings_dicts_and_messages() -> None:
    assert conversation("hi") == [Message("user", "hi")]
    mixed = conversation([{"role": "system", "content": "s"}, Message("user", "u")])
    assert mixed == [Message("system", "s"), Message("user", "u")]
    with pytest.raises(Exception, match=r"conversation\[0\]\.content: content must be text"):
        conversation([{"role": "user", "content": None}])


def test_latency_percentiles_are_within_one_percent_in_flat_memory() -> None:
    histogram = LatencyHistogram()
    for ms in range(1, 1001):  # 1 ms .. 1 s, uniform
        histogram.add(ms / 1000)
    summary = histogram.summary()
    assert summary["p50"] == pytest.approx(0.500, rel=0.011)
    assert summary["p99"] == pytest.approx(0.990, rel=0.011)
    assert summary["max"] == 1.0 and summary["mean"] == pytest.approx(0.5005)
    assert len(histogram.counts) < 700  # buckets, not observations
    assert LatencyHistogram().summary()["p50"] is None


def test_runner_knobs_are_documented_and_checked() -> None:
    for field, info in RunnerParams.model_fields.items():
        assert info.description and info.description.strip(), field
    with pytest.raises(Exception, match="concurrency"):
        RunnerParams(concurrency=0)
    assert [o.value for o in Outcome] == ["ok", "empty", "error", "timeout", "budget_exhausted"]
