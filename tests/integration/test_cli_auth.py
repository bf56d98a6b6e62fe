"""The CLI on a shared database is authenticated; on the embedded SQLite default it is not.

On PostgreSQL the privileged commands (release and its override, project and user
administration, audits, exports) need an API token of a user whose role may take the action;
the audit log names that user. On the workspace's own SQLite file the workspace user acts as
its owner, without a token, as before.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

SHARED_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
"""Tokens apply to shared databases only: these tests run on PostgreSQL alone."""

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}


@pytest.fixture
def team(cli: Any, tmp_path: Path, database_url: str | None) -> dict[str, Any]:
    """A workspace with a lead (lee, the owner of project ``prefs``) and an annotator (ann).

    On PostgreSQL ``init`` makes the workspace user (cli-tester) the first admin and saves its
    login; the fixture then logs out, so each test starts with no token at all.
    """
    code, out, err = cli("init", "--json")
    assert code == 0, err
    admin_token = json.loads(out).get("token")
    assert (admin_token is not None) == (database_url is not None)
    cli("source", "add", "web", "--kind", "crawl", "--license", "MIT", "--origin", "x")
    rows = [{"text": f"item {i}"} for i in range(4)]
    cli("ingest", write_jsonl(tmp_path / "t.jsonl", rows), "--source", "web", "--dataset", "docs")
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA), "utf-8")
    assert cli("user", "add", "lee", "--role", "lead")[0] == 0
    assert cli("user", "add", "ann")[0] == 0
    tokens = {name: cli("user", "token", name)[1].strip() for name in ("lee", "ann")}
    code, _, err = cli(
        "project", "create", "prefs", "--version", "docs@1", "--schema",
        tmp_path / "schema.json", "--owner", "lee", "--member", "ann",
    )  # fmt: skip
    assert code == 0, err
    assert cli("project", "gate", "prefs", "--min-annotations", "2")[0] == 0
    assert cli("logout")[0] == 0
    return {"admin": admin_token, "shared": database_url is not None, **tokens}


def _audit(cli: Any, admin: str | None, action: str) -> list[dict[str, Any]]:
    args = ("--token", admin) if admin else ()
    code, out, err = cli(*args, "audit", "log", "--action", action, "--json")
    assert code == 0, err
    return list(json.loads(out))


def _datasets(cli: Any) -> list[str]:
    return [d["name"] for d in json.loads(cli("dataset", "list", "--json")[1])]


def test_an_environment_variable_does_not_make_an_owner(
    team: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observation: ``CURATA_USER=lee curata annotate release … --override-gates`` was
    accepted from any shell. On a shared database it needs lee's token now."""
    monkeypatch.setenv("CURATA_USER", "lee")
    code, out, err = cli("annotate", "release", "prefs", "--override-gates", "--reason", "pilot")
    if not team["shared"]:
        assert code == 0, err  # the embedded default: the workspace user is its owner
        return
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "curata login" in err and "--token" in err
    assert "prefs-labels" not in _datasets(cli)
    monkeypatch.delenv("CURATA_USER")
    assert _audit(cli, team["admin"], "release.gate_override") == []


PRIVILEGED = [
    ("annotate", "release", "prefs"),
    ("annotate", "release", "prefs", "--override-gates", "--reason", "r"),
    ("user", "add", "eve", "--role", "admin"),
    ("user", "token", "ann"),
    ("user", "revoke", "lee"),
    ("audit", "log"),
    ("audit", "verify"),
    ("project", "gate", "prefs", "--clear"),
    ("project", "add-member", "prefs", "lee"),
    ("project", "set", "prefs", "--overlap", "3"),
]


def test_privileged_commands_need_a_token_on_a_shared_database(
    team: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    for args in PRIVILEGED:
        code, out, err = cli(*args)
        if not team["shared"]:
            assert code in (0, 1), (args, err)
            continue
        assert code == 1, (args, out, err)
        assert err.count("\n") == 1 and "curata login" in err, (args, err)
    out_file = tmp_path / "docs.jsonl"
    code, _, err = cli("dataset", "export", "docs@1", "--format", "jsonl", "--out", out_file)
    assert (code == 1) == team["shared"], err
    assert out_file.exists() != team["shared"]
    if team["shared"]:  # nothing was written by any refused command
        admin = ("--token", team["admin"])
        users = json.loads(cli(*admin, "user", "list", "--json")[1])
        assert sorted(u["name"] for u in users) == ["ann", "cli-tester", "lee"]
        shown = json.loads(cli(*admin, "project", "show", "prefs", "--json")[1])
        assert (shown["overlap"], shown["members"]) == (1, ["ann", "lee"])
        assert _audit(cli, team["admin"], "user.revoke") == []
        assert "prefs-labels" not in _datasets(cli)


@SHARED_ONLY
def test_an_annotators_token_is_refused_naming_the_action_and_roles(
    team: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATA_USER")
    code, out, err = cli("--token", team["ann"], "annotate", "release", "prefs")
    assert code == 1 and out == ""
    assert err == "error: release: role 'annotator' may not do this (needs one of: admin, lead)\n"
    code, _, err = cli("--token", team["ann"], "user", "add", "mallory", "--role", "admin")
    assert code == 1 and "user.admin: role 'annotator'" in err and "admin" in err
    code, _, err = cli("--token", team["lee"], "user", "add", "mallory", "--role", "admin")
    assert code == 1 and err.startswith("error: user.admin: role 'lead' may not do this")
    users = json.loads(cli("--token", team["admin"], "user", "list", "--json")[1])
    assert "mallory" not in [u["name"] for u in users]


@SHARED_ONLY
def test_the_leads_token_releases_and_the_audit_log_names_the_lead(
    team: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lee = ("--token", team["lee"])
    code, _, err = cli(*lee, "annotate", "release", "prefs", "--override-gates", "--reason", "x")
    assert code == 1 and "CURATA_USER is 'cli-tester'" in err and "'lee'" in err
    monkeypatch.delenv("CURATA_USER")
    code, out, err = cli(
        *lee, "annotate", "release", "prefs", "--override-gates", "--reason", "pilot", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["version"]["ref"] == "prefs-labels@1"
    entries = _audit(cli, team["lee"], "release.gate_override")
    assert [(e["actor"], e["details"]["reason"]) for e in entries] == [("lee", "pilot")]
    assert [e["actor"] for e in _audit(cli, team["admin"], "project.release")] == ["lee"]


@SHARED_ONLY
def test_a_revoked_token_is_refused(
    team: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATA_USER")
    assert cli("--token", team["admin"], "user", "revoke", "lee")[0] == 0
    code, out, err = cli("--token", team["lee"], "annotate", "release", "prefs")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "unknown or revoked" in err and "curata login" in err
    monkeypatch.setenv("CURATA_TOKEN", team["lee"])
    code, _, err = cli("dataset", "list")
    assert code == 1 and "unknown or revoked" in err and "CURATA_TOKEN" in err
    assert "prefs-labels" not in [
        d["name"] for d in json.loads(cli("--token", team["admin"], "dataset", "list", "--json")[1])
    ]


def test_exports_need_clearance_for_the_records_they_carry(
    team: dict[str, Any], cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATA_USER")
    admin = ("--token", team["admin"]) if team["shared"] else ()
    lee = ("--token", team["lee"]) if team["shared"] else ()
    cli(
        "source", "add", "vault-src", "--kind", "internal", "--license", "MIT", "--origin", "x",
        "--sensitivity", "restricted",
    )  # fmt: skip
    rows = write_jsonl(tmp_path / "v.jsonl", [{"text": "secret one"}, {"text": "secret two"}])
    assert cli("ingest", rows, "--source", "vault-src", "--dataset", "vault")[0] == 0
    out = tmp_path / "vault.jsonl"
    code, _, err = cli(*lee, "dataset", "export", "vault@1", "--format", "jsonl", "--out", out)
    if team["shared"]:
        assert code == 1 and not out.exists()
        assert err == (
            "error: export: vault@1 holds records of source 'vault-src' (restricted); "
            "'lee' has clearance 'internal'\n"
        )
        code, _, err = cli(
            *admin, "dataset", "export", "vault@1", "--format", "jsonl", "--out", out
        )
    assert code == 0, err
    assert len(out.read_text("utf-8").splitlines()) == 2
    code, _, err = cli(
        *admin, "project", "create", "vaultp", "--version", "vault@1", "--schema",
        tmp_path / "schema.json", "--owner", "lee", "--member", "lee",
    )  # fmt: skip
    assert code == 0, err
    exported = {}
    for who, args in (("lee", lee), ("admin", admin)):
        path = tmp_path / f"{who}-export"
        code, out_text, err = cli(*args, "annotate", "export", "vaultp", "--format", "labelstudio",
                                  "--out", path)  # fmt: skip
        assert code == 0, err
        exported[who] = out_text.split()[1]  # "Exported N items of …"
    assert exported == (
        {"lee": "0", "admin": "2"} if team["shared"] else {"lee": "2", "admin": "2"}
    )


def test_login_saves_a_token_only_the_user_can_read(
    team: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not team["shared"]:
        code, _, err = cli("--token", "cur_whatever", "login")
        assert code == 1 and "its own SQLite file" in err
        return
    monkeypatch.delenv("CURATA_USER")
    code, out, err = cli("--token", team["lee"], "login")
    assert code == 0 and "lee" in out and "lead" in out, err
    saved = cli.home / "login.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert team["lee"] in saved.read_text("utf-8")
    code, _, err = cli("annotate", "release", "prefs", "--override-gates", "--reason", "ok")
    assert code == 0, err
    assert [e["actor"] for e in _audit(cli, None, "release.gate_override")] == ["lee"]
    os.chmod(saved, 0o644)
    code, _, err = cli("dataset", "list")
    assert code == 1 and str(saved) in err and "readable by others" in err
    assert cli("logout")[0] == 0 and not saved.exists()
    code, _, err = cli("audit", "log")
    assert code == 1 and "curata login" in err
    code, _, err = cli("--token", "cur_not-a-token", "login")
    assert code == 1 and "unknown or revoked" in err and not saved.exists()


def test_the_first_admin_is_made_once_and_a_second_workspace_is_not_one(
    team: dict[str, Any], cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli("init", "--json")  # again, on the same workspace
    assert code == 0 and "token" not in json.loads(out), err
    if not team["shared"]:
        return
    other = tmp_path / "colleague"
    monkeypatch.setenv("CURATA_USER", "mallory")
    code, out, err = cli("--home", other, "init", "--json")
    assert code == 0 and "token" not in json.loads(out), err
    assert not (other / "login.json").exists()
    code, _, err = cli("--home", other, "user", "add", "mallory", "--role", "admin")
    assert code == 1 and "curata login" in err
    monkeypatch.delenv("CURATA_USER")
    users = json.loads(cli("--token", team["admin"], "user", "list", "--json")[1])
    assert [u["name"] for u in users if u["role"] == "admin"] == ["cli-tester"]


def test_a_shared_database_without_users_points_to_init(cli: Any, tmp_path: Path) -> None:
    from curata.workspace import Workspace

    with Workspace.create(cli.home) as ws:  # made outside the CLI: no admin yet
        shared = ws.settings.shared
    code, _, err = cli("audit", "log")
    if not shared:
        assert code == 0, err
        return
    assert code == 1 and "no users yet" in err and "curata init" in err
    code, out, err = cli("init", "--json")
    assert code == 0 and json.loads(out)["admin"] == "cli-tester", err
    assert cli("audit", "log")[0] == 0


def test_every_command_declares_who_may_run_it() -> None:
    import typer.main

    from curata.cli.access import COMMANDS
    from curata.cli.main import app
    from curata.governance.policies import ACTIONS

    def walk(cmd: Any, path: tuple[str, ...] = ()) -> list[str]:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return [" ".join(path)]
        return [name for n, s in subs.items() for name in walk(s, (*path, n))]

    commands = walk(typer.main.get_command(app))
    assert {"annotate release", "user add", "login", "logout"} <= set(commands)
    assert [c for c in commands if c not in COMMANDS] == []
    for name, rule in COMMANDS.items():
        for action in rule.actions():
            assert action in ACTIONS, (name, action)


@SHARED_ONLY
def test_a_lead_of_another_project_cannot_administer_this_one(
    team: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CURATA_USER")
    admin = ("--token", team["admin"])
    assert cli(*admin, "user", "add", "kim", "--role", "lead")[0] == 0
    kim = ("--token", cli(*admin, "user", "token", "kim")[1].strip())
    code, _, err = cli(*kim, "project", "gate", "prefs", "--clear")
    assert code == 1 and err == "error: unknown project 'prefs'\n"
    code, _, err = cli(*kim, "annotate", "release", "prefs")
    assert code == 1 and err == "error: unknown project 'prefs'\n"
    gates = _audit(cli, team["admin"], "project.gates")
    assert [(e["actor"], e["details"]["to"]) for e in gates] == [
        ("cli-tester", {"min_annotations": 2})
    ]


@pytest.mark.parametrize(
    ("url", "shared"),
    [
        (None, False),
        ("sqlite:///{home}/curata.db", False),
        ("sqlite:///{home}/../elsewhere.db", True),
        ("sqlite://", False),
        ("postgresql+psycopg://u@db.example:5432/curata", True),
    ],
)
def test_which_databases_are_shared(tmp_path: Path, url: str | None, shared: bool) -> None:
    from curata.settings import Settings

    home = tmp_path / "ws"
    database_url = url.format(home=home) if url else None
    assert Settings(home=home, database_url=database_url).resolved().shared is shared


@SHARED_ONLY
def test_two_inits_at_once_make_one_first_admin(database_url: str, tmp_path: Path) -> None:
    """Two colleagues run ``init`` on an empty shared database at the same moment: both see
    no users, and without a lock both became admins. The check and the add are serialised."""
    import threading

    from curata.cli.access import bootstrap
    from curata.workspace import Workspace

    homes = [tmp_path / "a", tmp_path / "b"]
    spaces = [
        Workspace.create(home, database_url=database_url, user=name)
        for home, name in zip(homes, ("alice", "bob"), strict=True)
    ]
    start = threading.Barrier(2)
    tokens: dict[str, str | None] = {}

    def init(ws: Any) -> None:
        start.wait()
        tokens[ws.settings.user] = bootstrap(ws)

    try:
        threads = [threading.Thread(target=init, args=(ws,)) for ws in spaces]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        admins = [u.name for u in spaces[0].workforce.list() if u.role == "admin"]
    finally:
        for ws in spaces:
            ws.close()
    assert len(admins) == 1, admins
    assert [name for name, token in tokens.items() if token] == admins
