"""Curata against datatrove 0.10.x end to end (issue #17): the same generated corpus (the one
``bench/curate_e2e.py`` makes), Curata's pipeline normalize -> exact_dedup -> near_dedup -> pii
-> quality (defaults) on the local executor, and the closest pipeline datatrove can express on
``LocalPipelineExecutor(tasks=2, workers=2)``, in the same run; wall time, documents/s, kept
count, peak RSS of the process tree and the disk each used, and the ratio of their documents/s.

Both systems run in a fresh child process each, measured the same way: the parent polls the
summed RSS (and PSS) of the child and all its descendants every 0.5 s (``curate_e2e.TreeMemory``:
datatrove's worker pool, Curata's worker processes) and, every second, the size of the folder
the run writes its temporary files to. Curata's run is ``curate_e2e.py``'s own child
(``run_child(["curate", ...])``), so its numbers are the ones that script reports; datatrove's
child is this script's ``--child datatrove``.

What each side's time covers. Curata: ``ws.curation.curate`` from the ingested ``raw@1`` to a
committed output version (reading, every step, writing the Lance dataset, the events and the
commit); the ingest of the JSONL into ``raw@1`` is done once, before, in its own child, and is
reported apart, with documents/s counting it too (datatrove reads the JSONL directly, so the
ratio with the ingest included is the one for a user who starts from JSONL). datatrove: its six
executor stages, from reading the JSONL shards to the written output; splitting the input into
one shard per task (datatrove shards by file, so one file would leave one task idle) is done
before the clock starts.

datatrove's pipeline, in six stages chained with ``depends=`` (datatrove's own MinHash example
recomputes the reader and formatters in its filter stage; here each stage writes what the next
one reads, so, as in Curata, nothing runs twice on a record):

1. JsonlReader -> FTFYFormatter -> WhitespaceFormatter -> JsonlWriter (formatted) ->
   ExactDedupSignature (2 tasks; 2 finder shards)
2. ExactFindDedups (2 tasks, one per hash shard)
3. JsonlReader (formatted) -> ExactDedupFilter -> JsonlWriter (unique) -> MinhashDedupSignature
   (2 tasks)
4. MinhashDedupBuckets (21 tasks: datatrove needs a multiple of the bands; 2 workers)
5. MinhashDedupCluster (1 task: datatrove requires it)
6. JsonlReader (unique) -> MinhashDedupFilter -> PIIFormatter -> GopherRepetitionFilter ->
   GopherQualityFilter -> JsonlWriter (output) (2 tasks)

Every intermediate and the output are uncompressed JSONL (datatrove's default, gzip, would cost
datatrove time Curata's Lance output does not pay).

Differences in what the two pipelines do (so the kept counts differ; what is compared is the
throughput of the closest equivalent work):

- Normalisation. datatrove 0.10.1 has no whitespace formatter (its formatters are FTFY, PII and
  symbol lines), so ``WhitespaceFormatter`` below is a datatrove ``BaseFormatter`` written here
  doing what Curata's normalize does to whitespace: CR/CRLF and other line breaks to newline,
  runs of two or more horizontal whitespace characters (NBSP included) inside a line
  to one space (leading indentation
  kept), trailing spaces and leading/trailing blank lines removed, at most 2 blank lines in a
  row. FTFY runs with datatrove's defaults; Curata's normalize runs ftfy with its own config
  (HTML entities left alone, ligatures and line breaks fixed) and adds NFC and control-character
  removal, which datatrove's FTFY defaults leave out (normalization None) or do by other means
  (remove_control_chars).
- Exact dedup. Both hash the text lowercased with whitespace runs collapsed (datatrove through
  ``ExactDedupConfig(content_getter=dedup_key)``: xxhash64; Curata: BLAKE2b-128) and keep one
  record per hash (Curata the first in the stream; datatrove the first by document index within
  a hash shard).
- Near dedup. Same shingle size (5 words), same bands x rows (21 x 6; Curata's default at
  threshold 0.8 and 128 permutations), seed 42. Curata computes 128 permutations, shingles
  lowercased ``\\w+`` words, and links a candidate pair only when its Jaccard reaches 0.8
  (MinHash estimate, exact Jaccard near the threshold); datatrove computes 126 hashes (bands x
  rows), shingles spaCy word tokens of ``simplify_text`` (lowercase, punctuation removed,
  numbers and diacritics normalised), and drops every pair that shares a bucket (no
  verification), so it removes more (false positives between 0.7 and 0.8 Jaccard among them).
- PII. Curata's pii step (Presidio recognizers: emails, phone numbers validated with
  phonenumbers, credit cards, IBANs, IPs, US SSNs, secrets; placeholders) against
  datatrove's ``PIIFormatter`` (regexes for emails and public IP addresses only; fixed
  replacement addresses). Neither drops a record.
- Quality. Curata's quality step runs four rule sets by default: Gopher quality, Gopher
  repetition, C4 and FineWeb. datatrove runs the two Gopher filters (as issue #17 names them),
  unless ``--datatrove-filters all`` adds its C4QualityFilter and FineWebQualityFilter (then
  both sides apply the same rule sets at the same published thresholds). Both use their
  defaults. datatrove's filters tokenize with ``spacy.blank("en")`` (rules only, no model to
  download), so nothing is fetched at run time.
- Output. Curata commits a versioned Lance dataset with per-record events (why each record was
  changed or dropped) in the workspace database; datatrove writes JSONL files and per-stage
  stats, and no per-record reasons unless exclusion writers are added (none here).

datatrove's JsonlReader and JsonlWriter need ``orjson`` (in datatrove's ``io`` extra, not in
``processing``).

    .venv/bin/python bench/curate_vs_datatrove.py [--records N] [--only curata|datatrove]
        [--curata-workers 2] [--datatrove-filters gopher|all] [--batch 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.formatters.base import BaseFormatter

import benchlib as bl
import curate_e2e as ce

NAME = "curate_vs_datatrove"
TASKS = 2
WORKERS = 2
NEAR = {"n_grams": 5, "num_buckets": 21, "hashes_per_bucket": 6, "seed": 42}
"""datatrove's MinhashConfig as close as it gets to Curata's near_dedup defaults (ngram 5,
threshold 0.8 -> 21 bands x 6 rows of 128 permutations, seed 42)."""

_LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_INNER_RUN = re.compile(r"(?<=\S)[^\S\n]{2,}")
_TRAILING = re.compile(r"[^\S\n]+$", re.MULTILINE)
_BLANK_RUN = re.compile(r"\n{4,}")


class WhitespaceFormatter(BaseFormatter):  # type: ignore[misc]
    """What Curata's normalize does to whitespace, as a datatrove formatter (datatrove 0.10.1
    has none; the same expressions as ``curata.curation.steps.normalize``): line breaks to
    newline, trailing spaces removed, inner runs of two or more horizontal whitespace
    characters to one space (indentation kept), at most two blank lines in a row, edge blank
    lines removed."""

    name = "WhitespaceFormatter"

    def format(self, text: str) -> str:
        text = _LINE_BREAK.sub("\n", text)
        text = _TRAILING.sub("", text)
        text = _INNER_RUN.sub(" ", text)
        text = _BLANK_RUN.sub("\n\n\n", text)
        return text.strip("\n")


def dedup_key(doc: Document) -> str:
    """The text exact dedup hashes: lowercased, whitespace runs collapsed (Curata's default)."""
    return " ".join(doc.text.lower().split())


# -- the datatrove child ----------------------------------------------------------------------


def shard_input(input_path: Path, folder: Path, shards: int) -> list[Path]:
    """Split the input into ``shards`` contiguous JSONL files (datatrove gives each task whole
    files, so a single file would leave all but one task idle); kept between runs."""
    marker = folder / "shards.json"
    stat = input_path.stat()
    want = {
        "input": str(input_path),
        "bytes": stat.st_size,
        "mtime": stat.st_mtime,
        "shards": shards,
    }
    paths = [folder / f"{i:05d}.jsonl" for i in range(shards)]
    if marker.exists() and json.loads(marker.read_text()) == want:
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with input_path.open(encoding="utf-8") as f:
        lines = f.readlines()
    per = -(-len(lines) // shards)
    for i, path in enumerate(paths):
        path.write_text("".join(lines[i * per : (i + 1) * per]), encoding="utf-8")
    marker.write_text(json.dumps(want))
    return paths


def child_datatrove(shards: Path, work: Path, filters: str) -> None:
    """Run datatrove's six stages on ``shards`` with everything it writes under ``work``."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    shutil.rmtree(work, ignore_errors=True)
    d = {
        name: str(work / name)
        for name in (
            "formatted",
            "exact_sigs",
            "exact_dups",
            "unique",
            "minhash_sigs",
            "minhash_buckets",
            "minhash_clusters",
            "output",
            "logs",
        )
    }
    exact = ExactDedupConfig(content_getter=dedup_key)
    minhash = MinhashConfig(**NEAR)

    def reader(folder: str) -> Any:
        return JsonlReader(folder, compression=None, add_file_path=False)

    def writer(folder: str) -> Any:
        return JsonlWriter(folder, compression=None)

    quality: list[Any] = [GopherRepetitionFilter(), GopherQualityFilter()]
    if filters == "all":
        quality += [C4QualityFilter(), FineWebQualityFilter()]
    stages: list[tuple[str, list[Any], int]] = [
        (
            "format + exact signature",
            [
                reader(str(shards)),
                FTFYFormatter(),
                WhitespaceFormatter(),
                writer(d["formatted"]),
                ExactDedupSignature(d["exact_sigs"], config=exact, finder_workers=TASKS),
            ],
            TASKS,
        ),
        ("exact find", [ExactFindDedups(d["exact_sigs"], d["exact_dups"], config=exact)], TASKS),
        (
            "exact filter + minhash signature",
            [
                reader(d["formatted"]),
                ExactDedupFilter(d["exact_dups"], config=exact),
                writer(d["unique"]),
                MinhashDedupSignature(d["minhash_sigs"], config=minhash),
            ],
            TASKS,
        ),
        (
            "minhash buckets",
            [MinhashDedupBuckets(d["minhash_sigs"], d["minhash_buckets"], config=minhash)],
            minhash.num_buckets,
        ),
        (
            "minhash cluster",
            [MinhashDedupCluster(d["minhash_buckets"], d["minhash_clusters"], config=minhash)],
            1,
        ),
        (
            "minhash filter + pii + quality + write",
            [
                reader(d["unique"]),
                MinhashDedupFilter(d["minhash_clusters"]),
                PIIFormatter(),
                *quality,
                writer(d["output"]),
            ],
            TASKS,
        ),
    ]
    executors: list[Any] = []
    for i, (_label, pipeline, tasks) in enumerate(stages):
        executors.append(
            LocalPipelineExecutor(
                pipeline=pipeline,
                tasks=tasks,
                workers=min(WORKERS, tasks),
                logging_dir=f"{d['logs']}/{i}",
                depends=executors[-1] if executors else None,
            )
        )
    timings = []
    start = time.perf_counter()
    for (label, _pipeline, tasks), executor in zip(stages, executors, strict=True):
        t = time.perf_counter()
        executor.run()  # its dependency has run already: run() only checks it is complete
        timings.append(
            {
                "stage": label,
                "tasks": tasks,
                "seconds": time.perf_counter() - t,
                "steps": _stage_stats(Path(executor.logging_dir.path)),
            }
        )
    seconds = time.perf_counter() - start
    kept = sum(_count_lines(p) for p in (work / "output").glob("*.jsonl"))
    records_in = sum(_count_lines(p) for p in shards.glob("*.jsonl"))
    sizes = {name: bl.dir_size(Path(path)) for name, path in d.items()}
    out = {
        "seconds": seconds,
        "stages": timings,
        "records_in": records_in,
        "records_out": kept,
        "folder_bytes": sizes,
        "filters": filters,
    }
    print(ce.RESULT_PREFIX + json.dumps(out), flush=True)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _stage_stats(logs: Path) -> list[dict[str, Any]]:
    """Per step of a stage (from datatrove's merged stats.json): documents in, dropped, out,
    and datatrove's own wall time in the step summed over the tasks (a step that times its
    whole loop, like ExactDedupFilter, also counts the steps after it)."""
    try:
        raw = json.loads((logs / "stats.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []
    steps = []
    for entry in raw:
        stats = entry.get("stats", {})

        def total(key: str, stats: dict[str, Any] = stats) -> int | None:
            v = stats.get(key)
            return int(v["total"]) if isinstance(v, dict) else (int(v) if v is not None else None)

        steps.append(
            {
                "name": entry.get("name"),
                "total": total("total"),
                "dropped": total("dropped"),
                "forwarded": total("forwarded"),
                "time_s": (entry.get("time_stats") or {}).get("total"),
            }
        )
    return steps


# -- measuring a child ------------------------------------------------------------------------


class DiskPeak:
    """Polls the size of a folder every ``every`` seconds: the peak, and the last size seen."""

    def __init__(self, path: Path, every: float = 1.0) -> None:
        self.path, self.every = path, every
        self.peak = self.last = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last = bl.dir_size(self.path)
            self.peak = max(self.peak, self.last)
            self._stop.wait(self.every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, bl.dir_size(self.path))


def run_datatrove_child(
    args: list[str], log: Path
) -> tuple[dict[str, Any], dict[str, int], float, int]:
    """This script as a child (as ``curate_e2e.run_child`` runs that script), its stderr (the
    datatrove logs) to ``log``; the result, the tree's memory, the wall time and the peak size
    of the work folder."""
    cmd = [sys.executable, __file__, "--child", *args]
    work = Path(args[args.index("--work") + 1])
    start = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        mem = ce.TreeMemory(proc.pid)
        disk = DiskPeak(work)
        stdout, _ = proc.communicate()
    wall = time.perf_counter() - start
    memory = mem.stop()
    disk_peak = disk.stop()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"datatrove child exited with {proc.returncode}:\n{tail}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(ce.RESULT_PREFIX)]
    if not lines:
        raise RuntimeError("the datatrove child printed no result")
    return json.loads(lines[-1][len(ce.RESULT_PREFIX) :]), memory, wall, disk_peak


# -- the parent -------------------------------------------------------------------------------


def run_datatrove(path: Path, records: int, filters: str) -> dict[str, Any]:
    folder = ce.data_dir(records)
    shards = folder / "datatrove-input"
    shard_input(path, shards, TASKS)
    work = folder / "datatrove-work"
    load = os.getloadavg()
    print(
        f"\ndatatrove {bl._version_of('datatrove')}: 6 stages on LocalPipelineExecutor "
        f"(tasks {TASKS}, workers {WORKERS}); load average {load[0]:.2f} ...",
        flush=True,
    )
    out, memory, wall, disk_peak = run_datatrove_child(
        ["datatrove", "--input", str(shards), "--work", str(work), "--datatrove-filters", filters],
        folder / "datatrove.log",
    )
    sizes = out["folder_bytes"]
    scratch = sum(v for k, v in sizes.items() if k not in ("output", "logs"))
    r = {
        **out,
        **memory,
        "child_wall_s": wall,
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "records_per_s": out["records_in"] / out["seconds"],
        "work_peak_bytes": disk_peak,
        "scratch_bytes": scratch,
        "output_bytes": sizes["output"],
    }
    print(
        f"  {r['records_in']:,} -> {r['records_out']:,} documents in {r['seconds']:.1f} s = "
        f"{r['records_per_s']:,.0f} documents/s (child process {wall:.1f} s)"
    )
    print(
        f"  {'stage':42} {'tasks':>5} {'seconds':>8}  steps: documents in, -dropped, "
        "seconds in the step summed over tasks"
    )
    for s in r["stages"]:
        steps = ", ".join(
            f"{_short(st['name'])} {st['total'] or 0:,}"
            + (f" -{st['dropped']:,}" if st["dropped"] else "")
            + (f" {st['time_s']:.1f}s" if st["time_s"] else "")
            for st in s["steps"]
            if st["total"]
        )
        print(f"  {s['stage']:42} {s['tasks']:5} {s['seconds']:8.1f}  {steps}")
    print(
        f"  disk: scratch {bl.human_bytes(scratch)} (signatures, buckets, clusters, "
        f"intermediate JSONL), output {bl.human_bytes(sizes['output'])}; peak of the work "
        f"folder {bl.human_bytes(disk_peak)}"
    )
    print(
        f"  peak RSS: process tree {bl.human_bytes(r['tree_peak_rss_bytes'])} RSS, "
        f"{bl.human_bytes(r['tree_peak_pss_bytes'])} PSS over {r['peak_processes']} "
        f"processes (polled)"
    )
    for name in sizes:  # datatrove's logs and stats stay (under bench/out/) until the next run
        if name != "logs":
            shutil.rmtree(work / name, ignore_errors=True)
    return r


def _short(name: str | None) -> str:
    """A datatrove step's name without its emoji type prefix: 'MinHash stage 1'."""
    return re.sub(r"[^\w\s.+-]", "", (name or "").split(": ", 1)[-1]).strip()


def run_curata(path: Path, records: int, seed: int, workers: int, batch: int) -> dict[str, Any]:
    home, ingest = ce.ensure_workspace(records, seed, path)
    out_name = f"vsdt-local-{workers}-{int(time.time())}"
    load = os.getloadavg()
    print(
        f"\nCurata: local executor, {workers} worker(s), batch {batch:,}; load average "
        f"{load[0]:.2f} ...",
        flush=True,
    )
    before = bl.dir_size(home)
    scratch = DiskPeak(home / "scratch")
    out, memory, wall = ce.run_child(
        [
            "curate",
            "--home",
            str(home),
            "--executor",
            "local",
            "--out",
            out_name,
            "--batch",
            str(batch),
            "--child-workers",
            str(workers),
        ]
    )
    scratch_peak = scratch.stop()
    grown = bl.dir_size(home) - before
    r = {
        **out,
        **memory,
        "child_wall_s": wall,
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "records_per_s": out["records_in"] / out["curate_s"],
        "ingest_s": ingest["ingest_s"],
        "scratch_peak_bytes": scratch_peak,
        "workspace_growth_bytes": grown,
        "records_per_s_with_ingest": out["records_in"] / (out["curate_s"] + ingest["ingest_s"]),
    }
    print(
        f"  {r['records_in']:,} -> {r['records_out']:,} documents in {r['curate_s']:.1f} s = "
        f"{r['records_per_s']:,.0f} documents/s (child process {wall:.1f} s); the ingest "
        f"before it {r['ingest_s']:.1f} s, with it {r['records_per_s_with_ingest']:,.0f} "
        f"documents/s"
    )
    print(f"  {'step':12} {'in':>10} {'out':>10} {'changed':>8} {'dropped':>8} {'seconds':>9}")
    for s in r["steps"]:
        print(
            f"  {s['name']:12} {s['records_in']:10,} {s['records_out']:10,} "
            f"{s['changed']:8,} {s['dropped']:8,} {s['seconds']:9.1f}"
        )
    print(
        f"  disk: scratch peak {bl.human_bytes(scratch_peak)} (polled every 1 s), workspace "
        f"grew {bl.human_bytes(grown)} (output version, events)"
    )
    print(
        f"  peak RSS: process tree {bl.human_bytes(r['tree_peak_rss_bytes'])} RSS, "
        f"{bl.human_bytes(r['tree_peak_pss_bytes'])} PSS over {r['peak_processes']} "
        f"processes (polled)"
    )
    return r


def print_table(runs: dict[str, dict[str, Any]]) -> dict[str, float] | None:
    print(
        f"\n{'system':28} {'seconds':>8} {'docs/s':>8} {'kept':>9} {'peak RSS':>10} {'scratch':>10}"
    )
    for label, r in runs.items():
        secs = r.get("curate_s", r.get("seconds"))
        scratch = r.get("scratch_peak_bytes", r.get("scratch_bytes", 0))
        print(
            f"{label:28} {secs:8.1f} {r['records_per_s']:8,.0f} {r['records_out']:9,} "
            f"{bl.human_bytes(r['tree_peak_rss_bytes']):>10} {bl.human_bytes(scratch):>10}"
        )
    dt = runs.get("datatrove")
    ratios = {}
    for label, r in runs.items():
        if dt is not None and label != "datatrove":
            ratios[label] = r["records_per_s"] / dt["records_per_s"]
            ratios[label + " (with ingest)"] = r["records_per_s_with_ingest"] / dt["records_per_s"]
    for label, ratio in ratios.items():
        print(f"{label} docs/s / datatrove docs/s: {ratio:.2f}x")
    return ratios or None


def main() -> None:
    p = bl.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--only", choices=["curata", "datatrove"], help="run one system only")
    p.add_argument(
        "--curata-workers",
        nargs="+",
        type=int,
        default=[2],
        help="worker counts for Curata's local executor (default 2: the same two "
        "CPUs datatrove's two workers use)",
    )
    p.add_argument("--batch", type=int, default=2_000, help="Curata's batch size (default 2,000)")
    p.add_argument(
        "--datatrove-filters",
        choices=["gopher", "all"],
        default="gopher",
        help="datatrove's quality filters: the two Gopher ones (default) or also "
        "C4 and FineWeb (Curata's quality default)",
    )
    p.add_argument("--child", nargs="?", const="", help=argparse.SUPPRESS)
    p.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "datatrove":
        child_datatrove(args.input, args.work, args.datatrove_filters)
        return
    info = bl.header(f"Curata against datatrove end to end, {args.records:,} records (issue #17)")
    print(
        f"Curata: {' -> '.join(ce.PIPELINE)} (defaults); datatrove "
        f"{bl._version_of('datatrove')}: FTFY, whitespace, exact dedup (3 stages), MinHash "
        f"(4 stages, {NEAR}), PII, Gopher filters"
        + (" + C4 + FineWeb" if args.datatrove_filters == "all" else "")
    )
    path, meta = ce.ensure_input(args.records, args.seed)
    print(
        f"input: {bl.human_bytes(meta['bytes'])}, {meta['words_mean']:.0f} words a record; "
        f"planted {meta['planted']}"
    )
    runs: dict[str, dict[str, Any]] = {}
    if args.only in (None, "datatrove"):
        runs["datatrove"] = run_datatrove(path, args.records, args.datatrove_filters)
    if args.only in (None, "curata"):
        for workers in args.curata_workers:
            label = f"curata local {workers} worker(s)"
            runs[label] = run_curata(path, args.records, args.seed, workers, args.batch)
    ratios = print_table(runs)
    workers = " ".join(map(str, args.curata_workers))
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/curate_vs_datatrove.py --records {args.records} "
        f"--curata-workers {workers} --datatrove-filters {args.datatrove_filters}"
        + (f" --only {args.only}" if args.only else ""),
        "records": args.records,
        "input": meta,
        "datatrove": {
            "version": bl._version_of("datatrove"),
            "tasks": TASKS,
            "workers": WORKERS,
            "minhash": NEAR,
            "filters": args.datatrove_filters,
        },
        "curata_pipeline": ce.PIPELINE,
        "runs": runs,
        "ratio_docs_per_s": ratios,
    }
    bl.save_result(f"{NAME}_{args.records}", result)
    if args.clean:
        shutil.rmtree(ce.data_dir(args.records), ignore_errors=True)


if __name__ == "__main__":
    main()
