"""Adding a plugin is writing one module (issue #13's "done means"): a package that is not
Curata's registers a question type, an aggregator and a curation step under Curata's
entry-point groups, and without a line of Curata changed, a schema accepts the new question
type, the release's methods list the aggregator, a pipeline runs the step, and the contract
tests parametrised over the registries walk all three.

The package is written to a temporary directory with a ``.dist-info`` that declares its entry
points, the way ``pip install`` leaves one; each check runs in a fresh interpreter with that
directory on ``PYTHONPATH``, so the registries (loaded once per process) see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULES = {
    "yesno.py": '''
        """A yes/no question: one module, one class."""
        from __future__ import annotations

        from typing import Any, ClassVar, Literal

        from curata.questions.base import BadAnswer, QuestionType, Texts, type_name
        from curata.stats.questions import Bootstrap, Rows, label_statistics


        class YesNoQuestion(QuestionType):
            """Yes or no."""

            summary = "A yes-or-no answer (true or false)."
            example: ClassVar[dict[str, Any]] = {}
            categorical = True
            answer_is_class = True

            type: Literal["yesno"] = "yesno"

            def check(self, value: Any, texts: Texts) -> bool:
                if not isinstance(value, bool):
                    got = type_name(value)
                    raise BadAnswer(f"expected true or false, got {got}", "true, false")
                return value

            def classes(self) -> list[Any] | None:
                return [True, False]

            @classmethod
            def agreement(cls, question: Any, rows: Rows, boot: Bootstrap, **_: Any) -> Any:
                said = [(item, who, "yes" if value else "no") for item, who, value in rows]
                return label_statistics({**question, "labels": ["yes", "no"]}, said, boot)
    ''',
    "first.py": '''
        """An aggregator: the first answer given wins (no model)."""
        from curata.annotation.aggregation import Aggregator


        class FirstAnswer(Aggregator):
            """Majority's output, declared as a method of its own."""

            name = "first-answer"
            summary = "The most common answer, as majority (a third-party method)."
            statistical = False
    ''',
    "nodigits.py": '''
        """A curation step: drop records whose text has a digit."""
        from __future__ import annotations

        from collections.abc import Sequence

        from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text


        class NoDigits(Step):
            """Drop a record whose selected text contains a digit."""

            name = "no_digits"
            summary = "Drop records whose text contains a digit."
            Params = TextParams
            params: TextParams

            def apply(self, batch: Sequence[Item]) -> list[Decision]:
                out = []
                for _, record in batch:
                    text = joined_text(record, self.params.fields)
                    digit = next((c for c in text if c.isdigit()), None)
                    drop = Decision.drop(f"has the digit {digit}") if digit else None
                    out.append(drop or Decision.keep())
                return out
    ''',
}

ENTRY_POINTS = """\
[curata.question_types]
yesno = curata_extra.yesno:YesNoQuestion

[curata.aggregators]
first-answer = curata_extra.first:FirstAnswer

[curata.steps]
no_digits = curata_extra.nodigits:NoDigits
"""


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    package = root / "curata_extra"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in MODULES.items():
        (package / name).write_text(textwrap.dedent(source).lstrip(), "utf-8")
    info = root / "curata_extra-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: curata-extra\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


def _run(extra: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(extra), str(ROOT / "src")])}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_a_new_question_type_aggregator_and_step_work_without_changing_curata(
    extra: Path,
) -> None:
    script = textwrap.dedent(
        """
        import json
        from curata.annotation.aggregation import METHODS
        from curata.annotation.schema import AnswerError, SCHEMA_ADAPTER, validate_answers
        from curata.core.records import Record
        from curata.curation.steps import registry

        schema = SCHEMA_ADAPTER.validate_python(
            {"questions": [{"name": "ok", "type": "yesno"}]}
        )
        try:
            validate_answers(schema, {"ok": "yes"})
            refused = None
        except AnswerError as exc:
            refused = str(exc)
        cls = registry()["no_digits"]
        step = cls(cls.Params.parse({}))
        decisions = step.apply(
            [("a", Record.from_text("room 101")), ("b", Record.from_text("no room"))]
        )
        print(json.dumps({
            "answer": validate_answers(schema, {"ok": True}),
            "refused": refused,
            "methods": list(METHODS),
            "decisions": [d.action for d in decisions],
        }))
        """
    )
    done = _run(extra, "-c", script)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["answer"] == {"ok": True}
    assert out["refused"] == "question 'ok': expected true or false, got str (allowed: true, false)"
    assert "first-answer" in out["methods"]
    assert out["decisions"] == ["drop", "keep"]


def test_the_contract_tests_walk_the_new_plugins(extra: Path) -> None:
    files = ["tests/unit/test_plugin_contracts.py", "tests/unit/test_question_type_contracts.py"]
    listed = _run(extra, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", *files)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    ids = listed.stdout.splitlines()
    for name in ("yesno", "first-answer", "no_digits"):
        assert any(f"[{name}" in line or f"-{name}]" in line for line in ids), name
    ran = _run(
        extra, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
        "yesno or first-answer or no_digits or FirstAnswer or NoDigits or YesNo", *files,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout and " failed" not in ran.stdout
