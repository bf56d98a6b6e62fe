"""Contract tests over every registered plugin (garak's probe tests are the model): each step,
aggregator, agreement coefficient, question type and converter (whose own contracts are
test_question_type_contracts.py and test_converter_contracts.py) declares valid metadata and
documented parameters, gives the same output for the same input, handles empty input, and
round-trips where it can; a plugin with bad metadata fails when it is defined, and a broken
registry entry is named."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic_core import PydanticUndefined

from curata.annotation.aggregation import (
    AGGREGATORS,
    METHODS,
    Aggregator,
    aggregate_items,
    aggregators,
    majority,
)
from curata.core.errors import ValidationError
from curata.core.plugins import NAME, Plugin, Registry, metadata_problem
from curata.core.records import Record
from curata.curation.steps import registry
from curata.curation.steps.base import Step, StepParams
from curata.questions import QUESTION_TYPES
from curata.redteam.converters import CONVERTERS
from curata.redteam.scorers import SCORERS
from curata.redteam.targets import TARGETS
from curata.stats.aggregation import TIE, majority_labels
from curata.stats.agreement import AgreementError, category_counts
from curata.stats.coefficients import (
    COEFFICIENTS,
    AgreementCoefficient,
    categories_ratings,
    coefficients,
)

STEPS = sorted(registry())
AGGREGATOR_NAMES = sorted(AGGREGATORS.load())
COEFFICIENT_NAMES = [c.name for c in coefficients()]

TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "Write to jane.doe@example.com or call +44 20 7946 0958 about the order.",
    "short",
    "Ein kurzer deutscher Satz über das Wetter in Berlin und München heute.",
]


def _params(name: str, tmp_path: Path) -> dict[str, Any]:
    """The smallest valid parameters of a step (its required ones)."""
    if name == "decontaminate":
        path = tmp_path / "eval.txt"
        path.write_text(" ".join(f"w{i}" for i in range(20)) + "\n", "utf-8")
        return {"eval_file": str(path)}
    if name == "language":
        return {"allow": ["en"]}
    return {}


def _decide(cls: type[Step], params: StepParams, batch: list[tuple[str, Record]]) -> list[Any]:
    """A fresh step's decisions on one batch, with the summarize/prepare pass a ``needs_all``
    step gets from the executor first (``tests.helpers.decide`` only applies)."""
    step = cls(params)
    if cls.needs_all:
        step.prepare(iter([step.summarize(batch)]))
    return step.apply(batch)


def _batch() -> list[tuple[str, Record]]:
    return [(f"r{i}", Record(kind="text", text=t)) for i, t in enumerate(TEXTS)]


# -- metadata ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [
        *registry().values(),
        *AGGREGATORS.load().values(),
        *COEFFICIENTS.load().values(),
        *QUESTION_TYPES.load().values(),
        *CONVERTERS.load().values(),
        *SCORERS.load().values(),
        *TARGETS.load().values(),
    ],
    ids=lambda c: f"{c.kind}:{c.name}",
)
def test_declared_metadata_is_present_and_valid(cls: type[Plugin]) -> None:
    assert metadata_problem(cls) is None
    assert NAME.fullmatch(cls.name)
    assert cls.summary.strip() and "\n" not in cls.summary, "a summary is one line"


@pytest.mark.parametrize("name", STEPS)
def test_every_step_parameter_is_documented_and_defaulted_or_required(name: str) -> None:
    params = registry()[name].Params
    assert issubclass(params, StepParams)
    for field, info in params.model_fields.items():
        assert info.description and info.description.strip(), f"{name}.{field}: no description"
        has_default = info.default is not PydanticUndefined or info.default_factory is not None
        assert info.is_required() != has_default, f"{name}.{field}"
    # the defaults are valid parameters: only the required ones need to be given
    required = {f for f, info in params.model_fields.items() if info.is_required()}
    assert required <= {"eval_file", "allow"}, f"{name}: required {required} (update _params)"


@pytest.mark.parametrize("cls", list(COEFFICIENTS.load().values()), ids=lambda c: c.name)
def test_every_coefficient_declares_levels_raters_and_reference(
    cls: type[AgreementCoefficient],
) -> None:
    assert cls.levels and set(cls.levels) <= {"nominal", "ordinal", "interval", "ratio"}
    assert cls.reference.strip()
    assert cls.two_raters == (cls.scope == "pairs")


def test_the_registries_list_the_built_ins_in_their_order() -> None:
    assert METHODS[:3] == ("majority", "dawid-skene", "gold-weighted")
    assert list(aggregators()) == list(METHODS)
    assert COEFFICIENT_NAMES[0] == "krippendorff_alpha"
    assert {"percent_agreement", "fleiss_kappa", "gwet_ac1", "brennan_prediger"} <= set(
        COEFFICIENT_NAMES
    )
    assert AGGREGATORS.load()["gold-weighted"].needs_gold_accuracy
    assert AGGREGATORS.load()["dawid-skene"].uses_anchors
    assert not AGGREGATORS.load()["majority"].statistical


# -- steps: determinism, empty input, round trip ------------------------------------------------


@pytest.mark.parametrize("name", STEPS)
def test_step_is_deterministic_and_handles_empty_input(name: str, tmp_path: Path) -> None:
    cls = registry()[name]
    params = cls.Params.parse(_params(name, tmp_path))
    first = _decide(cls, params, _batch())
    assert len(first) == len(TEXTS)
    assert first == _decide(cls, params, _batch())
    assert _decide(cls, params, []) == []


@pytest.mark.parametrize("name", STEPS)
def test_step_params_round_trip(name: str, tmp_path: Path) -> None:
    cls = registry()[name]
    params = cls.Params.parse(_params(name, tmp_path))
    assert cls.Params.parse(params.model_dump(mode="json")) == params


# -- aggregators ---------------------------------------------------------------------------------

ITEMS = [
    [(1, {"q": "a"}), (2, {"q": "a"}), (3, {"q": "b"})],
    [(1, {"q": "b"}), (2, {"q": "b"}), (3, {"q": "b"})],
    [(1, {"q": "a"}), (2, {"q": "b"})],
    [(1, {"q": "a"}), (2, {"q": "a"}), (3, {"q": "a"})],
]
ACCURACY = {(1, "q"): 0.9, (2, "q"): 0.8, (3, "q"): 0.6}


@pytest.mark.parametrize("name", AGGREGATOR_NAMES)
def test_aggregator_is_deterministic_and_handles_empty_input(name: str) -> None:
    def run() -> Any:
        return aggregate_items(name, ITEMS, categorical={"q"}, gold_accuracy=ACCURACY)

    first = run()
    assert len(first) == len(ITEMS) and first == run()
    assert aggregate_items(name, [], categorical={"q"}) == []
    assert aggregate_items(name, [[]], categorical={"q"}) == [{}]


@pytest.mark.parametrize("name", AGGREGATOR_NAMES)
def test_aggregator_gives_back_a_unanimous_label(name: str) -> None:
    """Round trip: a label every annotator gave comes back as the item's label."""
    out = aggregate_items(name, ITEMS, categorical={"q"}, gold_accuracy=ACCURACY)
    assert out[1]["q"]["value"] == "b" and out[3]["q"]["value"] == "a"


def test_an_unknown_aggregator_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown aggregator 'mode' .*majority"):
        aggregate_items("mode", ITEMS, categorical={"q"})


# -- coefficients --------------------------------------------------------------------------------


def _ratings(data: np.ndarray, q: int = 3, level: str = "nominal") -> Any:
    counts = category_counts(data, q)
    counts = counts[counts.sum(axis=1) >= 1]
    return categories_ratings(data, level, q, counts, int((counts.sum(axis=1) >= 2).sum()))


@pytest.mark.parametrize("name", COEFFICIENT_NAMES)
def test_coefficient_is_deterministic_and_names_empty_input(name: str) -> None:
    cls = COEFFICIENTS.load()[name]
    data = np.array([[0, 0], [1, 1], [2, 1], [0, 2], [1, 1], [2, 2]], dtype=float)
    first = cls().measure(_ratings(data), samples=50)
    assert first == cls().measure(_ratings(data), samples=50)
    assert np.isfinite(first.value) and first.low is not None
    with pytest.raises(AgreementError):
        cls().measure(_ratings(np.full((0, 2), np.nan)), samples=50)


@pytest.mark.parametrize("name", COEFFICIENT_NAMES)
def test_coefficient_of_perfect_agreement_is_one(name: str) -> None:
    data = np.array([[0, 0], [1, 1], [2, 2], [0, 0], [1, 1]], dtype=float)
    assert COEFFICIENTS.load()[name]().measure(_ratings(data), samples=0).value == 1.0


def test_two_rater_coefficients_refuse_more_raters() -> None:
    data = np.array([[0, 0, 1], [1, 1, 1]], dtype=float)
    with pytest.raises(AgreementError, match="exactly two raters"):
        COEFFICIENTS.load()["cohen_kappa"]().measure(_ratings(data), samples=0)


# -- bad plugins are named -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"summary": "no name"}, "name None must match"),
        ({"name": "Bad Name", "summary": "s"}, "'Bad Name'.*must match"),
        ({"name": "nosummary"}, "'nosummary'.*declares no summary"),
        ({"name": "badparams", "summary": "s", "Params": dict}, "'badparams'.*pydantic model"),
    ],
)
def test_a_plugin_class_with_bad_metadata_fails_when_defined(
    body: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=f"^step .*{problem}"):
        type("Broken", (Step,), dict(body))


def test_an_aggregator_with_bad_metadata_fails_when_defined() -> None:
    with pytest.raises(ValidationError, match="aggregator 'x y'"):
        type("Broken", (Aggregator,), {"name": "x y", "summary": "s"})


def _registry_of(monkeypatch: pytest.MonkeyPatch, value: str, name: str = "x") -> Registry[Any]:
    entry = EntryPoint(name=name, value=value, group="curata.test")
    monkeypatch.setattr("curata.core.plugins.entry_points", lambda group: [entry])
    return Registry("curata.test", Step, "step")


def test_a_registry_entry_to_a_broken_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = _registry_of(monkeypatch, "curata.no_such_module:Thing")
    with pytest.raises(
        ValidationError, match=r"step 'x' \(curata.no_such_module:Thing\) failed to load: No module"
    ):
        reg.load()


def test_a_registry_entry_of_another_kind_or_name_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="is not a curata Step class"):
        _registry_of(monkeypatch, "curata.annotation.aggregation:Majority").load()
    with pytest.raises(ValidationError, match="declares the name 'length'"):
        _registry_of(monkeypatch, "curata.curation.steps.length:Length", "len").load()


# -- the one majority tie rule -------------------------------------------------------------------


def test_one_majority_tie_rule() -> None:
    counts = np.array([[3, 1, 0], [2, 2, 0], [0, 0, 0], [0, 1, 4]])
    assert majority_labels(counts).tolist() == [0, TIE, TIE, 2]
    tied = majority([{"q": "a"}, {"q": "b"}])["q"]
    assert tied["value"] is None and tied["tied"] is True
    won = majority([{"q": "b"}, {"q": "a"}, {"q": "b"}])["q"]
    assert won["value"] == "b" and won["tied"] is False


def test_a_rejected_value_that_may_hold_a_credential_is_not_repeated() -> None:
    from curata.redteam.targets import target_from_spec

    secret = "Authorization: Bearer sk-live-123"
    with pytest.raises(ValidationError) as err:
        target_from_spec(f'openai:base_url=http://127.0.0.1:9/v1,model=m,headers="{secret}"')
    assert "sk-live-123" not in str(err.value) and "[redacted" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with pytest.raises(ValidationError, match=r"param 'temperature'.*\(got 'hot'\)"):
        target_from_spec("openai:base_url=http://127.0.0.1:9/v1,model=m,temperature=hot")
