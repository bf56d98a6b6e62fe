"""Ctrl-C in any command (#12): one line saying what happened, exit 130 — not click's bare
"Aborted!"/"aborted" with exit 1, which reads like a refusal. Ingest has its own, more precise
line (tests/integration/test_gc.py)."""

from __future__ import annotations

from typing import Any

import pytest


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from curata.cli import main as cli_main
    from curata.workspace import Workspace

    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    Workspace.create(tmp_path / "ws").close()
    monkeypatch.setattr(Workspace, "open", classmethod(lambda cls, *a, **k: interrupted()))
    code = cli_main.main(["--home", str(tmp_path / "ws"), "dataset", "list"])
    err = capsys.readouterr().err
    assert code == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), err
    assert "rolled back" in lines[0] and "curata gc" in lines[0]
