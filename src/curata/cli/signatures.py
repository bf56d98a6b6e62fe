"""``curata release``: sign a released version into the audit log, print the workspace's
public key, and verify that files a consumer trains on are the ones that were released."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, workspace
from curata.cli.output import table as table_of
from curata.core.errors import CurataError, ValidationError
from curata.stewardship.signatures import FileCheck, key_id, parse_public_key

app = typer.Typer(
    help="Release signatures: a released version's manifest digest and artifacts, signed into "
    "the audit log, and the check of the files a consumer trains on."
)


@app.command("verify")
def verify(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., metavar="FILES...", help="Exported files (or a data card, a policy report) to check."
    ),
    public_key: str | None = typer.Option(
        None,
        "--public-key",
        help="Also require the release signature by this key: a file (PEM from 'curata release "
        "key') or the key itself (base64 or hex of its 32 bytes).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check each file by SHA-256 against the recorded exports and signed artifacts: its version
    must have a release signature, the audit chain must verify up to it, and the signed manifest
    digest must equal the version's. Exit 1 if any file fails."""
    key = None
    if public_key is not None:
        path = Path(public_key)
        key = parse_public_key(path.read_text("utf-8") if path.is_file() else public_key)
    checks = workspace(ctx).signatures.verify(files, public_key=key)

    def render(c: Console) -> None:
        table = table_of("file", "result", "version", "what", "signed", "by")
        for r in checks:
            table.add_row(
                escape(r.path),
                "[green]OK[/]" if r.ok else f"[red]FAIL[/] {escape(r.reason or '')}",
                escape(r.version or "-"),
                _what(r),
                f"{r.signed_at:%Y-%m-%d %H:%M:%S}" if r.signed_at and r.ok else "-",
                escape(r.signed_by or "-") if r.ok else "-",
            )
        c.print(table)

    emit(as_json, {"ok": all(r.ok for r in checks), "files": [r.to_dict() for r in checks]}, render)
    failed = [r for r in checks if not r.ok]
    if failed:
        raise CurataError(
            f"{len(failed)} of {len(checks)} files failed verification: "
            + "; ".join(f"{r.path}: {r.reason}" for r in failed)
        )


def _what(r: FileCheck) -> str:
    if r.export_id is not None:
        return f"export {r.export_id}"
    return escape(f"artifact {r.artifact}") if r.artifact else "-"


@app.command("sign")
def sign(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="REF", help="The released version (NAME@N)."),
    artifact: list[str] = typer.Option(
        None,
        "--artifact",
        help="NAME=FILE: an artifact of the release (data card, croissant, policy report) whose "
        "SHA-256 is signed with the manifest digest; repeat.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Sign version REF into the audit log: its manifest digest, each artifact's SHA-256 and an
    Ed25519 signature with the workspace key (a release signs its version by itself; run this
    again once its data card and policy report exist)."""
    artifacts: dict[str, Path] = {}
    for item in artifact or []:
        name, sep, file = item.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise ValidationError(f"--artifact {item!r}: expected NAME=FILE")
        if name.strip() in artifacts:
            raise ValidationError(f"--artifact: {name.strip()!r} given twice")
        artifacts[name.strip()] = Path(file.strip())
    details = workspace(ctx).signatures.sign(ref, artifacts)

    def render(c: Console) -> None:
        sig = details.get("signature") or {}
        c.print(
            f"Signed {escape(ref)}: manifest {details['manifest_digest']}, "
            f"{len(details['artifacts'])} artifacts, key {sig.get('key_id', '-')}"
        )
        for name, art in details["artifacts"].items():
            c.print(f"  {escape(name)}: {escape(art['file'])} sha256 {art['sha256']}")

    emit(as_json, details, render)


@app.command("key")
def key(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Print the workspace's Ed25519 release public key (made on first use), so consumers can
    pin it ('curata release verify --public-key') or check signatures elsewhere."""
    release_key = workspace(ctx).signatures.key
    raw = release_key.public_raw()
    pem = release_key.public_pem()
    emit(
        as_json,
        {"key_id": key_id(raw), "public_key": raw.hex(), "pem": pem},
        lambda c: c.print(f"key id {key_id(raw)}\n{pem}", end=""),
    )
