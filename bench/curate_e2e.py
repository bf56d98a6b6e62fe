"""End-to-end curation (issue #5): ``ws.curation.curate`` of N records (default 1,000,000) with
the pipeline normalize -> exact_dedup -> near_dedup -> pii -> quality (every step at its
defaults) on the local executor (in-process, and on worker processes: one run per
``--workers`` count, default 1) and on the Ray executor (a local cluster of ``--ray-cpus``,
default 2); records/s, wall time, per-step and per-pass seconds, peak memory, and whether every
run writes the same output (version digest).

Each run is a fresh child process (``--child``), so its peak memory is its own: ``ru_maxrss``
of the child, and, polled every 0.5 s by the parent, the RSS and PSS summed over the child and
all its descendants (the local executor's worker processes; Ray's GCS, raylet and workers; PSS
shares the object store's pages out instead of counting them once per process). The Ray
cluster is started in the child before the clock starts (its start-up is reported apart) and
the executor uses it as it is. A local run also reports the CPU seconds of the child and of its
workers (on a shared machine, the wall time alone does not say what the workers cost).

Data (``bench/out/curate-<N>/input.jsonl``, deterministic from ``--seed``): web-like English
text made of real sentences (gensim's Wikipedia excerpt and Lee news corpus, as
``bench/quality_filters.py`` reads them), 60-120 words a record in 1-3 paragraphs, some with a
title line; metadata ``url`` and ``n``. Planted: ~10% exact duplicates of an earlier record
(same text, a different url; a third of them with different case or spacing), ~5%
near-duplicates (one or two word edits, or a line added), ~2% with an email address and/or
phone number, ~5% low-quality pages (too short, lists, menus, repeated lines, hashtag spam),
~3% needing normalisation (mojibake, CRLF, runs of spaces, NBSP). The input is ingested once
(in a child process, timed) into ``raw@1``; each run writes a new output dataset.

    .venv/bin/python bench/curate_e2e.py [--records N] [--executors local ray] [--workers 1 2]
        [--batch 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import benchlib as bl

NAME = "curate_e2e"
RESULT_PREFIX = "RESULT "
PIPELINE = ["normalize", "exact_dedup", "near_dedup", "pii", "quality"]
SHARES = {"exact": 0.10, "near": 0.05, "pii": 0.02, "low": 0.05, "normalize": 0.03}

# -- data -------------------------------------------------------------------------------------

FIRST = ["Anna", "James", "Maria", "Wei", "Olga", "Tom", "Priya", "Lucas", "Fatima", "John"]
LAST = ["Smith", "Garcia", "Chen", "Novak", "Brown", "Khan", "Rossi", "Muller", "Silva", "Lee"]
DOMAINS = ["example.com", "mail.example.org", "newsroom.example.net", "corp.example.co.uk"]
MENU = ["Home", "News", "Sport", "Business", "About us", "Contact", "Login", "Sign up", "FAQ"]
EXTRA_LINES = [
    "Share this article.",
    "Updated on 3 March 2024.",
    "Read more stories like this in our weekly newsletter.",
    "Photo: supplied.",
    "This story was first published yesterday.",
]


def sentence_pool() -> list[str]:
    """Distinct real sentences (6-40 words, ending in . ! ?) from gensim's corpora."""
    sys.path.insert(0, str(bl.BENCH_DIR))
    from quality_filters import news_stories, wiki_pages

    texts = [p for page in wiki_pages() for p in page if "\n" not in p] + news_stories()
    seen: set[str] = set()
    out = []
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+", " ".join(t.split())):
            if 6 <= len(s.split()) <= 40 and s[-1] in ".!?" and s not in seen:
                seen.add(s)
                out.append(s)
    return out


class Generator:
    """The records of the benchmark input, deterministic from the seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = sentence_pool()
        self.short = [s for s in self.pool if len(s.split()) <= 20]  # C4 wants 5+ sentences
        self.vocab = sorted({w for s in self.pool[:5000] for w in s.split() if w.isalpha()})

    def sentences(self, words: int) -> list[str]:
        out: list[str] = []
        n = 0
        while n < words:
            s = self.rng.choice(self.pool)
            out.append(s)
            n += len(s.split())
        return out

    def base(self) -> str:
        """6-8 sentences of 6-20 words (about 60-120 words) in 1-3 paragraphs, a title line on
        30% of them."""
        rng = self.rng
        sents = [rng.choice(self.short) for _ in range(rng.randint(6, 8))]
        cuts = sorted(rng.sample(range(1, len(sents)), min(len(sents) - 1, rng.randint(0, 2))))
        paras = [" ".join(sents[a:b]) for a, b in zip([0, *cuts], [*cuts, len(sents)], strict=True)]
        if rng.random() < 0.3:
            paras.insert(0, " ".join(rng.choice(self.pool).split()[: rng.randint(3, 7)]))
        return rng.choice(["\n\n", "\n"]).join(paras)

    def near(self, text: str) -> str:
        """One or two word edits (drop, swap, insert), or one line added."""
        rng = self.rng
        if rng.random() < 0.2:
            return text + "\n" + rng.choice(EXTRA_LINES)
        words = text.split(" ")
        for _ in range(rng.choice([1, 1, 2])):
            i = rng.randrange(1, len(words) - 1)
            op = rng.choice(["drop", "swap", "insert"])
            if op == "drop":
                del words[i]
            elif op == "swap":
                words[i], words[i + 1] = words[i + 1], words[i]
            else:
                words.insert(i, rng.choice(self.vocab))
        return " ".join(words)

    def exact(self, text: str) -> str:
        """The same text; a third of the time differing in case or spacing only."""
        r = self.rng.random()
        if r < 0.15:
            return text.replace(" ", "  ", 3)
        if r < 0.33:
            return text.upper() if self.rng.random() < 0.2 else text.lower()
        return text

    def pii(self, text: str) -> str:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(1000, 9999)
        phone = rng.choice([f"({a}) {b}-{c}", f"+1 {a}-{b}-{c}", f"+44 20 7946 {c}"])
        line = rng.choice([
            f"For details contact {first} {last} at {email} or call {phone}.",
            f"Questions can be sent to {email}.",
            f"Call our office on {phone} for more information.",
        ])  # fmt: skip
        paras = text.split("\n")
        paras.insert(rng.randrange(len(paras) + 1), line)
        return "\n".join(paras)

    def low(self) -> str:
        rng = self.rng
        kind = rng.choice(["short", "list", "menu", "repeat", "spam"])
        if kind == "short":
            return " ".join(self.sentences(rng.randint(8, 35)))
        if kind == "list":
            return "\n".join("- " + " ".join(s.split()[: rng.randint(2, 8)])
                             for s in self.sentences(80))  # fmt: skip
        if kind == "menu":
            return "\n".join(rng.sample(MENU, 6)) + "\n" + " ".join(self.sentences(30))
        if kind == "repeat":
            line = rng.choice(self.pool)
            return "\n".join(self.sentences(30) + [line] * rng.randint(4, 8))
        return " ".join("#" + w.strip(".,;:()") for w in " ".join(self.sentences(60)).split())

    def messy(self, text: str) -> str:
        """Text the normalize step changes."""
        kind = self.rng.choice(["mojibake", "crlf", "spaces", "nbsp"])
        if kind == "mojibake":
            return text.replace("e", "\u00e9", 2).encode("utf-8").decode("latin-1")
        if kind == "crlf":
            return text.replace("\n", "\r\n") + "\r\n"
        if kind == "spaces":
            return text.replace(". ", ".   ", 2) + "   "
        return text.replace(" ", "\u00a0", 2)

    def records(self, n: int) -> tuple[list[str], list[str]]:
        """``n`` texts and what each was planted as."""
        rng = self.rng
        texts: list[str] = []
        kinds: list[str] = []
        bases: list[int] = []  # indexes of base records (the originals duplicates copy)
        cum = []
        acc = 0.0
        for name in ("exact", "near", "pii", "low", "normalize"):
            acc += SHARES[name]
            cum.append((acc, name))
        for i in range(n):
            r = rng.random()
            kind = next((name for limit, name in cum if r < limit), "base")
            if kind in ("exact", "near") and not bases:
                kind = "base"
            if kind == "exact":
                text = self.exact(texts[rng.choice(bases)])
            elif kind == "near":
                text = self.near(texts[rng.choice(bases)])
            elif kind == "low":
                text = self.low()
            else:
                text = self.base()
                if kind == "pii":
                    text = self.pii(text)
                elif kind == "normalize":
                    text = self.messy(text)
                bases.append(i)
            texts.append(text)
            kinds.append(kind)
        return texts, kinds


def data_dir(records: int) -> Path:
    return bl.OUT_DIR / f"curate-{records}"


def ensure_input(records: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The generated JSONL (made once per size and seed) and what was planted."""
    folder = data_dir(records)
    path, meta_path = folder / "input.jsonl", folder / "input.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("seed") == seed:
            return path, meta
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"generating {records:,} records into {path.relative_to(bl.REPO_ROOT)} ...", flush=True)
    t = time.perf_counter()
    texts, kinds = Generator(seed).records(records)
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            url = f"https://site{i % 9973}.example/{i}"
            f.write(json.dumps({"text": text, "url": url, "n": i}) + "\n")
    from collections import Counter

    words = [len(t.split()) for t in texts]
    meta = {
        "records": records,
        "seed": seed,
        "bytes": path.stat().st_size,
        "planted": dict(Counter(kinds)),
        "words_mean": sum(words) / len(words),
        "chars_mean": sum(map(len, texts)) / len(texts),
        "generate_s": time.perf_counter() - t,
    }
    meta_path.write_text(json.dumps(meta))
    print(f"  {bl.human_bytes(meta['bytes'])} in {meta['generate_s']:.1f} s", flush=True)
    return path, meta


# -- the child processes ----------------------------------------------------------------------


def child_ingest(input_path: Path, home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    ws = bl.open_workspace(home, create=True)
    t = time.perf_counter()
    res = ws.ingest([input_path], source=bl.SOURCE, dataset="raw", message="e2e input")
    seconds = time.perf_counter() - t
    out = {"ingest_s": seconds, "records": res.version.record_count,
           "duplicates": res.duplicates,
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}  # fmt: skip
    ws.close()
    print(RESULT_PREFIX + json.dumps(out), flush=True)


def child_curate(
    home: Path, executor: str, out_name: str, batch: int, ray_cpus: int, workers: int | None
) -> None:
    import psutil

    from curata.curation.pipeline import parse_pipeline

    proc = psutil.Process()
    ray_start_s = 0.0
    if executor == "ray":
        import logging

        import ray

        t = time.perf_counter()
        ray.init(address="local", num_cpus=ray_cpus, include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)  # fmt: skip
        ray_start_s = time.perf_counter() - t
    ws = bl.open_workspace(home)
    baseline_rss = proc.memory_info().rss
    phases: dict[str, list[float]] = {}  # what -> [first seen, last seen] (perf_counter)
    rss_by_phase: dict[str, int] = {}

    def progress(done: int, total: int, what: str) -> None:
        now = time.perf_counter()
        span = phases.setdefault(what, [now, now])
        span[1] = now
        rss = proc.memory_info().rss
        rss_by_phase[what] = max(rss_by_phase.get(what, 0), rss)

    pipeline = parse_pipeline(PIPELINE)
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    result = ws.curation.curate(
        "raw@1",
        pipeline,
        out_name,
        executor=executor,
        batch_size=batch,
        progress=progress,
        workers=workers,
    )
    seconds = time.perf_counter() - start
    cpu = {k: v - cpu_before[k] for k, v in _cpu_seconds().items()}
    passes = []
    prev = start
    for what, (_first, last) in phases.items():
        passes.append({"pass": what, "seconds": last - prev, "peak_rss_bytes": rss_by_phase[what]})
        prev = last
    out = {
        "executor": executor,
        "workers": workers,
        "out": result.version.ref,
        "curate_s": seconds,
        "after_last_pass_s": start + seconds - prev,
        "passes": passes,
        "records_in": result.records_in,
        "records_out": result.records_out,
        "digest": result.version.digest,
        "record_count": result.version.record_count,
        "steps": [{k: v for k, v in s.items() if k != "params"} for s in result.steps],
        "ray_start_s": ray_start_s,
        "cpu_s": cpu,
        "baseline_rss_bytes": baseline_rss,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    ws.close()
    if executor == "ray":
        import ray

        ray.shutdown()
    print(RESULT_PREFIX + json.dumps(out), flush=True)


def _cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds of this process, and of its children that have exited and
    been waited for (the local executor's workers; not Ray's processes)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"driver": me.ru_utime + me.ru_stime, "workers": kids.ru_utime + kids.ru_stime}


class TreeMemory:
    """Polls a process and its descendants: peak summed RSS and PSS, and peak process count."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.every = every
        self.peak_rss = self.peak_pss = self.peak_root_rss = self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            rss = pss = 0
            for p in procs:
                try:
                    full = p.memory_full_info()
                except psutil.Error:
                    continue
                rss += full.rss
                pss += getattr(full, "pss", full.rss)
                if p.pid == self.root.pid:
                    self.peak_root_rss = max(self.peak_root_rss, full.rss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, len(procs))
            self._stop.wait(self.every)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {"tree_peak_rss_bytes": self.peak_rss, "tree_peak_pss_bytes": self.peak_pss,
                "driver_peak_rss_polled_bytes": self.peak_root_rss,
                "peak_processes": self.peak_procs}  # fmt: skip


def run_child(args: list[str]) -> tuple[dict[str, Any], dict[str, int], float]:
    cmd = [sys.executable, __file__, "--child", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    mem = TreeMemory(proc.pid)
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - start
    memory = mem.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[:2]} exited with {proc.returncode}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError("the child printed no result")
    return json.loads(lines[-1][len(RESULT_PREFIX) :]), memory, wall


def child_steps(input_path: Path, sample: int) -> None:
    """Each step's own cost per record on the first ``sample`` input records, in this process,
    outside any executor: the records go through the pipeline once, each step timed alone
    (a needs-all step: summarize every batch, prepare, apply every batch; any other step is
    first applied to one record, untimed, so imports are not counted). The executors'
    per-step seconds cannot show this: a needs-all step's count includes its whole collecting
    pass, and the local executor's earlier steps are recomputed on every pass."""
    from curata.core.records import Record
    from curata.curation.executors.local import StepStats, _decide
    from curata.curation.pipeline import parse_pipeline

    records = []
    with input_path.open(encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            records.append(Record.from_text(obj.pop("text"), obj))
            if len(records) >= sample:
                break
    items = [(r.id, r, None, None) for r in records]
    given = {r.id for r in records}
    produced: set[str] = set()
    out = []
    for position, spec in enumerate(parse_pipeline(PIPELINE).steps):
        step = spec.build()
        batches = [items[i : i + 2_000] for i in range(0, len(items), 2_000)]
        pairs = [[(rid, rec) for rid, rec, _, _ in b] for b in batches]
        t = time.perf_counter()
        if not step.needs_all and pairs:  # first use (imports, recognizers), timed apart
            step.apply(pairs[0][:1])
        first_use = time.perf_counter() - t
        t = time.perf_counter()
        if step.needs_all:
            step.prepare(iter([step.summarize(b) for b in pairs]))
        prepared = time.perf_counter() - t
        decisions = [d for b in pairs for d in step.apply(b)]
        seconds = time.perf_counter() - t
        stats = StepStats(position, spec.name)
        kept = []
        for (rid, rec, src, org), d in zip(items, decisions, strict=True):
            item = _decide(position, rid, rec, src, org, d, None, stats, (given, produced))
            if item is not None:
                kept.append(item)
        out.append({"name": spec.name, "records_in": len(items), "records_out": len(kept),
                    "seconds": seconds, "prepare_s": prepared, "first_use_s": first_use,
                    "us_per_record": seconds / max(1, len(items)) * 1e6})  # fmt: skip
        items = kept
    print(RESULT_PREFIX + json.dumps({"sample": len(records), "steps": out}), flush=True)


# -- the parent -------------------------------------------------------------------------------


def ensure_workspace(records: int, seed: int, input_path: Path) -> tuple[Path, dict[str, Any]]:
    folder = data_dir(records)
    home, marker = folder / "ws", folder / "ingested.json"
    if marker.exists():
        done = json.loads(marker.read_text())
        if done.get("seed") == seed:
            return home, done
    print("ingesting raw@1 in a child process ...", flush=True)
    out, _memory, wall = run_child(["ingest", "--input", str(input_path), "--home", str(home)])
    done = {"seed": seed, **out, "child_wall_s": wall}
    marker.write_text(json.dumps(done))
    print(f"  {out['records']:,} records in {out['ingest_s']:.1f} s "
          f"({out['records'] / out['ingest_s']:,.0f} records/s)", flush=True)  # fmt: skip
    return home, done


def _print_run(r: dict[str, Any]) -> None:
    print(f"\n{r['label']}: {r['records_in']:,} -> {r['records_out']:,} records in "
          f"{r['curate_s']:.1f} s = {r['records_per_s']:,.0f} records/s "
          f"(child process {r['child_wall_s']:.1f} s)")  # fmt: skip
    if r["executor"] == "ray":
        print(f"  Ray cluster start-up (not in the time above): {r['ray_start_s']:.1f} s")
    print(f"  {'step':12} {'in':>10} {'out':>10} {'changed':>8} {'dropped':>8} {'seconds':>9}")
    for s in r["steps"]:
        print(f"  {s['name']:12} {s['records_in']:10,} {s['records_out']:10,} "
              f"{s['changed']:8,} {s['dropped']:8,} {s['seconds']:9.1f}")  # fmt: skip
    for p in r["passes"]:
        print(f"  pass {p['pass']:26} {p['seconds']:8.1f} s  (driver RSS up to "
              f"{bl.human_bytes(p['peak_rss_bytes'])})")  # fmt: skip
    print(f"  after the last pass (write, commit, events): {r['after_last_pass_s']:.1f} s")
    if r["executor"] == "local":
        cpu = r["cpu_s"]
        print(f"  CPU: driver {cpu['driver']:.1f} s, workers {cpu['workers']:.1f} s "
              f"(load average {r['load_average_before'][0]:.2f} before, "
              f"{r['load_average_after'][0]:.2f} after)")  # fmt: skip
    print(f"  peak RSS: driver {bl.human_bytes(r['peak_rss_bytes'])} (ru_maxrss); process "
          f"tree {bl.human_bytes(r['tree_peak_rss_bytes'])} RSS, "
          f"{bl.human_bytes(r['tree_peak_pss_bytes'])} PSS over {r['peak_processes']} "
          f"processes (polled)")  # fmt: skip
    print(f"  output {r['out']}: {r['record_count']:,} records, digest {r['digest']}")


def main() -> None:
    p = bl.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--executors", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    p.add_argument("--batch", type=int, default=2_000, help="curate batch size (default 2,000)")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    p.add_argument("--workers", nargs="+", type=int, default=[1],
                   help="worker counts to run the local executor with (default 1)")  # fmt: skip
    p.add_argument("--step-sample", type=int, default=20_000,
                   help="records for the per-step table (0: skip; default 20,000)")  # fmt: skip
    p.add_argument("--child", nargs="?", const="", help=argparse.SUPPRESS)
    p.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--executor", help=argparse.SUPPRESS)
    p.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "ingest":
        child_ingest(args.input, args.home)
        return
    if args.child == "steps":
        child_steps(args.input, args.step_sample)
        return
    if args.child == "curate":
        child_curate(
            args.home, args.executor, args.out, args.batch, args.ray_cpus, args.child_workers
        )
        return
    info = bl.header(f"End-to-end curation of {args.records:,} records (issue #5)")
    print(f"pipeline: {' -> '.join(PIPELINE)} (defaults); batch {args.batch:,}; ray "
          f"{bl._version_of('ray')} with {args.ray_cpus} CPUs")  # fmt: skip
    path, meta = ensure_input(args.records, args.seed)
    print(f"input: {bl.human_bytes(meta['bytes'])}, {meta['words_mean']:.0f} words / "
          f"{meta['chars_mean']:.0f} characters a record; planted {meta['planted']}")  # fmt: skip
    home, ingest = ensure_workspace(args.records, args.seed, path)
    runs: dict[str, Any] = {}
    plan = [(e, w) for e in args.executors for w in (args.workers if e == "local" else [None])]
    for executor, workers in plan:
        label = executor if workers is None else f"local, {workers} worker(s)"
        out_name = f"clean-{executor}-{workers or 0}-{int(time.time())}"
        load = os.getloadavg()
        print(f"\ncurating on {label} (load average {load[0]:.2f}) ...", flush=True)
        cmd = ["curate", "--home", str(home), "--executor", executor, "--out", out_name,
               "--batch", str(args.batch), "--ray-cpus", str(args.ray_cpus)]  # fmt: skip
        if workers is not None:
            cmd += ["--child-workers", str(workers)]
        out, memory, wall = run_child(cmd)
        r = {**out, **memory, "label": label, "child_wall_s": wall, "load_average_before": load,
             "load_average_after": os.getloadavg(),
             "records_per_s": out["records_in"] / out["curate_s"]}  # fmt: skip
        runs[label] = r
        _print_run(r)
    steps = None
    if args.step_sample:
        print(f"\neach step alone on the first {args.step_sample:,} records (one process, "
              "first use timed apart) ...", flush=True)  # fmt: skip
        cmd = ["steps", "--input", str(path), "--step-sample", str(args.step_sample)]
        steps, _memory, _wall = run_child(cmd)
        print(f"  {'step':12} {'in':>8} {'out':>8} {'seconds':>8} {'us/record':>10} first use")
        for s in steps["steps"]:
            print(f"  {s['name']:12} {s['records_in']:8,} {s['records_out']:8,} "
                  f"{s['seconds']:8.2f} {s['us_per_record']:10.0f} "
                  f"{s['first_use_s']:6.2f} s")  # fmt: skip
    digests = {e: r["digest"] for e, r in runs.items()}
    same = len(set(digests.values())) == 1 if len(digests) > 1 else None
    if same is not None:
        print(f"\nsame output digest on {' and '.join(digests)}: {same}")
    result = {
        "machine": info,
        "command": f".venv/bin/python bench/curate_e2e.py --records {args.records} "
        f"--executors {' '.join(args.executors)} --workers {' '.join(map(str, args.workers))} "
        f"--batch {args.batch}",
        "records": args.records,
        "pipeline": PIPELINE,
        "batch": args.batch,
        "ray_cpus": args.ray_cpus,
        "workers": args.workers,
        "input": meta,
        "ingest": ingest,
        "runs": runs,
        "same_digest": same,
        "steps_alone": steps,
    }
    bl.save_result(f"{NAME}_{args.records}", result)
    if args.clean:
        shutil.rmtree(data_dir(args.records), ignore_errors=True)


if __name__ == "__main__":
    main()
