"""The curation scratch area: temporary files a run writes between its passes (issue #17).

A run that has ``needs_all`` steps writes, before each of them, the stream as it stands there
(:class:`RecordSpill`: an Arrow IPC file, one record batch per input batch, a column per record
field) so that later passes read it instead of running the earlier steps again; and what it
must keep to the end without holding it in memory (:class:`Spill`: the events of each pass,
the needs-all steps' summaries). The files live in a directory of their own under the
workspace's scratch area, ``<home>/scratch/``.

An ordinary run's directory is named ``curate-<host>-<pid>-<random>``; it is removed when the
run ends, whether it succeeded or raised. A run that was killed (no chance to clean up) leaves
its directory behind: the next run on the same host removes every such directory whose process
is gone, before it starts. Directories of runs still going (a live process id on this host) and
of other hosts are left alone.

A run given a ``key`` (what makes two runs the same run: the service derives it from the input
version, the pipeline, the output dataset and the batch size) uses ``resume-<key>`` instead, so
that a killed run's completed passes can be picked up by ``curata curate --resume``
(:func:`area` with ``resume=True``). Such a directory is not removed by :func:`clear_stale`; it
is removed when a run of that key ends (succeeded or raised), and an ordinary run of that key
starts by removing what an earlier one left. While a run of that key is going (its host and
process id in the directory's ``owner`` file), another one started meanwhile gets an ordinary
directory instead.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from curata.core.records import Record

PREFIX = "curate"
RESUMABLE = "resume"
OWNER = "owner"
"""In a resumable directory: ``HOST PID`` of the run using it (two runs of one key at once: the
second gets a directory of its own instead of removing the first's)."""
_SCHEMA = pa.schema([("batch", pa.int64()), ("data", pa.large_binary())])
_NAME = re.compile(rf"^{PREFIX}-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]+$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _in_use(path: Path) -> bool:
    """Whether a live process on this host other than this one runs in resumable directory
    ``path`` (its :data:`OWNER` file)."""
    try:
        host, pid = (path / OWNER).read_text("utf-8").split()
    except (OSError, ValueError):
        return False
    return host == _host() and int(pid) != os.getpid() and _alive(int(pid))


def clear_stale(root: Path) -> list[Path]:
    """Remove the run directories under ``root`` left by runs on this host whose process is
    gone; the directories removed."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    host = _host()
    for entry in root.iterdir():
        match = _NAME.match(entry.name)
        if not match or match["host"] != host or _alive(int(match["pid"])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


class Area:
    """One run's scratch directory, made on first use (a run without ``needs_all`` steps
    writes nothing)."""

    def __init__(self, root: Path | None, key: str | None = None) -> None:
        self._root = root
        self._key = key if root is not None else None
        self._path: Path | None = None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None

    @property
    def resumable(self) -> bool:
        """Whether the directory outlives a killed run under a name the next run can find."""
        return self._key is not None

    @property
    def path(self) -> Path:
        if self._path is None:
            if self._root is None:  # no workspace: the system's temporary directory
                self._temporary = tempfile.TemporaryDirectory(prefix=f"{PREFIX}-")
                self._path = Path(self._temporary.name)
            else:
                self._root.mkdir(parents=True, exist_ok=True)
                if self._key is not None:
                    name = f"{RESUMABLE}-{self._key}"
                else:
                    name = f"{PREFIX}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
                self._path = self._root / name
                self._path.mkdir(exist_ok=self._key is not None)
                if self._key is not None:
                    (self._path / OWNER).write_text(f"{_host()} {os.getpid()}", "utf-8")
        return self._path

    def remove(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
        elif self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
        self._path = self._temporary = None


@contextlib.contextmanager
def area(root: Path | None, *, key: str | None = None, resume: bool = False) -> Iterator[Area]:
    """A run's scratch area under ``root`` (None: the system's temporary directory), after
    clearing what killed runs left there; removed when the block ends, however it ends.

    With ``key`` the directory is ``resume-<key>``: ``resume`` keeps what a killed run of that
    key left there (the executor reads its manifest), else it is emptied first."""
    if root is not None:
        clear_stale(root)
        if key is not None and _in_use(root / f"{RESUMABLE}-{key}"):
            key = None  # the same run is going on now: this one gets a directory of its own
        if key is not None and not resume:
            shutil.rmtree(root / f"{RESUMABLE}-{key}", ignore_errors=True)
    opened = Area(root, key)
    try:
        yield opened
    finally:
        opened.remove()


class Spill:
    """One value per batch, written in batch order and read back in the same order: an Arrow
    IPC file of (batch number, pickled value) rows, one record batch a row."""

    def __init__(self, path: Path, *, existing: bool = False) -> None:
        """A new file at ``path``; ``existing``: the complete file a run wrote there before,
        to read."""
        self.path = path
        self._writer: pa.ipc.RecordBatchFileWriter | None = (
            None if existing else pa.ipc.new_file(str(path), _SCHEMA)
        )
        self._written = 0
        self.bytes = 0

    def write(self, value: Any) -> None:
        assert self._writer is not None, "the spill was closed"
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.bytes += len(data)
        columns = [pa.array([self._written]), pa.array([data], pa.large_binary())]
        self._writer.write_batch(pa.record_batch(columns, schema=_SCHEMA))
        self._written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def read(self) -> Iterator[Any]:
        """Every value, in the order written (the file must be closed)."""
        self.close()
        # read a batch at a time, not memory-mapped: every page of a mapped file that was read
        # counts in the process's RSS until the file is closed, i.e. the whole spill (855 MB
        # of records per million records, measured)
        with pa.OSFile(str(self.path)) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                row = reader.get_batch(i)
                assert row.column(0)[0].as_py() == i, "spill rows out of order"
                yield pickle.loads(row.column(1)[0].as_py())


_FIELDS = ("kind", "text", "messages", "prompt", "response", "metadata")
_RECORDS = pa.schema([(name, pa.large_string()) for name in ("id", "source", "origin", *_FIELDS)])


class RecordSpill:
    """The stream as it stands at one point of a run: per input batch, its surviving records
    with their ids, sources and origins, as one Arrow record batch (a column per stored record
    field, :meth:`Record.to_row`; an empty batch where nothing survived), read back batch by
    batch in the same order."""

    def __init__(self, path: Path, *, existing: bool = False) -> None:
        self.path = path
        self._writer: pa.ipc.RecordBatchFileWriter | None = (
            None if existing else pa.ipc.new_file(str(path), _RECORDS)
        )

    def write(self, items: list[tuple[str, Record, str | None, str | None]]) -> None:
        assert self._writer is not None, "the spill was closed"
        rows = [r.to_row() for _, r, _, _ in items]
        columns = [
            pa.array([i[0] for i in items], pa.large_string()),
            pa.array([i[2] for i in items], pa.large_string()),
            pa.array([i[3] for i in items], pa.large_string()),
            *(pa.array([row[name] for row in rows], pa.large_string()) for name in _FIELDS),
        ]
        self._writer.write_batch(pa.record_batch(columns, schema=_RECORDS))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def read(self) -> Iterator[list[tuple[str, Record, str | None, str | None]]]:
        """Every batch, in the order written (the file must be closed)."""
        self.close()
        with pa.OSFile(str(self.path)) as source:  # not mapped (see Spill.read)
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i).to_pydict()
                fields = [batch[name] for name in _FIELDS]
                yield [
                    (rid, Record.from_row(dict(zip(_FIELDS, values, strict=True))), src, origin)
                    for rid, src, origin, *values in zip(
                        batch["id"], batch["source"], batch["origin"], *fields, strict=True
                    )
                ]
