"""The web application part of ``make demo``: a project ready to try in a browser.

Makes project ``try-web`` (20 support requests, a topic label and an urgency rating, overlap 2,
every annotation reviewed) with an annotator ``kim``, a second annotator ``ola``, a reviewer
``raj`` and a lead ``lou``, issues their tokens (written to ``demo/workspace/web-sign-in.txt``),
then serves the app for a moment, signs in as ``kim`` the way a browser does, annotates one item
through the page's own form and shows what the page said — and prints how to try the rest.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOPICS = ["billing", "shipping", "account", "bug"]
USERS = {"kim": "annotator", "ola": "annotator", "raj": "reviewer", "lou": "lead"}


def requests(n: int, seed: int = 11) -> list[dict[str, object]]:
    rng = random.Random(seed)
    asks = {
        "billing": ["I was charged twice for my order", "my invoice shows the wrong VAT number"],
        "shipping": ["my parcel has not arrived after ten days", "the tracking link is dead"],
        "account": ["I cannot reset my password", "please merge my two accounts"],
        "bug": ["the app crashes when I open settings", "export to CSV gives an empty file"],
    }
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        rows.append({"id": f"web-{i:02d}", "text": f"Request {i + 1}: {rng.choice(asks[topic])}"
                     f" ({rng.choice(['since Monday', 'again', 'urgently', 'today'])})."})
    return rows


def run(curata: Callable[..., str], data: Path, workspace: Path) -> None:
    print("\n# The web application: a project to try in the browser", flush=True)
    path = data / "web-requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in requests(20)), encoding="utf-8")
    schema = {"questions": [
        {"type": "label", "name": "topic", "labels": TOPICS},
        {"type": "rating", "name": "urgency", "points": 3, "anchors": {"1": "can wait",
                                                                       "3": "urgent"}},
    ]}
    (data / "web-schema.json").write_text(json.dumps(schema), encoding="utf-8")
    curata("source", "add", "web-sample", "--kind", "synthetic", "--license", "CC0-1.0",
           "--origin", "demo://generated/web-requests")
    curata("ingest", str(path), "--source", "web-sample", "--dataset", "web-requests",
           "--key", "id")
    for name, role in USERS.items():
        curata("user", "add", name, "--role", role)
    curata("project", "create", "try-web", "--version", "web-requests@1", "--schema",
           str(data / "web-schema.json"), "--overlap", "2", "--review", "all", "--owner", "lou",
           *[a for name in USERS for a in ("--member", name)])
    tokens = {name: _token(curata, name) for name in USERS}
    roles = {**USERS, "demo": "lead of the loop's projects assist-b1 and assist-b2"}
    everyone = {**tokens, "demo": _token(curata, "demo")}
    sign_in = workspace / "web-sign-in.txt"
    sign_in.write_text("".join(f"{name} ({roles[name]}): {token}\n"
                               for name, token in everyone.items()), encoding="utf-8")
    sign_in.chmod(0o600)
    said = _one_item_in_the_page(workspace, tokens["kim"])
    print(f"\n$ (as a browser would) sign in as kim and answer an item with the form of "
          f"/projects/try-web/annotate\n"
          f"{said}", flush=True)
    home = workspace.relative_to(workspace.parent.parent)
    print(f"\nTry it: CURATA_HOME={home} .venv/bin/curata serve, open http://127.0.0.1:8000/ and "
          f"sign in as kim (annotator), then ola, raj (reviewer) and lou (lead: dashboard, "
          f"admin, release) with the tokens in {home}/web-sign-in.txt; as demo, the dashboard "
          f"of assist-b2 tells the loop's story (drift, briefs, gold accuracy by vendor)",
          flush=True)


def _token(curata: Callable[..., str], name: str) -> str:
    return curata("user", "token", name, capture=True, quiet=True).strip()


def _one_item_in_the_page(workspace: Path, token: str) -> str:
    """Serve the app on 127.0.0.1 for a moment and do what a browser does: sign in, open the
    annotate page, submit its form with the first label and rating; say what the pages showed."""
    import httpx

    from curata.api.app import create_app
    from curata.workspace import Workspace

    ws = Workspace.open(workspace)
    try:
        with _served(create_app(ws)) as url, httpx.Client(base_url=url, timeout=30) as browser:
            nonce = _field(browser.get("/login").text, "nonce")
            browser.post("/login", data={"name": "kim", "token": token, "nonce": nonce})
            page = browser.get("/projects/try-web/annotate").text
            item = re.search(r'data-testid="record-text">([^<]*)<', page)
            form = {"csrf": _field(page, "csrf"), "assignment_id": _field(page, "assignment_id"),
                    "shown_at": _field(page, "shown_at"), "a.topic": TOPICS[0], "a.urgency": "1"}
            answer = browser.post("/projects/try-web/annotate", data=form)
            after = browser.get(answer.headers.get("location", "/projects/try-web/annotate"))
            mine = re.search(r'data-testid="mine"[^>]*>\s*([^<]*)<', after.text)
            return (f"item shown: {item.group(1).strip() if item else '?'}\n"
                    f"answered topic={TOPICS[0]}, urgency=1 → HTTP {answer.status_code}; "
                    f"the next item is shown; done by kim: "
                    f"{mine.group(1).strip() if mine else '?'}")
    finally:
        ws.close()


@contextmanager
def _served(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn on 127.0.0.1 (a free port) while the block runs."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("web demo: the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    if found is None:
        raise SystemExit(f"web demo: the page has no {name!r} field")
    return found.group(1)
