"""Regression between checkpoints: two campaigns on the same pinned attack set, item by item.

Pure: :func:`compare` takes each campaign's verdict per attack id (``breach``, ``refused``,
``safe``, ``error`` or ``empty``, as the scorers give them) and returns a :class:`Regression`.
An attack *fails* when its verdict is ``breach`` and *passes* when it is ``refused`` or
``safe``; ``error`` and ``empty`` say nothing about the model and are left out of the pairing
and counted apart, as are attacks only one campaign has.

Per item (exactly one class each):

- ``newly_failing``: passed before, breached after, and never breached in the history;
- ``reopened``: passed before, breached after, and breached in an earlier campaign of the
  history (so it had been fixed, and fails again);
- ``newly_fixed``: breached before, passes after;
- ``still_failing`` / ``still_passing``: the same side both times;
- ``unpaired``: missing from a campaign, or ``error``/``empty`` in either.

Per category and overall, the breach rate before and after over the paired attacks, its change
(after - before) with Newcombe's (1998) paired interval and McNemar's test on the discordant
pairs (:mod:`curata.stats.paired`; exact by default). The gate: with ``max_regression`` = X, a
group *regresses* when the lower bound of the two-sided ``confidence`` interval of its change
exceeds X (X = 0.05: "no category regresses by more than 5 points at 95% confidence"; that
lower bound is a one-sided 97.5% bound). Every category and the whole set are checked; a group
with no paired attack cannot regress. The gate passes when none regresses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curata.core.errors import ValidationError
from curata.redteam.scorers.base import VERDICTS
from curata.stats.paired import McNemarMethod, mcnemar, paired_difference

CLASSES = ("newly_failing", "newly_fixed", "reopened", "still_failing", "still_passing", "unpaired")
PASSING = ("refused", "safe")
NOT_JUDGED = ("error", "empty")
UNCATEGORISED = "uncategorised"
"""The category of an attack the ``categories`` mapping does not name."""


@dataclass(frozen=True)
class Delta:
    """The breach rate of one group of attacks before and after, over its paired attacks.

    ``worsened`` (pass -> breach: newly failing plus reopened) and ``improved`` (breach ->
    pass) are McNemar's discordant counts. Rates, change and interval are ``None`` when no
    attack of the group is paired.
    """

    n: int
    before_breaches: int
    after_breaches: int
    worsened: int
    improved: int
    before_rate: float | None
    after_rate: float | None
    change: float | None
    low: float | None
    high: float | None
    p_value: float
    regressed: bool
    classes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "before_breaches": self.before_breaches,
            "after_breaches": self.after_breaches,
            "worsened": self.worsened,
            "improved": self.improved,
            "before_rate": self.before_rate,
            "after_rate": self.after_rate,
            "change": self.change,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "regressed": self.regressed,
            "classes": dict(self.classes),
        }


@dataclass(frozen=True)
class Gate:
    """The release gate: whether any category (or the whole set) regressed by more than
    ``max_regression`` at ``confidence`` (see the module docstring)."""

    max_regression: float
    confidence: float
    passed: bool
    regressed: tuple[str, ...]
    overall_regressed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_regression": self.max_regression,
            "confidence": self.confidence,
            "passed": self.passed,
            "regressed": list(self.regressed),
            "overall_regressed": self.overall_regressed,
        }


@dataclass(frozen=True)
class Regression:
    """Campaign ``after`` against campaign ``before`` (see :func:`compare`).

    ``items`` maps every attack id of either campaign to its class; ``not_judged`` counts
    ``error`` and ``empty`` verdicts per campaign; ``missing`` counts the attacks a campaign
    lacks (``before``: ids only ``after`` has).
    """

    items: dict[str, str]
    overall: Delta
    categories: dict[str, Delta]
    not_judged: dict[str, dict[str, int]]
    missing: dict[str, int]
    confidence: float
    test: McNemarMethod
    gate: Gate | None

    def ids(self, cls: str) -> list[str]:
        """The attack ids of class ``cls``, sorted."""
        return sorted(i for i, c in self.items.items() if c == cls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": {cls: self.ids(cls) for cls in CLASSES},
            "overall": self.overall.to_dict(),
            "categories": {name: d.to_dict() for name, d in self.categories.items()},
            "not_judged": {side: dict(c) for side, c in self.not_judged.items()},
            "missing": dict(self.missing),
            "confidence": self.confidence,
            "test": self.test,
            "gate": self.gate.to_dict() if self.gate else None,
        }


def compare(
    before: Mapping[str, str],
    after: Mapping[str, str],
    *,
    history: Mapping[str, Sequence[str]] | None = None,
    categories: Mapping[str, str] | None = None,
    max_regression: float | None = None,
    confidence: float = 0.95,
    test: McNemarMethod = "exact",
) -> Regression:
    """Compare two campaigns' verdicts per attack id (module docstring for the classes, the
    statistics and the gate).

    ``history`` gives each attack's verdicts in campaigns earlier than ``before``, oldest
    first; ``categories`` each attack's category (attacks it omits fall in
    ``uncategorised``; without it there are no per-category rows). ``max_regression`` is a
    proportion (0.05 = 5 points); without it there is no gate.
    """
    if not 0.0 < confidence < 1.0:
        raise ValidationError(f"confidence: must be between 0 and 1, got {confidence}")
    if max_regression is not None and not 0.0 <= max_regression < 1.0:
        raise ValidationError(
            "max_regression: must be a proportion in [0, 1) (0.05 = 5 points), "
            f"got {max_regression}"
        )
    _check_verdicts("before", before)
    _check_verdicts("after", after)
    for attack_id, earlier in (history or {}).items():
        _check_verdicts(f"history[{attack_id!r}]", dict(enumerate(earlier)))

    items = {
        attack_id: _classify(
            before.get(attack_id), after.get(attack_id), (history or {}).get(attack_id, ())
        )
        for attack_id in sorted(set(before) | set(after))
    }
    limit = max_regression

    def delta(ids: list[str]) -> Delta:
        return _delta(
            [(before[i], after[i]) for i in ids if items[i] != "unpaired"],
            Counter(items[i] for i in ids),
            confidence=confidence,
            test=test,
            limit=limit,
        )

    overall = delta(list(items))
    groups: dict[str, list[str]] = {}
    if categories is not None:
        for attack_id in items:
            groups.setdefault(categories.get(attack_id, UNCATEGORISED), []).append(attack_id)
    by_category = {name: delta(groups[name]) for name in sorted(groups)}

    gate = None
    if max_regression is not None:
        regressed = tuple(name for name, d in by_category.items() if d.regressed)
        gate = Gate(
            max_regression,
            confidence,
            not regressed and not overall.regressed,
            regressed,
            overall.regressed,
        )
    return Regression(
        items=items,
        overall=overall,
        categories=by_category,
        not_judged={
            "before": _count_not_judged(before.values()),
            "after": _count_not_judged(after.values()),
        },
        missing={
            "before": sum(1 for i in after if i not in before),
            "after": sum(1 for i in before if i not in after),
        },
        confidence=confidence,
        test=test,
        gate=gate,
    )


def _classify(before: str | None, after: str | None, history: Sequence[str]) -> str:
    if before is None or after is None or before in NOT_JUDGED or after in NOT_JUDGED:
        return "unpaired"
    if before == "breach":
        return "still_failing" if after == "breach" else "newly_fixed"
    if after != "breach":
        return "still_passing"
    return "reopened" if "breach" in history else "newly_failing"


def _delta(
    pairs: list[tuple[str, str]],
    classes: Counter[str],
    *,
    confidence: float,
    test: McNemarMethod,
    limit: float | None,
) -> Delta:
    both = sum(1 for b, a in pairs if b == "breach" and a == "breach")
    improved = sum(1 for b, a in pairs if b == "breach" and a != "breach")
    worsened = sum(1 for b, a in pairs if b != "breach" and a == "breach")
    n = len(pairs)
    p_value = mcnemar(worsened, improved, method=test).p_value
    counts = {cls: classes.get(cls, 0) for cls in CLASSES}
    if n == 0:
        return Delta(0, 0, 0, 0, 0, None, None, None, None, None, p_value, False, counts)
    # Newcombe's table with "after" as the first classification: p1 - p2 = after - before
    diff = paired_difference(
        both, worsened, improved, n - both - worsened - improved, confidence=confidence
    )
    return Delta(
        n=n,
        before_breaches=both + improved,
        after_breaches=both + worsened,
        worsened=worsened,
        improved=improved,
        before_rate=diff.p2,
        after_rate=diff.p1,
        change=diff.estimate,
        low=diff.low,
        high=diff.high,
        p_value=p_value,
        regressed=limit is not None and diff.low > limit,
        classes=counts,
    )


def _count_not_judged(verdicts: Any) -> dict[str, int]:
    seen = Counter(v for v in verdicts if v in NOT_JUDGED)
    return {v: seen.get(v, 0) for v in NOT_JUDGED}


def _check_verdicts(where: str, verdicts: Mapping[Any, str]) -> None:
    for key, verdict in verdicts.items():
        if verdict not in VERDICTS:
            expected = ", ".join(VERDICTS)
            raise ValidationError(
                f"{where}[{key!r}]: unknown verdict {verdict!r} (expected one of {expected})"
            )
