"""The curation scratch area: temporary files a run writes between its passes (issue #17).

A run that has ``needs_all`` steps writes, before each of them, what the steps up to it decided
about every record (:class:`Spill`: an Arrow IPC file, one row a batch) so that later passes
read it instead of running those steps again. The files live in a directory of their own under
the workspace's scratch area, ``<home>/scratch/``, named ``curate-<host>-<pid>-<random>``; it
is removed when the run ends, whether it succeeded or raised. A run that was killed (no chance
to clean up) leaves its directory behind: the next run on the same host removes every such
directory whose process is gone, before it starts. Directories of runs still going (a live
process id on this host) and of other hosts are left alone.
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

PREFIX = "curate"
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

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._path: Path | None = None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            if self._root is None:  # no workspace: the system's temporary directory
                self._temporary = tempfile.TemporaryDirectory(prefix=f"{PREFIX}-")
                self._path = Path(self._temporary.name)
            else:
                self._root.mkdir(parents=True, exist_ok=True)
                name = f"{PREFIX}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
                self._path = self._root / name
                self._path.mkdir()
        return self._path

    def remove(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
        elif self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
        self._path = self._temporary = None


@contextlib.contextmanager
def area(root: Path | None) -> Iterator[Area]:
    """A run's scratch area under ``root`` (None: the system's temporary directory), after
    clearing what killed runs left there; removed when the block ends, however it ends."""
    if root is not None:
        clear_stale(root)
    opened = Area(root)
    try:
        yield opened
    finally:
        opened.remove()


class Spill:
    """One value per batch, written in batch order and read back in the same order: an Arrow
    IPC file of (batch number, pickled value) rows, one record batch a row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pa.ipc.RecordBatchFileWriter | None = pa.ipc.new_file(str(path), _SCHEMA)
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
        with pa.memory_map(str(self.path)) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                row = reader.get_batch(i)
                assert row.column(0)[0].as_py() == i, "spill rows out of order"
                yield pickle.loads(row.column(1)[0].as_py())
