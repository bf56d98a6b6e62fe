"""Release signatures: a released version's manifest digest and artifacts (data card, Croissant
file, policy report — any named files), signed into the hash-chained audit log, and the check a
consumer runs on the files they train on (``curata release verify``).

A signature is a ``release.signed`` audit entry about the version. Its details are the
*statement* — ``{"version", "manifest_digest", "record_count", "artifacts": {name: {"file",
"bytes", "sha256"}}}`` — and, when the workspace has a key, ``"signature"``: an Ed25519
signature (RFC 8032) over the canonical JSON of the statement (:func:`canonical_json`: sorted
keys, no spaces, UTF-8), with the raw public key and its id (the first 16 hex digits of the
key's SHA-256). The chain makes the entry tamper-evident inside the database; the signature
lets a consumer who pinned the public key (``curata release key``) check it elsewhere, and
stops someone who can rewrite the whole chain from forging it.

The key is ``<home>/keys/release-ed25519.pem`` (PKCS#8, mode 0600), made on first use.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import InputError, ValidationError
from curata.core.ids import canonical_json
from curata.export.records import EXPORT_ACTION, sha256_file, version_ref, version_row
from curata.governance import audit
from curata.governance.audit import AuditLog
from curata.store.tables import (
    AuditEventRow,
    DatasetRow,
    ExportFileRow,
    ExportRow,
    VersionRow,
)
from curata.timeutil import as_utc, iso

SIGNED = "release.signed"
KEY_FILE = "release-ed25519.pem"
ALGORITHM = "Ed25519"



class ReleaseKey:
    """The workspace's Ed25519 release key, kept in ``folder`` and made on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / KEY_FILE

    def _private(self) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if self.path.exists():
            key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValidationError(f"{self.path}: not an Ed25519 private key")
            return key
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return key

    def public_raw(self) -> bytes:
        """The 32-byte raw public key."""
        from cryptography.hazmat.primitives import serialization

        raw: bytes = (
            self._private()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return raw

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo), for ``openssl`` and other tools."""
        from cryptography.hazmat.primitives import serialization

        pem: bytes = (
            self._private()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return pem.decode("ascii")

    def sign(self, message: bytes) -> dict[str, str]:
        """The ``signature`` object of a statement: algorithm, key id, public key, value."""
        raw = self.public_raw()
        return {
            "algorithm": ALGORITHM,
            "key_id": key_id(raw),
            "public_key": base64.b64encode(raw).decode("ascii"),
            "value": base64.b64encode(self._private().sign(message)).decode("ascii"),
        }


def key_id(raw: bytes) -> str:
    """A public key's id: the first 16 hex digits of the SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(raw).hexdigest()[:16]


def parse_public_key(text: str) -> bytes:
    """A public key given as PEM, or its 32 raw bytes in base64 or hex (a file's content or
    the value itself)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValidationError("public key: not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except ValueError:
        raise ValidationError("public key: expected PEM, or 32 bytes in hex or base64") from None
    if len(raw) != 32:
        raise ValidationError(f"public key: {len(raw)} bytes, an Ed25519 key has 32")
    return raw


def statement(details: Mapping[str, Any]) -> bytes:
    """The bytes a release signature covers: the canonical JSON of the entry's details
    without the signature."""
    return canonical_json({k: v for k, v in details.items() if k != "signature"}).encode("utf-8")


def signature_valid(details: Mapping[str, Any]) -> bool:
    """Whether the entry's Ed25519 signature verifies over its statement with its public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = details.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"]))
        key.verify(base64.b64decode(sig["value"]), statement(details))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def sign_release(
    session: Session,
    ref: str,
    artifacts: Mapping[str, Path] | None = None,
    *,
    actor: str,
    key: ReleaseKey | None = None,
) -> dict[str, Any]:
    """Append a ``release.signed`` entry for version ``ref`` inside the caller's transaction:
    its manifest digest, each named artifact's SHA-256 (streamed), and with ``key`` an Ed25519
    signature over them. Returns the entry's details."""
    version = version_row(session, ref)
    files: dict[str, dict[str, Any]] = {}
    for name, path in sorted((artifacts or {}).items()):
        path = Path(path)
        if not path.is_file():
            raise InputError(f"artifact {name}: {path}: no such file")
        files[name] = {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    details: dict[str, Any] = {
        "version": ref,
        "manifest_digest": version.digest,
        "record_count": int(version.record_count),
        "artifacts": files,
    }
    if key is not None:
        details["signature"] = key.sign(statement(details))
    audit.append(
        session,
        actor=actor,
        action=SIGNED,
        object_type="version",
        object_ref=ref,
        details=details,
    )
    return details


@dataclass(frozen=True)
class FileCheck:
    """What ``release verify`` found for one file: OK with the version it belongs to and who
    signed that release when, or not, with the reason."""

    path: str
    sha256: str | None
    ok: bool
    reason: str | None = None
    version: str | None = None
    export_id: int | None = None
    artifact: str | None = None
    signed_at: datetime | None = None
    signed_by: str | None = None
    key_id: str | None = None
    entry: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["signed_at"] = iso(self.signed_at) if self.signed_at else None
        return data


class ReleaseSignatures:
    """Signs released versions into the audit log and verifies consumers' files against them."""

    def __init__(self, sessions: sessionmaker[Session], *, keys: Path, actor: str) -> None:
        self._sessions = sessions
        self._actor = actor
        self.key = ReleaseKey(keys)

    def sign_in(
        self, session: Session, ref: str, artifacts: Mapping[str, Path] | None = None
    ) -> None:
        """Sign ``ref`` and these artifacts inside the caller's transaction (a release's)."""
        sign_release(session, ref, artifacts, actor=self._actor, key=self.key)

    def sign(self, ref: str, artifacts: Mapping[str, Path] | None = None) -> dict[str, Any]:
        """Sign version ``ref`` (``NAME@N``) with these artifacts, in its own transaction."""
        with self._sessions.begin() as session:
            return sign_release(session, ref, artifacts, actor=self._actor, key=self.key)

    def verify(self, paths: Sequence[Path], *, public_key: bytes | None = None) -> list[FileCheck]:
        """Check each file: which recorded export or signed artifact it is (by SHA-256), that
        its version's release is signed, the audit chain intact up to the entries vouching for
        it, and the signed manifest digest equal to the version's. With ``public_key``, the
        signature must also be by that key."""
        _, _, broken = AuditLog(self._sessions).verify()
        with self._sessions() as session:
            return [_Checker(session, broken, public_key).check(p) for p in paths]


class _Checker:
    """One verification pass over a database session."""

    def __init__(self, session: Session, broken: int | None, public_key: bytes | None) -> None:
        self.session = session
        self.broken = broken
        self.public_key = public_key
        self.signed = list(
            session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.action == SIGNED)
                .order_by(AuditEventRow.id.desc())
            )
        )

    def check(self, path: Path) -> FileCheck:
        if not path.is_file():
            return FileCheck(str(path), None, False, f"{path}: no such file")
        digest = sha256_file(path)
        fail = FileCheck(str(path), digest, False)
        exports = list(
            self.session.execute(
                select(ExportRow, ExportFileRow)
                .join(ExportFileRow, ExportFileRow.export_id == ExportRow.id)
                .where(ExportFileRow.sha256 == digest)
                .order_by(ExportRow.id.desc())
            )
        )
        results = [self._export(fail, export, file) for export, file in exports]
        for event in self.signed:
            for name, art in (event.details.get("artifacts") or {}).items():
                if isinstance(art, dict) and art.get("sha256") == digest:
                    results.append(self._artifact(fail, event, name))
        if not results:
            return replace(fail, reason=self._unknown(path, digest))
        return next((r for r in results if r.ok), results[0])

    def _unknown(self, path: Path, digest: str) -> str:
        """Why a file no record knows fails: modified (a recorded file of that name exists)
        or unknown."""
        name = path.name
        row = self.session.execute(
            select(ExportRow.id, ExportFileRow.name, ExportFileRow.sha256)
            .join(ExportFileRow, ExportFileRow.export_id == ExportRow.id)
            .where((ExportFileRow.name == name) | ExportFileRow.name.like(f"%/{_like(name)}", "\\"))
            .order_by(ExportRow.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return (
                f"modified: {path}'s SHA-256 {digest} matches no export; export {row[0]} wrote "
                f"{row[1]} with SHA-256 {row[2]}"
            )
        for event in self.signed:
            for art_name, art in (event.details.get("artifacts") or {}).items():
                if isinstance(art, dict) and art.get("file") == name:
                    return (
                        f"modified: {path}'s SHA-256 {digest} matches no signed artifact; "
                        f"{art_name} of {event.object_ref} (audit entry {event.id}) was "
                        f"{name} with SHA-256 {art.get('sha256')}"
                    )
        return f"unknown file: SHA-256 {digest} matches no recorded export or signed artifact"

    def _export(self, fail: FileCheck, export: ExportRow, file: ExportFileRow) -> FileCheck:
        ref = version_ref(self.session, export.version_id)
        fail = replace(fail, version=ref, export_id=export.id)
        logged = self._export_entry(ref, export.id)
        if logged is None:
            return replace(fail, reason=f"export {export.id} of {ref} is not in the audit log")
        if file.sha256 not in {f.get("sha256") for f in logged.details.get("files") or []}:
            return replace(
                fail,
                reason=f"export {export.id}'s file list differs from its audit entry "
                f"{logged.id} (edited in the database)",
            )
        event = self._signed_for(ref)
        if event is None:
            return replace(fail, reason=f"unsigned: {ref} was not released (no {SIGNED} entry)")
        return self._vouch(fail, event, logged.id, export.version_digest)

    def _artifact(self, fail: FileCheck, event: AuditEventRow, name: str) -> FileCheck:
        fail = replace(fail, version=event.object_ref, artifact=name)
        version = self._version_digest(event.object_ref)
        return self._vouch(fail, event, event.id, version)

    def _vouch(
        self, fail: FileCheck, event: AuditEventRow, other: int, digest: str | None
    ) -> FileCheck:
        """The checks common to exports and artifacts, against signature entry ``event``."""
        details = event.details
        sig = details.get("signature") if isinstance(details.get("signature"), dict) else None
        fail = replace(
            fail,
            signed_at=as_utc(event.at),
            signed_by=event.actor,
            entry=event.id,
            key_id=sig.get("key_id") if sig else None,
        )
        last = max(event.id, other)
        if self.broken is not None and self.broken <= last:
            return replace(
                fail, reason=f"audit chain broken at entry {self.broken} (vouching entry {last})"
            )
        signed = details.get("manifest_digest")
        current = self._version_digest(fail.version or "")
        if digest != signed or current != signed:
            return replace(
                fail,
                reason=f"digest mismatch: the release of {fail.version} signed manifest "
                f"{signed}, the export was made from {digest}, the version now has {current}",
            )
        if sig is not None and not signature_valid(details):
            return replace(fail, reason=f"bad signature on audit entry {event.id}")
        if self.public_key is not None:
            if sig is None:
                return replace(fail, reason=f"audit entry {event.id} carries no signature")
            if sig.get("key_id") != key_id(self.public_key):
                return replace(
                    fail,
                    reason=f"signed with key {sig.get('key_id')}, not the given key "
                    f"{key_id(self.public_key)}",
                )
        return replace(fail, ok=True)

    def _signed_for(self, ref: str) -> AuditEventRow | None:
        return next((e for e in self.signed if e.object_ref == ref), None)

    def _export_entry(self, ref: str, export_id: int) -> AuditEventRow | None:
        rows = self.session.scalars(
            select(AuditEventRow).where(
                AuditEventRow.action == EXPORT_ACTION, AuditEventRow.object_ref == ref
            )
        )
        return next((r for r in rows if r.details.get("export") == export_id), None)

    def _version_digest(self, ref: str) -> str | None:
        name, _, number = ref.rpartition("@")
        if not number.isdigit():
            return None
        return self.session.scalar(
            select(VersionRow.digest)
            .join(DatasetRow, DatasetRow.id == VersionRow.dataset_id)
            .where(DatasetRow.name == name, VersionRow.number == int(number))
        )


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
