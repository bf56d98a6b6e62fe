"""``curata release card``: the data card of a version from the command line (the cards
themselves are checked in test_datacard.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.conftest import log_in, write_jsonl


@pytest.fixture
def version(ws, tmp_path: Path) -> str:
    rows = [{"text": f"A sentence about boat number {i} in the harbour."} for i in range(3)]
    return str(ws.ingest([write_jsonl(tmp_path / "r.jsonl", rows)], source="web",
                         dataset="raw").version.ref)  # fmt: skip


def test_cli_writes_the_cards(
    ws, version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curata.cli.main import main

    ref = version
    token = log_in(ws)
    args = ["--home", str(ws.home), *(["--token", token] if token else [])]
    capsys.readouterr()
    code = main([*args, "release", "card", ref, "--out", str(tmp_path / "c"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["version"] == ref
    for kind, name in (("md", "README.md"), ("croissant", "croissant.json")):
        path = tmp_path / "c" / name
        assert data["files"][kind] == {
            "path": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
    code = main([*args, "release", "card", ref, "--format", "pdf"])
    assert code == 1 and "format: 'pdf'" in capsys.readouterr().err
    assert (ws.home / "cards").exists() is False  # --out was given; nothing under home
    code = main([*args, "release", "card", ref, "--format", "md", "--json"])
    assert code == 0
    written = json.loads(capsys.readouterr().out)["files"]
    assert list(written) == ["md"]
    assert written["md"]["path"] == str(ws.home / "cards" / ref / "README.md")
