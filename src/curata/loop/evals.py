"""Readers of evaluation results and their summary (pure: bytes in, examples out).

Three formats are read, each all-or-nothing: the first bad line raises an
:class:`~curata.core.errors.InputError` naming ``file:line`` and the field.

* JSONL and CSV with ``id``, ``input``, ``output``, ``score`` and/or ``passed``, ``category``;
  any other field is kept as the example's metadata.
* lm-evaluation-harness sample logs (``samples_<task>_<timestamp>.jsonl``, written with
  ``--log_samples``): one line per document with ``doc_id``, ``doc``, ``arguments``, ``resps``,
  ``filtered_resps``, ``target`` and one field per metric (``acc``, ``exact_match``, ...). The
  task is the category; a metric of 0 or 1 decides pass/fail.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from curata.core.errors import InputError, ValidationError
from curata.stats.proportions import wilson_interval

FORMATS = ("auto", "jsonl", "csv", "lm-eval")
"""The formats :func:`read_results` accepts (``auto`` decides by the file name)."""

KNOWN_FIELDS = ("id", "input", "output", "score", "passed", "category")
DEFAULT_CATEGORY = "uncategorized"
PASS_WORDS = {"pass": True, "fail": False, "true": True, "false": False, "1": True, "0": False}
LM_EVAL_NAME = re.compile(r"^samples_(?P<task>.+?)_(?P<stamp>\d{4}-\d{2}-\d{2}T[\d.:\-]+)\.jsonl$")
LM_EVAL_METRICS = ("acc", "acc_norm", "exact_match", "pass@1", "em", "f1", "bleu", "mcc")


@dataclass(frozen=True)
class EvalExample:
    """One example's result: what went in, what came out, and how it was judged."""

    example_id: str
    input: str
    output: str
    score: float | None
    passed: bool | None
    category: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CategoryRate:
    """Pass rate of one category with its 95% Wilson interval (over judged examples)."""

    category: str
    examples: int
    judged: int
    passed: int
    rate: float | None
    low: float | None
    high: float | None
    mean_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def detect_format(name: str) -> str:
    """The format a file name implies: ``samples_*.jsonl`` is an lm-eval sample log."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith("samples_") and base.endswith(".jsonl"):
        return "lm-eval"
    if base.endswith((".jsonl", ".json")):
        return "jsonl"
    if base.endswith(".csv"):
        return "csv"
    raise ValidationError(
        f"{base}: cannot tell the format from the name; pass --format jsonl, csv or lm-eval"
    )


def read_results(data: bytes, name: str, *, format: str = "auto") -> list[EvalExample]:
    """Every example of a results file (``name`` is used in messages and for lm-eval's task)."""
    if format not in FORMATS:
        raise ValidationError(f"unknown format {format!r} (expected one of {', '.join(FORMATS)})")
    kind = detect_format(name) if format == "auto" else format
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=name) from None
    examples: Iterator[tuple[int, EvalExample]]
    if kind == "lm-eval":
        task = lm_eval_task(name)
        examples = ((n, _lm_eval_example(row, name, n, task)) for n, row in _jsonl_rows(text, name))
    else:
        rows = _csv_rows(text, name) if kind == "csv" else _jsonl_rows(text, name)
        examples = ((n, _example(row, name, n)) for n, row in rows)
    return _unique(examples, name)


def lm_eval_task(name: str) -> str:
    """The task of an lm-eval sample log, from its name ``samples_<task>_<timestamp>.jsonl``."""
    base = name.rsplit("/", 1)[-1]
    match = LM_EVAL_NAME.match(base)
    if match:
        return match["task"]
    stem = base.removesuffix(".jsonl").removeprefix("samples_")
    return stem or DEFAULT_CATEGORY


def summarize(examples: Iterable[tuple[str, bool | None, float | None]]) -> list[CategoryRate]:
    """Pass rate per category (and ``all`` last) from ``(category, passed, score)`` triples.

    Examples without a pass/fail verdict count in ``examples`` but not in the rate."""
    per_category: dict[str, _Tally] = {}
    overall = _Tally()
    for category, passed, score in examples:
        for tally in (per_category.setdefault(category, _Tally()), overall):
            tally.add(passed, score)
    rows = [tally.rate(name) for name, tally in sorted(per_category.items())]
    return [*rows, overall.rate("all")]


@dataclass
class _Tally:
    examples: int = 0
    judged: int = 0
    passed: int = 0
    scored: int = 0
    score_sum: float = 0.0

    def add(self, passed: bool | None, score: float | None) -> None:
        self.examples += 1
        if passed is not None:
            self.judged += 1
            self.passed += int(passed)
        if score is not None:
            self.scored += 1
            self.score_sum += score

    def rate(self, category: str) -> CategoryRate:
        low, high = wilson_interval(self.passed, self.judged) if self.judged else (None, None)
        return CategoryRate(
            category=category,
            examples=self.examples,
            judged=self.judged,
            passed=self.passed,
            rate=self.passed / self.judged if self.judged else None,
            low=low,
            high=high,
            mean_score=self.score_sum / self.scored if self.scored else None,
        )


def parse_passed(value: Any, where: str, line: int) -> bool | None:
    """A pass/fail verdict from a bool, 1/0 or the words pass/fail/true/false/1/0."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in PASS_WORDS:
        return PASS_WORDS[value.strip().lower()]
    raise InputError(
        f"{value!r} is not pass/fail/true/false/1/0", path=where, line=line, field="passed"
    )


def parse_score(value: Any, where: str, line: int, name: str = "score") -> float | None:
    """A finite number (NaN and infinities are refused: they would poison every mean)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not a number", path=where, line=line, field=name)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise InputError(
                f"{value!r} is not a number", path=where, line=line, field=name
            ) from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise InputError(f"{value!r} is not a number", path=where, line=line, field=name)
    if not math.isfinite(number):
        raise InputError(f"{value!r} is not a finite number", path=where, line=line, field=name)
    return number


def _jsonl_rows(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", path=name, line=line) from None
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", path=name, line=line)
        yield line, row


def _csv_rows(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        return
    if "id" not in reader.fieldnames:
        raise InputError("no 'id' column", path=name, line=1)
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InputError("more cells than columns", path=name, line=line)
        yield line, {k: v for k, v in row.items() if v is not None}


def _text(row: dict[str, Any], key: str, where: str, line: int) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _example(row: dict[str, Any], name: str, line: int) -> EvalExample:
    raw_id = row.get("id")
    if raw_id is None or raw_id == "" or isinstance(raw_id, bool | dict | list | float):
        problem = "missing" if raw_id in (None, "") else f"{raw_id!r} is not a string or integer"
        raise InputError(problem, path=name, line=line, field="id")
    score = parse_score(row.get("score"), name, line)
    passed = parse_passed(row.get("passed"), name, line)
    if score is None and passed is None:
        raise InputError("needs a score or passed", path=name, line=line, field="score")
    category = _text(row, "category", name, line).strip() or DEFAULT_CATEGORY
    return EvalExample(
        example_id=str(raw_id),
        input=_text(row, "input", name, line),
        output=_text(row, "output", name, line),
        score=score,
        passed=passed,
        category=category,
        metadata={k: v for k, v in row.items() if k not in KNOWN_FIELDS},
    )


def _lm_eval_example(row: dict[str, Any], name: str, line: int, task: str) -> EvalExample:
    doc_id = row.get("doc_id")
    if not isinstance(doc_id, int) or isinstance(doc_id, bool):
        raise InputError(
            f"{doc_id!r} is not an integer" if doc_id is not None else "missing",
            path=name,
            line=line,
            field="doc_id",
        )
    declared = row.get("metrics")
    names = [m for m in declared if isinstance(m, str)] if isinstance(declared, list) else []
    names += [m for m in LM_EVAL_METRICS if m in row and m not in names]
    metrics = {m: parse_score(row.get(m), name, line, m) for m in names if m in row}
    scored = [(m, v) for m, v in metrics.items() if v is not None]
    if not scored:
        raise InputError("no metric field (acc, exact_match, ...)", path=name, line=line)
    metric, score = scored[0]
    passed = bool(score) if score in (0.0, 1.0) else None
    response = row.get("filtered_resps", row.get("resps"))
    return EvalExample(
        example_id=str(doc_id),
        input=_first_text(row.get("arguments")),
        output=_first_text(response),
        score=score,
        passed=passed,
        category=task,
        metadata={
            "metric": metric,
            "metrics": metrics,
            "target": row.get("target"),
            "doc": row.get("doc"),
        },
    )


def _first_text(value: Any) -> str:
    """The first string inside lm-eval's nested arguments/responses (the prompt, the reply)."""
    if isinstance(value, str):
        return value
    items: Iterable[Any] = ()
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list):
        items = value
    for item in items:
        found = _first_text(item)
        if found:
            return found
    return "" if value is None or isinstance(value, dict | list) else json.dumps(value)


def _unique(examples: Iterable[tuple[int, EvalExample]], name: str) -> list[EvalExample]:
    seen: dict[str, int] = {}
    out: list[EvalExample] = []
    for line, example in examples:
        first = seen.setdefault(example.example_id, line)
        if first != line:
            raise InputError(
                f"duplicate id {example.example_id!r} (first on line {first})",
                path=name,
                line=line,
                field="id",
            )
        out.append(example)
    return out
