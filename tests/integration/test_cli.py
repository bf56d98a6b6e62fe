"""The CLI as users run it: outputs, --json, exit codes (0 ok, 1 user error, 2 usage error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import text_rows, write_jsonl


@pytest.fixture
def ready(cli, tmp_path: Path):
    assert cli("init")[0] == 0
    code, _, err = cli(
        "source",
        "add",
        "web",
        "--kind",
        "crawl",
        "--license",
        "CC-BY-4.0",
        "--origin",
        "https://example.org",
        "--collected-at",
        "2026-11-01",
        "--pii",
        "none",
    )
    assert code == 0, err
    write_jsonl(tmp_path / "v1.jsonl", text_rows(20))
    rows = text_rows(20)
    rows[3]["text"] += " edited"
    write_jsonl(tmp_path / "v2.jsonl", rows + text_rows(2, start=20))
    return cli


def test_init_source_ingest_show_diff_lineage(
    ready, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = ready
    # the lineage names the file by its path: wide enough that Rich does not wrap it, whatever
    # the temporary directory (pytest-xdist's are longer)
    monkeypatch.setenv("COLUMNS", "240")
    code, out, _ = cli(
        "ingest",
        tmp_path / "v1.jsonl",
        "--source",
        "web",
        "--dataset",
        "raw",
        "--key",
        "id",
        "-m",
        "first crawl",
    )
    assert code == 0 and "Created raw@1: 20 records" in out
    code, out, _ = cli("ingest", tmp_path / "v2.jsonl", "--source", "web", "--dataset", "raw")
    assert code == 0 and "Created raw@2: 22 records (+3 added, -1 removed)" in out
    code, out, _ = cli("ingest", tmp_path / "v2.jsonl", "--source", "web", "--dataset", "raw")
    assert code == 0 and out.startswith("No changes")
    code, out, _ = cli("dataset", "diff", "raw@1", "raw@2")
    assert code == 0 and "+2 added" in out and "~1 changed" in out and "edited" in out
    code, out, _ = cli("lineage", "raw@2")
    assert code == 0 and "raw@1" in out and "source web" in out and "v2.jsonl" in out
    code, out, _ = cli("dataset", "tag", "raw@1", "baseline")
    assert code == 0
    code, out, _ = cli("dataset", "show", "raw@baseline")
    assert code == 0 and "first crawl" in out and "baseline" in out


def test_every_read_command_speaks_json(ready, tmp_path: Path) -> None:
    cli = ready
    code, out, _ = cli(
        "ingest",
        tmp_path / "v1.jsonl",
        "--source",
        "web",
        "--dataset",
        "raw",
        "--key",
        "id",
        "--json",
    )
    ingest = json.loads(out)
    assert code == 0 and ingest["version"]["ref"] == "raw@1" and ingest["changed"] is True
    cli("ingest", tmp_path / "v2.jsonl", "--source", "web", "--dataset", "raw")
    reads = {
        ("source", "list"): lambda d: [s["name"] for s in d] == ["web"],
        ("source", "show", "web"): lambda d: (
            d["collected_at"] == "2026-11-01" and d["pii_status"] == "none"
        ),
        ("dataset", "list"): lambda d: d[0]["name"] == "raw" and d[0]["latest"]["number"] == 2,
        ("dataset", "show", "raw@1"): lambda d: d["record_count"] == 20,
        ("dataset", "log", "raw"): lambda d: [v["number"] for v in d] == [2, 1],
        ("dataset", "diff", "raw@1", "raw@2"): lambda d: (
            (d["added"], d["removed"], d["changed"]) == (2, 0, 1)
        ),
        ("lineage", "raw@2"): lambda d: (
            {n["id"] for n in d["nodes"]} == {"version:raw@2", "version:raw@1", "source:web"}
        ),
        ("audit", "log"): lambda d: d[0]["action"] == "dataset.ingest",
        ("audit", "verify"): lambda d: d["intact"] is True,
    }
    for args, check in reads.items():
        code, out, err = cli(*args, "--json")
        assert code == 0, (args, err)
        assert check(json.loads(out)), args
    code, out, _ = cli("dataset", "diff", "raw@1", "raw@2", "--json")
    record_id = json.loads(out)["samples"]["added"][0]["id"]
    code, out, _ = cli("lineage", "--record", record_id, "--json")
    assert code == 0 and [a["version"] for a in json.loads(out)["appearances"]] == ["raw@2"]
    code, out, _ = cli("dataset", "record", "raw@2", record_id, "--json")
    assert code == 0 and json.loads(out)["kind"] == "text"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dataset", "show", "nope"), "error: unknown dataset 'nope'"),
        (("dataset", "diff", "raw@1", "raw@7"), "error: no version '7' of dataset 'raw'"),
        (("source", "show", "nope"), "error: unknown source 'nope'"),
        (
            ("source", "add", "web", "--kind", "crawl", "--license", "MIT", "--origin", "x"),
            "error: source 'web' already exists",
        ),
        (
            (
                "source",
                "add",
                "s2",
                "--kind",
                "crawl",
                "--license",
                "not a license!",
                "--origin",
                "x",
            ),
            "error: license: 'not a license!' is not an SPDX expression",
        ),
        (
            (
                "source",
                "add",
                "s3",
                "--kind",
                "crawl",
                "--license",
                "MIT",
                "--origin",
                "x",
                "--collected-at",
                "yesterday",
            ),
            "error: collected-at: 'yesterday' is not a date",
        ),
        (
            ("ingest", "MISSING", "--source", "web", "--dataset", "raw"),
            "missing.jsonl: no such file",
        ),
        (
            ("ingest", "V1", "--source", "ghost", "--dataset", "raw"),
            "error: unknown source 'ghost'",
        ),
        (("lineage",), "error: give either a version"),
    ],
)
def test_user_errors_exit_1_with_one_line(ready, tmp_path: Path, args, message) -> None:
    cli = ready
    cli("ingest", tmp_path / "v1.jsonl", "--source", "web", "--dataset", "raw")
    args = [str(tmp_path / "v1.jsonl") if a == "V1" else a for a in args]
    args = [str(tmp_path / "missing.jsonl") if a == "MISSING" else a for a in args]
    code, out, err = cli(*args)
    assert code == 1, (args, out, err)
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message.replace("error: ", "") in err


def test_malformed_file_error_names_line_and_commits_nothing(ready, tmp_path: Path) -> None:
    cli = ready
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": "b",}\n', "utf-8")
    code, _, err = cli("ingest", bad, "--source", "web", "--dataset", "raw")
    assert code == 1 and f"{bad}:2: malformed JSON" in err
    code, out, _ = cli("dataset", "list", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    "args",
    [
        ("source", "add", "x", "--kind", "bogus", "--license", "MIT", "--origin", "o"),
        ("ingest",),
        ("dataset", "diff", "only-one"),
        ("dataset", "export", "raw@1", "--format", "xml", "--out", "x"),
        ("no-such-command",),
    ],
)
def test_usage_errors_exit_2(ready, args) -> None:
    code, _, err = ready(*args)
    assert code == 2 and "Usage:" in err


def _commands(cmd=None, prefix=()):
    """Every command path of the CLI, the root included (walks the click command tree)."""
    if cmd is None:
        import typer.main

        from curata.cli.main import app

        cmd = typer.main.get_command(app)
    yield prefix
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*prefix, name))


def test_help_everywhere(cli) -> None:
    commands = list(_commands())
    assert ("dataset", "diff") in commands and ("source", "add") in commands
    for command in commands:
        code, out, _ = cli(*command, "--help")
        assert code == 0 and "Usage:" in out, command


def test_json_flag_on_every_read_command() -> None:
    from curata.cli.main import app

    reads = [
        c for c in _commands() if c and c[-1] in ("list", "show", "log", "diff", "record", "verify")
    ]
    reads.append(("lineage",))
    import typer.main

    root = typer.main.get_command(app)
    for command in reads:
        cmd = root
        for name in command:
            cmd = cmd.commands[name]
        assert any("--json" in p.opts for p in cmd.params), command


def test_console_script_exit_codes(tmp_path: Path, database_url) -> None:
    """The installed `curata` script, in a real subprocess."""
    env = {**os.environ, "CURATA_HOME": str(tmp_path / "w"), "LANCE_LOG": "error"}
    if database_url:
        env["CURATA_DATABASE_URL"] = database_url
    exe = Path(sys.executable).with_name("curata")
    run = lambda *a: subprocess.run([str(exe), *a], env=env, capture_output=True, text=True)  # noqa: E731
    assert run("init").returncode == 0
    missing = run("dataset", "show", "nothing")
    assert missing.returncode == 1 and missing.stderr.startswith("error: unknown dataset 'nothing'")
    assert missing.stderr.count("\n") == 1
    assert run("dataset", "frobnicate").returncode == 2
    assert run("--version").stdout.startswith("curata ")
