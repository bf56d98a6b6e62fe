"""Shared helpers for the Curata benchmarks (issue #2): data, fixtures, machine info, results.

Every benchmark script imports this module; it is not a benchmark itself. Layout under
``bench/out/`` (git-ignored)::

    base-<N>/input.jsonl       the generated N-record input (version 1)
    base-<N>/ws/               a workspace holding exactly version 1 (``raw@1``)
    versions-<N>/update.jsonl  the same records with 1% of the texts changed
    versions-<N>/ws/           a copy of the base workspace plus version 2 (``raw@2``)
    versions-<N>/fixture.json  what the versions fixture holds (sizes, changed ids)
    results.json               every benchmark's numbers, one section per benchmark
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("LANCE_LOG", "error")  # before lance (imported via curata) loads

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
RESULTS_FILE = OUT_DIR / "results.json"
DEFAULT_RECORDS = 1_000_000
UPDATE_SHARE = 0.01
SOURCE = "gen"
DATASET = "raw"
KEY = "id"
LANGS = ("en", "fr", "de", "es", "it", "pt", "nl", "pl")
VOCAB_SIZE = 5_000
WORDS_PER_TEXT = 19
"""19 words of 3-8 letters (mean 5.5) plus spaces make texts of about 120 characters."""


# -- command line -----------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark script accepts."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--records",
        type=int,
        default=DEFAULT_RECORDS,
        help=f"records in the generated dataset (default {DEFAULT_RECORDS:,})",
    )
    p.add_argument("--seed", type=int, default=20_240_601, help="random seed for the data")
    p.add_argument(
        "--clean",
        action="store_true",
        help="delete the generated data and workspaces under bench/out/ when done",
    )
    return p


# -- machine and results ----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version_of(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def git_info() -> dict[str, Any]:
    """The commit benchmarked and any uncommitted changes to ``src/`` (they affect numbers)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return out.stdout

    status = git("status", "--porcelain", "--", "src").splitlines()
    dirty = [line[3:] for line in status if len(line) > 3]
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return {"commit": commit, "src_modified": dirty}


def machine_info() -> dict[str, Any]:
    """CPU, memory, Python and library versions, and the date, for the record."""
    import psutil

    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_physical": psutil.cpu_count(logical=False),
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git_info(),
        "packages": {
            name: _version_of(name)
            for name in ("curata", "pylance", "pyarrow", "numpy", "deltalake", "SQLAlchemy")
        },
    }


def print_machine(info: dict[str, Any]) -> None:
    """Print the machine info block that heads every benchmark's output."""
    print(
        f"machine: {info['cpu_count']} CPUs ({info['cpu_physical']} physical, "
        f"{info['cpu_model']}), {info['ram_gib']} GiB RAM, Python {info['python']}, "
        f"{info['platform']}"
    )
    print(f"date:    {info['date_utc']}")
    pkgs = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    print(f"libs:    {pkgs}")
    git = info["git"]
    dirty = (
        f", uncommitted changes in {', '.join(git['src_modified'])}" if git["src_modified"] else ""
    )
    print(f"code:    commit {git['commit']}{dirty}")


def header(title: str) -> dict[str, Any]:
    """Print a benchmark's title and the machine info; return the machine info."""
    info = machine_info()
    print("=" * 78)
    print(title)
    print("=" * 78)
    print_machine(info)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    return info


def save_result(name: str, section: dict[str, Any]) -> None:
    """Merge one benchmark's numbers into ``bench/out/results.json`` (written atomically)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if RESULTS_FILE.exists():
        try:
            data = json.loads(RESULTS_FILE.read_text())
        except json.JSONDecodeError:
            data = {}
    data[name] = section
    tmp = RESULTS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, RESULTS_FILE)
    print(f"results: {RESULTS_FILE.relative_to(REPO_ROOT)} [{name}]")


# -- measuring --------------------------------------------------------------------------------


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    """Time a block: ``with timer() as t: ...`` then ``t['s']`` holds the seconds."""
    box = {"s": 0.0}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean/min/max of a list of latencies, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def dir_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (0 when it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                continue
    return total


def file_sizes(path: Path) -> dict[str, int]:
    """Size of every file under ``path``, keyed by its path relative to ``path``."""
    sizes: dict[str, int] = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                sizes[os.path.relpath(full, path)] = os.path.getsize(full)
            except OSError:
                continue
    return sizes


def human_bytes(n: float) -> str:
    """``12345678`` → ``'11.8 MiB'``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop always returns


# -- data -------------------------------------------------------------------------------------


def _vocabulary(rng: np.random.Generator) -> np.ndarray:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype="S1")
    lengths = rng.integers(3, 9, size=VOCAB_SIZE)
    words = {b"".join(rng.choice(letters, size=int(n))).decode() for n in lengths}
    return np.array(sorted(words), dtype=object)


def _texts(rng: np.random.Generator, vocab: np.ndarray, n: int) -> list[str]:
    picks = vocab[rng.integers(0, len(vocab), size=(n, WORDS_PER_TEXT))]
    return [" ".join(row) for row in picks.tolist()]


def generate_jsonl(path: Path, records: int, seed: int, *, chunk: int = 100_000) -> int:
    """Write ``records`` objects ``{"id", "text", "lang"}`` to ``path``; return its size."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, records, chunk):
            n = min(chunk, records - start)
            texts = _texts(rng, vocab, n)
            langs = rng.integers(0, len(LANGS), size=n)
            f.writelines(
                json.dumps({"id": start + i, "text": texts[i], "lang": LANGS[langs[i]]}) + "\n"
                for i in range(n)
            )
    return path.stat().st_size


def write_update(src: Path, dst: Path, records: int, seed: int) -> list[int]:
    """Copy ``src`` to ``dst`` with the text of 1% of the records (scattered) replaced.

    Ids and languages are kept. Returns the sorted ids whose text changed.
    """
    rng = np.random.default_rng(seed + 1)
    vocab = _vocabulary(np.random.default_rng(seed))
    count = max(1, int(records * UPDATE_SHARE))
    changed = np.sort(rng.choice(records, size=count, replace=False))
    new_texts = _texts(rng, vocab, count)
    wanted = {int(i): new_texts[k] for k, i in enumerate(changed)}
    with src.open(encoding="utf-8") as fin, dst.open("w", encoding="utf-8") as fout:
        for line_no, line in enumerate(fin):
            if line_no in wanted:
                obj = json.loads(line)
                assert obj["id"] == line_no
                if obj["text"] == wanted[line_no]:  # vanishingly unlikely; keep it a change
                    wanted[line_no] += " x"
                obj["text"] = wanted[line_no]
                line = json.dumps(obj) + "\n"
            fout.write(line)
    return [int(i) for i in changed]


# -- fixtures ---------------------------------------------------------------------------------


def base_dir(records: int) -> Path:
    """Folder of the version-1 fixture for ``records`` records."""
    return OUT_DIR / f"base-{records}"


def versions_dir(records: int) -> Path:
    """Folder of the two-version fixture for ``records`` records."""
    return OUT_DIR / f"versions-{records}"


def base_marker(records: int) -> Path:
    """The file whose presence says the base fixture is complete."""
    return base_dir(records) / "base.json"


def input_file(records: int, seed: int) -> Path:
    """The generated input for ``records`` records, created if missing (or from another seed)."""
    folder = base_dir(records)
    path = folder / "input.jsonl"
    meta = folder / "input.json"
    if path.exists() and meta.exists() and json.loads(meta.read_text()).get("seed") == seed:
        return path
    print(f"generating {records:,} records into {path.relative_to(REPO_ROOT)} ...", flush=True)
    with timer() as t:
        size = generate_jsonl(path, records, seed)
    meta.write_text(json.dumps({"records": records, "seed": seed, "bytes": size}))
    print(f"  {human_bytes(size)} in {t['s']:.1f} s", flush=True)
    return path


def open_workspace(home: Path, *, create: bool = False) -> Any:
    """Open (or create, registering the synthetic source) a benchmark workspace."""
    from curata.workspace import Workspace

    if not create:
        return Workspace.open(home, user="bench")
    ws = Workspace.create(home, user="bench")
    ws.sources.add(SOURCE, kind="synthetic", license="CC0-1.0", origin="bench://generated")
    return ws


def ensure_base(records: int, seed: int) -> Path:
    """Return the home of a workspace holding exactly ``raw@1`` (building it if needed)."""
    marker = base_marker(records)
    home = base_dir(records) / "ws"
    if marker.exists() and json.loads(marker.read_text()).get("seed") == seed:
        return home
    path = input_file(records, seed)
    shutil.rmtree(home, ignore_errors=True)
    print(f"ingesting version 1 into {home.relative_to(REPO_ROOT)} ...", flush=True)
    ws = open_workspace(home, create=True)
    try:
        with timer() as t:
            ws.ingest([path], source=SOURCE, dataset=DATASET, key=KEY, message="v1")
    finally:
        ws.close()
    print(f"  {t['s']:.1f} s", flush=True)
    marker.write_text(json.dumps({"records": records, "seed": seed}))
    return home


def clean(records: int) -> None:
    """Delete the generated inputs and workspaces for ``records`` records."""
    folders = (base_dir(records), versions_dir(records))
    for folder in (*folders, OUT_DIR / f"delta-{records}"):
        if folder.exists():
            shutil.rmtree(folder)
            print(f"deleted {folder.relative_to(REPO_ROOT)}")


def _category(relpath: str, storage_key: str) -> str:
    """Group a data-root file: ``records.lance/_indices``, ``manifest/_deletions`` etc."""
    parts = Path(relpath).parts
    if parts[0] == "records.lance":
        return "records/" + (parts[1] if len(parts) > 2 else "(root)")
    if parts[0] == "manifests" and len(parts) > 1 and parts[1] == f"{storage_key}.lance":
        return "manifest/" + (parts[2] if len(parts) > 3 else "(root)")
    return "other/" + parts[0]


def growth_by_category(
    before: dict[str, int], after: dict[str, int], storage_key: str
) -> dict[str, int]:
    """Bytes added between two :func:`file_sizes` snapshots, grouped by :func:`_category`."""
    grown: dict[str, int] = {}
    for rel, size in after.items():
        delta = size - before.get(rel, 0)
        if delta:
            cat = _category(rel, storage_key)
            grown[cat] = grown.get(cat, 0) + delta
    for rel, size in before.items():
        if rel not in after:
            cat = _category(rel, storage_key)
            grown[cat] = grown.get(cat, 0) - size
    return dict(sorted(grown.items(), key=lambda kv: -kv[1]))


def build_versions(records: int, seed: int, folder: Path | None = None) -> dict[str, Any]:
    """Build ``raw@1`` and ``raw@2`` (1% of texts changed) fresh, measuring the store's growth.

    Copies the base workspace into ``folder`` (default :func:`versions_dir`), writes the
    update file and ingests it as version 2. Returns (and saves as ``fixture.json``) sizes,
    timings and the changed ids.
    """
    base_home = ensure_base(records, seed)
    folder = folder or versions_dir(records)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    home = folder / "ws"
    shutil.copytree(base_home, home)
    update = folder / "update.jsonl"
    print(f"writing the 1% update to {update.relative_to(REPO_ROOT)} ...", flush=True)
    changed = write_update(input_file(records, seed), update, records, seed)
    ws = open_workspace(home)
    try:
        v1 = ws.datasets.handle(f"{DATASET}@1")
        storage_key = v1.storage_key
        data_root = Path(ws.store.root)
        size_v1 = ws.store.size_bytes(storage_key)
        files_v1 = file_sizes(data_root)
        print("ingesting version 2 ...", flush=True)
        with timer() as t:
            res = ws.ingest([update], source=SOURCE, dataset=DATASET, key=KEY, message="1% update")
        size_v2 = ws.store.size_bytes(storage_key)
        files_v2 = file_sizes(data_root)
        fixture = {
            "records": records,
            "seed": seed,
            "changed_ids": changed,
            "storage_key": storage_key,
            "v1": {"ref": v1.version.ref, "records": v1.version.record_count},
            "v2": {
                "ref": res.version.ref,
                "records": res.version.record_count,
                "added": res.version.added,
                "removed": res.version.removed,
                "bytes_added_reported": res.version.bytes_added,
            },
            "ingest_v2_s": t["s"],
            "size_v1_bytes": size_v1,
            "size_v2_bytes": size_v2,
            "growth_by_category": growth_by_category(files_v1, files_v2, storage_key),
        }
    finally:
        ws.close()
    (folder / "fixture.json").write_text(json.dumps(fixture))
    return fixture


def ensure_versions(records: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Return the home and description of the two-version fixture, building it if needed."""
    folder = versions_dir(records)
    meta = folder / "fixture.json"
    if meta.exists():
        fixture = json.loads(meta.read_text())
        if fixture.get("seed") == seed:
            return folder / "ws", fixture
    return folder / "ws", build_versions(records, seed)
