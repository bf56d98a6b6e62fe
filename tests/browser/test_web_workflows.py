"""Whole workflows of the web application (#15) in a real browser, on the ``duel`` project
(pairwise records with hostile prompts and responses; preference, refusal, label and span
questions; overlap 2; every annotation reviewed):

* two annotators key in their answers with the keyboard alone (A/B/T, Tab, typing, digits, the
  spans typed as JSON, Ctrl+Enter) and the workspace stores exactly what was keyed;
* a reviewer sees where they disagree, accepts one annotation and rejects the other with a
  (hostile) reason; the lead adjudicates another item; the decisions are in the item's history;
  the rejected annotator's page shows the reason as text with their answers filled in, and
  their corrected resubmission is stored;
* the span tool's own keyboard path (arrows, Shift, Ctrl by word, a digit adds the span) and a
  mouse selection store exactly the offsets selected;
* the lead's dashboard counts the completed items;
* axe finds no serious or critical violation on the annotate, review, dashboard and guideline
  pages, no hostile payload runs anywhere, and nothing overflows sideways.

The tests share the module's workspace and run in file order (the workflow first); the later ones
also work alone (:func:`reviewable` submits annotations through the services when none wait).
``CURATA_SCREENSHOTS=1`` saves docs/screenshots/annotate.png, review.png and dashboard.png.
"""

from __future__ import annotations

import json
from typing import Any

PROJECT = "duel"
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
]
REASON = f"Wrong tone {HOSTILE[0]} {HOSTILE[1]} {HOSTILE[2]}"
VIEWPORTS = [(1280, 800), (768, 1024)]
INJECTED = "main script, main img[src='x'], main svg[onload], main [onerror], main [onload]"
"""Elements a payload would have created had it been parsed as markup (the server's own charts
are ``svg`` without handlers)."""


def path_of(page: Any) -> str:
    return "/" + page.url.split("/", 3)[3]


def focused(page: Any) -> str:
    """The focused element as ``tag#id[value]`` (what the keyboard acts on)."""
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return e.tagName.toLowerCase() + '#' + e.id + (e.value && e.type === 'radio'"
        " ? '[' + e.value + ']' : ''); })()"
    )


def switch_user(page: Any, sign_in: Any, name: str) -> None:
    page.context.clear_cookies()
    sign_in(page, name)
    assert page.get_by_test_id("who").inner_text().startswith(name)


def complete_items(page: Any) -> int:
    page.goto(f"/projects/{PROJECT}/dashboard")
    return int(page.get_by_test_id("complete").inner_text())


def submit_in_place(page: Any, key: str) -> None:
    """Press ``key`` (Enter or Ctrl+Enter) on the annotate page and wait for the server's next
    page to replace ``<main>`` in place (annotate.js posts the form with fetch: no navigation)."""
    page.evaluate("window.__before = document.querySelector('main').firstElementChild")
    page.keyboard.press(key)
    page.wait_for_function(
        "() => { const f = document.querySelector('main').firstElementChild;"
        " return f !== null && f !== window.__before; }"
    )


def key_in(
    page: Any,
    *,
    choice: str,
    why: str,
    refusal: int,
    tone: int,
    span: int,
    span_label: int,
    shot: Any = None,
) -> dict[str, Any]:
    """Answer the shown item with the keyboard alone; return what was keyed, in the record's
    own letters (the page shows the responses in an order drawn per annotator) and the
    item's prompt."""
    page.goto(f"/projects/{PROJECT}/annotate")
    form = page.get_by_test_id("annotate-form")
    assert form.is_visible(), "an item is shown"
    prompt = page.get_by_test_id("record-prompt").inner_text()
    shown_a = page.locator("#cand-A + .content").inner_text()
    shown = {"a": "A", "b": "B", "t": "tie"}[choice]
    page.keyboard.press(choice)  # A, B or T: the preference
    assert focused(page) == f"input#q-better-{shown}[{shown}]"
    page.keyboard.press("Tab")  # the rationale
    assert focused(page) == "textarea#q-better-rationale"
    page.keyboard.type(why)
    page.keyboard.press("Tab")  # the refusal's options: the digit picks one
    assert focused(page).startswith("input#q-safety-")
    page.keyboard.press(str(refusal))
    page.keyboard.press("Tab")  # the label's options
    assert focused(page).startswith("input#q-tone-")
    page.keyboard.press(str(tone))
    page.keyboard.press("Tab")  # the span tool's text, then its buttons, then the spans field
    assert focused(page) == "textarea#q-names-source"
    for _ in range(3):
        page.keyboard.press("Tab")
    assert focused(page) == "input#q-names-spans"
    # the spans typed as JSON, as the label offers (the selection keys have their own test)
    label = ["PERSON", "PLACE"][span_label - 1]
    page.keyboard.press("Control+A")
    page.keyboard.type(json.dumps([{"start": 0, "end": span, "label": label}]))
    page.keyboard.press("Shift+Tab")  # leaving the field draws the span
    assert page.locator("#q-names .span-list li").count() == 1
    if shot is not None:
        shot(page, "annotate")
    submit_in_place(page, "Control+Enter")
    assert path_of(page) == f"/projects/{PROJECT}/annotate"
    a_first = shown_a.startswith("Yes,")  # the record's first response (conftest.PAIRS)
    record_choice = {"a": "A" if a_first else "B", "b": "B" if a_first else "A", "t": "tie"}
    return {
        "prompt": prompt,
        "answers": {
            "better": {"choice": record_choice[choice], "rationale": why},
            "safety": {"should_refuse": False}
            if refusal == 1
            else {"should_refuse": True, "category": ["harm", "privacy"][refusal - 2]},
            "tone": ["polite", "rude"][tone - 1],
            "names": [{"start": 0, "end": span, "label": ["PERSON", "PLACE"][span_label - 1]}],
        },
    }


def stored(ws: Any, prompt: str) -> list[dict[str, Any]]:
    """Every stored answer set of the item with ``prompt``, through the export service
    (Argilla records: ``responses`` by question, one per annotator in the same order)."""
    item = next(
        i for i in ws.transfer.export(PROJECT, "argilla") if i["fields"]["prompt"] == prompt
    )
    by_question = item["responses"]
    count = max((len(v) for v in by_question.values()), default=0)
    out = []
    for k in range(count):
        answers = {}
        for question, responses in by_question.items():
            value = responses[k]["value"]
            answers[question] = json.loads(value) if question in ("better", "safety") else value
        out.append(answers)
    return out


def reviewable(ws: Any) -> None:
    """Make sure an item waits for ``rev``'s review: when none does (this test runs alone),
    anna and bert answer one item each through the services."""
    if ws.reviews.next_review(PROJECT, "rev") is not None:
        return
    for user, choice in (("anna", "A"), ("bert", "B")):
        view = ws.queue.next_task(PROJECT, user)
        assert view is not None
        ws.queue.submit(
            view.assignment_id, user,
            {"better": {"choice": choice, "rationale": f"{user}: {HOSTILE[2]}"},
             "safety": {"should_refuse": False}, "tone": "polite", "names": []},
        )  # fmt: skip


def test_keyboard_annotation_review_and_adjudication(page, site, sign_in, screenshot) -> None:
    ws = site.ws
    sign_in(page, "lea")
    before = complete_items(page)

    # two annotators, the keyboard alone; the workspace stores what was keyed
    switch_user(page, sign_in, "anna")
    anna = [
        key_in(page, choice="a", why=f"A refuses {HOSTILE[0]}", refusal=2, tone=1, span=5,
               span_label=1, shot=screenshot),
        key_in(page, choice="b", why="B is shorter", refusal=1, tone=2, span=5, span_label=1),
    ]  # fmt: skip
    assert anna[0]["prompt"] != anna[1]["prompt"]
    for keyed in anna:
        assert stored(ws, keyed["prompt"]) == [keyed["answers"]]
    switch_user(page, sign_in, "bert")
    bert = [
        key_in(page, choice="t", why=f"Both fine {HOSTILE[1]}", refusal=3, tone=1, span=3,
               span_label=2),
        key_in(page, choice="a", why=f"Tie {HOSTILE[2]}", refusal=2, tone=1, span=4,
               span_label=2),
    ]  # fmt: skip
    assert [k["prompt"] for k in bert] == [k["prompt"] for k in anna], "the same two items"
    for mine, theirs in zip(anna, bert, strict=True):
        expected = [json.dumps(mine["answers"]), json.dumps(theirs["answers"])]
        assert sorted(map(json.dumps, stored(ws, mine["prompt"]))) == sorted(expected)

    # the lead's dashboard counts the two items now complete
    switch_user(page, sign_in, "lea")
    after = complete_items(page)
    assert after == before + 2, (before, after)
    site.fresh_dashboards()  # the charts' numbers are a snapshot, taken before the labels
    page.reload()
    assert page.get_by_test_id("per-day").count() == 1, "the labels per day are charted"
    screenshot(page, "dashboard")

    # the reviewer: the disagreement marked; accept anna's, reject bert's with a reason
    switch_user(page, sign_in, "rev")
    page.goto(f"/projects/{PROJECT}/review")
    compare = page.get_by_test_id("compare")
    assert compare.is_visible()
    marked = {
        row.locator("th").inner_text().replace("differs", "").strip()
        for row in compare.locator("tbody tr.disagree").all()
    }
    assert marked == {"better", "safety", "names"}, marked  # both said "polite"
    assert compare.locator("tbody tr.disagree .badge").all_inner_texts() == ["differs"] * 3
    assert compare.locator("tbody tr:not(.disagree) th").inner_text().strip() == "tone"
    task_id = int(page.locator("#record-h").inner_text().split()[1])
    screenshot(page, "review")

    def decision_form(annotator: str) -> Any:
        heading = page.get_by_role("heading", name=f"{annotator}'s annotation", exact=True)
        return page.locator("form.decision", has=heading)

    accepted = int(decision_form("anna").locator("[name=annotation_id]").input_value())
    rejected = int(decision_form("bert").locator("[name=annotation_id]").input_value())
    with page.expect_navigation():
        decision_form("anna").get_by_role("button", name="Accept").click()
    assert page.get_by_test_id("done").inner_text() == f"Accepted annotation {accepted}."
    form = decision_form("bert")
    form.get_by_label("Reason").fill(REASON)
    with page.expect_navigation():
        form.get_by_role("button", name="Reject").click()
    assert "Rejected annotation" in page.get_by_test_id("done").inner_text()
    assert page.locator(INJECTED).count() == 0

    # the lead settles the other item with bert's answers
    switch_user(page, sign_in, "lea")
    page.goto(f"/projects/{PROJECT}/review")
    other = int(page.locator("#record-h").inner_text().split()[1])
    assert other != task_id
    adjudicate = page.get_by_test_id("adjudicate")
    adjudicate.get_by_label("bert's answers").check()
    adjudicate.get_by_label("Reason").fill(f"bert read the guideline {HOSTILE[2]}")
    with page.expect_navigation():
        adjudicate.get_by_role("button", name="Settle").click()
    assert page.get_by_test_id("done").inner_text() == f"Settled item {other}'s final answers."

    history = ws.reviews.history(task_id)
    assert [(h["tier"], h["decision"], h["by"], h["annotation_id"], h["reason"])
            for h in history] == [
        ("review", "accept", "rev", accepted, ""),
        ("review", "reject", "rev", rejected, REASON),
    ]  # fmt: skip
    settled = ws.reviews.history(other)
    assert [(h["tier"], h["decision"], h["by"]) for h in settled] == [
        ("adjudicate", "adjudicate", "lea")
    ]
    assert settled[0]["answers"] == bert[1]["answers"]
    assert settled[0]["reason"] == f"bert read the guideline {HOSTILE[2]}"
    assert complete_items(page) == after - 1  # the rejected annotation went back to bert

    # bert sees why, with his answers filled in; he fixes the rationale and submits again
    switch_user(page, sign_in, "bert")
    page.goto(f"/projects/{PROJECT}/annotate")
    returned = page.get_by_test_id("returned")
    assert returned.is_visible()
    assert page.get_by_test_id("returned-reason").inner_text() == REASON
    assert page.locator(INJECTED).count() == 0
    prompt = page.get_by_test_id("record-prompt").inner_text()
    [mine] = [k for k in bert if k["prompt"] == prompt]
    assert json.loads(page.locator("#q-names-spans").input_value()) == mine["answers"]["names"]
    rationale = page.locator("#q-better-rationale")
    assert rationale.input_value() == mine["answers"]["better"]["rationale"]
    assert page.locator("#q-names .span-list li").count() == len(mine["answers"]["names"])
    rationale.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Fixed: read the guideline")
    submit_in_place(page, "Control+Enter")
    assert page.get_by_test_id("returned").count() == 0  # the next item is a fresh one
    fixed = {**mine["answers"], "better": {**mine["answers"]["better"],
                                           "rationale": "Fixed: read the guideline"}}
    assert json.dumps(fixed) in map(json.dumps, stored(ws, prompt)), stored(ws, prompt)


def _axe_problems(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation.get("impact") in ("serious", "critical"):
            targets = [n["target"] for n in violation["nodes"]][:5]
            problems.append(
                f"{path_of(page)}: {violation['impact']} {violation['id']} "
                f"({violation['help']}) at {targets}"
            )
    return problems


PAGES = [  # (who, path, what shows the page has its content)
    ("anna", "/projects/duel/annotate", "annotate-form"),
    ("rev", "/projects/duel/review", "compare"),
    ("lea", "/projects/duel/dashboard", "progress"),
    ("lea", "/projects/duel/guideline", "guideline"),
]


def test_workflow_pages_accessible_inert_and_narrow(page, site, sign_in) -> None:
    """Each page once, with its content shown: axe finds no serious or critical violation; the
    HTML payloads of records, rationales and the guideline show as text and none runs (the page
    fixture fails on any dialog); nothing overflows sideways at 1280x800 or 768x1024."""
    reviewable(site.ws)
    problems: list[str] = []
    overflowing: list[str] = []
    signed_in = ""
    for who, path, content in PAGES:
        if who != signed_in:
            switch_user(page, sign_in, who)
            signed_in = who
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(path)
        assert page.get_by_test_id(content).is_visible(), f"{path} shows its content"
        problems += _axe_problems(page)
        assert page.locator(INJECTED).count() == 0, path
        text = page.locator("main").inner_text()
        if path.endswith(("/annotate", "/guideline")):
            assert all(p in text for p in HOSTILE), f"{path}: every payload shown as text"
        if path.endswith("/review"):  # the answers side by side: the typed rationales
            assert any(p in text for p in HOSTILE), f"{path}: a payload shown as text"
        if path.endswith("/guideline"):
            continue
        for width, height in VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            scroll, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            if scroll > client:
                overflowing.append(f"{path} at {width}x{height}: {scroll} > {client}")
    for problem in problems:
        print(problem)
    assert not problems, "\n".join(problems)
    assert not overflowing, overflowing


def test_span_selection_with_shift_arrows(page, site, sign_in) -> None:
    """The span tool's own keyboard path: focus the text, move with the arrows, extend with
    Shift (by word with Ctrl), a digit adds the span with that label; a mouse selection (a
    double click) adds one too; the stored answer holds exactly those offsets and labels.
    (Runs last: anna's third item, after the workflow; alone, her first.)"""
    ws = site.ws
    sign_in(page, "anna")
    page.goto(f"/projects/{PROJECT}/annotate")
    prompt = page.get_by_test_id("record-prompt").inner_text()
    spans = page.locator("#q-names-spans")
    status = page.locator("#q-names-selection")
    page.keyboard.press("t")  # the other questions first: tie, rationale, comply, polite
    page.keyboard.press("Tab")
    page.keyboard.type("same")
    page.keyboard.press("Tab")
    page.keyboard.press("1")
    page.keyboard.press("Tab")
    page.keyboard.press("1")
    page.keyboard.press("Tab")
    assert focused(page) == "textarea#q-names-source"
    page.keyboard.press("Control+End")
    page.keyboard.press("Control+Home")
    for _ in range(5):
        page.keyboard.press("Shift+ArrowRight")
    assert status.inner_text() == f"Selected [0\u20135): \u201c{prompt[:5]}\u201d"
    page.keyboard.press("1")
    assert json.loads(spans.input_value()) == [{"start": 0, "end": 5, "label": "PERSON"}]

    # Right collapses the selection to its end, Right again steps over the space; Ctrl+Shift+
    # Right selects the word ("asks"), Shift+Left gives one letter back
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert status.inner_text().startswith("Caret at 6")
    page.keyboard.press("Control+Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowLeft")
    assert prompt[6:9] == "ask"
    page.keyboard.press("2")
    expected = [{"start": 0, "end": 5, "label": "PERSON"}, {"start": 6, "end": 9, "label": "PLACE"}]
    assert json.loads(spans.input_value()) == expected

    # End then Shift+Home: the whole (one-line) text, backwards; Shift+Right shrinks it
    page.keyboard.press("End")
    page.keyboard.press("Shift+Home")
    page.keyboard.press("Shift+ArrowRight")
    assert status.inner_text() == f"Selected [1\u2013{len(prompt)}): \u201c{prompt[1:]}\u201d"

    # the mouse still selects: a double click selects a word, and the digit adds that
    box = page.locator("#q-names-source").bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + 12)
    start, end = page.evaluate(
        "(() => { const t = document.getElementById('q-names-source');"
        " return [t.selectionStart, t.selectionEnd]; })()"
    )
    assert 0 <= start < end <= len(prompt), (start, end)
    page.keyboard.press("2")
    expected = sorted([*expected, {"start": start, "end": end, "label": "PLACE"}],
                      key=lambda x: (x["start"], x["end"]))  # fmt: skip
    assert json.loads(spans.input_value()) == expected
    assert page.locator("#q-names .span-list li").count() == 3

    submit_in_place(page, "Control+Enter")
    [answers] = stored(ws, prompt)
    assert answers["names"] == sorted(expected, key=lambda x: (x["start"], x["end"], x["label"]))
    assert answers["tone"] == "polite" and answers["safety"] == {"should_refuse": False}
    assert answers["better"] == {"choice": "tie", "rationale": "same"}


def test_submit_swaps_the_next_item_in_place(page, site, sign_in) -> None:
    """With JavaScript, Enter posts the form with fetch and the server's next page (the next
    item, or "nothing left") replaces the page's content in place: no full navigation (a marker
    on ``window`` survives), the address is the annotate page's, the count goes up, focus is on
    the first question so the keys go on working for the next item, and every answer is stored.
    (Runs last: bert's remaining item; alone, two of his items.)"""
    ws = site.ws
    sign_in(page, "bert")
    page.goto(f"/projects/{PROJECT}/annotate")
    page.evaluate("window.__marker = 1")
    prompts = []
    while page.get_by_test_id("annotate-form").count() and len(prompts) < 2:
        prompt = page.get_by_test_id("record-prompt").inner_text()
        item = page.locator("#annotate-form [name=assignment_id]").input_value()
        mine = int(page.get_by_test_id("mine").inner_text())
        page.keyboard.press("t")  # tie; comply; polite; no spans
        page.locator("#q-safety-1").focus()
        page.keyboard.press("1")
        page.locator("#q-tone-1").focus()
        page.keyboard.press("1")
        page.evaluate("document.activeElement.blur()")
        submit_in_place(page, "Enter")
        assert page.evaluate("window.__marker") == 1, "no full navigation"
        assert path_of(page) == f"/projects/{PROJECT}/annotate"
        assert page.title().startswith(f"Annotate {PROJECT}")
        assert int(page.get_by_test_id("mine").inner_text()) == mine + 1
        answers = [a for a in stored(ws, prompt) if a["better"] == {"choice": "tie"}]
        assert answers and answers[0]["tone"] == "polite", stored(ws, prompt)
        assert answers[0]["safety"] == {"should_refuse": False}
        prompts.append(prompt)
        if page.get_by_test_id("annotate-form").count():  # the next item, focus on its question
            assert page.locator("#annotate-form [name=assignment_id]").input_value() != item
            assert page.get_by_test_id("record-prompt").inner_text() != prompt
            assert focused(page) == "fieldset#q-better", "focus on the first question"
        else:
            assert page.get_by_test_id("nothing-left").is_visible()
    assert prompts, "bert had an item"
