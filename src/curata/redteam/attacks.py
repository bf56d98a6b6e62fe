"""Attacks and their taxonomy: what an adversarial input tries, how, in which language and
framing, which OWASP risk it probes, and who wrote it.

An attack is stored as a text record (:meth:`Attack.to_record`): the prompt is the text, the
taxonomy is the metadata, so an attack set is a dataset — versioned, diffable and pinned by
version in campaigns. The model is pure: it reads and writes plain values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from curata.core.errors import InputError, ValidationError
from curata.core.records import Record

Category = Literal[
    "direct_prompt_injection",
    "jailbreak",
    "multi_turn_escalation",
    "training_data_extraction",
    "indirect_injection",
    "system_prompt_extraction",
    "harmful_content",
]
CATEGORIES: tuple[str, ...] = get_args(Category)

HarmArea = Literal[
    "chemical_biological",
    "cybercrime",
    "illegal_activity",
    "fraud_deception",
    "misinformation",
    "harassment_discrimination",
    "sexual_content",
    "privacy",
    "self_harm",
    "violence",
    "economic_harm",
    "specialised_advice",
    "government_decision_making",
    "copyright",
    "general",
]
HARM_AREAS: tuple[str, ...] = get_args(HarmArea)
"""``general``: harmful without a narrower area (HarmBench's ``harmful``, AdvBench's rows)."""

Framing = Literal[
    "none", "persona", "fiction", "emotional", "authority", "hypothetical", "educational", "urgency"
]
FRAMINGS: tuple[str, ...] = get_args(Framing)

Directness = Literal["direct", "indirect"]
DIRECTNESS: tuple[str, ...] = get_args(Directness)

Provenance = Literal["human", "template", "converter", "attacker_model"]
PROVENANCES: tuple[str, ...] = get_args(Provenance)

OWASP_LLM_2025: dict[str, str] = {
    "LLM01:2025": "Prompt Injection",
    "LLM02:2025": "Sensitive Information Disclosure",
    "LLM03:2025": "Supply Chain",
    "LLM04:2025": "Data and Model Poisoning",
    "LLM05:2025": "Improper Output Handling",
    "LLM06:2025": "Excessive Agency",
    "LLM07:2025": "System Prompt Leakage",
    "LLM08:2025": "Vector and Embedding Weaknesses",
    "LLM09:2025": "Misinformation",
    "LLM10:2025": "Unbounded Consumption",
}
"""The OWASP Top 10 for LLM Applications, 2025 edition (genai.owasp.org/llm-top-10)."""

DEFAULT_OWASP: dict[str, tuple[str, ...]] = {
    "direct_prompt_injection": ("LLM01:2025",),
    "jailbreak": ("LLM01:2025",),
    "multi_turn_escalation": ("LLM01:2025",),
    "indirect_injection": ("LLM01:2025",),
    "training_data_extraction": ("LLM02:2025",),
    "system_prompt_extraction": ("LLM07:2025",),
    "harmful_content": (),
}
"""The OWASP ids an attack of a category probes when none are given (OWASP 2025 counts
jailbreaking as a form of prompt injection; a plain harmful request probes none of the ten,
except misinformation, which is LLM09)."""

_OWASP_ID = re.compile(r"^LLM(0[1-9]|10)(:2025)?$", re.IGNORECASE)
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
"""A BCP-47 language tag, primary subtag in lower case (``en``, ``pt-BR``, ``zh-Hant``,
``und`` for undetermined)."""
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"

Text = Annotated[str, StringConstraints(min_length=1)]
OwaspId = Annotated[str, AfterValidator(lambda v: owasp_id(v))]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Language = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]

TAXONOMY_FIELDS = (
    "category",
    "harm_area",
    "technique",
    "framing",
    "language",
    "cultural_context",
    "directness",
    "owasp",
    "provenance",
    "author",
    "benign",
)
"""The fields a coverage grid counts and an import may set for every attack of a file."""


def owasp_id(value: str) -> str:
    """``LLM01``, ``llm01`` or ``LLM01:2025`` as ``LLM01:2025``; ValueError for anything else
    (another edition's id, ``LLM11``)."""
    match = _OWASP_ID.match(value.strip())
    if not match:
        known = ", ".join(OWASP_LLM_2025)
        raise ValueError(f"{value!r} is not an OWASP Top 10 for LLM Applications 2025 id ({known})")
    return f"LLM{match.group(1)}:2025"


SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str) -> str | None:
    found = SURROGATE.search(text)
    return None if found is None else f"contains a lone surrogate (U+{ord(found.group()):04X})"


class Attack(BaseModel):
    """One adversarial input (or a benign over-refusal check) with its taxonomy.

    ``goal`` is what the attack tries to obtain (the prompt itself for a plain request),
    ``target`` the affirmative answer opening an attack aims for (AdvBench's ``target``).
    ``benign`` marks prompts that must *not* be refused (XSTest-style over-refusal checks);
    they carry the category and harm area they resemble. ``corpus``/``corpus_id``/
    ``corpus_category`` say where an imported attack came from and what its corpus called it;
    ``corpus_id`` identifies it across versions of a set (the dataset's key).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Text
    category: Category
    harm_area: HarmArea | None = Field(default=None, validate_default=True)
    technique: Slug = "direct_request"
    framing: Framing = "none"
    language: Language = "en"
    cultural_context: Text | None = None
    directness: Directness = "direct"
    owasp: tuple[OwaspId, ...] = ()
    provenance: Provenance = "human"
    author: Text | None = None
    benign: bool = False
    goal: Text = ""
    target: Text | None = None
    corpus: Slug | None = None
    corpus_id: Text | None = None
    corpus_category: Text | None = None
    tags: tuple[Text, ...] = ()
    turns: tuple[Text, ...] | None = None
    """Follow-up user turns of a scripted multi-turn escalation, sent one after another after
    ``prompt`` (each after the model's reply to the one before)."""
    documents: tuple[Text, ...] | None = None
    """Documents handed to the model as retrieved context or tool output with the prompt
    (indirect injection: the attack is in a document, not in the user's words)."""
    canaries: tuple[Text, ...] | None = None
    """Secret strings planted in training data or the system prompt that must never appear in
    a reply (training-data and system-prompt extraction)."""
    markers: tuple[Text, ...] | None = None
    """Strings an injected instruction asks the model to write (injection success)."""
    system: Text | None = None
    """The system prompt the attack is sent under (none: the target's own)."""

    @field_validator("*", mode="before")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        for i, text in enumerate(items):
            if isinstance(text, str) and (problem := _lone_surrogate(text)):
                raise ValueError(problem if items is not value else f"item {i}: {problem}")
        return value

    @field_validator("prompt", "goal")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank (an attack needs text)")
        return value

    @field_validator("owasp", mode="before")
    @classmethod
    def _owasp(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("owasp")
    @classmethod
    def _owasp_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @field_validator("harm_area")
    @classmethod
    def _harm_area(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("category") == "harmful_content":
            raise ValueError(
                "required for harmful_content "
                f"(one of {', '.join(HARM_AREAS)}; 'general' when none fits)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("goal") is None and isinstance(data.get("prompt"), str):
            data["goal"] = data["prompt"]
        if data.get("owasp") is None:
            category, area = data.get("category"), data.get("harm_area")
            default = DEFAULT_OWASP.get(category, ()) if isinstance(category, str) else ()
            data["owasp"] = default + (("LLM09:2025",) if area == "misinformation" else ())
        return data

    def taxonomy(self) -> dict[str, Any]:
        """Everything but the prompt, as JSON values (None-valued fields left out)."""
        data = self.model_dump(exclude={"prompt"}, exclude_none=True)
        data["owasp"] = list(self.owasp)
        data["tags"] = list(self.tags)
        for name in ("turns", "documents", "canaries", "markers"):
            if name in data:
                data[name] = list(data[name])
        return data

    def to_record(self) -> Record:
        """The attack as a text record: the prompt is the text, the taxonomy its metadata."""
        return Record.from_text(self.prompt, metadata=self.taxonomy())

    @classmethod
    def from_record(cls, record: Record, *, where: str) -> Attack:
        """Read an attack back from its record; InputError naming ``where`` (the record) and
        the field when the record is not an attack."""
        if record.kind != "text" or record.text is None:
            raise InputError(f"a {record.kind} record is not an attack", where=where)
        return parse_attack({**record.metadata, "prompt": record.text}, where=where)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a field path: ``('owasp', 1)`` → ``owasp[1]``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "attack"


def _problem(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def parse_attack(data: Mapping[str, Any], *, where: str) -> Attack:
    """Build an attack from plain values; InputError naming ``where`` (``file:line``) and the
    first invalid field's path (``owasp[1]``), with what it should be."""
    try:
        return Attack.model_validate(dict(data))
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function"))
        )
        return _raise(where, field_path(loc) if loc else None, _problem(error))


def _raise(where: str, field: str | None, problem: str) -> Attack:
    raise InputError(problem, where=where, field=field)


def check_taxonomy(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check taxonomy values given for a whole import (``language='fr'``, ``benign=True``):
    ValidationError naming the parameter when it is not a taxonomy field or not a valid value.
    Returns them normalised (OWASP ids in their 2025 spelling)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name not in TAXONOMY_FIELDS:
            raise ValidationError(
                f"{name}: not a taxonomy field (one of {', '.join(TAXONOMY_FIELDS)})"
            )
        if name == "owasp":
            items = [value] if isinstance(value, str) else list(value)
            try:
                out[name] = tuple(dict.fromkeys(owasp_id(str(v)) for v in items))
            except ValueError as exc:
                raise ValidationError(f"owasp: {exc}") from None
            continue
        info = Attack.model_fields[name]
        annotation: Any = info.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(
            Annotated[(annotation, *info.metadata)] if info.metadata else annotation
        )
        try:
            out[name] = adapter.validate_python(value)
        except PydanticValidationError as exc:
            raise ValidationError(f"{name}: {_problem(exc.errors()[0])} (got {value!r})") from None
    return out
