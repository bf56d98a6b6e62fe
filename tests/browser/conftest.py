"""Browser fixtures: Debian's Chromium (``make install`` puts it at /usr/bin/chromium) driven by
Playwright, against a seeded workspace on SQLite served by a real uvicorn (one per module).

Every page fails its test when a JavaScript dialog opens (an ``alert()`` is an executed XSS
payload), when a script throws, or when the console reports an error other than the status of an
error page a test asked for. Without Chromium the tests skip, or fail under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import served, write_jsonl

CHROMIUM = os.environ.get("CURATA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
]
USERS = {  # name -> role; "outsider" annotates another project only
    "boss": "lead",
    "ann": "annotator",
    "lea": "lead",  # lea, anna, bert and rev work on "duel" only
    "anna": "annotator",
    "bert": "annotator",
    "rev": "reviewer",
    "outsider": "annotator",
    "watcher": "viewer",
}
DUEL = {  # pairwise preference records: every question type the workflow tests key in
    "questions": [
        {"type": "preference", "name": "better"},
        {"type": "refusal", "name": "safety", "categories": ["harm", "privacy"], "rewrite": "none"},
        {"type": "label", "name": "tone", "labels": ["polite", "rude"]},
        {"type": "span", "name": "names", "labels": ["PERSON", "PLACE"], "field": "prompt"},
    ]
}
PAIRS = [  # every prompt starts with a five-letter name (the spans the tests key in)
    {
        "prompt": f"{who} asks: is {payload} safe to paste into a page?",
        "responses": [
            {"id": f"small-{i}", "text": f"Yes, {HOSTILE[(i + 1) % 3]} is fine."},
            {"id": f"large-{i}", "text": f"No: escape {HOSTILE[(i + 2) % 3]} first."},
        ],
    }
    for i, (who, payload) in enumerate(zip(("Alice", "Bruno", "Chloe"), HOSTILE, strict=True))
]
GUIDELINE = "Prefer the safer response. Never paste " + " or ".join(HOSTILE) + " unescaped."


@dataclass
class Site:
    url: str
    ws: Any
    tokens: dict[str, str]
    paths: set[str] = field(default_factory=set)  # the app's route paths
    app: Any = None

    def has_page(self, path: str) -> bool:
        """Whether the app serves ``path`` (a route template such as
        ``/projects/{name}/annotate``): pages still being built are skipped until they land."""
        return path in self.paths

    def fresh_dashboards(self) -> None:
        """Drop the dashboards' per-process snapshot of their quality numbers (recomputed once
        a minute), so the next view computes them from the annotations made so far."""
        if self.app is not None:
            self.app.state.__dict__.pop("dashboard_snapshots", None)


@dataclass
class Watch:
    """What a page did that a test did not ask for."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    def allow_status(self, *codes: int) -> None:
        """The page under test is an error page with one of ``codes``: its console line
        ("Failed to load resource: ... status of 404") is expected."""
        self.allowed_statuses.update(codes)

    def console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        text, url = msg.text, msg.location.get("url", "")
        if url.endswith("/favicon.ico"):  # the app serves no favicon (yet): not a page error
            return
        if any(f"status of {code} " in text for code in self.allowed_statuses):
            return
        self.errors.append(f"console: {text} ({url})")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def seed(home: Path) -> Site:
    """A workspace with three projects: ``triage`` (boss, ann, watcher; records with hostile
    content), ``other`` (outsider) and ``duel`` (pairwise records with hostile prompts and
    responses, :data:`DUEL`'s questions, overlap 2, every annotation reviewed; lea, anna, bert,
    rev; a guideline with hostile text), and a token for every user."""
    from curata.workspace import Workspace

    ws = Workspace.create(home / "ws", user="tester")
    ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
    rows = [{"text": f"ticket {i}: {payload}"} for i, payload in enumerate(HOSTILE)]
    rows.append({"text": "ticket 3: where is my parcel"})
    ws.ingest([write_jsonl(home / "t.jsonl", rows)], source="web", dataset="tickets")
    for name, role in USERS.items():
        ws.workforce.add_user(name, role=role)
    ws.projects.create(
        "triage", version="tickets@1", schema=SCHEMA, members=["boss", "ann", "watcher"]
    )
    ws.projects.create("other", version="tickets@1", schema=SCHEMA, members=["outsider"])
    ws.ingest([write_jsonl(home / "p.jsonl", PAIRS)], source="web", dataset="pairs")
    ws.projects.create(
        "duel", version="pairs@1", schema=DUEL, overlap=2, review={"mode": "all"},
        members=["lea", "anna", "bert", "rev"],
    )  # fmt: skip
    ws.projects.guidelines.publish("duel", GUIDELINE)
    tokens = {name: ws.workforce.issue_token(name) for name in USERS}
    return Site(url="", ws=ws, tokens=tokens)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The seeded workspace, served (one server per test module)."""
    from curata.api.app import create_app

    built = seed(tmp_path_factory.mktemp("browser"))
    try:
        app = built.app = create_app(built.ws)
        built.paths = {getattr(route, "path", "") for route in app.routes}
        with served(app) as url:
            built.url = url
            yield built
    finally:
        built.ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module. Not per session: Playwright's sync API runs an event
    loop in the main thread while it is started, so every later test that runs one of its own
    (a red-team campaign, asyncio.Runner) would fail with "cannot be called from a running
    event loop"; stopping it after each browser module gives the thread back."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} missing (make install puts Debian's chromium there)"
        if _ci():
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(f"{reason}; set CI=true to make this a failure")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Any, site: Site, watch: Watch) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280x800 on ``site``; any dialog, script error
    or unexpected console error fails the test."""
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    tab = context.new_page()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message} at {tab.url}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("console", watch.console)
    tab.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc} at {tab.url}"))
    try:
        yield tab
    finally:
        context.close()
    assert not watch.dialogs, f"a dialog opened (an XSS payload ran): {watch.dialogs}"
    assert not watch.errors, f"the page reported errors: {watch.errors}"


@pytest.fixture
def sign_in(site: Site) -> Any:
    """``sign_in(page, name, token=None)``: sign in through the real form with the keyboard
    only (name, Tab, token, Enter); the token defaults to ``name``'s own. (A fixture, not an
    importable function: this directory is no package, so its conftest is not importable.)"""

    def fill(page: Any, name: str, token: str | None = None) -> None:
        page.goto("/login")
        page.locator("#name").focus()
        page.keyboard.type(name)
        page.keyboard.press("Tab")
        page.keyboard.type(site.tokens[name] if token is None else token)
        with page.expect_navigation():
            page.keyboard.press("Enter")

    return fill


@pytest.fixture
def screenshot() -> Any:
    """``screenshot(page, name)`` saves ``docs/screenshots/NAME.png`` when
    ``CURATA_SCREENSHOTS=1`` (normal runs write nothing)."""

    def save(page: Any, name: str) -> None:
        if os.environ.get("CURATA_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save
