"""Pipelines: an ordered list of steps with parameters, read from YAML or JSON and validated
before any data is read.

```yaml
steps:
  - normalize
  - exact_dedup: {keep: longest}
  - step: near_dedup
    params: {threshold: 0.8}
```

A step is a name, a one-key mapping ``{name: params}``, or ``{step: name, params: {...}}``.
Errors name the place: an unknown step lists the registered ones; a bad parameter gives its
path (``steps[2].near_dedup.threshold``) and why. Parameters are strict: a value of another type
is refused, never coerced (``threshold: true`` or ``"0.9"``, ``drop: "no"``); a whole number
counts as a float.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from curata.core.errors import InputError, ValidationError
from curata.core.ids import canonical_json
from curata.curation.steps import STEPS, registry
from curata.curation.steps.base import Step, StepParams

MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class StepSpec:
    """One validated step of a pipeline."""

    name: str
    params: StepParams
    cls: type[Step]

    def build(self) -> Step:
        return self.cls(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "params": self.params.model_dump(mode="json")}


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[StepSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps]}

    @property
    def digest(self) -> str:
        """Identity of the pipeline (step names and full parameters, defaults included)."""
        import hashlib

        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()[:16]


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file (``.yaml``/``.yml`` or ``.json``)."""
    file = Path(path)
    if not file.exists():
        raise InputError("no such file", path=str(file))
    if not file.is_file():
        raise InputError("not a file (a pipeline is one YAML or JSON file)", path=str(file))
    if file.stat().st_size > MAX_BYTES:
        raise InputError(f"a pipeline file is at most {MAX_BYTES:,} bytes", path=str(file))
    text = file.read_text("utf-8-sig")
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", path=str(file), line=exc.lineno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"malformed YAML: {problem}", path=str(file), line=line) from None
    try:
        return parse_pipeline(data)
    except ValidationError as exc:
        raise InputError(str(exc), path=str(file)) from None


def parse_pipeline(data: Any) -> Pipeline:
    """Validate a pipeline given as data (the parsed YAML/JSON, or a list of steps)."""
    if isinstance(data, dict):
        unknown = set(data) - {"steps"}
        if unknown:
            raise ValidationError(f"unknown key {sorted(unknown)[0]!r} (a pipeline has 'steps')")
        data = data.get("steps")
    if not isinstance(data, list) or not data:
        raise ValidationError("steps: a pipeline is a non-empty list of steps")
    known = registry()
    steps = []
    for i, entry in enumerate(data):
        name, params = _entry(entry, f"steps[{i}]")
        if name not in known:
            raise ValidationError(
                f"steps[{i}]: unknown step {name!r} (available: {', '.join(known) or 'none'})"
            )
        cls = known[name]
        try:
            checked = cls.Params.parse(params)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"steps[{i}].{name}.{'.'.join(str(p) for p in err['loc']) or '(params)'}: "
                f"{err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise ValidationError(problems) from None
        steps.append(StepSpec(name, checked, cls))
    return Pipeline(tuple(steps))


def _entry(entry: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and "step" in entry:
        extra = set(entry) - {"step", "params"}
        if extra:
            raise ValidationError(f"{where}: unknown key {sorted(extra)[0]!r}")
        params = entry.get("params") or {}
        if not isinstance(entry["step"], str) or not isinstance(params, dict):
            raise ValidationError(f"{where}: 'step' is a name and 'params' a mapping")
        return entry["step"], params
    if isinstance(entry, dict) and len(entry) == 1:
        [(name, params)] = entry.items()
        params = params or {}
        if not isinstance(name, str) or not isinstance(params, dict):
            raise ValidationError(f"{where}: write a step as NAME or {{NAME: {{params}}}}")
        return name, params
    raise ValidationError(
        f"{where}: write a step as NAME, {{NAME: {{params}}}} or {{step: NAME, params: {{...}}}}"
    )


def describe_steps() -> list[dict[str, Any]]:
    """Every registered step with its parameters, defaults and descriptions."""
    return STEPS.describe("version", "needs_all")
