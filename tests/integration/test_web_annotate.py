"""The annotator's workspace pages (#15) over a real socket: sign in with a token, annotate
items through the HTML form, and the same policies, validation and escaping as the API."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.conftest import served, write_jsonl

from curata.api.app import create_app

SCHEMA = {
    "questions": [
        {"type": "label", "name": "topic", "labels": ["billing", "shipping"]},
        {"type": "text", "name": "comment"},
    ]
}
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
PREFERENCE = {"questions": [{"type": "preference", "name": "better"}]}
PAIRS = [
    {
        "prompt": "How hot is boiling water?",
        "responses": [
            {"id": "small", "text": "About 90 C.", "model": "small-1"},
            {"id": "large", "text": "100 C at sea level.", "model": "large-2"},
        ],
    }
]


@pytest.fixture
def web(ws, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": f"ticket {i}: {SCRIPT}{IMG}" if i == 0 else f"ticket {i}: where is my parcel"}
            for i in range(3)]  # fmt: skip
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", PAIRS)], source="web", dataset="prefs")
    for name, role in (("ann", "annotator"), ("watcher", "viewer"), ("outsider", "annotator")):
        ws.workforce.add_user(name, role=role)
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, members=["ann", "watcher"])
    ws.projects.create("judge", version="prefs@1", schema=PREFERENCE, members=["ann"])
    ws.projects.guidelines.publish("triage", f"Pick the topic. {SCRIPT}")
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "watcher", "outsider")}
    with served(create_app(ws)) as url:
        yield {"url": url, "tokens": tokens, "ws": ws}


@contextmanager
def client(web: dict[str, Any], name: str) -> Iterator[httpx.Client]:
    """An httpx client signed in as ``name`` through the sign-in form."""
    with httpx.Client(base_url=web["url"], timeout=30) as c:
        yield sign_in(c, web, name)


def sign_in(c: httpx.Client, web: dict[str, Any], name: str) -> httpx.Client:
    page = c.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce, page.text
    done = c.post("/login", data={"name": name, "token": web["tokens"][name],
                                  "nonce": nonce[1], "next": "/"})  # fmt: skip
    assert done.status_code == 303 and "curata_session" in c.cookies
    return c


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found, f"no field {name!r}"
    return html.unescape(found[1])


def submit(c: httpx.Client, page: str, project: str, **answers: str) -> httpx.Response:
    data = {"csrf": field(page, "csrf"), "assignment_id": field(page, "assignment_id"),
            "shown_at": field(page, "shown_at"), **{f"a.{k}": v for k, v in answers.items()}}
    return c.post(f"/projects/{project}/annotate", data=data)


def stored(ws: Any, project: str, question: str) -> list[Any]:
    """Every stored answer to ``question`` in the project's live items, through the export
    service (Argilla records: ``responses`` by question)."""
    return sorted(r["value"] for item in ws.transfer.export(project, "argilla")
                  for r in item["responses"].get(question, []))  # fmt: skip


def test_sign_in_and_annotate_two_items(web) -> None:
    ws = web["ws"]
    with client(web, "ann") as c:
        first = c.get("/projects/triage/annotate")
        assert first.status_code == 200
        assert first.headers["content-security-policy"].startswith("default-src 'self'")
        page = first.text
        for label, key in (("billing", 1), ("shipping", 2)):
            assert f'value="{label}"' in page and f"{label} <kbd>{key}</kbd>" in page
        assert '<label for="q-comment-text">' in page and 'name="a.comment"' in page
        assert '<script src="/static/annotate.js" defer></script>' in page
        assert "onclick" not in page and "<script>" not in page  # no inline script at all
        assert 'href="/projects/triage/guideline">version 1</a>' in page
        assert re.search(r'data-testid="mine">0<', page) and "0 of 3 items complete" in page
        first_id = field(page, "assignment_id")

        done = submit(c, page, "triage", topic="shipping", comment="parcel question")
        assert done.status_code == 303 and done.headers["location"] == "/projects/triage/annotate"
        second = c.get("/projects/triage/annotate").text
        assert field(second, "assignment_id") != first_id  # the next item, not the same one
        assert re.search(r'data-testid="mine">1<', second)
        assert submit(c, second, "triage", topic="billing").status_code == 303

        third = c.get("/projects/triage/annotate").text
        assert re.search(r'data-testid="mine">2<', third)
        assert submit(c, third, "triage", topic="billing").status_code == 303
        last = c.get("/projects/triage/annotate")
        assert last.status_code == 200 and 'data-testid="nothing-left"' in last.text
        assert "Nothing left to do" in last.text and "3 of 3 items complete" in last.text
        assert re.search(r'data-testid="mine">3<', last.text)

    assert ws.projects.get("triage").annotations == 3
    assert stored(ws, "triage", "topic") == ["billing", "billing", "shipping"]
    assert stored(ws, "triage", "comment") == ["parcel question"]


def test_a_refused_answer_keeps_the_item_and_saves_nothing(web) -> None:
    ws = web["ws"]
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
        held = field(page, "assignment_id")
        bad = submit(c, page, "triage", topic="weather", comment="kept <b>as typed</b>")
        assert bad.status_code == 422
        assert field(bad.text, "assignment_id") == held  # the same item again
        assert ("&#39;weather&#39; is not a label of this question (allowed: billing, shipping)"
                in bad.text)  # fmt: skip
        assert 'id="q-topic-problem" role="alert"' in bad.text  # next to its question
        assert "kept &lt;b&gt;as typed&lt;/b&gt;</textarea>" in bad.text  # the typed answer stays
        empty = submit(c, bad.text, "triage")
        assert empty.status_code == 422 and "an answer is required" in empty.text
        assert ws.projects.get("triage").annotations == 0
        assert submit(c, empty.text, "triage", topic="billing").status_code == 303
    assert ws.projects.get("triage").annotations == 1


def test_record_text_is_escaped(web) -> None:
    with client(web, "ann") as c:
        seen = False
        for _ in range(3):
            page = c.get("/projects/triage/annotate").text
            assert SCRIPT not in page and IMG not in page
            if "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page:
                seen = True
            assert submit(c, page, "triage", topic="billing").status_code == 303
        assert seen  # the hostile record was served, as text
        guideline = c.get("/projects/triage/guideline")
        assert guideline.status_code == 200 and 'data-testid="guideline-version">Version 1' in (
            guideline.text)
        assert "Pick the topic. &lt;script&gt;alert(1)&lt;/script&gt;" in guideline.text
        assert SCRIPT not in guideline.text


def test_members_and_roles_are_checked_like_the_api(web) -> None:
    with client(web, "outsider") as c:
        assert c.get("/projects/triage/annotate").status_code == 404
        assert c.get("/projects/triage/guideline").status_code == 404
        assert c.get("/projects/nope/annotate").status_code == 404
    with client(web, "watcher") as c:
        denied = c.get("/projects/triage/annotate")
        assert denied.status_code == 403 and "role &#39;viewer&#39;" in denied.text
        csrf = field(c.get("/").text, "csrf")
        post = c.post("/projects/triage/annotate",
                      data={"csrf": csrf, "assignment_id": "1", "a.topic": "billing"})
        assert post.status_code == 403
        assert c.get("/projects/triage/guideline").status_code == 200  # viewers may read it
    anonymous = httpx.get(web["url"] + "/projects/triage/annotate")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=/projects/triage/annotate")
    assert web["ws"].projects.get("triage").annotations == 0


def test_a_post_without_the_csrf_token_is_refused(web) -> None:
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
        data = {"assignment_id": field(page, "assignment_id"), "a.topic": "billing"}
        assert c.post("/projects/triage/annotate", data=data).status_code == 403
        wrong = c.post("/projects/triage/annotate", data={**data, "csrf": "0" * 40})
        assert wrong.status_code == 403 and "CSRF" in wrong.text
    assert web["ws"].projects.get("triage").annotations == 0


def test_a_lost_lease_says_so_and_shows_a_fresh_item(web) -> None:
    ws = web["ws"]
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
        held = int(field(page, "assignment_id"))
        ws.queue.submit(held, "ann", {"topic": "billing"})  # e.g. from another tab
        lost = submit(c, page, "triage", topic="shipping")
        assert lost.status_code == 409
        assert "was not saved" in lost.text and 'data-testid="notice"' in lost.text
        assert int(field(lost.text, "assignment_id")) != held
    assert stored(ws, "triage", "topic") == ["billing"]


def test_a_preference_item_shows_the_responses_side_by_side(web) -> None:
    ws = web["ws"]
    with client(web, "ann") as c:
        page = c.get("/projects/judge/annotate").text
        assert 'data-testid="candidates"' in page
        assert "Response A</h3>" in page and "Response B</h3>" in page
        assert "About 90 C." in page and "100 C at sea level." in page
        assert "How hot is boiling water?" in page
        for hidden in ("small-1", "large-2", "small", "large"):  # blind: no model, no id
            assert hidden not in page.replace("smaller", "")
        for value, key in (("A", "A"), ("B", "B"), ("tie", "T"), ("both_bad", "N")):
            assert f'value="{value}" data-key="{key.lower()}"' in page
            assert f"<kbd>{key}</kbd>" in page
        a_text = re.search(r'id="cand-A">Response A</h3>\s*<div class="content">([^<]*)<', page)
        assert a_text
        assert submit(c, page, "judge", better="A").status_code == 303
        assert 'data-testid="nothing-left"' in c.get("/projects/judge/annotate").text
    # stored in the record's letters: the shown "A" is whichever response was drawn first
    record_letter = "A" if a_text[1] == "About 90 C." else "B"
    assert [json.loads(v) for v in stored(ws, "judge", "better")] == [{"choice": record_letter}]


MIXED = {
    "questions": [
        {"type": "rating", "name": "quality", "points": 5, "anchors": {"1": "bad", "5": "great"}},
        {"type": "refusal", "name": "safety", "categories": ["harm", "privacy"]},
        {"type": "response", "name": "rewrite"},
        {"type": "span", "name": "errors", "labels": ["ERR", "NOTE"], "field": "response"},
        {"type": "text", "name": "note"},
    ]
}
RANKING = {"questions": [{"type": "ranking", "name": "order", "responses": 3}]}


@pytest.fixture
def more(web, tmp_path: Path) -> dict[str, Any]:
    ws = web["ws"]
    sft = [{"prompt": "Say hi", "response": "Helo there, <friend>!"}]
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", sft)], source="web", dataset="sft")
    chats = [{"messages": [{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "Hi <b>bot</b>"},
                           {"role": "assistant", "content": "Hello!"}]}]  # fmt: skip
    ws.ingest([write_jsonl(tmp_path / "c.jsonl", chats)], source="web", dataset="chats")
    three = [{"prompt": "Rank these", "responses": ["one", "two", "three"]}]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", three)], source="web", dataset="three")
    ws.projects.create("sft", version="sft@1", schema=MIXED, members=["ann"])
    ws.projects.create("chats", version="chats@1", schema={"questions": [MIXED["questions"][0]]},
                       members=["ann"])  # fmt: skip
    ws.projects.create("rank", version="three@1", schema=RANKING, members=["ann"])
    return web


def test_every_question_type_round_trips_through_the_form(more) -> None:
    ws = more["ws"]
    with client(more, "ann") as c:
        page = c.get("/projects/sft/annotate").text
        assert 'data-testid="record-prompt">Say hi<' in page
        assert "Helo there, &lt;friend&gt;!" in page and "<friend>" not in page
        assert "1 – bad <kbd>1</kbd>" in page and "5 – great <kbd>5</kbd>" in page
        assert 'value="refuse-1"' in page and "Refuse: privacy <kbd>3</kbd>" in page
        # the SFT editor starts from the record's response; the span tool shows that text
        assert 'name="a.rewrite"' in page and "\nHelo there, &lt;friend&gt;!</textarea>" in page
        assert 'class="span-source" readonly' in page and 'name="a.errors"' in page
        bad = submit(c, page, "sft", quality="9", safety="refuse-0", rewrite="Hello there!",
                     errors="[{not json")  # fmt: skip
        assert bad.status_code == 422
        assert "the spans are not readable" in bad.text
        bad = submit(c, page, "sft", quality="9", safety="refuse-0", rewrite="Hello there!",
                     errors='[{"start": 0, "end": 99, "label": "ERR"}]')  # fmt: skip
        assert bad.status_code == 422
        assert "9 is not on the scale" in bad.text and "is not inside the response" in bad.text
        assert ws.projects.get("sft").annotations == 0
        ok = submit(c, bad.text, "sft", quality="4", safety="refuse-1", rewrite="Hello there!",
                    errors='[{"start": 0, "end": 4, "label": "ERR"}]', note="typo")  # fmt: skip
        assert ok.status_code == 303
    assert stored(ws, "sft", "quality") == [4]
    assert [json.loads(v) for v in stored(ws, "sft", "safety")] == [
        {"should_refuse": True, "category": "privacy"}]
    assert stored(ws, "sft", "rewrite") == ["Hello there!"]
    assert stored(ws, "sft", "note") == ["typo"]
    [errors] = stored(ws, "sft", "errors")
    spans = errors if isinstance(errors, list) else json.loads(errors)
    assert [(s["start"], s["end"], s["label"]) for s in spans] == [(0, 4, "ERR")]


def test_chat_and_ranking_items(more) -> None:
    ws = more["ws"]
    with client(more, "ann") as c:
        chat = c.get("/projects/chats/annotate").text
        assert 'data-testid="record-chat"' in chat
        for role, text in (("system", "Be brief."), ("user", "Hi &lt;b&gt;bot&lt;/b&gt;"),
                           ("assistant", "Hello!")):  # fmt: skip
            assert (f'class="turn role-{role}"><span class="speaker">{role}</span>'
                    f'<div class="content">{text}</div>') in chat  # fmt: skip
        assert submit(c, chat, "chats", quality="3").status_code == 303

        page = c.get("/projects/rank/annotate").text
        for letter in "ABC":
            assert f'<label for="q-order-{letter}">Rank of response {letter}</label>' in page
            assert f'name="a.order.{letter}" min="1" max="3"' in page
        missing = c.post("/projects/rank/annotate", data={
            "csrf": field(page, "csrf"), "assignment_id": field(page, "assignment_id"),
            "a.order.A": "1", "a.order.B": "x"})  # fmt: skip
        assert missing.status_code == 422 and "missing or not a number: B, C" in missing.text
        shown = re.findall(r'<span class="excerpt">([^<]*)</span>', page)
        ranks = {"one": "1", "two": "2", "three": "3"}  # rank the texts, whatever their letters
        data = {"csrf": field(page, "csrf"), "assignment_id": field(page, "assignment_id"),
                **{f"a.order.{x}": ranks[t] for x, t in zip("ABC", shown, strict=True)}}
        assert c.post("/projects/rank/annotate", data=data).status_code == 303
    # stored in record order (one, two, three), whatever order they were shown in
    assert [json.loads(v) if isinstance(v, str) else v for v in stored(ws, "rank", "order")] == [
        [1, 2, 3]]


def _shape(page: str) -> str:
    """A page with what differs between items taken out: the record's text, the lease's id
    and times, the progress counts."""
    page = re.sub(r'<div class="content doc" data-testid="record-text">.*?</div>', "", page,
                  flags=re.DOTALL)  # fmt: skip
    page = re.sub(r'<dl class="stats".*?</dl>', "", page, flags=re.DOTALL)
    page = re.sub(r'name="(assignment_id|shown_at|csrf)" value="[^"]*"', "", page)
    page = re.sub(r"\d+", "0", page)
    return page


def test_a_gold_item_looks_like_any_other(web) -> None:
    import sqlalchemy as sa

    ws = web["ws"]
    ws.projects.create("goldy", version="tickets@1", schema=SCHEMA, members=["ann"],
                       gold_share=0.9)  # fmt: skip
    record_id = next(ws.datasets.iter_records("tickets@1"))[0][0]
    ws.projects.gold.add("goldy", record_id, {"topic": "billing"})
    ws.queue.reseed(1)  # its first draw (0.13) serves gold
    pages: dict[str, str] = {}
    with client(web, "ann") as c:
        for _ in range(2):
            page = c.get("/projects/goldy/annotate").text
            with ws.engine.connect() as conn:
                kind = conn.execute(
                    sa.text("SELECT t.kind FROM assignments a JOIN tasks t ON t.id = a.task_id "
                            "WHERE a.id = :id"), {"id": int(field(page, "assignment_id"))}
                ).scalar_one()  # fmt: skip
            pages[kind] = page
            assert submit(c, page, "goldy", topic="shipping").status_code == 303
    assert set(pages) == {"gold", "live"}
    assert "gold" not in pages["gold"].lower().replace("goldy", "")
    assert _shape(pages["gold"]) == _shape(pages["live"])


def skip(c: httpx.Client, page: str, project: str, **form: str) -> httpx.Response:
    data = {"csrf": field(page, "csrf"), "assignment_id": field(page, "assignment_id"), **form}
    return c.post(f"/projects/{project}/annotate/skip", data=data)


def test_skip_with_a_reason_gives_the_item_to_someone_else(web) -> None:
    ws = web["ws"]
    ws.workforce.add_user("bob", role="annotator")
    ws.projects.members.add("triage", ["bob"])
    web["tokens"]["bob"] = ws.workforce.issue_token("bob")
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
        assert 'action="/projects/triage/annotate/skip"' in page
        assert '<label for="skip-reason">Reason</label>' in page and "<kbd>S</kbd> skip" in page
        for value in ("unreadable", "not_my_language", "offensive", "other"):
            assert f'<option value="{value}">' in page
        held, text = field(page, "assignment_id"), re.findall(r"ticket \d", page)[0]

        refused = skip(c, page, "triage", reason="other", note=" ")
        assert refused.status_code == 422 and field(refused.text, "assignment_id") == held
        assert 'data-testid="skip-problem">note: say why' in refused.text
        assert '<option value="other" selected>' in refused.text  # the choice stays
        assert skip(c, page, "triage", reason="<b>x</b>").status_code == 422
        assert "<b>x</b>" not in skip(c, page, "triage", reason="<b>x</b>").text
        no_csrf = c.post("/projects/triage/annotate/skip",
                         data={"assignment_id": held, "reason": "unreadable"})
        assert no_csrf.status_code == 403

        done = skip(c, page, "triage", reason="not_my_language", note="in <i>Welsh</i>")
        assert done.status_code == 303
        assert done.headers["location"] == "/projects/triage/annotate?skipped=1"
        after = c.get(done.headers["location"]).text
        assert "The item was given back with your reason" in after
        assert field(after, "assignment_id") != held
        again = skip(c, page, "triage", reason="unreadable")  # the old page: lease gone
        assert again.status_code == 409 and "no longer held" in again.text
        for _ in range(2):  # ann never meets the skipped ticket again
            page = c.get("/projects/triage/annotate").text
            if 'data-testid="nothing-left"' in page:
                break
            assert text not in page
            assert submit(c, page, "triage", topic="billing").status_code == 303
    with client(web, "bob") as c:
        served = []
        for _ in range(3):
            page = c.get("/projects/triage/annotate").text
            if 'data-testid="nothing-left"' in page:
                break
            served.append(re.findall(r"ticket \d", page)[0])
            assert submit(c, page, "triage", topic="billing").status_code == 303
        assert text in served
    [event] = ws.audit.list(action="assignment.skip")
    assert event.actor == "ann" and event.object_ref == held
    assert event.details["reason"] == "not_my_language"
    assert event.details["note"] == "in <i>Welsh</i>"


def test_skip_is_checked_like_submit(web) -> None:
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
    with client(web, "outsider") as c:
        csrf = field(c.get("/").text, "csrf")
        data = {"csrf": csrf, "assignment_id": field(page, "assignment_id"),
                "reason": "unreadable"}  # fmt: skip
        assert c.post("/projects/triage/annotate/skip", data=data).status_code == 404
    with client(web, "watcher") as c:
        csrf = field(c.get("/").text, "csrf")
        data["csrf"] = csrf
        assert c.post("/projects/triage/annotate/skip", data=data).status_code == 403
    with client(web, "ann") as c:  # ann's lease, asked for under another project: not there
        data["csrf"] = field(c.get("/").text, "csrf")
        assert c.post("/projects/judge/annotate/skip", data=data).status_code == 404
    assert web["ws"].audit.list(action="assignment.skip") == []


def test_a_rejected_annotation_comes_back_with_the_reason_and_its_answers(web) -> None:
    """A reviewer rejects ann's answers: her page shows the reason (as text) above the same
    item, with her answers filled in; resubmitting stores the fixed answers and the notice goes.
    An item never rejected shows none."""
    ws = web["ws"]
    ws.workforce.add_user("rev", role="reviewer")
    ws.projects.create("checked", version="tickets@1", schema=SCHEMA, overlap=1,
                       review={"mode": "all"}, members=["ann", "rev"])  # fmt: skip
    reason = f"Not billing: {SCRIPT} {IMG} & see the guideline"
    comment = f"first try {IMG}"
    with client(web, "ann") as c:
        page = c.get("/projects/checked/annotate").text
        assert 'data-testid="returned"' not in page  # never rejected: no notice
        assignment_id = int(field(page, "assignment_id"))
        assert submit(c, page, "checked", topic="billing", comment=comment).status_code == 303
        annotation_id = _annotation_of(ws, assignment_id)
        ws.reviews.decide(annotation_id, "rev", "reject", reason=reason)

        back = c.get("/projects/checked/annotate")
        assert back.status_code == 200
        page = back.text
        assert int(field(page, "assignment_id")) == assignment_id  # the same item again
        assert 'data-testid="returned"' in page
        reason_html = re.search(r'data-testid="returned-reason">(.*?)</blockquote>', page,
                                re.DOTALL)  # fmt: skip
        assert reason_html and html.unescape(reason_html[1]) == reason
        assert SCRIPT not in page and IMG not in page and "&amp; see the guideline" in page
        assert re.search(r'value="billing" checked', page)  # her answers, filled in
        assert not re.search(r'value="shipping" checked', page)
        assert f"\n{html.escape(comment, quote=False)}</textarea>" in page

        fixed = submit(c, page, "checked", topic="shipping", comment="fixed")
        assert fixed.status_code == 303
        after = c.get("/projects/checked/annotate").text
        assert 'data-testid="returned"' not in after
        assert field(after, "assignment_id") != str(assignment_id)
    assert stored(ws, "checked", "topic") == ["shipping"]  # the rejected answer no longer counts
    assert stored(ws, "checked", "comment") == ["fixed"]


def _annotation_of(ws: Any, assignment_id: int) -> int:
    import sqlalchemy as sa

    with ws.engine.connect() as conn:
        return int(conn.execute(
            sa.text("SELECT id FROM annotations WHERE assignment_id = :a ORDER BY revision DESC"),
            {"a": assignment_id},
        ).first()[0])  # fmt: skip


def test_a_form_that_is_not_utf8_or_holds_a_nul_is_refused_and_saves_nothing(web) -> None:
    """Starlette alone would store U+FFFD for the bad byte (and PostgreSQL refuses a NUL with
    a server error): the form guard answers 400 naming the field, before any handler runs."""
    ws = web["ws"]
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
        base = (f"csrf={quote(field(page, 'csrf'))}&assignment_id={field(page, 'assignment_id')}"
                f"&shown_at={quote(field(page, 'shown_at'))}&a.topic=billing")  # fmt: skip
        headers = {"content-type": "application/x-www-form-urlencoded"}
        for tail, why in (
            ("&a.comment=caf%E9", "form field &#39;a.comment&#39;: not UTF-8 text"),
            ("&a.comment=%ED%A0%80", "form field &#39;a.comment&#39;: not UTF-8 text"),  # a
            # lone surrogate, encoded
            ("&a.comment=a%00b", "form field &#39;a.comment&#39;: contains a NUL character"),
        ):
            bad = c.post("/projects/triage/annotate", content=base + tail, headers=headers)
            assert bad.status_code == 400 and why in bad.text, bad.text[-400:]
        raw = c.post("/projects/triage/annotate", content=base.encode() + b"&a.comment=\xff",
                     headers=headers)  # fmt: skip
        assert raw.status_code == 400 and "not UTF-8 text" in raw.text
        huge = c.post("/projects/triage/annotate", headers=headers,
                      content=base + "&a.comment=" + "x" * (1 << 20))  # fmt: skip
        assert huge.status_code == 413 and "larger than 1024 KiB" in huge.text
        assert ws.projects.get("triage").annotations == 0
        fine = c.post("/projects/triage/annotate", headers=headers,
                      content=base + "&a.comment=caf%C3%A9+%E2%9C%93")  # fmt: skip
        assert fine.status_code == 303, fine.text[-400:]
    assert ws.projects.get("triage").annotations == 1
    assert stored(ws, "triage", "comment") == ["café ✓"]


def test_the_pages_script_gets_the_next_item_in_the_submits_own_answer(web) -> None:
    """``X-Curata-Swap: 1`` (what annotate.js sends): the stored submit answers with the next
    item's page and its address, instead of a redirect to it (one request per item); a refused
    answer is the same 422 page either way."""
    ws = web["ws"]
    swap = {"X-Curata-Swap": "1"}
    with client(web, "ann") as c:
        page = c.get("/projects/triage/annotate").text
        before = ws.projects.get("triage").annotations
        data = {"csrf": field(page, "csrf"), "assignment_id": field(page, "assignment_id"),
                "shown_at": field(page, "shown_at")}  # fmt: skip
        refused = c.post("/projects/triage/annotate", data=data, headers=swap)
        assert refused.status_code == 422 and "X-Curata-Location" not in refused.headers
        assert field(refused.text, "assignment_id") == field(page, "assignment_id")
        assert ws.projects.get("triage").annotations == before  # nothing saved

        done = c.post("/projects/triage/annotate", data={**data, "a.topic": "billing"},
                      headers=swap)  # fmt: skip
        assert done.status_code == 200
        assert done.headers["X-Curata-Location"] == "/projects/triage/annotate"
        assert done.headers["content-security-policy"].startswith("default-src 'self'")
        assert field(done.text, "assignment_id") != field(page, "assignment_id")
        assert ws.projects.get("triage").annotations == before + 1
        # the page it answered with is the one a GET shows now (the same lease)
        assert field(c.get("/projects/triage/annotate").text, "assignment_id") == field(
            done.text, "assignment_id"
        )
