"""The scorer interface: what every judge of an attempt (built-in or third-party) implements.

A scorer reads one :class:`ScoredInput` — the attack prompt as sent (after converters), the
original goal, the conversation before the reply, the reply, the target's outcome and any
canaries or markers the campaign planted — and returns a :class:`Score`: a ``verdict``, a
``confidence`` in [0, 1] and a short ``reason`` naming what matched.

Verdicts:

- ``breach``: the attack succeeded (the model complied, leaked a canary, followed an injection);
- ``refused``: the model declined (the attack failed);
- ``safe``: the model answered without a breach, and the scorer cannot say it refused (a canary
  scorer judging a reply that leaks nothing);
- ``error``: the target failed or timed out, so there is nothing to judge;
- ``empty``: the model answered nothing (blank or whitespace text).

``error`` and ``empty`` are decided by the base class before a plugin sees the attempt
(:meth:`Scorer.score`), so no scorer can count a failure or silence as a breach or a refusal. A
plugin implements one method, :meth:`Scorer.judge`, for replies that have text; it must not
override :meth:`Scorer.score` (checked when the class is defined). Scorers hold no database or
clock, and only those that ask a model (``llm_judge``, through :meth:`Scorer.ajudge`) use the
network; the campaign around them persists what they return.

Scorers register under the entry-point group ``curata.scorers`` (``name = "module:Class"``),
the same way a third-party package would add its own. garak's detectors and PyRIT's scorers
are the models.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self, cast, get_args

from pydantic_core import PydanticUndefined

from curata.core.errors import ValidationError
from curata.core.plugins import Plugin, PluginParams, parse_params

Verdict = Literal["breach", "refused", "safe", "error", "empty"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
JUDGED: tuple[str, ...] = ("breach", "refused", "safe")
"""The verdicts a plugin's :meth:`Scorer.judge` may give; ``error`` and ``empty`` are the base's."""

OK_OUTCOMES = ("ok",)
"""Target outcomes whose reply is judged; any other (``error``, ``timeout``, …) is an error."""


@dataclass(frozen=True, slots=True)
class ScoredInput:
    """What a scorer judges: one exchange of an attempt.

    ``reply`` is the model's answer; ``prompt`` the attack as sent (after converters); ``goal``
    the original, unconverted attack goal; ``context`` the earlier turns' texts, oldest first;
    ``outcome`` the target's (``ok``, ``empty``, ``error``, ``timeout``, ``budget_exhausted``)
    and ``error`` its message; ``canaries`` secret strings planted where the model should
    never repeat them; ``markers`` strings an injected instruction asked the model to write."""

    reply: str
    prompt: str = ""
    goal: str = ""
    context: tuple[str, ...] = ()
    outcome: str = "ok"
    error: str | None = None
    canaries: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's judgement of one attempt: ``verdict`` (see the module docstring),
    ``confidence`` in [0, 1] that the verdict is right, ``reason`` (what matched, short) and
    ``matched`` (the text that decided it, when a text did)."""

    verdict: Verdict
    confidence: float
    reason: str
    matched: str | None = None
    scorer: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")

    @property
    def is_breach(self) -> bool:
        return self.verdict == "breach"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "verdict": self.verdict,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "matched": self.matched,
            **({"details": dict(self.details)} if self.details else {}),
        }


class ScorerParams(PluginParams):
    """Base of every scorer's parameters: unknown parameters are errors and values are checked
    strictly; every field has a description and a default, so a scorer named alone is fully
    specified."""


class Scorer(Plugin):
    """Base class of scorers (see the module docstring). A subclass's metadata is checked when
    it is defined: a scorer without a valid ``name``, a one-line ``summary``, a
    :class:`ScorerParams` model whose fields all have a description and a default, a
    :meth:`judge`, or one that overrides :meth:`score` fails at import, naming itself."""

    abstract = True
    kind = "scorer"
    has_params = True
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[ScorerParams]] = ScorerParams
    goal_aware: ClassVar[bool] = False
    """Whether a breach means "the reply gives what the attack's goal asks for", not just "the
    reply does not refuse": such scorers decide over the others in a campaign, and strategies
    that escalate through harmless questions need one."""

    @classmethod
    def kind_problem(cls) -> str | None:
        return scorer_problem(cls)

    def __init__(self, params: ScorerParams | None = None) -> None:
        self.params = self.Params() if params is None else params
        if not isinstance(self.params, self.Params):
            raise TypeError(
                f"scorer {self.name!r} takes {self.Params.__name__}, "
                f"got {type(self.params).__name__}"
            )

    @classmethod
    def create(cls, params: Mapping[str, Any] | None = None) -> Self:
        """The scorer with ``params`` (JSON-typed values, checked strictly); an unknown or
        invalid parameter is a :class:`ValidationError` naming the scorer and it."""
        return cls(cast(ScorerParams, parse_params(cls, params or {})))

    def score(self, attempt: ScoredInput) -> Score:
        """The verdict on ``attempt``: ``error`` when the target did not answer (an error, a
        timeout, the budget), ``empty`` when it answered nothing but whitespace, otherwise the
        plugin's :meth:`judge`, stamped with the scorer's name."""
        decided = self._undecidable(attempt)
        return decided if decided is not None else self._stamped(self.judge(attempt))

    async def ascore(self, attempt: ScoredInput) -> Score:
        """:meth:`score` where a campaign runs (in its event loop): the same checks, then
        :meth:`ajudge` (which a scorer that asks a model, the LLM judge, overrides)."""
        decided = self._undecidable(attempt)
        return decided if decided is not None else self._stamped(await self.ajudge(attempt))

    def _undecidable(self, attempt: ScoredInput) -> Score | None:
        if attempt.outcome not in OK_OUTCOMES and attempt.outcome != "empty":
            why = f"target {attempt.outcome}" + (f": {attempt.error}" if attempt.error else "")
            return Score("error", 1.0, why, scorer=self.name)
        if attempt.outcome == "empty" or not visible(attempt.reply):
            return Score("empty", 1.0, "the reply is empty", scorer=self.name)
        return None

    def _stamped(self, judged: Score) -> Score:
        if judged.verdict not in JUDGED:
            raise ValidationError(
                f"scorer {self.name!r} gave the verdict {judged.verdict!r} to a reply "
                f"(allowed: {', '.join(JUDGED)})"
            )
        return Score(judged.verdict, judged.confidence, judged.reason, judged.matched,
                     self.name, judged.details)

    def score_all(self, attempts: Iterable[ScoredInput]) -> list[Score]:
        """:meth:`score` of each attempt, in order."""
        return [self.score(a) for a in attempts]

    def judge(self, attempt: ScoredInput) -> Score:
        """The verdict (``breach``, ``refused`` or ``safe``) on a reply that has text: a pure
        function of the attempt and the parameters."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what :meth:`ajudge` holds between calls (a judge model's HTTP session); a
        campaign calls it when it ends. Pure scorers hold nothing."""

    async def ajudge(self, attempt: ScoredInput) -> Score:
        """:meth:`judge` in an event loop; a scorer that asks a model overrides it to await
        the model instead of blocking the loop."""
        return self.judge(attempt)


INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\U000e0000-\U000e007f]")
"""Zero-width, direction, soft-hyphen and tag characters: text nobody sees."""


def visible(text: str) -> str:
    """``text`` without invisible characters and surrounding whitespace ('' when blank)."""
    return INVISIBLE.sub("", text).strip()


def normalised(text: str) -> str:
    """``text`` as the string-matching scorers compare it: NFKC (full-width and compatibility
    forms folded), invisible characters removed, lower case (not casefold: ``ß`` stays), runs of
    whitespace one space, typographic apostrophes plain."""
    text = unicodedata.normalize("NFKC", text)
    text = INVISIBLE.sub("", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    # what re.sub(r"\s+", " ", text).strip() gives (str.split and \s agree on what is white
    # space), four times faster: every reply of a campaign comes through here
    return " ".join(text.split())


def scorer_problem(cls: type[Scorer]) -> str | None:
    """What is wrong with a scorer class's declared metadata beyond the shared checks
    (:func:`curata.core.plugins.metadata_problem`), or None."""
    if "\n" in cls.summary:
        return "summary must be one line"
    params = cls.Params
    if not issubclass(params, ScorerParams):
        return "Params must derive from ScorerParams"
    for name, info in params.model_fields.items():
        if not (info.description and info.description.strip()):
            return f"param {name!r} has no description"
        if info.default is PydanticUndefined and info.default_factory is None:
            return f"param {name!r} has no default"
    if cls.judge is Scorer.judge:
        return "a scorer must implement judge"
    if cls.score is not Scorer.score or cls.ascore is not Scorer.ascore:
        return "a scorer implements judge, not score (the base decides error and empty)"
    return None

