"""Export lineage and release signatures (#16) on SQLite and PostgreSQL: every export recorded
with its files' SHA-256, a release signed into the audit chain with Ed25519, and
``release verify`` telling a consumer's released files from modified, unknown, unsigned ones and
from files whose audit chain was edited."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import log_in, write_jsonl

from curata.core.errors import AlreadyExistsError, InputError, NotFoundError
from curata.store.tables import OperationInputRow, OperationRow

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "other"]}]}
HF_SHARD = "train/data-00000-of-00001.arrow"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def released(ws: Any, tmp_path: Path) -> Any:
    """m@1 (three messages, never released) and its labels released as p-labels@1."""
    rows = [{"text": f"message {i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "m.jsonl", rows)], source="web", dataset="m")
    users = ["a1", "a2"]
    for user in users:
        ws.workforce.add_user(user)
    ws.projects.create("p", version="m@1", schema=SCHEMA, overlap=2, members=users)
    for user in users:
        while (view := ws.queue.next_task("p", user)) is not None:
            ws.queue.submit(view.assignment_id, user, {"topic": "billing"})
    ws.releases.release("p")
    return ws


def _drop_append_only(ws: Any) -> None:
    with ws.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_events_append_only ON audit_events"))


def test_exports_are_recorded_with_their_files_and_lineage(released, tmp_path) -> None:
    ws = released
    jsonl = tmp_path / "out" / "labels.jsonl"
    assert ws.export("p-labels@1", format="jsonl", out=jsonl) == 3
    ws.export("p-labels@1", format="hf", out=tmp_path / "hf")
    hf_export, jsonl_export = ws.exports.list()
    assert (jsonl_export.version, jsonl_export.format, jsonl_export.records) == (
        "p-labels@1", "jsonl", 3,
    )  # fmt: skip
    assert jsonl_export.out == str(jsonl.resolve())
    assert [(f.name, f.bytes, f.sha256) for f in jsonl_export.files] == [
        ("labels.jsonl", jsonl.stat().st_size, _sha(jsonl))
    ]
    on_disk = sorted(
        p.relative_to(tmp_path / "hf").as_posix()
        for p in (tmp_path / "hf").rglob("*")
        if p.is_file()
    )
    assert [f.name for f in hf_export.files] == on_disk and HF_SHARD in on_disk
    shard = next(f for f in hf_export.files if f.name == HF_SHARD)
    assert shard.sha256 == _sha(tmp_path / "hf" / HF_SHARD)
    assert jsonl_export.version_digest == ws.datasets.version("p-labels@1").digest
    assert [e.id for e in ws.exports.list(dataset="m")] == []
    assert ws.exports.get(jsonl_export.id) == jsonl_export
    with pytest.raises(NotFoundError, match="no export 999"):
        ws.exports.get(999)
    # an OpenLineage-style operation whose input is the exported version
    with ws._sessions() as session:
        op = session.get(OperationRow, jsonl_export.operation_id)
        assert op is not None and op.kind == "export" and op.parameters["format"] == "jsonl"
        inputs = session.scalars(
            sa.select(OperationInputRow.version_id).where(OperationInputRow.operation_id == op.id)
        ).all()
        assert inputs == [ws.datasets.handle("p-labels@1").version_id]
    [entry] = [e for e in ws.audit.list(action="version.export") if e.details["export"] == 1]
    assert entry.details["files"] == [f.to_dict() for f in jsonl_export.files]


def test_release_signs_and_verify_accepts_the_released_files(released, tmp_path) -> None:
    ws = released
    jsonl = tmp_path / "labels.jsonl"
    ws.export("p-labels@1", format="jsonl", out=jsonl)
    ws.export("p-labels@1", format="hf", out=tmp_path / "hf")
    # two entries: the release's own transaction signs the version (and its policy report);
    # once committed, its data cards are written and the newest entry signs them all
    cards, signed = ws.audit.list(action="release.signed")
    assert signed.object_ref == cards.object_ref == "p-labels@1" and signed.actor == "tester"
    assert cards.id > signed.id and signed.details["manifest_digest"] == cards.details[
        "manifest_digest"]  # fmt: skip
    card_files = {name: a["file"] for name, a in cards.details["artifacts"].items()}
    assert card_files == {
        "card_md": "README.md", "card_croissant": "croissant.json",
        "policy_report": "p-labels@1.json"}  # fmt: skip
    card_dir = ws.home / "cards" / "p-labels@1"
    assert all(check.ok and check.artifact for check in ws.signatures.verify(
        [card_dir / "README.md", card_dir / "croissant.json"]))  # fmt: skip
    details = signed.details
    assert details["manifest_digest"] == ws.datasets.version("p-labels@1").digest
    # the Ed25519 signature checked independently: RFC 8032 over the canonical JSON (sorted
    # keys, no spaces) of the details without the signature, with the printed public key
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    body = {k: v for k, v in details.items() if k != "signature"}
    message = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw = ws.signatures.key.public_raw()
    assert base64.b64decode(details["signature"]["public_key"]) == raw
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.b64decode(details["signature"]["value"]), message.encode("utf-8")
    )
    key_file = ws.home / "keys" / "release-ed25519.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    checks = ws.signatures.verify([jsonl, tmp_path / "hf" / HF_SHARD], public_key=raw)
    assert [(c.ok, c.version, c.signed_by, c.entry) for c in checks] == [
        (True, "p-labels@1", "tester", cards.id)  # the newest entry vouches for the files
    ] * 2
    assert [c.export_id for c in checks] == [1, 2]
    assert ws.audit.verify()[0]


def test_a_card_that_cannot_be_written_is_reported_and_the_release_stands(
    ws: Any, tmp_path: Path
) -> None:
    """The version is committed before its cards are written: a failure there (here a bug,
    not a CurataError) is reported on the result, never raised, and the release is signed."""
    rows = [{"text": f"message {i}"} for i in range(2)]
    ws.ingest([write_jsonl(tmp_path / "m.jsonl", rows)], source="web", dataset="m")
    ws.workforce.add_user("a1")
    ws.projects.create("p", version="m@1", schema=SCHEMA, members=["a1"])
    while (view := ws.queue.next_task("p", "a1")) is not None:
        ws.queue.submit(view.assignment_id, "a1", {"topic": "billing"})

    def broken(ref: str, artifacts: dict[str, Path]) -> dict[str, Path]:
        raise KeyError("topic")

    ws.releases.publisher = broken
    result = ws.releases.release("p")
    assert result.version.ref == "p-labels@1" and result.cards == {}
    assert result.card_error == "p-labels@1: the data card was not written: 'topic'"
    [signed] = ws.audit.list(action="release.signed")  # the release's own signature only
    assert signed.object_ref == "p-labels@1"


def test_a_modified_file_fails_naming_it(released, tmp_path) -> None:
    ws = released
    jsonl = tmp_path / "labels.jsonl"
    ws.export("p-labels@1", format="jsonl", out=jsonl)
    data = bytearray(jsonl.read_bytes())
    data[5] ^= 0x01
    jsonl.write_bytes(bytes(data))
    stranger = tmp_path / "other.jsonl"
    stranger.write_text("{}\n")
    bad, unknown, missing = ws.signatures.verify([jsonl, stranger, tmp_path / "nope.jsonl"])
    assert not bad.ok and bad.reason.startswith(f"modified: {jsonl}'s SHA-256 {_sha(jsonl)}")
    assert "export 1 wrote labels.jsonl" in bad.reason
    assert not unknown.ok and unknown.reason.startswith("unknown file")
    assert not missing.ok and "no such file" in missing.reason


def test_an_unreleased_versions_export_fails_unsigned(released, tmp_path) -> None:
    ws = released
    raw = tmp_path / "raw.jsonl"
    ws.export("m@1", format="jsonl", out=raw)
    [check] = ws.signatures.verify([raw])
    assert (check.ok, check.version, check.export_id) == (False, "m@1", 1)
    assert check.reason == "unsigned: m@1 was not released (no release.signed entry)"


def test_an_edited_audit_table_fails_the_chain(released, tmp_path) -> None:
    ws = released
    jsonl = tmp_path / "labels.jsonl"
    ws.export("p-labels@1", format="jsonl", out=jsonl)
    signed = ws.audit.list(action="release.signed")[-1]  # the release's own entry
    _drop_append_only(ws)
    with ws.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_events SET actor = 'mallory' WHERE id = :id"), {"id": signed.id}
        )
    [check] = ws.signatures.verify([jsonl])
    assert not check.ok
    assert check.reason.startswith(f"audit chain broken at entry {signed.id}")


def test_an_edited_export_record_or_version_digest_fails(released, tmp_path) -> None:
    ws = released
    jsonl = tmp_path / "labels.jsonl"
    ws.export("p-labels@1", format="jsonl", out=jsonl)
    jsonl.write_text("forged\n")
    with ws.engine.begin() as conn:  # export_files is not append-only: the audit entry is
        conn.execute(sa.text("UPDATE export_files SET sha256 = :s"), {"s": _sha(jsonl)})
    [check] = ws.signatures.verify([jsonl])
    assert not check.ok and "differs from its audit entry" in check.reason
    good = tmp_path / "good.jsonl"
    ws.export("p-labels@1", format="jsonl", out=good)
    with ws.engine.begin() as conn:
        conn.execute(sa.text("UPDATE versions SET digest = :d"), {"d": "f" * 64})
    [check] = ws.signatures.verify([good])
    assert not check.ok and check.reason.startswith("digest mismatch")


def test_signed_artifacts_and_a_pinned_key(released, tmp_path) -> None:
    ws = released
    card = tmp_path / "README.md"
    card.write_text("# p-labels\n")
    report = tmp_path / "policy.json"
    report.write_text('{"passed": true}\n')
    with pytest.raises(InputError, match="artifact croissant"):
        ws.signatures.sign("p-labels@1", {"croissant": tmp_path / "missing.json"})
    details = ws.signatures.sign("p-labels@1", {"card": card, "policy_report": report})
    assert details["artifacts"]["card"] == {
        "file": "README.md", "bytes": card.stat().st_size, "sha256": _sha(card),
    }  # fmt: skip
    ok_card, ok_report = ws.signatures.verify([card, report])
    assert (ok_card.ok, ok_card.artifact, ok_card.version) == (True, "card", "p-labels@1")
    assert (ok_report.ok, ok_report.artifact) == (True, "policy_report")
    other = bytes(range(32))
    [pinned] = ws.signatures.verify([card], public_key=other)
    assert not pinned.ok and "not the given key" in pinned.reason
    card.write_text("# p-labels (edited)\n")
    [edited] = ws.signatures.verify([card])
    assert not edited.ok and "card of p-labels@1" in edited.reason


def test_train_register_names_the_export_files(released, tmp_path) -> None:
    ws = released
    jsonl = tmp_path / "labels.jsonl"
    ws.export("p-labels@1", format="jsonl", out=jsonl)
    ws.export("m@1", format="parquet", out=tmp_path / "m.parquet")
    k = ws.evaluation.register("llama", "s1", [], exports=[1])
    assert k.versions == ["p-labels@1"]
    [export] = k.exports
    assert (export["id"], export["version"], export["format"]) == (1, "p-labels@1", "jsonl")
    assert export["files"] == [
        {"name": "labels.jsonl", "bytes": jsonl.stat().st_size, "sha256": _sha(jsonl)}
    ]
    assert ws.evaluation.checkpoint("llama:s1") == k
    assert ws.evaluation.register("llama", "s1", [], exports=[1]) == k  # the same: a no-op
    with pytest.raises(AlreadyExistsError, match="other exports"):
        ws.evaluation.register("llama", "s1", ["p-labels@1"], exports=[])
    with pytest.raises(NotFoundError, match="no export 7"):
        ws.evaluation.register("llama", "s2", [], exports=[7])
    assert [e.id for e in ws.exports.match([tmp_path / "m.parquet"])] == [2]
    with pytest.raises(InputError, match="no recorded export wrote"):
        ws.exports.match([tmp_path / "m.jsonl"])


def test_cli_export_list_verify_and_train_show(ws, tmp_path, cli, monkeypatch) -> None:
    rows = [{"text": f"message {i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "m.jsonl", rows)], source="web", dataset="m")
    log_in(ws)  # on PostgreSQL the commands act as the token's user, the workspace's
    monkeypatch.setenv("CURATA_USER", ws.settings.user)
    home = ["--home", str(ws.home)]
    out = tmp_path / "m-out.jsonl"
    code, _, err = cli(*home, "dataset", "export", "m@1", "--format", "jsonl", "--out", out)
    assert code == 0, err
    code, listed, _ = cli(*home, "export", "list", "--json")
    assert code == 0
    [entry] = json.loads(listed)
    assert entry["files"] == [{"name": "m-out.jsonl", "bytes": out.stat().st_size,
                               "sha256": _sha(out)}]  # fmt: skip
    code, shown, _ = cli(*home, "export", "show", "1")
    assert code == 0 and _sha(out) in shown
    code, _, err = cli(*home, "release", "verify", out)
    assert code == 1 and "unsigned: m@1 was not released" in err
    card = tmp_path / "card.md"
    card.write_text("# m\n")
    code, signed, err = cli(*home, "release", "sign", "m@1", "--artifact", f"card={card}", "--json")
    assert code == 0, err
    assert json.loads(signed)["artifacts"]["card"]["sha256"] == _sha(card)
    code, key, _ = cli(*home, "release", "key", "--json")
    assert code == 0
    pem = tmp_path / "release.pub"
    pem.write_text(json.loads(key)["pem"])
    code, verified, err = cli(*home, "release", "verify", out, card, "--public-key", pem, "--json")
    assert code == 0, err
    report = json.loads(verified)
    assert report["ok"] and [f["version"] for f in report["files"]] == ["m@1", "m@1"]
    code, text, _ = cli(*home, "release", "verify", out)
    assert code == 0 and "OK" in text
    code, _, err = cli(*home, "train", "register", "--model", "m:c", "--files", out)
    assert code == 0, err
    code, shown, _ = cli(*home, "train", "show", "m:c", "--json")
    assert json.loads(shown)["exports"][0]["files"][0]["sha256"] == _sha(out)
    assert json.loads(shown)["versions"] == ["m@1"]
    code, _, err = cli(*home, "train", "register", "--model", "m:d", "--export", "x")
    assert code == 1 and "not an export id" in err
