"""Annotation load (issue #3): N concurrent annotators doing next → submit over HTTP.

Curata: a fresh PostgreSQL schema, a workspace made through the Python API (source, ingest of
generated prompt/response records, N annotators with tokens, one project with a ``label``
question and overlap 3), then ``curata serve --workers W`` as a subprocess. Each simulated
annotator is an asyncio task with its own keep-alive ``aiohttp`` session (one connection), looping
``POST /projects/{name}/next`` → ``POST /assignments/{id}/submit`` until it gets 204 or the
time cap. Afterwards the database is counted: every submit answered 201 must exist exactly
once as an annotation, no task may exceed its overlap, no (task, user) pair may appear twice.

Peer (``--peer labelstudio``): Label Studio Community from ``bench/out/ls-venv`` on a fresh
PostgreSQL database, same records, a ``Choices`` a/b/c config, ``maximum_annotations`` = the
overlap, N annotator users with their own tokens (made by ``bench/ls_users.py``), and the same
cycle through ``GET /api/projects/{id}/next/`` → ``POST /api/tasks/{id}/annotations/``, counted
the same way in its ``task_completion`` table.

    .venv/bin/python bench/annotation_load.py --annotators 20 --tasks 300
    .venv/bin/python bench/annotation_load.py --annotators 100 --tasks 2000 --peer labelstudio

The load generator runs on the same machine as the servers and the database, so all of them
share its CPUs; both systems are measured under that same handicap.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psycopg
from sqlalchemy import text

import benchlib

PG = "postgresql://postgres@127.0.0.1:5432/test"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
LABELS = ("a", "b", "c")
WORK = benchlib.OUT_DIR / "annotation-load"
LS_VENV = benchlib.OUT_DIR / "ls-venv"
LS_PASSWORD = "bench-annotator-pw"  # every annotator's, set by bench/ls_users.py
LS_CONFIG = """<View>
  <Text name="text" value="$prompt"/>
  <Text name="response" value="$response"/>
  <Choices name="topic" toName="text" choice="single">
    <Choice value="a"/><Choice value="b"/><Choice value="c"/>
  </Choices>
</View>"""


# -- shared -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 8))) for _ in range(2000)
    ]

    def text(k: int) -> str:
        return " ".join(rng.choices(words, k=k))

    return [{"id": i, "prompt": text(15) + "?", "response": text(40) + "."} for i in range(n)]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}; see {log}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit(f"server not up after {timeout:.0f} s; see {log}")


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End what is left of a process started in its own session (the server py-spy ran:
    its workers would otherwise outlive the run and hold PostgreSQL connections)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_now(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the server's process tree, by every
    PostgreSQL process and by this driver: what one cycle costs, which throughput on a shared
    2-core machine (all three compete for the same cores) shows only through noise."""
    import psutil

    out = {"server": 0.0, "postgres": 0.0, "driver": time.process_time()}
    try:
        root = psutil.Process(root_pid)
        for p in [root, *root.children(recursive=True)]:
            t = p.cpu_times()
            out["server"] += t.user + t.system
    except psutil.Error:
        pass
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "postmaster"):
            try:
                t = p.cpu_times()
                out["postgres"] += t.user + t.system
            except psutil.Error:
                pass
    return out


@dataclass
class Stats:
    next_s: list[float] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    cycle_s: list[float] = field(default_factory=list)
    submitted_ids: list[int] = field(default_factory=list)
    served: list[tuple[Any, float]] = field(default_factory=list)  # (item, next latency)
    errors: Counter[str] = field(default_factory=Counter)
    finished: int = 0  # annotators that were told nothing is left


@dataclass
class Reply:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """One annotator's keep-alive connection (aiohttp: the load generator shares the CPUs with
    the server and the database, and aiohttp costs about a third of httpx's CPU per request,
    measured; both systems are driven by the same client)."""

    def __init__(self, base: str, authorization: str) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base,
            headers={"Authorization": authorization},
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=120),
        )

    reconnects = 0
    """Requests sent again because the server had closed the idle connection as they left
    (both calls are safe to repeat: next resumes the held lease, a submit retried with the
    same answers is a no-op in both systems)."""

    async def _send(self, method: str, path: str, body: Any) -> Reply:
        for attempt in (1, 2):
            try:
                async with self._session.request(method, path, json=body) as resp:
                    return Reply(resp.status, await resp.read())
            except aiohttp.ServerDisconnectedError:
                if attempt == 2:
                    raise
                Http.reconnects += 1
        raise AssertionError("unreachable")

    async def get(self, path: str) -> Reply:
        return await self._send("GET", path, None)

    async def post(self, path: str, json: Any = None) -> Reply:
        return await self._send("POST", path, json)

    async def aclose(self) -> None:
        await self._session.close()


class Client:
    """One system's next/submit calls; ``next`` returns an item key or None when empty."""

    async def next(self, http: Http) -> Any: ...  # pragma: no cover

    async def submit(self, http: Http, item: Any, label: str) -> int | None: ...  # pragma: no cover


async def annotator(
    http: Http,
    client: Client,
    deadline: float,
    stats: Stats,
    seed: int,
    think: float = 0.0,
) -> None:
    """One annotator's loop. With ``think`` > 0 it reads and labels each item for an
    exponentially distributed time of that mean (seconds) before submitting, and starts at a
    uniformly random moment within the first ``think`` seconds (people do not all log in at
    the same millisecond); latencies never include the think time."""
    rng = random.Random(seed)
    if think > 0:
        await asyncio.sleep(rng.uniform(0, think))
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            item = await client.next(http)
        except (_Err, aiohttp.ClientError) as exc:
            stats.errors[f"next {exc}"] += 1
            continue
        t1 = time.perf_counter()
        if item is None:
            stats.finished += 1
            return
        stats.next_s.append(t1 - t0)
        stats.served.append((item, t1 - t0))
        if think > 0:
            await asyncio.sleep(rng.expovariate(1 / think))
            t1 = time.perf_counter()
        try:
            ann_id = await client.submit(http, item, rng.choice(LABELS))
        except (_Err, aiohttp.ClientError) as exc:
            stats.errors[f"submit {exc}"] += 1
            continue
        t2 = time.perf_counter()
        stats.submit_s.append(t2 - t1)
        stats.cycle_s.append(stats.next_s[-1] + t2 - t1)  # next + submit, without think time
        if ann_id is not None:
            stats.submitted_ids.append(ann_id)


class _Err(Exception):
    pass


def _check(resp: httpx.Response | Reply, ok: int) -> dict[str, Any]:
    if resp.status_code != ok:
        raise _Err(f"HTTP {resp.status_code}")
    return resp.json()


async def drive(
    base: str, tokens: list[str], client: Client, seconds: float, think: float = 0.0
) -> tuple[Stats, float]:
    stats = Stats()
    Http.reconnects = 0
    https = [Http(base, f"{client.scheme} {t}") for t in tokens]  # type: ignore[attr-defined]
    start = time.perf_counter()
    deadline = start + seconds
    try:
        await asyncio.gather(
            *(annotator(h, client, deadline, stats, i, think) for i, h in enumerate(https))
        )
    finally:
        elapsed = time.perf_counter() - start
        await asyncio.gather(*(h.aclose() for h in https))
    return stats, elapsed


def summarise(stats: Stats, elapsed: float, count: dict[str, Any]) -> dict[str, Any]:
    cycles = len(stats.cycle_s)
    return {
        "cycles": cycles,
        "elapsed_s": elapsed,
        "cycles_per_s": cycles / elapsed if elapsed else 0.0,
        "annotators_finished": stats.finished,
        "errors": dict(stats.errors),
        "next": benchlib.latency_summary(stats.next_s) if stats.next_s else {},
        "submit": benchlib.latency_summary(stats.submit_s) if stats.submit_s else {},
        "cycle": benchlib.latency_summary(stats.cycle_s) if stats.cycle_s else {},
        "reconnects": Http.reconnects,
        "count": count,
    }


def integrity(
    returned: list[int],
    rows: list[tuple[int, int, int]],
    overlap: int,
    exempt: set[int] | frozenset[int] = frozenset(),
    copies: set[int] | frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """``rows``: (annotation id, task id, user id) of every stored annotation; tasks in
    ``exempt`` (hidden gold, which every annotator may get) have no overlap to keep;
    ``copies`` are live annotations the queue copied from a gold answer (no 201 of their own)."""
    ids = Counter(r[0] for r in rows)
    ret = Counter(returned)
    per_task = Counter(r[1] for r in rows if r[1] not in exempt)
    pairs = Counter((r[1], r[2]) for r in rows)
    return {
        "submits_201": len(returned),
        "annotations_stored": len(rows),
        "lost": sum(1 for i in ret if i not in ids),
        "duplicated_ids_returned": sum(c - 1 for c in ret.values() if c > 1),
        "stored_without_201": sum(1 for i in ids if i not in ret and i not in copies),
        "copied_from_gold": len(copies),
        "tasks_over_overlap": sum(1 for c in per_task.values() if c > overlap),
        "duplicate_task_user_pairs": sum(c - 1 for c in pairs.values() if c > 1),
        "tasks_complete": sum(1 for c in per_task.values() if c == overlap),
        "annotations_on_gold": sum(1 for r in rows if r[1] in exempt),
    }


# -- Curata -----------------------------------------------------------------------------------


class CurataClient(Client):
    scheme = "Bearer"

    def __init__(self, project: str) -> None:
        self.project = project

    async def next(self, http: Http) -> Any:
        resp = await http.post(f"/api/v1/projects/{self.project}/next")
        if resp.status_code == 204:
            return None
        return _check(resp, 200)["assignment_id"]

    async def submit(self, http: Http, item: Any, label: str) -> int | None:
        body = {"answers": {"topic": label}, "duration_ms": 500}
        resp = await http.post(f"/api/v1/assignments/{item}/submit", json=body)
        return int(_check(resp, 201)["annotation_id"])


def build_workspace(
    home: Path, url: str, data: Path, annotators: int, overlap: int
) -> tuple[Any, list[str]]:
    """The fixture both Curata scripts use: the generated records as ``chat@1``, annotators
    ``ann000``…, and project ``load`` with one ``label`` question. Returns (workspace, users)."""
    from curata.workspace import Workspace

    ws = Workspace.create(home, database_url=url, user="bench")
    ws.sources.add("gen", kind="synthetic", license="CC0-1.0", origin="bench://generated")
    ws.ingest([data], source="gen", dataset="chat", key="id", message="load test")
    users = [f"ann{i:03d}" for i in range(annotators)]
    for u in users:
        ws.workforce.add_user(u, role="annotator")
    ws.projects.create(
        "load",
        version="chat@1",
        schema={"questions": [{"type": "label", "name": "topic", "labels": list(LABELS)}]},
        overlap=overlap,
        members=users,
    )
    return ws, users


def run_curata(args: Any, data: Path, overlap: int) -> dict[str, Any]:

    schema = f"bench_ann_{os.getpid()}"
    home = WORK / "curata-home"
    shutil.rmtree(home, ignore_errors=True)
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    proc = None
    try:
        t0 = time.perf_counter()
        ws, users = build_workspace(home, url, data, args.annotators, overlap)
        try:
            tokens = [ws.workforce.issue_token(u) for u in users]
            if args.gold_share > 0:  # hidden gold: 5% of the records, answered "a"
                ids = [i for batch in ws.datasets.iter_records("chat@1") for i, _ in batch]
                gold = [(i, {"topic": "a"}) for i in ids[: max(1, len(ids) // 20)]]
                ws.projects.gold.add_items("load", gold)
                with ws.engine.begin() as conn:
                    conn.execute(
                        text("UPDATE projects SET gold_share = :g"), {"g": args.gold_share}
                    )
        finally:
            ws.close()
        setup_s = time.perf_counter() - t0
        port = free_port()
        log = WORK / "curata-serve.log"
        cmd = [
            str(benchlib.REPO_ROOT / ".venv/bin/curata"), "--home", str(home), "serve",
            "--port", str(port), "--workers", str(args.workers),
        ]  # fmt: skip
        if args.profile:  # sample the server with py-spy (collapsed stacks, subprocesses too)
            cmd = [str(benchlib.REPO_ROOT / ".venv/bin/py-spy"), "record", "--subprocesses",
                   "--rate", "200", "--nonblocking", "--gil", "--format", "raw",
                   "-o", str(args.profile), "--", *cmd]  # fmt: skip
        with log.open("wb") as f:
            # a session of its own: stop() ends the whole group, py-spy's child server included
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        start_s = wait_http(f"http://127.0.0.1:{port}/health", proc, 120, log)
        print(f"curata: setup {setup_s:.1f} s, server up in {start_s:.1f} s "
              f"({args.workers} workers, port {port}); driving {args.annotators} annotators ...",
              flush=True)  # fmt: skip
        cpu_before = cpu_now(proc.pid)
        stats, elapsed = asyncio.run(
            drive(
                f"http://127.0.0.1:{port}", tokens, CurataClient("load"), args.seconds, args.think
            )
        )
        cpu_after = cpu_now(proc.pid)
        cycles_done = max(1, len(stats.cycle_s))
        cpu_ms = {k: 1000 * (cpu_after[k] - cpu_before[k]) / cycles_done for k in cpu_after}
        print("curata: CPU per cycle " + ", ".join(f"{k} {v:.1f} ms" for k, v in cpu_ms.items()),
              flush=True)  # fmt: skip
        if args.profile:  # py-spy writes its file on SIGINT; then the server it ran goes too
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            stop_group(proc)
        stop(proc)
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {schema}")
            rows = conn.execute("SELECT id, task_id, user_id FROM annotations").fetchall()
            over_assigned = conn.execute(  # gold items go to everyone: overlap is for live ones
                "SELECT count(*) FROM tasks WHERE kind = 'live' AND assigned > %s", (overlap,)
            ).fetchone()
            gold_tasks = {
                r[0] for r in conn.execute("SELECT id FROM tasks WHERE kind <> 'live'").fetchall()
            }
            dup_assign = conn.execute(
                "SELECT count(*) FROM (SELECT task_id, user_id FROM assignments "
                "GROUP BY task_id, user_id HAVING count(*) > 1) d"
            ).fetchone()
            copies = {
                r[0]
                for r in conn.execute(
                    "SELECT n.id FROM annotations n JOIN assignments a ON a.id = n.assignment_id "
                    "WHERE a.copied_from IS NOT NULL"
                ).fetchall()
            }
            served_twice = conn.execute(  # one annotator, one record, two leases (#12)
                "SELECT count(*) FROM (SELECT a.user_id, t.record_id FROM assignments a "
                "JOIN tasks t ON t.id = a.task_id WHERE a.copied_from IS NULL "
                "GROUP BY a.user_id, t.record_id HAVING count(*) > 1) d"
            ).fetchone()
            kinds = dict(
                conn.execute(
                    "SELECT a.id, t.kind FROM assignments a JOIN tasks t ON t.id = a.task_id"
                ).fetchall()
            )
        count = integrity(stats.submitted_ids, rows, overlap, exempt=gold_tasks, copies=copies)
        count["records_served_twice"] = served_twice[0] if served_twice else None
        count["tasks_assigned_over_overlap"] = over_assigned[0] if over_assigned else None
        count["duplicate_assignments"] = dup_assign[0] if dup_assign else None
        out = summarise(stats, elapsed, count)
        out.update(setup_s=setup_s, server=f"curata serve --workers {args.workers}")
        out["cpu_ms_per_cycle"] = cpu_ms
        by_kind: dict[str, list[float]] = {}
        for item, seconds in stats.served:
            by_kind.setdefault(kinds.get(item, "?"), []).append(seconds)
        out["next_by_kind"] = {k: benchlib.latency_summary(v) for k, v in by_kind.items()}
        return out
    finally:
        if proc is not None:
            stop(proc)
        if not args.keep:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# -- Label Studio -----------------------------------------------------------------------------


class LabelStudioClient(Client):
    scheme = "Token"

    def __init__(self, project_id: int) -> None:
        self.pid = project_id

    async def next(self, http: Http) -> Any:
        resp = await http.get(f"/api/projects/{self.pid}/next/")
        if resp.status_code == 404:
            return None
        return _check(resp, 200)["id"]

    async def submit(self, http: Http, item: Any, label: str) -> int | None:
        body = {
            "result": [{
                "from_name": "topic", "to_name": "text", "type": "choices",
                "value": {"choices": [label]},
            }],
            "lead_time": 0.5,
            "project": self.pid,
        }  # fmt: skip
        resp = await http.post(f"/api/tasks/{item}/annotations/", json=body)
        return int(_check(resp, 201)["id"])


def ls_env(db: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_DB="default",
        POSTGRE_NAME=db,
        POSTGRE_USER="postgres",
        POSTGRE_PASSWORD="",
        POSTGRE_HOST="127.0.0.1",
        POSTGRE_PORT="5432",
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        COLLECT_ANALYTICS="false",
        PATH=f"{LS_VENV / 'bin'}:{env.get('PATH', '')}",
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def ls_start_command(port: int, data_dir: Path, admin_token: str) -> list[str]:
    """``label-studio start`` on 127.0.0.1:``port`` with an admin (admin@bench.local) holding
    ``admin_token``; its first start migrates the database named in the environment."""
    return [
        str(LS_VENV / "bin/label-studio"), "start", "--no-browser", "--port", str(port),
        "--host", "127.0.0.1", "--username", "admin@bench.local",
        "--password", "bench-admin-pw", "--user-token", admin_token,
        "--enable-legacy-api-token", "--data-dir", str(data_dir), "--log-level", "WARNING",
    ]  # fmt: skip


def ls_users(env: dict[str, str], n: int) -> dict[str, str]:
    """``n`` Label Studio annotators ``ann000@bench.local`` ... (password ``LS_PASSWORD``):
    their emails and API tokens, made by ``bench/ls_users.py`` in the server's database."""
    users = subprocess.run(
        [str(LS_VENV / "bin/python"), str(benchlib.BENCH_DIR / "ls_users.py"), str(n)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if users.returncode != 0:
        sys.exit(f"ls_users.py failed:\n{users.stderr[-3000:]}")
    return dict(json.loads(users.stdout.strip().splitlines()[-1]))


def _ls_package_dir() -> Path:
    found = sorted(LS_VENV.glob("lib/python3*/site-packages/label_studio"))
    if not found:
        sys.exit(f"Label Studio is not installed in {LS_VENV}")
    return found[0]


def run_ls(args: Any, recs: list[dict[str, Any]], overlap: int) -> dict[str, Any]:
    db = f"ls_bench_{os.getpid()}"
    data_dir = WORK / "ls-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")
    env = ls_env(db, data_dir)
    admin_token = "benchadmintoken0123456789abcdef01234567"
    port = free_port()
    log = WORK / "ls-serve.log"
    proc = None
    try:
        t0 = time.perf_counter()
        init = ls_start_command(port, data_dir, admin_token)
        with log.open("wb") as f:
            proc = subprocess.Popen(init, stdout=f, stderr=subprocess.STDOUT, env=env)
        start_s = wait_http(f"http://127.0.0.1:{port}/health", proc, 600, log)
        if args.ls_server == "gunicorn":  # first start migrated and made the admin; now serve
            stop(proc)
            cmd = [
                str(LS_VENV / "bin/gunicorn"), "core.wsgi:application",
                "--chdir", str(_ls_package_dir()), "--bind", f"127.0.0.1:{port}",
                "--workers", str(args.workers), "--threads", "16", "--worker-class", "gthread",
                "--timeout", "300",
            ]  # fmt: skip
            wsgi_env = {**env, "DJANGO_SETTINGS_MODULE": "core.settings.label_studio"}
            with log.open("ab") as f:
                proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=wsgi_env)
            start_s += wait_http(f"http://127.0.0.1:{port}/health", proc, 120, log)
        base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": f"Token {admin_token}"}
        with httpx.Client(base_url=base, headers=admin, timeout=300) as http:
            project = http.post(
                "/api/projects/",
                json={"title": "load", "label_config": LS_CONFIG, "maximum_annotations": 1},
            )
            pid = int(_check(project, 201)["id"])
            tasks = [
                {"prompt": r["prompt"], "response": r["response"], "rid": r["id"]} for r in recs
            ]
            _check(http.post(f"/api/projects/{pid}/import", json=tasks), 201)
            patch = {"maximum_annotations": overlap, "overlap_cohort_percentage": 100}
            _check(http.patch(f"/api/projects/{pid}/", json=patch), 200)
        tokens = list(ls_users(env, args.annotators).values())
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{db}", autocommit=True) as conn:
            overlaps = dict(
                conn.execute(
                    "SELECT overlap, count(*) FROM task WHERE project_id = %s GROUP BY overlap",
                    (pid,),
                ).fetchall()
            )
        setup_s = time.perf_counter() - t0
        print(f"label studio: setup {setup_s:.1f} s (server up in {start_s:.1f} s, "
              f"{args.ls_server}), task overlap {overlaps}; driving {args.annotators} "
              "annotators ...", flush=True)  # fmt: skip
        stats, elapsed = asyncio.run(
            drive(base, tokens, LabelStudioClient(pid), args.seconds, args.think)
        )
        stop(proc)
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{db}", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT id, task_id, completed_by_id FROM task_completion WHERE project_id = %s",
                (pid,),
            ).fetchall()
        count = integrity(stats.submitted_ids, rows, overlap)
        count["task_overlap_setting"] = {str(k): v for k, v in overlaps.items()}
        out = summarise(stats, elapsed, count)
        server = (
            "label-studio start (Django runserver, one process)"
            if args.ls_server == "start"
            else f"gunicorn core.wsgi --workers {args.workers} --threads 16"
        )
        out.update(setup_s=setup_s, server=server)
        return out
    finally:
        if proc is not None:
            stop(proc)
        if not args.keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


# -- main -------------------------------------------------------------------------------------


def show(name: str, r: dict[str, Any]) -> None:
    print(f"\n{name}: {r['cycles']} cycles in {r['elapsed_s']:.1f} s = "
          f"{r['cycles_per_s']:.1f} cycles/s; {r['annotators_finished']} annotators finished; "
          f"errors {r['errors'] or 'none'}")  # fmt: skip
    for kind in ("next", "submit", "cycle"):
        s = r[kind]
        if s:
            print(f"  {kind:<7} p50 {s['p50_ms']:8.1f} ms  p95 {s['p95_ms']:8.1f} ms  "
                  f"p99 {s['p99_ms']:8.1f} ms  max {s['max_ms']:8.1f} ms  n={s['n']}")  # fmt: skip
    for kind, s in sorted((r.get("next_by_kind") or {}).items()):
        print(f"  next of {kind} items: p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  "
              f"p99 {s['p99_ms']:.1f} ms  n={s['n']}")  # fmt: skip
    print(f"  count   {r['count']}")


def main() -> None:
    p = benchlib.parser(__doc__.split("\n", 1)[0])
    p.add_argument("--annotators", type=int, default=100)
    p.add_argument("--tasks", type=int, default=2000)
    p.add_argument("--overlap", type=int, default=3)
    p.add_argument("--seconds", type=float, default=300, help="time cap of each load phase")
    p.add_argument("--workers", type=int, default=2, help="server worker processes")
    p.add_argument("--peer", choices=["labelstudio", "none"], default="labelstudio")
    p.add_argument("--ls-server", choices=["start", "gunicorn"], default="start")
    p.add_argument("--only-peer", action="store_true", help="skip Curata")
    p.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds an annotator spends on an item (0: closed loop, no pause)",
    )
    p.add_argument(
        "--gold-share",
        type=float,
        default=0.0,
        help="share of served items that are hidden gold (5%% of records are gold)",
    )
    p.add_argument("--profile", type=Path, help="py-spy the Curata server into this file")
    p.add_argument("--keep", action="store_true", help="keep the database schema/database")
    args = p.parse_args()
    info = benchlib.header("Annotation load (issue #3)")
    WORK.mkdir(parents=True, exist_ok=True)
    recs = records(args.tasks, args.seed)
    data = WORK / f"records-{args.tasks}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    result: dict[str, Any] = {
        "machine": info,
        "command": " ".join(["python", *sys.argv]),
        "annotators": args.annotators,
        "tasks": args.tasks,
        "overlap": args.overlap,
        "seconds_cap": args.seconds,
        "think_s": args.think,
        "gold_share": args.gold_share,
    }
    if not args.only_peer:
        result["curata"] = run_curata(args, data, args.overlap)
        show("Curata", result["curata"])
    if args.peer == "labelstudio":
        result["labelstudio"] = run_ls(args, recs, args.overlap)
        show("Label Studio", result["labelstudio"])
    if "curata" in result and "labelstudio" in result:
        ls_rate = result["labelstudio"]["cycles_per_s"]
        result["throughput_ratio"] = result["curata"]["cycles_per_s"] / ls_rate if ls_rate else None
        print(f"\nthroughput ratio Curata / Label Studio: {result['throughput_ratio']:.2f}x")
    suffix = "" if args.ls_server == "start" else f"-{args.ls_server}"
    suffix += "" if args.workers == 2 else f"-w{args.workers}"
    suffix += f"-think{args.think:g}" if args.think else ""
    benchlib.save_result(f"annotation_load-{args.annotators}x{args.tasks}{suffix}", result)
    if args.clean:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
