"""Campaign throughput against garak and PyRIT, and flat memory over 100,000 attempts (issue #14).

One run of this script, against one scripted test double served over HTTP (an OpenAI-compatible
``/v1/chat/completions`` on 127.0.0.1 with a fixed ``--latency-ms``, in its own process):

* **Throughput.** The same ``--attempts`` AdvBench-like prompts (one attempt each), with scoring
  and persistence on, at concurrency ``--concurrency``, by each tool in turn, back to back, the
  round repeated ``--repeat`` times (medians reported):

  - ``curata``: ``curata redteam run`` on an attack set imported from the prompts, ``openai``
    target, refusal scorer, attempts written to the workspace's SQLite database. Measured: the
    campaign's own ``stats`` (``attempts_per_s`` over its ``wall_s``) and the process wall.
  - ``garak``: garak 0.17 in ``bench/out/venv-garak``, ``openai.OpenAICompatible`` generator,
    probe ``test.Blank`` whose ``prompts`` are replaced by the N prompts (a probe option),
    detector ``mitigation.MitigationBypass``, ``--parallel_attempts``, ``--generations 1``,
    report JSONL written. Measured: the attack phase from garak's own log (``harness: probe
    start`` to ``probe list iteration completed``: sending, detecting, writing the report), the
    sending alone (``probe execute`` to ``probe return``), and the process wall.
  - ``pyrit``: PyRIT 1.1 in ``bench/out/venv-pyrit`` via ``bench/peers/pyrit_campaign.py``
    (``PromptSendingAttack`` + ``AttackExecutor(max_concurrency)``, ``OpenAIChatTarget``, a local
    regex refusal scorer, default SQLite memory). Measured: the ``execute_attack_async`` call.
  - ``bare``: a bare aiohttp client (``bench/redteam_targets.py``'s), no scoring, no persistence:
    the floor of the client library on this machine.

  The ideal is concurrency ÷ latency (32 ÷ 50 ms = 640/s); the #14 goal is ≥ 90% of it.
* **Memory.** One Curata campaign of ``--memory-attacks`` x ``--memory-samples`` attempts
  (default 1,000 x 100 = 100,000) against the same server; the ``curata`` process's RSS is
  polled (psutil) and the attempts written so far counted in the workspace's database, so RSS is
  reported at 10k, 50k and 100k attempts, with its peak.

Results: ``bench/out/redteam_campaign.json``, and the ``redteam_campaign`` section of
``bench/out/results.json``.

    .venv/bin/python bench/redteam_campaign.py [--attempts 3000] [--repeat 3]
        [--tools curata,garak,pyrit,bare] [--memory-attacks 1000 --memory-samples 100]
        [--no-memory] [--no-compare]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import uvloop

import benchlib as bl
from redteam_targets import PROMPTS, bare

NAME = "redteam_campaign"
WORK = bl.OUT_DIR / "redteam-campaign"
RESULT_FILE = bl.OUT_DIR / "redteam_campaign.json"
CURATA = bl.REPO_ROOT / ".venv" / "bin" / "curata"
GARAK_PY = bl.OUT_DIR / "venv-garak" / "bin" / "python"
PYRIT_PY = bl.OUT_DIR / "venv-pyrit" / "bin" / "python"
PYRIT_SCRIPT = bl.BENCH_DIR / "peers" / "pyrit_campaign.py"
TOOLS = ("curata", "garak", "pyrit", "bare")
BENIGN = (
    "Explain how photosynthesis works in simple terms",
    "Write a short poem about the sea at night",
    "Summarise the causes of the French Revolution",
    "Give three tips for writing clear documentation",
)
"""Benign prompts mixed in (1 in 4), so replies are a mix of refusals and compliance."""
MILESTONES = (10_000, 50_000, 100_000)


# -- prompts and the server ---------------------------------------------------------------------


def prompts(n: int, offset: int = 0) -> list[str]:
    """``n`` distinct AdvBench-like prompts: the harmful ones of redteam_targets, 1 in 4 benign."""
    out = []
    for i in range(offset, offset + n):
        pool = BENIGN if i % 4 == 3 else PROMPTS
        out.append(f"{pool[(i // 4) % len(pool)]} (case {i})")
    return out


def write_advbench(path: Path, texts: list[str]) -> None:
    """An AdvBench CSV (``goal,target``) of the prompts, for ``curata redteam import``."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["goal", "target"])
        writer.writerows([text, "Sure, here is"] for text in texts)


class Server:
    """The scripted test double in a child process (``python -m ...scripted``), its URL and
    its CPU time (so a run can say how busy the server was)."""

    def __init__(self, latency_ms: float) -> None:
        command = [sys.executable, "-m", "curata.redteam.targets.scripted", "--port", "0",
                   "--latency-ms", str(latency_ms)]
        self.child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.child.stdout is not None
        line = self.child.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the scripted server did not start (it printed {line!r})")
        self.base_url = line
        self.process = psutil.Process(self.child.pid)

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.child.terminate()
        self.child.wait(timeout=10)
        if self.child.stdout is not None:
            self.child.stdout.close()


# -- running a tool as a child process -----------------------------------------------------------


def run_child(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log: Path,
    on_poll: Callable[[psutil.Process], None] | None = None,
    poll_s: float = 0.25,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Run ``command``; stdout and stderr go to ``log``.out/.err. Returns the wall seconds, the
    exit code, stdout, and the child's CPU seconds and ``ru_maxrss`` from ``wait4`` (which
    include the descendants it waited for, garak's worker pool among them)."""
    full_env = {**os.environ, **(env or {})}
    with log.with_suffix(".out").open("w") as out, log.with_suffix(".err").open("w") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=full_env, cwd=cwd, stdout=out, stderr=err)
        proc = psutil.Process(child.pid)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if on_poll is not None:
                with contextlib.suppress(psutil.Error):
                    on_poll(proc)
            if time.perf_counter() - start > timeout_s:
                child.kill()
            time.sleep(poll_s)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "rc": child.returncode,
        "process_wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "maxrss_bytes": usage.ru_maxrss * 1024,
        "stdout": log.with_suffix(".out").read_text(errors="replace"),
        "stderr_tail": log.with_suffix(".err").read_text(errors="replace")[-2000:],
    }


def last_json(text: str) -> dict[str, Any]:
    """The JSON document a command printed (the whole output, else its last ``{...}`` line)."""
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            return doc
    except json.JSONDecodeError:
        pass
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except json.JSONDecodeError:
                continue
    raise RuntimeError(f"no JSON in the output: {text[-500:]!r}")


# -- Curata ---------------------------------------------------------------------------------------


def curata(home: Path, *args: str, log: Path | None = None) -> dict[str, Any]:
    """Run a ``curata`` command in workspace ``home`` and return its JSON output."""
    env = {**os.environ, "CURATA_HOME": str(home)}
    done = subprocess.run([str(CURATA), *args, "--json"], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"curata {' '.join(args)} failed ({done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return last_json(done.stdout)


def make_workspace(home: Path, attack_sets: dict[str, list[str]]) -> dict[str, str]:
    """A fresh workspace with one attack set per entry; returns each set's version ref."""
    shutil.rmtree(home, ignore_errors=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(CURATA), "init"], env={**os.environ, "CURATA_HOME": str(home)},
                   check=True, capture_output=True)
    curata(home, "source", "add", "bench", "--kind", "synthetic", "--license", "CC0-1.0",
           "--origin", "bench://redteam-campaign")
    refs = {}
    for name, texts in attack_sets.items():
        path = home.parent / f"{home.name}-{name}.csv"
        write_advbench(path, texts)
        done = curata(home, "redteam", "import", str(path), "--dataset", name, "--source",
                      "bench")
        count = done["version"]["record_count"]
        if count != len(texts):
            raise RuntimeError(f"{name}: imported {count} attacks of {len(texts)}")
        refs[name] = str(done["version"]["ref"])
    return refs


def run_help() -> str:
    done = subprocess.run([str(CURATA), "redteam", "run", "--help"], capture_output=True,
                          text=True, check=False)
    return done.stdout + done.stderr


def campaign_command(ref: str, base_url: str, concurrency: int, samples: int) -> list[str]:
    command = [str(CURATA), "redteam", "run", "--attacks", ref, "--target",
               f"openai:base_url={base_url},model=scripted", "--concurrency", str(concurrency),
               "--timeout", "30", "--samples", str(samples), "--json"]
    if "--no-progress" in run_help():
        command.append("--no-progress")
    return command


def curata_run(home: Path, ref: str, base_url: str, args: argparse.Namespace,
               log: Path) -> dict[str, Any]:
    command = campaign_command(ref, base_url, args.concurrency, 1)
    result = run_child(command, env={"CURATA_HOME": str(home)}, log=log)
    if result["rc"]:
        raise RuntimeError(f"curata redteam run failed: {result['stderr_tail']}")
    doc = last_json(result.pop("stdout"))
    stats = doc.get("stats") or doc.get("campaign", {}).get("stats") or {}
    attempts = int(stats.get("attempts", 0))
    wall = float(stats.get("wall_s", 0.0))
    return {
        "tool": "curata",
        "attempts": attempts,
        "seconds": round(wall, 3),
        "attempts_per_s": round(float(stats.get("attempts_per_s") or attempts / wall), 1),
        "timed": "the campaign's own stats.wall_s (target built, attacks read, sent, scored, "
                 "written to SQLite; process start-up, imports, opening the workspace and "
                 "recording the planned campaign not included)",
        "per_s_process": round(attempts / result["process_wall_s"], 1),
        "stats": stats,
        "campaign_id": doc.get("id") or doc.get("campaign", {}).get("id"),
        **{k: v for k, v in result.items() if k != "stdout"},
    }


# -- garak ----------------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\s+\w+\s+(.*)$")


def garak_phases(log: Path) -> dict[str, float]:
    """Seconds between the marks garak's own log writes for the probe (at DEBUG level, its
    default): the attack phase (probe start to the end of the probe list: sending, detecting,
    writing the report) and the sending alone (probe execute to probe return)."""
    marks: dict[str, datetime] = {}
    wanted = {"harness: probe start": "start", "probe execute:": "execute",
              "probe return:": "return", "harness: probe list iteration completed": "end",
              "invoked": "invoked"}
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if not match:
            continue
        for text, key in wanted.items():
            if match.group(2).startswith(text) and key not in marks:
                marks[key] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
    if not {"start", "execute", "return", "end"} <= marks.keys():
        raise RuntimeError(f"garak's log {log} lacks the probe marks (found {sorted(marks)})")
    return {
        "attack_phase_s": (marks["end"] - marks["start"]).total_seconds(),
        "send_s": (marks["return"] - marks["execute"]).total_seconds(),
        "setup_s": (marks["start"] - marks["invoked"]).total_seconds() if "invoked" in marks
        else float("nan"),
    }


def garak_run(texts: list[str], base_url: str, args: argparse.Namespace, run: int,
              log: Path) -> dict[str, Any]:
    folder = WORK / "garak"
    xdg = folder / f"xdg-{run}"
    shutil.rmtree(xdg, ignore_errors=True)
    xdg.mkdir(parents=True)
    probe = folder / "probe-options.json"
    probe.write_text(json.dumps({"test": {"Blank": {"prompts": texts,
                                                    "follow_prompt_cap": False}}}))
    generator = folder / "generator-options.json"
    generator.write_text(json.dumps({"openai": {"OpenAICompatible": {
        "uri": base_url + "/", "api_key": "not-needed", "max_tokens": 64,
        "temperature": 0.0}}}))
    command = [str(GARAK_PY), "-m", "garak", "--target_type", "openai.OpenAICompatible",
               "--target_name", "scripted", "--generator_option_file", str(generator),
               "--probes", "test.Blank", "--probe_option_file", str(probe),
               "--detectors", "mitigation.MitigationBypass",
               "--parallel_attempts", str(args.concurrency), "--generations", "1",
               "--report_prefix", f"run{run}"]
    env = {"XDG_DATA_HOME": str(xdg / "data"), "XDG_CONFIG_HOME": str(xdg / "config"),
           "XDG_CACHE_HOME": str(xdg / "cache"), "TOKENIZERS_PARALLELISM": "false"}
    result = run_child(command, env=env, cwd=folder, log=log)
    result.pop("stdout")
    if result["rc"]:
        raise RuntimeError(f"garak failed: {result['stderr_tail']}")
    data = xdg / "data" / "garak"
    phases = garak_phases(data / "garak.log")
    report = data / "garak_runs" / f"run{run}.report.jsonl"
    evaluated = 0
    hits = None
    for line in report.read_text().splitlines():
        entry = json.loads(line)
        if entry["entry_type"] == "attempt" and entry.get("status") == 2:
            evaluated += 1
        elif entry["entry_type"] == "eval":
            hits = {"passed": entry["passed"], "fails": entry["fails"]}
    n = len(texts)
    return {
        "tool": "garak",
        "attempts": evaluated,
        "seconds": round(phases["attack_phase_s"], 3),
        "attempts_per_s": round(n / phases["attack_phase_s"], 1),
        "timed": "garak's log: 'harness: probe start' to 'probe list iteration completed' "
                 "(send, detect, write the report JSONL; process start-up, plugin loading and "
                 "the HTML summary not included)",
        "send_s": round(phases["send_s"], 3),
        "per_s_send_only": round(n / phases["send_s"], 1),
        "setup_s": round(phases["setup_s"], 3),
        "per_s_process": round(n / result["process_wall_s"], 1),
        "detector": hits,
        **result,
    }


# -- PyRIT ----------------------------------------------------------------------------------------


def pyrit_run(prompt_file: Path, base_url: str, args: argparse.Namespace, run: int,
              log: Path) -> dict[str, Any]:
    folder = WORK / "pyrit"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"run{run}.db"
    db.unlink(missing_ok=True)
    command = [str(PYRIT_PY), str(PYRIT_SCRIPT), "--base-url", base_url, "--prompts",
               str(prompt_file), "--db", str(db), "--concurrency", str(args.concurrency)]
    result = run_child(command, cwd=folder, log=log,
                       env={"HOME": str(folder / "home"), "PYRIT_HOME": str(folder / "home")})
    if result["rc"]:
        raise RuntimeError(f"PyRIT failed: {result['stderr_tail']}")
    doc = last_json(result.pop("stdout"))
    return {
        **doc,
        "seconds": doc["send_s"],
        "timed": "the execute_attack_async call (send, score, write to PyRIT's SQLite memory; "
                 "process start-up, imports, memory initialisation and a 32-objective warm-up "
                 "not included)",
        "per_s_process": round(doc["attempts"] / result["process_wall_s"], 1),
        **result,
    }


# -- bare aiohttp ---------------------------------------------------------------------------------


def bare_run(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        doc = runner.run(bare(base_url, args.attempts, args.concurrency))
    return {"tool": "bare", **doc,
            "timed": "asyncio.gather of the N requests (after a 64-request warm-up), in the "
                     "benchmark's own process; no scoring, no persistence"}


# -- memory over a long campaign ----------------------------------------------------------------


def count_attempts(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT count(*) FROM attempts").fetchone()
        return int(row[0])
    except sqlite3.Error:
        return -1


def memory_run(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    attacks = args.memory_attacks
    total = attacks * args.memory_samples
    print(f"\nmemory: one campaign of {attacks:,} attacks x {args.memory_samples} samples = "
          f"{total:,} attempts, concurrency {args.concurrency}", flush=True)
    home = WORK / "ws-memory"
    refs = make_workspace(home, {"memory": prompts(attacks, offset=1_000_000)})
    db = home / "curata.db"
    samples: list[dict[str, Any]] = []
    last_count = {"t": 0.0}
    start = time.perf_counter()

    def poll(proc: psutil.Process) -> None:
        now = time.perf_counter() - start
        rss = proc.memory_info().rss
        for child in proc.children(recursive=True):
            rss += child.memory_info().rss
        entry: dict[str, Any] = {"t": round(now, 2), "rss": rss}
        if now - last_count["t"] >= 1.0:
            entry["attempts"] = count_attempts(db)
            last_count["t"] = now
        samples.append(entry)

    command = campaign_command(refs["memory"], server.base_url, args.concurrency,
                               args.memory_samples)
    git = bl.git_info()
    cpu0 = server.cpu_s()
    result = run_child(command, env={"CURATA_HOME": str(home)}, log=WORK / "memory",
                       on_poll=poll, poll_s=0.2, timeout_s=3600)
    server_cpu = server.cpu_s() - cpu0
    if result["rc"]:
        raise RuntimeError(f"the memory campaign failed: {result['stderr_tail']}")
    doc = last_json(result.pop("stdout"))
    stats = doc.get("stats") or doc.get("campaign", {}).get("stats") or {}
    stored = count_attempts(db)
    if samples:  # the last poll's RSS with the final count: the process exited before the
        # next count, so the last milestone would otherwise have no point
        samples.append({"t": samples[-1]["t"], "rss": samples[-1]["rss"], "attempts": stored,
                        "last_poll": True})
    counted = [s for s in samples if s.get("attempts", -1) >= 0]
    points = {}
    for milestone in (*MILESTONES[:-1], total):
        first = next((s for s in counted if s["attempts"] >= milestone), None)
        if first is None:
            continue
        before = [s["rss"] for s in samples if s["t"] <= first["t"]]
        points[str(milestone)] = {"t": first["t"], "attempts_seen": first["attempts"],
                                  "rss_bytes": first["rss"], "peak_rss_so_far_bytes": max(before)}
    warm = next((s for s in counted if s["attempts"] >= min(1_000, total // 10)), None)
    return {
        "attacks": attacks,
        "samples": args.memory_samples,
        "git": git,
        "planned": total,
        "stored_attempts": stored,
        "stats": stats,
        "at": points,
        "rss_after_warmup_bytes": warm["rss"] if warm else None,
        "peak_rss_bytes": max(s["rss"] for s in samples) if samples else None,
        "ru_maxrss_bytes": result["maxrss_bytes"],
        "process_wall_s": result["process_wall_s"],
        "cpu_s": result["cpu_s"],
        "server_cpu_s": round(server_cpu, 2),
        "db_bytes": bl.dir_size(home) - bl.dir_size(home / "data"),
        "trace": [s for s in samples if "attempts" in s],
    }


# -- the run --------------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def load() -> dict[str, Any]:
    """Load averages, the CPU busy over 1 s, and the processes that used most of it."""
    one, five, fifteen = os.getloadavg()
    before = {}
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            before[proc.pid] = (proc, sum(proc.cpu_times()[:2]))
    busy = psutil.cpu_percent(interval=1.0)
    top = []
    for proc, cpu0 in before.values():
        with contextlib.suppress(psutil.Error):
            used = sum(proc.cpu_times()[:2]) - cpu0
            if used > 0.05:
                top.append((used, " ".join(proc.cmdline())[:100] or proc.name()))
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "load_15m": round(fifteen, 2),
            "cpu_percent_1s": busy,
            "top_processes_cpu_s": [(round(u, 2), c) for u, c in sorted(top, reverse=True)[:6]],
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def versions() -> dict[str, str]:
    def pip_version(python: Path, package: str) -> str:
        if not python.exists():  # a run of --tools curata,bare needs no peer venv
            return "not installed"
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                               f"print(m.version({package!r}))"],
                              capture_output=True, text=True, check=False)
        return done.stdout.strip() or "not installed"

    return {"garak": pip_version(GARAK_PY, "garak"), "pyrit": pip_version(PYRIT_PY, "pyrit"),
            "curata": bl.git_info()["commit"]}


def compare(server: Server, args: argparse.Namespace, tools: list[str]) -> dict[str, Any]:
    texts = prompts(args.attempts)
    WORK.mkdir(parents=True, exist_ok=True)
    prompt_file = WORK / "prompts.txt"
    prompt_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
    ref = ""
    home = WORK / "ws-compare"
    if "curata" in tools:
        ref = make_workspace(home, {"bench": texts})["bench"]
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for run in range(1, args.repeat + 1):
        for tool in tools:
            log = WORK / f"{tool}-run{run}"
            load_1m = round(os.getloadavg()[0], 2)
            cpu0 = server.cpu_s()
            requests0 = time.perf_counter()
            if tool == "curata":
                result = curata_run(home, ref, server.base_url, args, log)
            elif tool == "garak":
                result = garak_run(texts, server.base_url, args, run, log)
            elif tool == "pyrit":
                result = pyrit_run(prompt_file, server.base_url, args, run, log)
            else:
                result = bare_run(server.base_url, args)
            result["server_cpu_s"] = round(server.cpu_s() - cpu0, 2)
            result["run"] = run
            if tool == "curata":  # the checkout is shared: say which code this run used
                result["git"] = bl.git_info()
            result["load_1m_at_start"] = load_1m
            result["of_ideal"] = round(result["attempts_per_s"] / args.ideal, 3)
            runs[tool].append(result)
            print(f"  run {run} {tool:6} {result['attempts_per_s']:7.1f} attempts/s "
                  f"({result['of_ideal']:.0%} of ideal; {result['seconds']:.2f} s timed, "
                  f"{time.perf_counter() - requests0:.1f} s in all; load {load_1m})",
                  flush=True)
    summary = {}
    for tool, tool_runs in runs.items():
        summary[tool] = {
            "median_attempts_per_s": median(tool_runs, "attempts_per_s"),
            "runs_attempts_per_s": [r["attempts_per_s"] for r in tool_runs],
            "median_of_ideal": round((median(tool_runs, "attempts_per_s") or 0) / args.ideal, 3),
            "median_per_s_process": median(tool_runs, "per_s_process"),
            "median_cpu_s": median(tool_runs, "cpu_s"),
        }
        if tool == "garak":
            summary[tool]["median_per_s_send_only"] = median(tool_runs, "per_s_send_only")
    return {"attempts": args.attempts, "summary": summary, "runs": runs}


def print_table(result: dict[str, Any]) -> None:
    ideal = result["ideal_per_s"]
    cmp = result.get("compare")
    if cmp:
        print(f"\n{'tool':8} {'median/s':>9} {'of ideal':>9} {'runs':>24} {'process/s':>10} "
              f"{'CPU s':>7}")
        for tool, s in cmp["summary"].items():
            runs = ", ".join(f"{v:.0f}" for v in s["runs_attempts_per_s"])
            print(f"{tool:8} {s['median_attempts_per_s']:9.1f} {s['median_of_ideal']:9.0%} "
                  f"{runs:>24} {s['median_per_s_process'] or 0:10.1f} "
                  f"{s['median_cpu_s'] or 0:7.1f}")
        cur = cmp["summary"].get("curata")
        if cur:
            goal = 0.9 * ideal
            verdict = "MET" if cur["median_attempts_per_s"] >= goal else "MISSED"
            print(f"goal >= {goal:.0f}/s (90% of ideal {ideal:.0f}/s): {verdict}")
            for peer in ("garak", "pyrit"):
                if peer in cmp["summary"]:
                    ratio = cur["median_attempts_per_s"] / cmp["summary"][peer][
                        "median_attempts_per_s"]
                    print(f"curata / {peer}: {ratio:.1f}x")
    mem = result.get("memory")
    if mem:
        print(f"\nmemory over {mem['stored_attempts']:,} attempts "
              f"({mem['stats'].get('attempts_per_s', '?')} attempts/s):")
        for milestone, point in mem["at"].items():
            print(f"  at {int(milestone):>7,} attempts ({point['t']:6.1f} s): RSS "
                  f"{bl.human_bytes(point['rss_bytes'])}, peak so far "
                  f"{bl.human_bytes(point['peak_rss_so_far_bytes'])}")
        print(f"  peak RSS {bl.human_bytes(mem['peak_rss_bytes'] or 0)} (polled), ru_maxrss "
              f"{bl.human_bytes(mem['ru_maxrss_bytes'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated, in the order each round runs them ({TOOLS})")
    parser.add_argument("--memory-attacks", type=int, default=1000)
    parser.add_argument("--memory-samples", type=int, default=100)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory campaign")
    parser.add_argument("--no-compare", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()
    args.ideal = args.concurrency / (args.latency_ms / 1000.0)
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {sorted(unknown)}")
    info = bl.header("Red team campaigns: throughput vs garak and PyRIT, memory (issue #14)")
    result: dict[str, Any] = {
        "machine": info, "versions": versions(), "latency_ms": args.latency_ms,
        "concurrency": args.concurrency, "ideal_per_s": args.ideal, "load_before": load(),
    }
    print(f"versions: {result['versions']}; ideal {args.ideal:.0f} attempts/s; "
          f"load before: {result['load_before']['uptime']}", flush=True)
    server = Server(args.latency_ms)
    try:
        print(f"scripted server {server.base_url} (latency {args.latency_ms:g} ms)", flush=True)
        if not args.no_compare:
            result["compare"] = compare(server, args, tools)
        if not args.no_memory:
            result["memory"] = memory_run(server, args)
    finally:
        server.stop()
    result["load_after"] = load()
    print(f"load after: {result['load_after']['uptime']}")
    print_table(result)
    RESULT_FILE.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"results: {RESULT_FILE.relative_to(bl.REPO_ROOT)}")
    bl.save_result(NAME, {k: v for k, v in result.items() if k != "machine"})


if __name__ == "__main__":
    main()
