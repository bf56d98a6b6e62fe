"""The preference stage of ``make demo`` runs as a user sees it.

Nothing but the demo exercised it end to end through the CLI, and it broke unnoticed once when
candidates became blind (annotators see letters, not candidate ids); this keeps it honest.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from curata.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "preference_demo", ROOT / "demo" / "preference_demo.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_exports_the_pairs_its_annotators_preferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data = tmp_path / "ws", tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CURATA_HOME", str(home))
    monkeypatch.setenv("CURATA_USER", "demo")
    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)

    def curata(*args: str, **_: Any) -> str:
        assert main([str(a) for a in args]) == 0, args
        return ""

    assert main(["init"]) == 0
    demo = _demo()
    demo.run(curata, data, home)

    rows = [
        json.loads(line)
        for line in (data / "support-prefs-dpo.jsonl").read_text("utf-8").splitlines()
    ]
    # the demo's own table says which pairs both annotators judged "better" and which answer won
    expected = sorted((good, weak) for _, good, weak, verdict in demo.PAIRS if verdict == "better")
    exported = sorted((r["chosen"][-1]["content"], r["rejected"][-1]["content"]) for r in rows)
    assert exported == expected
    assert len(rows) < len(demo.PAIRS)  # the tie and the both-bad pair are left out
