"""Pipeline parameters are strict: a value of the wrong type is refused with its parameter path,
never coerced (issue #12: ``threshold: true`` ran as 1.0, ``drop: "no"`` as False)."""

from __future__ import annotations

from pathlib import Path

import pytest

from curata.core.errors import InputError, ValidationError
from curata.curation.pipeline import load_pipeline, parse_pipeline


@pytest.mark.parametrize(
    ("step", "params", "path", "why"),
    [
        ("near_dedup", {"threshold": True}, "steps[0].near_dedup.threshold", "valid number"),
        ("near_dedup", {"threshold": "0.9"}, "steps[0].near_dedup.threshold", "valid number"),
        ("pii", {"drop": "no"}, "steps[0].pii.drop", "valid boolean"),
        ("pii", {"drop": 0}, "steps[0].pii.drop", "valid boolean"),
        ("length", {"min_words": "3"}, "steps[0].length.min_words", "valid integer"),
        ("length", {"min_words": 3.0}, "steps[0].length.min_words", "valid integer"),
        ("pii", {"entities": "EMAIL_ADDRESS"}, "steps[0].pii.entities", ""),
    ],
)
def test_wrong_types_are_refused_with_the_parameter_path(
    step: str, params: dict[str, object], path: str, why: str
) -> None:
    with pytest.raises(ValidationError) as error:
        parse_pipeline([{step: params}])
    message = str(error.value)
    assert message.startswith(f"{path}: "), message
    assert why in message


def test_values_of_the_declared_types_are_accepted() -> None:
    pipeline = parse_pipeline(
        [
            {"near_dedup": {"threshold": 1}},  # a whole number where a float is expected
            {"near_dedup": {"threshold": 0.75}},
            {"pii": {"drop": False, "entities": ["EMAIL_ADDRESS"], "action": "mask"}},
            {"length": {"min_words": 3, "max_words": None}},
        ]
    )
    first, second, pii, length = (s.params for s in pipeline.steps)
    assert first.model_dump()["threshold"] == 1.0 and isinstance(
        first.model_dump()["threshold"], float
    )
    assert second.model_dump()["threshold"] == 0.75
    assert pii.model_dump()["entities"] == ("EMAIL_ADDRESS",) and pii.model_dump()["drop"] is False
    assert length.model_dump()["min_words"] == 3


def test_yaml_strings_that_look_like_values_are_refused(tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text('steps:\n  - near_dedup: {threshold: "0.9"}\n  - pii: {drop: "no"}\n')
    with pytest.raises(InputError, match=r"steps\[0\]\.near_dedup\.threshold: Input should be"):
        load_pipeline(spec)
    spec.write_text("steps:\n  - near_dedup: {threshold: 0.9}\n  - pii: {drop: no}\n")
    pipeline = load_pipeline(spec)  # YAML's own boolean `no` is a boolean
    assert pipeline.steps[1].params.model_dump()["drop"] is False
