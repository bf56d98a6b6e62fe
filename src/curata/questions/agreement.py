"""Agreement per question: the statistics each question's type declares, dispatched through the
registry (the statistics themselves are :mod:`curata.stats.questions`'s pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curata.questions import question_type, question_types
from curata.stats.agreement import AgreementError
from curata.stats.questions import Bootstrap, agreement_result, rating_rows
from curata.stats.typed import Encode


def question_agreement(
    question: Mapping[str, Any],
    ratings: Sequence[Any],
    *,
    texts: Mapping[Any, str] | None = None,
    encode: Encode | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every agreement statistic that fits ``question``'s type, as a JSON-able dict.

    ``question`` is a schema question in its JSON form; ``ratings`` are ``(item, annotator,
    value)`` with values shaped as the question's answers (``None`` = no answer); ``texts``
    maps each item to the text its spans point into (span questions); ``encode`` replaces
    MiniLM for written responses. Each statistic has ``value``, ``low``/``high`` (percentile
    bootstrap over items, ``n_boot`` replicates) and ``units`` (the pairable units it rests
    on); nothing pairable gives an empty list. A malformed value is an
    :class:`~curata.stats.agreement.AgreementError` naming the item and the annotator.
    """
    kind = question.get("type")
    known = question_types()
    if not isinstance(kind, str) or kind not in known:
        raise AgreementError(f"question type {kind!r} has no agreement statistic")
    rows = rating_rows(ratings)
    by_item = None if texts is None else {str(k): v for k, v in texts.items()}
    body = known[kind].agreement(
        question, rows, Bootstrap(confidence, n_boot, seed), texts=by_item, encode=encode
    )
    return agreement_result(question, rows, body)


def gate_alpha(question: Mapping[str, Any], ratings: Sequence[Any]) -> tuple[float | None, str]:
    """Krippendorff's alpha for a release gate on ``question`` and its level: the alpha that
    :func:`question_agreement` reports for the question's type (interval on a rating scale;
    nominal on a label, a preference's choice, a refusal's decision; nominal on whole answers
    for other types). ``None`` when no item has two answers."""
    kind = question.get("type")
    return question_type(kind if isinstance(kind, str) else None).gate_alpha(
        question, rating_rows(ratings)
    )
