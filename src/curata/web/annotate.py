"""The annotator's workspace (#15): the leased item, its questions as a form, submit, and the
project's guideline.

The pages ask what the API's routes ask (:mod:`curata.api.routes.annotation`):
:meth:`ProjectPolicy.annotate <curata.governance.policies.ProjectPolicy.annotate>` before
``queue.next_task``, and :meth:`AssignmentPolicy.submit
<curata.governance.policies.AssignmentPolicy.submit>` as ``queue.submit``'s ``authorize``
callback. The form is parsed into the answer values each question type expects (a rating's
integer, a preference's ``{"choice": ...}``, a ranking's list of ranks in the order shown, a
span list from JSON); the service checks them, so a 422 here is the same 422 as over the API,
shown next to the question it is about, with nothing saved. Gold items are served and drawn
like any other item: nothing on the page tells them apart (the queue's view has no such field).

Submit is post/redirect/get: a stored answer set redirects to the next item (the page's script,
which swaps the next item in place, asks for it in the submit's own response instead). After a
calibration item it redirects to ``?after=ID``, which shows the feedback the service gives
(:meth:`QueueService.calibration_feedback
<curata.annotation.queue.QueueService.calibration_feedback>`, the same as the API's submit
response carries): each question right or wrong with the expected answer, the running score,
what remains, or on failure the retraining material. Live and gold items redirect alike, and
have no feedback (a hidden gold answer is never shown).

A rejected annotation comes back to its annotator with a fresh lease (:meth:`ReviewService.decide
<curata.annotation.review.ReviewService.decide>`): the queue's view then carries ``returned``
(the reviewer's reason and the rejected answers), and the page shows the reason above the item
and fills the form with those answers (:func:`answers_form`) to fix and submit again. Whether
an item comes back is the same for live, gold and calibration items, so it tells them apart no
more than before.

Skip (``POST /projects/NAME/annotate/skip``, a reason and a note) gives the leased item back
through :meth:`QueueService.skip <curata.annotation.queue.QueueService.skip>` with the submit's
policy; the page then shows the next item with a fixed notice.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from curata.annotation.queue import SKIP_REASONS, CalibrationFeedback, NoSkipError, TaskView
from curata.core.errors import ConflictError, NotFoundError, ValidationError
from curata.core.records import response_letter
from curata.governance.identity import User
from curata.governance.policies import (
    AssignmentPolicy,
    ItemScope,
    ProjectPolicy,
    Scopes,
    missing,
)
from curata.http.deps import MAX_ID, ProjectName, ScopesDep, WorkspaceDep
from curata.web.render import render, secure_headers
from curata.web.session import PageUser, check_csrf

router = APIRouter(include_in_schema=False)

MAX_DURATION_MS = 24 * 3600 * 1000
PREFERENCE_KEYS = {"A": "a", "B": "b", "tie": "t", "both_bad": "n"}
PREFERENCE_TITLES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}
SKIP_TITLES = {"unreadable": "Unreadable", "not_my_language": "Not my language",
               "offensive": "Offensive", "other": "Other (say why in the note)"}  # fmt: skip
SWAP_HEADER = "x-curata-swap"
"""Sent by the page's script with a submit it will swap in place (see :func:`annotate_submit`)."""
SKIPPED_NOTICE = "The item was given back with your reason; it goes to someone else."
_PROBLEM = re.compile(r"question '(?P<name>[^']*)': (?P<message>.*)", re.DOTALL)


class FormProblem(Exception):
    """A form field that cannot be read as its question's answer (not a number, bad JSON)."""


# -- pages ---------------------------------------------------------------------------------


@router.get("/projects/{name}/annotate")
def annotate_page(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> Response:  # fmt: skip
    """The item leased to the user (the one they hold, or the next), or "nothing left";
    with ``after`` (a calibration item's assignment just submitted), its feedback first."""
    ProjectPolicy.annotate(user, scopes.project(name, user))
    after = _int(request.query_params.get("after"))
    if after is not None and 1 <= after <= MAX_ID:
        feedback = workspace.queue.calibration_feedback(
            after, user.name, authorize=_authorize(user, name, after))
        if feedback is not None:
            return _feedback_page(request, workspace, name, user, feedback)
    notice = SKIPPED_NOTICE if request.query_params.get("skipped") == "1" else None
    view = workspace.queue.next_task(name, user.name)
    return _page(request, workspace, name, user, view, notice=notice)


def _authorize(user: User, name: str, assignment_id: int) -> Callable[[ItemScope], None]:
    """The submit's policy, for an assignment of this project only."""

    def authorize(scope: ItemScope) -> None:
        AssignmentPolicy.submit(user, scope)
        if scope.project.name != name:  # someone's lease in another project: not here
            raise missing("assignment", assignment_id)

    return authorize


async def _posted(request: Request, name: str, user: User,
                  scopes: Scopes) -> tuple[FormData, int]:
    """A form posted about one's lease: its CSRF token checked, the annotate policy asked, and
    the assignment it names (404 for an id that cannot exist)."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    assignment_id = await run_in_threadpool(_assignment_of, user, name, scopes, form)
    return form, assignment_id


def _assignment_of(user: User, name: str, scopes: Scopes, form: FormData) -> int:
    """The annotate policy asked, then the assignment the form names (404 for an id that
    cannot exist)."""
    ProjectPolicy.annotate(user, scopes.project(name, user))
    assignment_id = _int(form.get("assignment_id"))
    if assignment_id is None or not 1 <= assignment_id <= MAX_ID:
        raise NotFoundError("no such assignment")
    return assignment_id


@router.post("/projects/{name}/annotate")
async def annotate_submit(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> Response:  # fmt: skip
    """Submit the answers to the leased item; 303 back to the page for the next one. The
    page's own script asks (``X-Curata-Swap: 1``) for the next page in this response instead,
    with its address in ``X-Curata-Location``: one request per item instead of two."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    swap = request.headers.get(SWAP_HEADER) == "1"
    return await run_in_threadpool(
        _submit, request, workspace, scopes, name, user, form, swap)


def _submit(
    request: Request, workspace: Any, scopes: Scopes, name: str, user: User, form: FormData,
    swap: bool,
) -> Response:  # fmt: skip
    """The submit's work, in one thread: policy, answers, the stored annotation, and then the
    redirect, or (``swap``) the next page itself."""
    assignment_id = _assignment_of(user, name, scopes, form)
    answers, problems = parse_answers(workspace.projects.questions(name), form)
    if problems:
        return _retry(request, workspace, name, user, assignment_id, form, problems, None)
    try:
        done = workspace.queue.submit(
            assignment_id, user.name, answers, duration_ms=_duration(form.get("shown_at")),
            authorize=_authorize(user, name, assignment_id))  # fmt: skip
    except ValidationError as exc:
        return _retry(request, workspace, name, user, assignment_id, form,
                      problems_of(exc.message), None)  # fmt: skip
    except ConflictError as exc:
        return _retry(request, workspace, name, user, assignment_id, form, {}, exc.message)
    after = f"?after={assignment_id}" if done.calibration is not None else ""
    location = f"/projects/{name}/annotate{after}"
    if not swap:
        response: Response = RedirectResponse(location, status_code=303)
        secure_headers(response)
        return response
    feedback = None
    if done.calibration is not None:
        feedback = workspace.queue.calibration_feedback(
            assignment_id, user.name, authorize=_authorize(user, name, assignment_id))
    if feedback is not None:
        response = _feedback_page(request, workspace, name, user, feedback)
    else:
        response = _page(request, workspace, name, user, workspace.queue.next_task(name, user.name))
    response.headers["X-Curata-Location"] = location
    return response


@router.post("/projects/{name}/annotate/skip")
async def annotate_skip(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> Response:  # fmt: skip
    """Give the leased item back with a reason; 303 back to the page for the next one."""
    form, assignment_id = await _posted(request, name, user, scopes)
    reason, note = _first(form, "reason"), _first(form, "note")
    try:
        await run_in_threadpool(
            lambda: workspace.queue.skip(assignment_id, user.name, reason, note=note,
                                         authorize=_authorize(user, name, assignment_id)))
    except (ValidationError, NoSkipError) as exc:
        return await run_in_threadpool(
            _skip_refused, request, workspace, name, user, assignment_id, form, exc)
    except ConflictError as exc:
        return await run_in_threadpool(
            _retry, request, workspace, name, user, assignment_id, form, {}, exc.message)
    response = RedirectResponse(f"/projects/{name}/annotate?skipped=1", status_code=303)
    secure_headers(response)
    return response


@router.get("/projects/{name}/guideline")
def guideline_page(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> Response:  # fmt: skip
    """The latest published guideline of the project (as text), with its version."""
    ProjectPolicy.view(user, scopes.project(name, user))
    try:
        guideline: dict[str, Any] | None = workspace.projects.guidelines.get(name)
    except NotFoundError:
        guideline = None
    return render(request, "annotate_guideline.html", project=name, guideline=guideline)


# -- rendering -------------------------------------------------------------------------------


def _retry(
    request: Request, workspace: Any, name: str, user: User, assignment_id: int,
    form: FormData, problems: dict[str, str], conflict: str | None,
) -> Response:  # fmt: skip
    """The page again after a refused submit: the same item with the answers as typed and
    each problem by its question (422), or, when the lease is gone, a fresh item (409)."""
    view = workspace.queue.next_task(name, user.name)
    if conflict is None and view is not None and view.assignment_id == assignment_id:
        return _page(request, workspace, name, user, view, status_code=422, form=form,
                     problems=problems)  # fmt: skip
    notice = ("Your time on the previous item ran out (or it was already submitted with other "
              "answers), so it was not saved" + (f": {conflict}" if conflict else "") + ". "
              "Here is a fresh item.")  # fmt: skip
    return _page(request, workspace, name, user, view, status_code=409, notice=notice)


def _skip_refused(
    request: Request, workspace: Any, name: str, user: User, assignment_id: int,
    form: FormData, exc: ValidationError | NoSkipError,
) -> Response:  # fmt: skip
    """The same item again after a refused skip (no reason, a calibration item), the problem
    by the skip form; a fresh item where the lease is gone meanwhile."""
    view = workspace.queue.next_task(name, user.name)
    if view is None or view.assignment_id != assignment_id:
        return _retry(request, workspace, name, user, assignment_id, form, {}, exc.message)
    return _page(request, workspace, name, user, view, status_code=exc.status_code,
                 skip_problem=exc.message, skip_form=form)  # fmt: skip


def _feedback_page(
    request: Request, workspace: Any, name: str, user: User, feedback: CalibrationFeedback
) -> Response:
    """What a calibration item taught, before the next item (or, on failure, instead)."""
    project = workspace.projects.get(name)
    titles = {str(q.get("name")): str(q.get("title") or q.get("name"))
              for q in project.schema.get("questions", [])}  # fmt: skip
    questions = [{"title": titles.get(q.question, q.question), "answer": show_value(q.answer),
                  "expected": show_value(q.expected), "correct": q.correct}
                 for q in feedback.questions]  # fmt: skip
    retraining = feedback.retraining.strip()
    link = retraining if re.fullmatch(r"https?://\S+", retraining) else None
    return render(request, "annotate_feedback.html", project=name,
                  stats=_stats(workspace, name, user.name), feedback=feedback,
                  questions=questions, retraining=retraining, retraining_link=link,
                  percent=lambda x: f"{x:.0%}")  # fmt: skip


def show_value(value: Any) -> str:
    """An answer as a line of text: a preference by its title, a list joined, an object as
    ``key: value`` pairs, no answer as such."""
    if value is None:
        return "(no answer)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list):
        return ", ".join(show_value(v) for v in value) or "(none)"
    if isinstance(value, dict):
        if isinstance(value.get("choice"), str):
            out = str(PREFERENCE_TITLES.get(value["choice"], value["choice"]))
            if value.get("strength") is not None:
                out += f" (strength {value['strength']})"
            return out
        return "; ".join(f"{k}: {show_value(v)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False)


def _page(
    request: Request, workspace: Any, name: str, user: User, view: TaskView | None, *,
    status_code: int = 200, form: FormData | None = None,
    problems: Mapping[str, str] | None = None, notice: str | None = None,
    skip_problem: str | None = None, skip_form: FormData | None = None,
) -> Response:  # fmt: skip
    stats = _stats(workspace, name, user.name)
    if view is None:
        return render(request, "annotate_done.html", status_code=status_code, project=name,
                      stats=stats, notice=notice)  # fmt: skip
    problems = dict(problems or {})
    record = record_view(view.record)
    if form is None and view.returned is not None:  # a rejected annotation: its answers again
        form = answers_form(view.schema.get("questions", []), view.returned.answers, record)
    questions = [
        question_view(q, record, form, problems.pop(str(q.get("name")), None))
        for q in view.schema.get("questions", [])
    ]
    general = "; ".join(f"{k}: {v}" if k != "*" else v for k, v in problems.items())
    reason = _first(skip_form, "reason")
    skip = {"problem": skip_problem, "note": _first(skip_form, "note"),
            "reasons": [{"value": r, "title": SKIP_TITLES.get(r, r), "selected": r == reason}
                        for r in SKIP_REASONS]}  # fmt: skip
    return render(
        request, "annotate.html", status_code=status_code, project=name, view=view,
        record=record, questions=questions, stats=stats, notice=notice, general=general,
        shown_at=int(time.time() * 1000), skip=skip, returned=view.returned,
    )  # fmt: skip


def _stats(workspace: Any, name: str, user_name: str) -> dict[str, Any]:
    """The project's progress (live items complete) and what this user has submitted to it
    (:meth:`ProjectService.progress <curata.annotation.projects.ProjectService.progress>`: the
    numbers of ``status`` over all time, without its per-annotator scan of the project)."""
    progress = workspace.projects.progress(name, user_name)
    return {
        "total": progress.items,
        "complete": progress.complete,
        "percent": round(100 * progress.complete / progress.items) if progress.items else 100,
        "mine": progress.mine,
    }


def _text_of(content: Any) -> str:
    """A chat message's content as text (a list of parts: the text parts, others named)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type', 'part')}]")
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return str(content)


def record_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A served record as the template shows it: ``kind``, and ``text``, ``prompt``,
    ``response``, ``messages`` (role and text) and ``responses`` (letter and text) where the
    kind has them. Metadata is not shown."""
    messages = record.get("messages")
    responses = record.get("responses")
    return {
        "kind": record.get("kind", "text"),
        "text": record.get("text") if isinstance(record.get("text"), str) else None,
        "prompt": record.get("prompt") if isinstance(record.get("prompt"), str) else None,
        "response": record.get("response") if isinstance(record.get("response"), str) else None,
        "messages": [
            {"role": str(m.get("role", "")), "text": _text_of(m.get("content"))}
            for m in messages if isinstance(m, dict)
        ] if isinstance(messages, list) else [],
        "responses": [
            {"letter": str(r.get("letter") or response_letter(i)), "text": str(r.get("text", ""))}
            for i, r in enumerate(responses) if isinstance(r, dict)
        ] if isinstance(responses, list) else [],
    }  # fmt: skip


def _first(form: FormData | None, key: str) -> str:
    if form is None:
        return ""
    value = form.get(key)
    return value if isinstance(value, str) else ""


def question_view(
    q: Mapping[str, Any], record: Mapping[str, Any], form: FormData | None, problem: str | None
) -> dict[str, Any]:
    """What the template needs to draw one question: its options (with their shortcut keys)
    and what is filled in (the answers as posted, on a re-render)."""
    name = str(q.get("name"))
    kind = str(q.get("type"))
    key = f"a.{name}"
    out: dict[str, Any] = {
        "name": name, "type": kind, "key": key, "id": f"q-{name}",
        "title": q.get("title") or name, "required": bool(q.get("required", True)),
        "problem": problem, "value": _first(form, key), "options": [], "digits": False,
        "multiple": False,
    }  # fmt: skip
    if kind == "label":
        labels = [str(x) for x in q.get("labels", [])]
        chosen = set(form.getlist(key)) if form is not None else set()
        out["multiple"] = bool(q.get("multiple"))
        out["options"] = [{"value": x, "title": x, "hint": str(i + 1) if i < 9 else None,
                           "checked": x in chosen} for i, x in enumerate(labels)]  # fmt: skip
        out["digits"] = True
    elif kind == "rating":
        anchors = {str(k): str(v) for k, v in (q.get("anchors") or {}).items()}
        points = int(q.get("points", 5))
        out["options"] = [{
            "value": str(p), "title": f"{p}" + (f" – {anchors[str(p)]}" if str(p) in anchors
                                                else ""),
            "hint": str(p) if p <= 9 else None, "checked": out["value"] == str(p),
        } for p in range(1, points + 1)]  # fmt: skip
        out["digits"] = True
    elif kind == "preference":
        out["options"] = [{"value": c, "title": PREFERENCE_TITLES[c], "hint": h.upper(),
                           "checked": out["value"] == c}
                          for c, h in PREFERENCE_KEYS.items()]  # fmt: skip
        levels = int(q.get("strength_levels") or 0)
        strength = _first(form, f"{key}.strength")
        out["strengths"] = [{"value": str(s), "checked": strength == str(s)}
                            for s in range(1, levels + 1)]  # fmt: skip
        out["rationale"] = str(q.get("rationale", "optional"))
        out["rationale_value"] = _first(form, f"{key}.rationale")
    elif kind == "ranking":
        count = int(q.get("responses", 2))
        texts = {r["letter"]: r["text"] for r in record.get("responses", [])}
        letters = [response_letter(i) for i in range(count)]
        out["items"] = [{"letter": x, "text": texts.get(x, ""), "id": f"q-{name}-{x}",
                         "value": _first(form, f"{key}.{x}")} for x in letters]  # fmt: skip
        out["count"] = count
    elif kind == "refusal":
        categories = [str(c) for c in q.get("categories", [])]
        decisions = [("comply", "Comply (no refusal)")] + [
            (f"refuse-{i}", f"Refuse: {c}") for i, c in enumerate(categories)]
        out["options"] = [{"value": v, "title": t, "hint": str(i + 1) if i < 9 else None,
                           "checked": out["value"] == v}
                          for i, (v, t) in enumerate(decisions)]  # fmt: skip
        out["digits"] = True
        out["rewrite"] = str(q.get("rewrite", "optional"))
        out["rewrite_value"] = _first(form, f"{key}.rewritten")
    elif kind == "response":
        reference = record.get("response")
        out["value"] = out["value"] if form is not None else (reference or "")
    elif kind == "span":
        field = str(q.get("field", "text"))
        source = record.get(field)
        out["source"] = source if isinstance(source, str) else ""
        out["field"] = field
        out["labels"] = [{"value": str(x), "hint": str(i + 1) if i < 9 else None}
                         for i, x in enumerate(q.get("labels", []))]  # fmt: skip
        if form is None:
            out["value"] = "[]"
    return out


def answers_form(
    questions: Sequence[Mapping[str, Any]], answers: Mapping[str, Any], record: Mapping[str, Any]
) -> FormData:
    """Stored answers (as the annotator gave them) as the form fields that would post them:
    the inverse of :func:`parse_answers`, to fill the form with a rejected annotation's
    answers. A question without an answer gets what a fresh form has."""
    fields: list[tuple[str, str | UploadFile]] = []
    for q in questions:
        name = str(q.get("name"))
        kind = str(q.get("type"))
        key = f"a.{name}"
        value = answers.get(name)
        if kind == "response" and value is None:
            value = record.get("response")
        if kind == "span" and value is None:
            value = []
        if value is None:
            continue
        if kind == "label" and isinstance(value, list):
            fields += [(key, str(v)) for v in value]
        elif kind == "preference" and isinstance(value, dict):
            for suffix, part in (("", "choice"), (".strength", "strength"),
                                 (".rationale", "rationale")):  # fmt: skip
                if value.get(part) is not None:
                    fields.append((key + suffix, str(value[part])))
        elif kind == "ranking" and isinstance(value, list):
            fields += [(f"{key}.{response_letter(i)}", str(rank))
                       for i, rank in enumerate(value) if rank is not None]  # fmt: skip
        elif kind == "ranking" and isinstance(value, dict):
            fields += [(f"{key}.{letter}", str(rank)) for letter, rank in value.items()]
        elif kind == "refusal" and isinstance(value, dict):
            categories = [str(c) for c in q.get("categories", [])]
            category = str(value.get("category"))
            if not value.get("should_refuse"):
                fields.append((key, "comply"))
            elif category in categories:
                fields.append((key, f"refuse-{categories.index(category)}"))
            if isinstance(value.get("rewritten"), str):
                fields.append((f"{key}.rewritten", value["rewritten"]))
        elif kind == "response" and isinstance(value, dict):
            fields.append((key, str(value.get("text", ""))))
        elif kind == "span":
            fields.append((key, json.dumps(value, ensure_ascii=False)))
        elif isinstance(value, str):
            fields.append((key, value))
        elif isinstance(value, bool | int | float):
            fields.append((key, str(value)))
        else:
            fields.append((key, json.dumps(value, ensure_ascii=False)))
    return FormData(fields)


# -- parsing ---------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if not isinstance(value, str) or not re.fullmatch(r"\s*-?\d{1,10}\s*", value):
        return None
    return int(value)


def _duration(value: Any) -> int | None:
    """Milliseconds since the page was rendered (its ``shown_at``), when plausible."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,16}", value):
        return None
    spent = int(time.time() * 1000) - int(value)
    return spent if 0 <= spent <= MAX_DURATION_MS else None


def _text(form: FormData, key: str) -> str | None:
    """A text field, ``None`` when empty (the service decides whether it was required)."""
    value = form.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.replace("\r\n", "\n")


def parse_answer(q: Mapping[str, Any], form: FormData) -> Any:
    """One question's answer from the form, as its type expects it (``None``: not answered).
    Raises :class:`FormProblem` for a field that cannot be read at all."""
    kind = str(q.get("type"))
    key = f"a.{q.get('name')}"
    if kind == "label":
        if q.get("multiple"):
            chosen = [v for v in form.getlist(key) if isinstance(v, str) and v]
            return chosen or None
        return _text(form, key)
    if kind == "rating":
        raw = _text(form, key)
        if raw is None:
            return None
        number = _int(raw)
        if number is None:
            raise FormProblem(f"{raw!r} is not a point of the scale")
        return number
    if kind == "preference":
        choice = _text(form, key)
        if choice is None:
            return None
        answer: dict[str, Any] = {"choice": choice}
        strength = _text(form, f"{key}.strength")
        if strength is not None and int(q.get("strength_levels") or 0):
            level = _int(strength)
            if level is None:
                raise FormProblem(f"strength {strength!r} is not a number")
            answer["strength"] = level
        rationale = _text(form, f"{key}.rationale")
        if rationale is not None and q.get("rationale", "optional") != "none":
            answer["rationale"] = rationale
        return answer
    if kind == "ranking":
        letters = [response_letter(i) for i in range(int(q.get("responses", 2)))]
        raw_ranks = [_text(form, f"{key}.{x}") for x in letters]
        if all(r is None for r in raw_ranks):
            return None
        ranks = [_int(r) if r is not None else None for r in raw_ranks]
        unranked = [x for x, r in zip(letters, ranks, strict=True) if r is None]
        if unranked:
            raise FormProblem(f"give every response a rank (1 = best); missing or not a "
                              f"number: {', '.join(unranked)}")  # fmt: skip
        return ranks  # in the order shown, as the annotator saw the letters
    if kind == "refusal":
        decision = _text(form, key)
        if decision is None:
            return None
        out: dict[str, Any]
        if decision == "comply":
            out = {"should_refuse": False}
        else:
            categories = list(q.get("categories", []))
            index = _int(decision[len("refuse-"):]) if decision.startswith("refuse-") else None
            if index is None or not 0 <= index < len(categories):
                raise FormProblem(f"{decision!r} is not a decision of this question")
            out = {"should_refuse": True, "category": categories[index]}
        rewritten = _text(form, f"{key}.rewritten")
        if rewritten is not None and q.get("rewrite", "optional") != "none":
            out["rewritten"] = rewritten
        return out
    if kind == "response":
        text = _text(form, key)
        return None if text is None else {"text": text}
    if kind == "span":
        raw = _text(form, key)
        if raw is None:
            return []
        try:
            return json.loads(raw)
        except ValueError:
            raise FormProblem("the spans are not readable (expected a JSON list of "
                              '{"start", "end", "label"})') from None  # fmt: skip
    return _text(form, key)  # text, and any other type: its text as typed


def parse_answers(
    questions: Sequence[Mapping[str, Any]], form: FormData
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answers of a submitted form, and the fields that could not be read (by question)."""
    answers: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for q in questions:
        name = str(q.get("name"))
        try:
            value = parse_answer(q, form)
        except FormProblem as exc:
            problems[name] = str(exc)
            continue
        if value is not None:
            answers[name] = value
    return answers, problems


def problems_of(message: str) -> dict[str, str]:
    """The service's 422 message (``question 'x': what; question 'y': what``) by question;
    anything not about one question under ``*``."""
    out: dict[str, str] = {}
    for part in re.split(r"; (?=question ')", message):
        found = _PROBLEM.fullmatch(part)
        if found:
            name, text = found["name"], found["message"]
            out[name] = f"{out[name]}; {text}" if name in out else text
        else:
            out["*"] = f"{out['*']}; {part}" if "*" in out else part
    return out
