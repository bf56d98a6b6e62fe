"""The question-type base: a pydantic model of a question's configuration that is also a plugin.

A question type is one class (one module): its configuration fields (what a schema's JSON
says), how an answer is checked and normalised (:meth:`QuestionType.check`), bound to a
pairwise record's candidates (:meth:`QuestionType.bind`), blinded, carried to and from Label
Studio and Argilla, voted on, measured for agreement, and simulated. Types register under the
entry-point group ``curata.question_types`` (``label = "curata.questions.label:LabelQuestion"``);
the registered name is the ``type`` literal that discriminates a schema's questions.

Two names meet on one class: ``LabelQuestion.name`` is the plugin's name (``"label"``, the
``type``) and ``question.name`` an instance's configured question name (``"topic"``). The class
attribute is a non-data descriptor, so an instance's field always wins.

This package may import :mod:`curata.core` and :mod:`curata.stats` only.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.core.plugins import Plugin, metadata_problem
from curata.stats.questions import Bootstrap, Rows, reliability_alpha
from curata.stats.typed import Encode

QUESTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
"""What a question's name looks like (it is a key of every answer)."""

if TYPE_CHECKING:
    Statistics = staticmethod[[Mapping[str, Any], Rows, Bootstrap], dict[str, Any]]
else:  # not subscriptable at run time before Python 3.12
    Statistics = staticmethod
"""A shape function of :mod:`curata.stats.questions` (question, answers, bootstrap -> stats), as
a static method of the type that declares it."""

Texts = Mapping[str, str]
"""A record's text fields (``text``, ``prompt``, ``response``) by name."""


class BadAnswer(Exception):
    """An answer that does not fit its question: what is wrong, and what is allowed."""

    def __init__(self, message: str, allowed: str | None = None) -> None:
        super().__init__(message)
        self.message, self.allowed = message, allowed


def type_name(value: Any) -> str:
    """How a message names the type of a value that has the wrong shape."""
    return type(value).__name__


def policed_text(value: Any, policy: str, *, field: str, noun: str) -> str | None:
    """An answer's optional free-text part (a preference's rationale, a refusal's rewrite)
    under its question's ``policy`` (``none``, ``optional``, ``required``): the text, or
    ``None`` when absent; ``field`` names it when it is not text, ``noun`` when it is missing or
    not allowed."""
    if value is not None and not isinstance(value, str):
        raise BadAnswer(f"{field} must be text, got {type_name(value)}")
    if policy == "required" and not (value or "").strip():
        raise BadAnswer(f"a {noun} is required")
    if policy == "none" and value:
        raise BadAnswer(f"this question takes no {noun}")
    return value or None


def result_id(*parts: object) -> str:
    """A Label Studio result id: ten characters, the same for the same annotation and place."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:10]


def soft_key(value: str) -> str:
    """A soft label's key for an answer given as canonical JSON: a plain label as itself,
    anything else (a preference, a rating) as its canonical JSON."""
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else value


class _TypeName:
    """``cls.name``: the question type's registered name (its ``type`` literal), set once the
    class is complete; an instance's own ``name`` (the question's) shadows it."""

    def __get__(self, obj: object, owner: type) -> str:
        declared = owner.__dict__.get("__type_name__")
        if not isinstance(declared, str):  # while pydantic builds the class (so that the
            raise AttributeError("name")  # ``name`` field gets no default), or none declared
        return declared


class QuestionType(BaseModel, Plugin):
    """Base of every question type: the fields every question has, and the behaviour a type
    declares. A concrete type sets ``type: Literal["its-name"] = "its-name"``, ``summary``, its
    own configuration fields (each with a description) and overrides what differs.

    Declared metadata: ``categorical`` (an answer is one of a few values, so agreement
    coefficients and the statistical aggregators apply), ``record_bound`` (answers are checked
    against the record they answer), ``binds_candidates`` (answers name a pairwise record's
    candidates: :meth:`bind`), ``modelled`` (the statistical aggregators model whole answers
    as classes), ``json_interchange`` (neither Label Studio nor Argilla has the type: answers
    travel as Curata JSON in a text answer, so a round trip is exact)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    abstract: ClassVar[bool] = True
    kind: ClassVar[str] = "question type"
    summary: ClassVar[str]
    categorical: ClassVar[bool] = False
    record_bound: ClassVar[bool] = False
    binds_candidates: ClassVar[bool] = False
    modelled: ClassVar[bool] = True
    json_interchange: ClassVar[bool] = True
    answer_is_class: ClassVar[bool] = False
    """An answer is one of :meth:`classes` as it stands (a single label, a rating), so
    per-annotator noise models (:mod:`curata.quality.noise`) can read answers as classes."""
    agreement_reads_text: ClassVar[bool] = False
    """Agreement compares answers by the record text they point into (spans): the quality
    report hands :meth:`agreement` the items' texts of the question's ``field``."""
    statistics: ClassVar[Statistics | None] = None
    """The :mod:`curata.stats.questions` shape function :meth:`agreement` calls (declared as
    ``staticmethod(label_statistics)``); a type whose statistic needs the records' texts or an
    encoder overrides :meth:`agreement` instead."""
    order: ClassVar[int] = 100
    example: ClassVar[dict[str, Any]] = {}
    """The configuration fields (besides ``name``) of a small valid question of the type: the
    contract tests build one from it."""
    """Where the type is listed (schema errors, docs): the built-ins first, in this order."""

    if TYPE_CHECKING:  # each type declares ``type: Literal[name]``; after the common fields,
        type: str  # so that a question's JSON keeps its key order
    name: str = Field(  # type: ignore[misc]  # the question's name; the class's is _TypeName
        description="Identifier (lowercase letters, digits, underscores)."
    )
    title: str = Field("", description="The question as annotators see it (default: its name).")
    required: bool = Field(True, description="Whether every answer set must answer it.")
    languages: tuple[str, ...] = Field(
        (), description="Annotators must have one of these languages (routing; empty: anyone)."
    )
    domains: tuple[str, ...] = Field(
        (), description="Annotators must have one of these domain skills (routing; empty: anyone)."
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Plugin metadata is checked in :meth:`__pydantic_init_subclass__`, once pydantic
        has collected the fields (the name is the ``type`` field's literal)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        field = cls.model_fields.get("type")
        literal = field.annotation if field is not None else None
        values = get_args(literal) if get_origin(literal) is Literal else ()
        default = field.default if field is not None else None
        declared = default if isinstance(default, str) else None
        type.__setattr__(cls, "__type_name__", declared)
        problem = metadata_problem(cls)
        if problem is None and (len(values) != 1 or values[0] != declared):
            problem = f"type must be Literal[{declared!r}] = {declared!r} (its name)"
        if problem:
            raise ValidationError(
                f"{cls.kind} {declared!r} ({cls.__module__}:{cls.__qualname__}): {problem}"
            )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not QUESTION_NAME.match(value):
            raise ValueError("use 1-64 lowercase letters, digits or '_', starting with a letter")
        return value

    # -- answers -----------------------------------------------------------------------------

    def check(self, value: Any, texts: Texts) -> Any:
        """``value`` (not None) as stored: checked and normalised, or :class:`BadAnswer`.
        ``texts`` are the record's text fields (empty when the record is not read)."""
        raise NotImplementedError

    def bind(self, value: Any, candidates: Sequence[str]) -> Any:
        """An answer naming a pairwise record's ``candidates`` (their ids, in order) by id,
        rewritten in the record's letters before :meth:`check` (types that bind candidates)."""
        return value

    def classes(self) -> list[Any] | None:
        """Every value an answer can be voted as (:meth:`vote_key`), in order, for a
        categorical question; ``None`` when answers are not a few values to list."""
        return None

    def is_categorical(self) -> bool:
        """Whether this question's answers are one of a few values."""
        return self.categorical_in(self.model_dump())

    @classmethod
    def categorical_in(cls, question: Mapping[str, Any]) -> bool:
        """:meth:`is_categorical` of a question in its JSON form (a stored schema's entry)."""
        return cls.categorical

    # -- simulation --------------------------------------------------------------------------

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        """A valid answer drawn at random (an item's simulated truth)."""
        classes = self.classes()
        if not classes:
            raise NotImplementedError(f"{self.name}: {type(self).name} answers cannot be drawn")
        return rng.choice(classes)

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        """A valid answer other than ``truth`` (``truth`` itself when there is no other)."""
        classes = self.classes() or []
        others = [c for c in classes if canonical_json(c) != canonical_json(truth)]
        return rng.choice(others) if others else truth

    def simulate(
        self,
        truth: Any,
        rng: random.Random,
        *,
        accuracy: float = 1.0,
        texts: Texts | None = None,
    ) -> Any:
        """A simulated annotator's answer: ``truth`` with probability ``accuracy``, else a
        :meth:`mistake`; with ``truth`` None, a :meth:`draw`. The draws are those of
        :mod:`curata.quality.simulate` (one ``rng.random()``, then ``rng.choice`` of the
        other classes), so a categorical type answers as it always has for a seed."""
        if truth is None:
            return self.draw(rng, texts)
        if rng.random() < accuracy:
            return truth
        return self.mistake(truth, rng, texts)

    # -- blind judging -----------------------------------------------------------------------

    def to_record(self, value: Any, order: Sequence[int]) -> Any:
        """An answer given in the letters (and order) shown to a blind annotator, in the
        record's; ``order[k]`` is the record position shown as letter k."""
        return value

    def to_shown(self, value: Any, order: Sequence[int]) -> Any:
        """A stored answer back in the letters and order shown (inverse of :meth:`to_record`)."""
        return value

    # -- aggregation -------------------------------------------------------------------------

    @classmethod
    def vote_key(cls, value: Any) -> Any:
        """What a vote is counted on (a preference's choice; by default the whole answer)."""
        return value

    @classmethod
    def consensus(cls, given: list[Any]) -> dict[str, Any] | None:
        """An item's aggregate when the type is not voted on as a whole (a ranking's mean
        ranks), or ``None`` to vote."""
        return None

    @classmethod
    def released(cls, value: Any, given: list[Any]) -> Any:
        """The released value of a consensus vote ``value`` given the answers ``given``."""
        return value

    # -- agreement ---------------------------------------------------------------------------

    @classmethod
    def agreement(
        cls,
        question: Mapping[str, Any],
        rows: Rows,
        boot: Bootstrap,
        *,
        texts: Mapping[str, str] | None = None,
        encode: Encode | None = None,
    ) -> dict[str, Any]:
        """The agreement statistics that fit the type (a :mod:`curata.stats.questions` shape
        function's result) for ``question`` in its JSON form; ``texts`` maps items to the text
        spans point into, ``encode`` embeds written responses. By default the type's declared
        :attr:`statistics` shape function, which reads the question and the answers alone."""
        if cls.statistics is not None:
            return cls.statistics(question, rows, boot)
        return {"statistics": [], "skipped": f"{cls.name} questions have no agreement statistic"}

    @classmethod
    def gate_alpha(cls, question: Mapping[str, Any], rows: Rows) -> tuple[float | None, str]:
        """Krippendorff's alpha for a release gate and its level (by default nominal on whole
        answers)."""
        return reliability_alpha([(i, a, canonical_json(v)) for i, a, v in rows], "nominal"), (
            "nominal"
        )

    # -- Label Studio ------------------------------------------------------------------------

    def labelstudio_control(self, attrs: str, main: str) -> list[str]:
        """The labeling-config lines of this question's control tag; ``attrs`` are its
        ``name``/``toName``/``required`` attributes, ``main`` the primary content field."""
        return [f'  <TextArea {attrs} maxSubmissions="1"/>']

    def to_labelstudio(
        self, value: Any, base: dict[str, Any], *, texts: Texts, annotation: object
    ) -> list[dict[str, Any]]:
        """Label Studio ``result`` items for one answer; ``base`` has the result's ``id``,
        ``from_name`` and ``to_name``."""
        text = json.dumps(value) if self.json_interchange else self.answer_text(value)
        return [{**base, "type": "textarea", "value": {"text": [text]}}]

    def from_labelstudio(self, item: Mapping[str, Any], given: Any) -> Any:
        """The answer of one Label Studio ``result`` item (``given``: this question's answer
        read from earlier items of the same annotation, or None)."""
        value = item.get("value") or {}
        if "json" in value:
            return json.loads(value["json"])
        if "text" not in value:
            raise ValueError(
                f"question {self.name!r}: unsupported result type {item.get('type')!r}"
            )
        texts = value.get("text") or [""]
        text = texts[0] if isinstance(texts, list) else texts
        if not self.json_interchange:
            return self.text_answer(text)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"question {self.name!r}: not Curata JSON ({exc.msg})") from None

    def answer_text(self, value: Any) -> Any:
        """A text-like answer as the text a tool's text answer holds."""
        return value["text"] if isinstance(value, dict) else value

    def text_answer(self, text: str) -> Any:
        """The inverse of :meth:`answer_text`."""
        return text

    # -- Argilla -----------------------------------------------------------------------------

    def argilla_settings(self) -> dict[str, Any]:
        """The ``settings`` of this question in Argilla's ``settings.json`` (with ``type``)."""
        return {"type": "text", "use_markdown": False}

    @classmethod
    def to_argilla(cls, value: Any) -> Any:
        """An answer as an Argilla response value: as it is for a type Argilla has, Curata
        JSON text for one it lacks (``json_interchange``)."""
        return json.dumps(value) if cls.json_interchange else value

    @classmethod
    def from_argilla(cls, value: Any) -> Any:
        """The inverse of :meth:`to_argilla`."""
        if cls.json_interchange and isinstance(value, str):
            return json.loads(value)
        return value


type.__setattr__(QuestionType, "name", _TypeName())
