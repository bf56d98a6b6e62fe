"""Web application (issue #15): page server time on a 10,000-task project, and annotators
labelling in a real browser with the keyboard.

One run, on PostgreSQL (a fresh schema), against ``curata serve`` in its own process:

1. **Setup** through the Python API: ``--tasks`` generated prompt/response records, project
   ``pages`` (a ``label`` and a ``text`` question, overlap 2, every annotation reviewed),
   ``--annotators`` annotators in two cohorts, a reviewer and a lead; ``--seeded`` items are
   annotated twice beforehand (so the dashboard and the review page have data to show).
2. **Server time** of the main pages: each page is fetched ``--fetches`` times by its user (after
   3 warm-up fetches) and the server's own ``Server-Timing: app;dur=`` is read (goal < 200 ms);
   the client's round trip is reported beside it.
3. **Browser**: ``--browsers`` annotators sign in to Debian's Chromium (Playwright, headless, one
   context each, all at once) and label with the keyboard alone (``1`` picks the first label,
   Enter submits) for ``--seconds`` each; the time from Enter to the next item shown (the form
   holding another lease: the page swaps it in without a page load) is each cycle's latency
   in the browser (goal p95 < 150 ms), and the server's own time for the
   two requests of a cycle (the submit, the next item's page) is read from their
   ``Server-Timing``. The machine's and the server's CPU seconds say who was busy: with many
   browsers on few cores, Chromium's own rendering is most of it.
4. **Peer** (``--peer labelstudio``, the default when ``bench/out/ls-venv`` holds Label Studio):
   after Curata's server is stopped, Label Studio Community (``label-studio start``, its own
   fresh PostgreSQL database) gets the same generated records (overlap 2) and the same number of
   annotators; as many browsers sign in with email and password, open the project's labelling
   stream (``/projects/{id}/data?labeling=1``), press ``1`` (its hotkey for the first choice)
   and Ctrl+Enter (submit), and the time from Ctrl+Enter to the next task's text shown in place
   of the last one is each cycle's latency. Requests to other hosts (its error reporting) are
   refused in both browsers' contexts, as nothing outside this machine is reachable.

    .venv/bin/python bench/web_pages.py                       # 10,000 tasks, 20 browsers
    .venv/bin/python bench/web_pages.py --tasks 500 --browsers 4 --seconds 10   # a quick look

The load generator, Chromium, the server and PostgreSQL share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

import benchlib
from annotation_load import (
    LS_CONFIG,
    LS_PASSWORD,
    LS_VENV,
    PG,
    PG_ADMIN,
    free_port,
    ls_env,
    ls_start_command,
    ls_users,
    records,
    stop,
    wait_http,
)

NAME = "web_pages"
WORK = benchlib.OUT_DIR / "web-pages"
PROJECT = "pages"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCHEMA = {
    "questions": [
        {"type": "label", "name": "topic", "labels": ["a", "b", "c"]},
        {"type": "text", "name": "note"},
    ]
}


def build(home: Path, url: str, args: Any) -> dict[str, str]:
    """The workspace; returns every user's API token."""
    from curata.workspace import Workspace

    data = WORK / "records.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records(args.tasks, 7)), "utf-8")
    ws = Workspace.create(home, database_url=url, user="bench")
    try:
        ws.sources.add("gen", kind="synthetic", license="CC0-1.0", origin="bench://generated")
        ws.ingest([data], source="gen", dataset="chat", key="id", message="page benchmark")
        annotators = [f"ann{i:03d}" for i in range(args.annotators)]
        for i, name in enumerate(annotators):
            ws.workforce.add_user(name, role="annotator", cohorts=[f"wave-{i % 2 + 1}"])
        ws.workforce.add_user("rev", role="reviewer")
        ws.workforce.add_user("boss", role="lead")
        ws.projects.create(
            PROJECT,
            version="chat@1",
            schema=SCHEMA,
            overlap=2,
            members=[*annotators, "rev", "boss"],
            review={"mode": "all"},
            owner="boss",
        )
        started = time.perf_counter()
        done = 0
        for n in range(args.seeded * 2):  # two annotations of each seeded item
            name = annotators[n % len(annotators)]
            task = ws.queue.next_task(PROJECT, name)
            if task is None:
                continue
            ws.queue.submit(
                task.assignment_id,
                name,
                {"topic": "abc"[n % 3 if n % 5 else 0], "note": f"seed {n}"},
            )
            done += 1
        print(f"seeded {done} annotations in {time.perf_counter() - started:.1f} s", flush=True)
        return {u: ws.workforce.issue_token(u) for u in [*annotators, "rev", "boss"]}
    finally:
        ws.close()


def signed_in(base: str, name: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    if nonce is None:
        raise RuntimeError("the sign-in page has no nonce")
    done = client.post("/login", data={"name": name, "token": token, "nonce": nonce.group(1)})
    if done.status_code != 303:
        raise RuntimeError(f"sign-in as {name} answered {done.status_code}")
    return client


def server_times(base: str, tokens: dict[str, str], fetches: int) -> dict[str, Any]:
    pages = {
        "home": ("boss", "/"),
        "dashboard": ("boss", f"/projects/{PROJECT}/dashboard"),
        "review": ("rev", f"/projects/{PROJECT}/review"),
        "annotate": ("ann000", f"/projects/{PROJECT}/annotate"),
        "admin": ("boss", f"/projects/{PROJECT}/admin"),
    }
    out: dict[str, Any] = {}
    for page, (user, path) in pages.items():
        client = signed_in(base, user, tokens[user])
        try:
            first = client.get(path)
            first_found = re.search(r"app;dur=([\d.]+)", first.headers.get("server-timing", ""))
            if first.status_code != 200:
                out[page] = {"status": first.status_code}
                print(f"  {page:10s} {path}: HTTP {first.status_code} (left out)", flush=True)
                continue
            for _ in range(2):
                client.get(path)
            server, wall = [], []
            for _ in range(fetches):
                t0 = time.perf_counter()
                answer = client.get(path)
                wall.append(time.perf_counter() - t0)
                found = re.search(r"app;dur=([\d.]+)", answer.headers.get("server-timing", ""))
                if answer.status_code != 200 or found is None:
                    raise RuntimeError(f"{path}: HTTP {answer.status_code}, no Server-Timing")
                server.append(float(found.group(1)) / 1000.0)
            out[page] = {
                "path": path,
                "user": user,
                "bytes": len(answer.content),
                "first_view_ms": float(first_found.group(1)) if first_found else None,
                "server_ms": _ms(benchlib.latency_summary(server)),
                "round_trip_ms": _ms(benchlib.latency_summary(wall)),
            }
            s = out[page]["server_ms"]
            print(
                f"  {page:10s} server p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms  "
                f"first view {out[page]['first_view_ms']} ms ({out[page]['bytes']:,} bytes)",
                flush=True,
            )
        finally:
            client.close()
    return out


def _ms(summary: dict[str, float]) -> dict[str, float]:
    """benchlib's summary (already in ms) as ``p50``, ``p95``, ... rounded to 0.1 ms."""
    return {k.removesuffix("_ms"): round(v, 1) if k != "n" else v for k, v in summary.items()}


async def think(rng: random.Random, mean: float) -> None:
    """An annotator's time reading the next item before answering: uniform in 0.5 to 1.5 times the
    mean (a fixed pause would keep every browser in step), none when the mean is 0."""
    if mean > 0:
        await asyncio.sleep(rng.uniform(0.5 * mean, 1.5 * mean))


async def browsers(base: str, tokens: dict[str, str], args: Any, server_pid: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    names = [f"ann{i:03d}" for i in range(args.browsers)]
    cycles: list[float] = []
    server: list[float] = []  # per cycle: the submit's and the next page's Server-Timing
    when: list[float] = []  # per cycle: when it started, seconds into the labelling
    # Chromium starting twenty renderers saturates 2 cores for tens of seconds: no one labels
    # until every browser has signed in and shows its first item
    started = asyncio.Barrier(args.browsers)
    began = [0.0]
    per_cycle: list[float | None] = []  # per cycle: the server's own ms, where it said
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )

        async def annotator(name: str) -> int:
            context = await browser.new_context(
                base_url=base, viewport={"width": 1280, "height": 800}
            )
            page = await context.new_page()
            page.on("dialog", lambda d: errors.append(f"{name}: dialog {d.message}"))
            await page.goto("/login")
            await page.fill("#name", name)
            await page.fill("#token", tokens[name])
            async with page.expect_navigation():
                await page.press("#token", "Enter")
            await page.goto(f"/projects/{PROJECT}/annotate")
            await started.wait()  # every browser is up: labelling starts together
            began[0] = began[0] or time.perf_counter()
            timings: list[float] = []

            async def on_response(response: Any) -> None:
                if f"/projects/{PROJECT}/annotate" in response.url:
                    header = await response.header_value("server-timing") or ""
                    found = re.search(r"app;dur=([\d.]+)", header)
                    if found:
                        timings.append(float(found.group(1)))

            page.on("response", on_response)
            rng = random.Random(name)
            await think(rng, args.think)  # the first item is read too (no burst at the start)
            done = 0
            stop_at = time.perf_counter() + args.seconds  # from this annotator's first item
            while time.perf_counter() < stop_at:
                if await page.get_by_test_id("annotate-form").count() == 0:
                    break  # nothing left
                await page.locator("body").focus()
                await page.keyboard.press("1")
                held = await page.get_attribute("#main input[name=assignment_id]", "value")
                t0 = time.perf_counter()
                timings.clear()
                await page.keyboard.press("Enter")
                # the next item is in when the form holds another lease (the page swaps it in
                # place, or loads it without JavaScript) or nothing is left
                await page.wait_for_function(
                    "(held) => { const f = document.querySelector("
                    "'#main input[name=assignment_id]'); return !f || f.value !== held; }",
                    arg=held,
                    polling="raf",
                )
                cycles.append(time.perf_counter() - t0)
                when.append(t0 - began[0])
                await asyncio.sleep(0)  # the response handlers have run
                if timings:  # the POST, which answers with the next item (before c44a06f:
                    # a 303, then the GET of the next item: both counted)
                    server.append(sum(timings[:2]) / 1000.0)
                per_cycle.append(sum(timings[:2]) if timings else None)
                done += 1
                await think(rng, args.think)
            await context.close()
            return done

        counts, elapsed, busy, server_cpu = await _measured(
            (annotator(n) for n in names), server_pid
        )
        await browser.close()
    summary = _ms(benchlib.latency_summary(cycles)) if cycles else {}
    on_server = _ms(benchlib.latency_summary(server)) if server else {}
    print(
        f"  {len(names)} browsers: {sum(counts)} items in {elapsed:.1f} s; submit→next "
        f"in the browser p50 {summary.get('p50', 0):.1f} ms  p95 {summary.get('p95', 0):.1f} "
        f"ms; on the server (submit + next page) p50 {on_server.get('p50', 0):.1f} ms  "
        f"p95 {on_server.get('p95', 0):.1f} ms; CPU busy {busy:.0f} s of "
        f"{elapsed * psutil.cpu_count():.0f} s, the server {server_cpu:.0f} s",
        flush=True,
    )
    return {
        "browsers": len(names),
        "think_s": args.think,
        "items": sum(counts),
        "seconds": round(elapsed, 1),
        "submit_to_next_ms": summary,
        "server_submit_and_next_ms": on_server,
        "cpu_busy_s": round(busy, 1),
        "cpu_available_s": round(elapsed * psutil.cpu_count(), 1),
        "server_cpu_s": round(server_cpu, 1),
        "dialogs": errors,
        # the ten slowest cycles: when they started (s into the phase), how long they took
        # in the browser and on the server (ms)
        "slowest": sorted(
            (
                (round(w, 1), round(c * 1000, 1), m)
                for w, c, m in zip(when, cycles, per_cycle, strict=True)
            ),
            key=lambda x: -x[1],
        )[:10],
    }


LS_TEXT = ".lsf-htx-richtext .lsf-richtext__line"  # the first line of the first <Text>


def label_studio(args: Any) -> dict[str, Any]:
    """Label Studio on a fresh database, the same records, and ``--browsers`` annotators
    labelling in its UI with the keyboard; the same measurement as Curata's browsers."""
    db = f"ls_web_{os.getpid()}"
    data_dir = WORK / "ls-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db}")
    env = ls_env(db, data_dir)
    admin_token = "benchadmintoken0123456789abcdef01234567"
    port = free_port()
    log = WORK / "ls-serve.log"
    proc = None
    try:
        t0 = time.perf_counter()
        with log.open("wb") as f:
            proc = subprocess.Popen(
                ls_start_command(port, data_dir, admin_token),
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_http(f"http://127.0.0.1:{port}/health", proc, 600, log)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Token {admin_token}"}, timeout=600
        ) as http:
            made = http.post(
                "/api/projects/",
                json={"title": PROJECT, "label_config": LS_CONFIG, "maximum_annotations": 1},
            )
            made.raise_for_status()
            pid = int(made.json()["id"])
            tasks = [
                {"prompt": r["prompt"], "response": r["response"], "rid": r["id"]}
                for r in records(args.tasks, 7)
            ]
            http.post(f"/api/projects/{pid}/import", json=tasks).raise_for_status()
            http.patch(
                f"/api/projects/{pid}/",
                json={"maximum_annotations": 2, "overlap_cohort_percentage": 100},
            ).raise_for_status()
        emails = list(ls_users(env, args.browsers))
        print(
            f"  label studio: {args.tasks:,} tasks, {len(emails)} annotators, set up in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        out = asyncio.run(ls_browsers(base, pid, emails, args, proc.pid))
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{db}") as conn:
            stored, chose_a = conn.execute(
                'SELECT count(*), count(*) FILTER (WHERE result::text LIKE \'%%"choices": '
                '["a"]%%\') FROM task_completion WHERE project_id = %s',
                (pid,),
            ).fetchone()
        out.update(
            annotations_stored=stored,
            annotations_choosing_a=chose_a,
            server="label-studio start (Django runserver, one process)",
        )
        print(
            f"  label studio stored {stored} annotations, {chose_a} of them choosing 'a'",
            flush=True,
        )
        return out
    finally:
        if proc is not None:
            stop(proc)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


async def ls_browsers(
    base: str, pid: int, emails: list[str], args: Any, server_pid: int
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    cycles: list[float] = []
    requests: list[int] = []  # per cycle: requests to the server
    started = asyncio.Barrier(len(emails))  # as for Curata: labelling starts together
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )

        async def annotator(email: str) -> int:
            context = await browser.new_context(
                base_url=base, viewport={"width": 1280, "height": 800}
            )
            context.set_default_timeout(600_000)  # 20 LS apps starting on 2 cores
            await context.route(lambda url: not url.startswith(base), lambda route: route.abort())
            page = await context.new_page()
            page.on("dialog", lambda d: errors.append(f"{email}: dialog {d.message}"))
            sent = [0]
            page.on(
                "request",
                lambda r: sent.__setitem__(0, sent[0] + 1) if r.url.startswith(base) else None,
            )
            await page.goto("/user/login/")
            await page.fill("input[name=email]", email)
            await page.fill("input[name=password]", LS_PASSWORD)
            async with page.expect_navigation():
                await page.press("input[name=password]", "Enter")
            await page.goto(f"/projects/{pid}/data?labeling=1")
            text = page.locator(LS_TEXT).first
            await text.wait_for()
            await page.get_by_test_id("bottombar-submit-button").wait_for()
            await started.wait()  # every browser is up: labelling starts together
            rng = random.Random(email)
            await think(rng, args.think)  # the first item is read too (no burst at the start)
            done = 0
            stop_at = time.perf_counter() + args.seconds  # from this annotator's first item
            while time.perf_counter() < stop_at:
                held = await text.text_content()
                await page.keyboard.press("1")
                sent[0] = 0
                t0 = time.perf_counter()
                await page.keyboard.press("Control+Enter")
                try:  # the next task is in when the first line shows another text
                    await page.wait_for_function(
                        "([sel, held]) => { const t = document.querySelector(sel); "
                        "return t && t.textContent && t.textContent !== held; }",
                        arg=[LS_TEXT, held],
                        polling="raf",
                        timeout=60_000,
                    )
                except Exception as exc:  # nothing left, or it stuck
                    errors.append(f"{email}: no next task ({type(exc).__name__})")
                    break
                cycles.append(time.perf_counter() - t0)
                requests.append(sent[0])
                done += 1
                await think(rng, args.think)
            await context.close()
            return done

        counts, elapsed, busy, server_cpu = await _measured(
            (annotator(e) for e in emails), server_pid
        )
        await browser.close()
    summary = _ms(benchlib.latency_summary(cycles)) if cycles else {}
    per_item = round(sum(requests) / len(requests), 1) if requests else None
    print(
        f"  label studio, {len(emails)} browsers: {sum(counts)} items in {elapsed:.1f} s; "
        f"submit→next in the browser p50 {summary.get('p50', 0):.1f} ms  p95 "
        f"{summary.get('p95', 0):.1f} ms; {per_item} requests per item; CPU busy {busy:.0f} s "
        f"of {elapsed * psutil.cpu_count():.0f} s, the server {server_cpu:.0f} s",
        flush=True,
    )
    return {
        "browsers": len(emails),
        "think_s": args.think,
        "items": sum(counts),
        "seconds": round(elapsed, 1),
        "submit_to_next_ms": summary,
        "requests_per_item": per_item,
        "cpu_busy_s": round(busy, 1),
        "cpu_available_s": round(elapsed * psutil.cpu_count(), 1),
        "server_cpu_s": round(server_cpu, 1),
        "dialogs": errors,
    }


async def _measured(
    annotators: Iterable[Awaitable[int]], server_pid: int
) -> tuple[list[int], float, float, float]:
    """Run the browser annotators together: items each labelled, wall seconds, CPU seconds the
    machine was busy, CPU seconds of the server (process tree) meanwhile."""
    started = time.perf_counter()
    cpu0 = psutil.cpu_times()
    server_cpu0 = _tree_cpu(server_pid)
    counts = list(await asyncio.gather(*annotators))
    elapsed = time.perf_counter() - started
    cpu1 = psutil.cpu_times()
    busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return counts, elapsed, busy, _tree_cpu(server_pid) - server_cpu0


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
    except psutil.NoSuchProcess:
        pass
    return total


def compare(result: dict[str, Any]) -> None:
    ours, theirs = result.get("browser", {}), result["peer"]["labelstudio"]
    print("submit → next item shown, in the browser:", flush=True)
    for name, r in (("curata", ours), ("label studio", theirs)):
        s = r.get("submit_to_next_ms") or {}
        print(
            f"  {name:13s} p50 {s.get('p50', 0):7.1f} ms  p95 {s.get('p95', 0):7.1f} ms  "
            f"({r.get('items', 0)} items, {r.get('browsers', 0)} browsers)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--annotators", type=int, default=40)
    parser.add_argument("--seeded", type=int, default=1000, help="items annotated twice first")
    parser.add_argument("--fetches", type=int, default=20)
    parser.add_argument("--browsers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds each annotator reads an item before answering (0: none; the "
        "submit-to-next time is measured from Enter either way)",
    )
    parser.add_argument(
        "--peer",
        choices=["labelstudio", "none"],
        default="labelstudio" if (LS_VENV / "bin/label-studio").exists() else "none",
        help="the peer UI measured after Curata's (default: Label Studio when "
        "bench/out/ls-venv holds it)",
    )
    args = parser.parse_args()
    info = benchlib.header("Web pages: server time on a large project, browser annotators")
    WORK.mkdir(parents=True, exist_ok=True)
    schema = "bench_web_pages"
    home = WORK / "home"
    shutil.rmtree(home, ignore_errors=True)
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    tokens = build(home, url, args)
    port = free_port()
    log = WORK / "serve.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
            [
                str(benchlib.REPO_ROOT / ".venv/bin/curata"),
                "--home",
                str(home),
                "serve",
                "--port",
                str(port),
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {
        "tasks": args.tasks,
        "annotators": args.annotators,
        "seeded_items": args.seeded,
    }
    try:
        wait_http(f"{base}/health", proc, 120, log)
        print(f"server time of each page ({args.tasks:,} tasks, PostgreSQL):", flush=True)
        result["pages"] = server_times(base, tokens, args.fetches)
        if args.browsers:
            print(f"browsers labelling for {args.seconds:g} s:", flush=True)
            result["browser"] = asyncio.run(browsers(base, tokens, args, proc.pid))
    finally:
        stop(proc)
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    if args.browsers and args.peer == "labelstudio":
        print(
            f"label studio's UI, the same {args.browsers} browsers for {args.seconds:g} s:",
            flush=True,
        )
        result["peer"] = {"labelstudio": label_studio(args)}
        compare(result)
    (WORK / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    benchlib.save_result(
        f"{NAME}-{args.tasks}x{args.browsers}b" + (f"-think{args.think:g}" if args.think else ""),
        {"machine": info, **result},
    )


if __name__ == "__main__":
    main()
