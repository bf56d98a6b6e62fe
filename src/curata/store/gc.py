"""Garbage collection of the record store: payload files that no version references.

An ingest or a curation run writes new payloads as Lance data files first and commits them
later; a crash, a ``kill`` or Ctrl-C in between leaves files that no Lance version of the record
store (or of a manifest) lists, and that no Curata version can therefore reach. They cost disk
only: :func:`collect_garbage` finds them (every file under a Lance dataset's ``data/`` that no
version of that dataset lists) and removes them.

It runs only while no writer holds a dataset lock (the store's lock, taken exclusively; writers
hold it shared for as long as they write), since a running ingest's fragments are exactly such
files until it commits; a writer that starts meanwhile waits for it. Rows that a crashed ingest
had already committed to ``records.lance`` stay: rows are addressed by their offset, so removing
any would move every later one.

On an object store (``s3://…``) it refuses: the store's lock is a file on this machine, so it
cannot know that no writer on another machine is between writing its payload files and
committing them, and removing those would lose a version's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lance

from curata.core.errors import ConflictError, ValidationError
from curata.store.records import RecordStore


@dataclass(frozen=True)
class GcResult:
    """What garbage collection found (and, unless a dry run, removed)."""

    dry_run: bool
    paths: list[str]
    bytes: int

    @property
    def files(self) -> int:
        return len(self.paths)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "files": self.files, "bytes": self.bytes,
                "paths": self.paths}  # fmt: skip


def collect_garbage(store: RecordStore, *, dry_run: bool) -> GcResult:
    """Find (and unless ``dry_run`` remove) the data files no version of the record store or
    of any manifest references; ConflictError while a writer is at work, ValidationError on
    an object store (see the module docstring)."""
    if store.remote:
        raise ValidationError(
            f"gc: the record store at {store.uri} is on an object store, where this machine's "
            "lock cannot exclude writers on other machines, so it is not collected; leftover "
            "files cost storage only (see docs/deployment.md)"
        )
    with store.exclusive() as alone:
        if not alone:
            raise ConflictError(
                f"the record store at {store.root} is being written (an ingest, curation or "
                "release is running); run gc when it has finished"
            )
        datasets = [Path(store.records_uri), *sorted((store.root / "manifests").glob("*.lance"))]
        orphans = [path for uri in datasets for path in unreferenced_files(uri)]
        size = sum(path.stat().st_size for path in orphans)
        if not dry_run:
            for path in orphans:
                path.unlink(missing_ok=True)
    return GcResult(dry_run=dry_run, paths=[str(p) for p in orphans], bytes=size)


def unreferenced_files(uri: Path) -> list[Path]:
    """Data files of a Lance dataset that none of its versions lists, in name order."""
    data = uri / "data"
    if not data.is_dir():
        return []
    referenced: set[str] = set()
    for version in lance.dataset(str(uri)).versions():
        for fragment in lance.dataset(str(uri), version=version["version"]).get_fragments():
            referenced.update(Path(f.path).name for f in fragment.metadata.files)
    return sorted(p for p in data.glob("*.lance") if p.name not in referenced)
