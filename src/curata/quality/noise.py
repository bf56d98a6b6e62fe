"""Label-noise detection: CROWDLAB over a project's annotations, and confident learning when
the user brings model predictions; suspected label errors can be sent to the review queue.

CROWDLAB (Goh, Tkachenko and Mueller, "CROWDLAB: Supervised learning to infer consensus labels
and quality scores for data with multiple annotators", 2022) weighs every annotator's label and a
classifier's out-of-sample predicted probabilities into a consensus label and a consensus
quality score in [0, 1] per item: low scores are likely wrong labels. Confident learning
(Northcutt, Jiang and Chuang, JAIR 2021) flags items whose label the predictions contradict
beyond each class's estimated noise rate. Both come from cleanlab.

Where the predicted probabilities come from, per question:

``predictions``  the user's file (:func:`read_predictions`); only items with a row are checked.
``text``         a TF-IDF (word 1-2 grams and character 2-5 grams) + logistic regression model,
                 trained on the records' text against the annotators' majority vote and
                 predicting each item out of fold (stratified k-fold, k <= 5).
``votes``        the vote shares, Laplace-smoothed, when cross-validation is impossible (fewer
                 than ``MIN_MODEL_ITEMS`` items, fewer than two classes with two items each,
                 or no text). The model then only repeats the annotators, so the scores reduce
                 to an agreement measure; the result says so in ``note``.

Confident learning tests the annotators' majority vote (ties broken by the predictions), not
the CROWDLAB consensus: that consensus already leans on the same predictions, so it would hide
exactly the items where the model overrides the annotators.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from curata.annotation.final import adjudications, counted_annotations
from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.core.records import Record
from curata.quality.predictions import read_predictions
from curata.questions import parse_question, question_type
from curata.stats.aggregation import TIE, majority_labels
from curata.store.tables import TaskRow, UserRow

DEFAULT_THRESHOLD = 0.5
MIN_MODEL_ITEMS = 10
AUDIT_IDS = 1000
"""Record ids listed in the audit event at most (the count is always exact)."""
ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class AnnotatorQuality:
    """CROWDLAB's view of one annotator: overall label quality, and agreement with consensus."""

    annotator: str
    quality: float
    labeled: int
    agreement: float
    worst_class: int


@dataclass(frozen=True)
class CrowdlabResult:
    """Per item (class indices): CROWDLAB consensus, its quality score, the share of annotators
    who gave it, and the plain majority vote; per annotator, :class:`AnnotatorQuality`."""

    consensus: np.ndarray
    quality: np.ndarray
    agreement: np.ndarray
    majority: np.ndarray
    annotators: list[AnnotatorQuality]


def crowdlab(
    labels_multiannotator: pd.DataFrame | np.ndarray, pred_probs: np.ndarray
) -> CrowdlabResult:
    """CROWDLAB on an items x annotators matrix of class indices (NaN: not labelled) and an
    items x classes matrix of out-of-sample predicted probabilities (cleanlab's defaults:
    ``best_quality`` consensus, ``crowdlab`` quality)."""
    from cleanlab.multiannotator import (
        get_label_quality_multiannotator,
        get_majority_vote_label,
    )

    if isinstance(labels_multiannotator, pd.DataFrame):
        frame = labels_multiannotator
    else:
        frame = pd.DataFrame(labels_multiannotator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = get_label_quality_multiannotator(
            frame, pred_probs, return_detailed_quality=False, verbose=False
        )
        matrix = frame.astype(float).to_numpy()
        majority = get_majority_vote_label(matrix, pred_probs, verbose=False)
    quality = info["label_quality"]
    stats = info["annotator_stats"]
    return CrowdlabResult(
        consensus=quality["consensus_label"].to_numpy(dtype=int),
        quality=quality["consensus_quality_score"].to_numpy(dtype=float),
        agreement=quality["annotator_agreement"].to_numpy(dtype=float),
        majority=np.asarray(majority, dtype=int),
        annotators=[
            AnnotatorQuality(
                annotator=str(name),
                quality=float(row["annotator_quality"]),
                labeled=int(row["num_examples_labeled"]),
                agreement=float(row["agreement_with_consensus"]),
                worst_class=int(row["worst_class"]),
            )
            for name, row in stats.iterrows()
        ],
    )


def confident_learning(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """A mask of the items confident learning calls mislabelled (cleanlab's
    ``find_label_issues``, pruned by noise rate; single process)."""
    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = find_label_issues(labels=labels, pred_probs=pred_probs, n_jobs=1)
    return np.asarray(mask, dtype=bool)


def vote_pred_probs(labels_multiannotator: np.ndarray, n_classes: int) -> np.ndarray:
    """Each item's vote shares, Laplace-smoothed: (votes + 1) / (annotations + classes)."""
    counts = np.zeros((len(labels_multiannotator), n_classes))
    for k in range(n_classes):
        counts[:, k] = (labels_multiannotator == k).sum(axis=1)
    smoothed: np.ndarray = (counts + 1.0) / (counts.sum(axis=1, keepdims=True) + n_classes)
    return smoothed


def text_pred_probs(
    texts: Sequence[str], labels: np.ndarray, n_classes: int, *, seed: int = 0
) -> tuple[np.ndarray | None, str]:
    """Out-of-fold probabilities from TF-IDF (words and characters) + logistic regression
    trained on ``labels``; ``(None, why)`` when cross-validation is impossible."""
    counts = sorted(Counter(labels.tolist()).values(), reverse=True)
    if len(texts) < MIN_MODEL_ITEMS:
        return None, f"only {len(texts)} items (the text model needs {MIN_MODEL_ITEMS})"
    if len(counts) < 2 or counts[1] < 2:
        return None, "the text model needs two classes with at least two items each"
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=1000),
    )
    folds = StratifiedKFold(n_splits=min(5, counts[1]), shuffle=True, random_state=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probs = cross_val_predict(model, list(texts), labels, cv=folds, method="predict_proba")
    except ValueError as exc:  # e.g. an empty vocabulary: no text to learn from
        return None, f"the text model could not be trained ({exc})"
    out = np.zeros((len(texts), n_classes))
    out[:, np.unique(labels)] = probs
    return out, f"text model, {folds.n_splits}-fold out-of-sample predictions"


def record_text(record: Record) -> str:
    """The text a classifier sees for a record: its text, prompt and response, or messages."""
    if record.kind == "text":
        return record.text or ""
    if record.kind == "pair":
        return f"{record.prompt or ''}\n{record.response or ''}"
    parts: list[str] = []
    for message in record.messages or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p["text"] for p in content if isinstance(p, dict) and "text" in p]
    return "\n".join(str(p) for p in parts)


@dataclass
class _Question:
    name: str
    type: str
    classes: list[Any]

    @property
    def names(self) -> list[str]:
        return [str(c) for c in self.classes]


@dataclass
class _Item:
    task_id: int
    record_id: str
    row: int
    votes: dict[str, int]  # annotator name -> class index


@dataclass
class NoiseInput:
    """What a label-noise scan reads from a project: the questions to check, every task's id
    by record id, each question's labelled live items (the final labels of
    :mod:`curata.annotation.final`, oldest task first) and how many items adjudication settled
    per question (left out of ``items``)."""

    questions: list[_Question]
    tasks: dict[str, int]
    items: dict[str, list[_Item]]
    adjudicated: dict[str, int]


def read_noise_input(
    session: Session, project_id: int, schema: dict[str, Any], only: str | None
) -> NoiseInput:
    """The :class:`NoiseInput` of a project with question schema ``schema`` (its JSON form),
    read inside the caller's transaction; ``only`` names the one question to check."""
    questions = _questions(schema, only)
    tasks = session.execute(
        select(TaskRow.id, TaskRow.record_id, TaskRow.row, TaskRow.kind).where(
            TaskRow.project_id == project_id
        )
    ).all()
    counted = [a for a in counted_annotations(session, project_id=project_id) if a.kind == "live"]
    settled = adjudications(session, project_id=project_id)
    users = {u: n for u, n in session.execute(select(UserRow.id, UserRow.name))}
    live = {t.id: t for t in tasks if t.kind == "live"}
    items: dict[str, dict[int, _Item]] = {q.name: {} for q in questions}
    keys = {q.name: {canonical_json(c): k for k, c in enumerate(q.classes)} for q in questions}
    adjudicated = {q.name: 0 for q in questions}
    for q in questions:
        adjudicated[q.name] = sum(q.name in answers for answers in settled.values())
    for a in counted:
        answers = a.answers
        task = live[a.task_id]
        for q in questions:
            if q.name not in answers or q.name in settled.get(task.id, {}):
                continue
            k = keys[q.name].get(canonical_json(answers[q.name]))
            if k is None:  # a value outside the current classes (cannot happen: labels only grow)
                continue
            item = items[q.name].setdefault(task.id, _Item(task.id, task.record_id, task.row, {}))
            item.votes[users[a.user_id]] = k
    ordered = {
        name: sorted(found.values(), key=lambda i: i.task_id) for name, found in items.items()
    }
    return NoiseInput(questions, {t.record_id: t.id for t in tasks}, ordered, adjudicated)


def scan(
    data: NoiseInput,
    *,
    predictions: str | os.PathLike[str] | None,
    threshold: float,
    take_records: Callable[[list[int]], list[Record]],
    say: ProgressFn,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each question's summary and the suspects of all of them, lowest consensus quality first
    (see :meth:`curata.quality.service.QualityService.label_noise`); ``take_records`` reads
    records by store row, for the text model."""
    questions = data.questions
    if predictions is not None and len(questions) != 1:
        raise ValidationError(
            "question: predictions are for one question; name it (one of "
            f"{', '.join(q.name for q in questions)})"
        )
    given = None
    if predictions is not None:
        given = read_predictions(predictions, classes=questions[0].names, known=set(data.tasks))
    summaries: list[dict[str, Any]] = []
    suspects: list[dict[str, Any]] = []
    for q in questions:
        summary, found = _check_question(
            q, data.items[q.name], given, threshold, say, data.adjudicated[q.name], take_records
        )
        summaries.append(summary)
        suspects += found
    suspects.sort(key=lambda s: (s["quality"], s["record_id"], s["question"]))
    return summaries, suspects


def _questions(schema: dict[str, Any], only: str | None) -> list[_Question]:
    found: list[_Question] = []
    for q in schema.get("questions", []):
        if only is not None and q["name"] != only:
            continue
        classes = parse_question(q).classes()
        supported = question_type(q["type"]).answer_is_class and classes is not None
        if only is not None and not supported:
            raise ValidationError(
                f"question: '{only}' is a {'multi-label ' if q.get('multiple') else ''}"
                f"{q['type']} question; label noise is checked on single-choice label and "
                "rating questions"
            )
        if supported and classes is not None:
            found.append(_Question(q["name"], q["type"], classes))
    if only is not None and not found:
        names = ", ".join(q["name"] for q in schema.get("questions", []))
        raise ValidationError(f"question: no question {only!r} (questions: {names})")
    if not found:
        raise ValidationError(
            "question: the project has no single-choice label or rating question to check"
        )
    return found


def _check_question(
    q: _Question,
    items: list[_Item],
    given: dict[str, np.ndarray] | None,
    threshold: float,
    say: ProgressFn,
    adjudicated: int,
    take_records: Callable[[list[int]], list[Record]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary: dict[str, Any] = {
        "question": q.name,
        "type": q.type,
        "classes": q.names,
        "items": 0,
        "adjudicated": adjudicated,
        "unpredicted": 0,
        "model": None,
        "note": None,
        "skipped": None,
        "suspects": 0,
        "label_issues": None,
        "annotators": [],
    }
    if given is not None:
        summary["unpredicted"] = sum(i.record_id not in given for i in items)
        items = [i for i in items if i.record_id in given]
    summary["items"] = len(items)
    annotators = sorted({name for i in items for name in i.votes})
    if len(q.classes) < 2:
        summary["skipped"] = "the question has a single class"
    elif len(annotators) < 2 or not any(len(i.votes) > 1 for i in items):
        summary["skipped"] = "CROWDLAB needs items labelled by at least two annotators"
    if summary["skipped"]:
        return summary, []
    column = {name: j for j, name in enumerate(annotators)}
    matrix = np.full((len(items), len(annotators)), np.nan)
    for n, item in enumerate(items):
        for name, k in item.votes.items():
            matrix[n, column[name]] = k
    n_classes = len(q.classes)
    if given is not None:
        probs = np.stack([given[i.record_id] for i in items])
        summary["model"] = "predictions"
    else:
        say(f"training the text model for '{q.name}' on {len(items):,} items")
        records = take_records([i.row for i in items])
        counts = np.stack([(matrix == k).sum(axis=1) for k in range(n_classes)], axis=1)
        majority = majority_labels(counts)
        # the text model needs a label for every item it predicts out of fold: a tied item
        # (TIE) trains on the lowest-index class among its leaders, which only nudges the model
        majority = np.where(majority == TIE, counts.argmax(axis=1), majority)
        trained, note = text_pred_probs([record_text(r) for r in records], majority, n_classes)
        if trained is not None:
            probs, summary["model"] = trained, "text"
        else:
            probs, summary["model"] = vote_pred_probs(matrix, n_classes), "votes"
            note = (
                f"{note}: predictions are the smoothed vote shares, so the scores only measure "
                "agreement; give --predictions for a model's view"
            )
        summary["note"] = note
    say(f"scoring '{q.name}' with CROWDLAB")
    result = crowdlab(pd.DataFrame(matrix, columns=annotators), probs)
    issues = np.zeros(len(items), dtype=bool)
    if given is not None:
        issues = confident_learning(result.majority, probs)
        summary["label_issues"] = int(issues.sum())
    summary["annotators"] = [
        {**asdict(a), "worst_class": q.names[a.worst_class]} for a in result.annotators
    ]
    found: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        low = result.quality[n] < threshold
        if not (low or issues[n]):
            continue
        consensus, majority_label = int(result.consensus[n]), int(result.majority[n])
        suggested = int(np.argmax(probs[n]))
        reasons = []
        if low:
            reasons.append(f"consensus quality {result.quality[n]:.2f} < {threshold:.2f}")
        if issues[n]:
            reasons.append(
                f"confident learning: the model predicts '{q.names[suggested]}' "
                f"(p={probs[n, suggested]:.2f}) against the majority's '{q.names[majority_label]}'"
            )
        if consensus != majority_label:
            reasons.append(
                f"CROWDLAB's consensus '{q.names[consensus]}' overrides the majority "
                f"'{q.names[majority_label]}'"
            )
        votes = Counter(q.names[k] for k in item.votes.values())
        found.append(
            {
                "record_id": item.record_id,
                "task_id": item.task_id,
                "question": q.name,
                "consensus": q.classes[consensus],
                "majority": q.classes[majority_label],
                "quality": round(float(result.quality[n]), 6),
                "agreement": round(float(result.agreement[n]), 6),
                "votes": dict(votes.most_common()),
                "suggested": q.classes[suggested] if given is not None else None,
                "suggested_prob": (
                    round(float(probs[n, suggested]), 6) if given is not None else None
                ),
                "label_issue": bool(issues[n]),
                "reason": "; ".join(reasons),
            }
        )
    summary["suspects"] = len(found)
    return summary, found
