"""The ``pii`` step: find personal data and secrets in text; replace them or drop the record.

Detection runs Presidio's predefined recognizers directly (regex plus a checksum or validator:
Luhn for cards, the ISO 13616 mod-97 check for IBANs, ``ipaddress`` for IPs), never its
``AnalyzerEngine``: the engine needs an NLP engine, and Presidio's only offline one is a spaCy
model, which Curata does not download or load. What that costs is Presidio's context enhancer
(+0.35, at least 0.4, when a recognizer's context word is part of one of the five lemmas before
a match), which needs spaCy lemmas; this step applies the same rule to the five lower-cased
words before the match, without lemmatising or dropping stop words. Presidio's email validator
asks tldextract, which would download the public suffix list; here it reads the snapshot
bundled with tldextract.

Phone numbers are :mod:`curata.curation.steps.pii_phone`'s: Presidio's rule (valid, per
phonenumbers, in one of a few regions), with the regions a parameter and a record's own region
added from its metadata, plus numbers in international form and phone-shaped numbers next to
a phone word; it keeps out bare digit runs with no phone word ("order 1234567890"), decimals,
dates, street numbers and numbers an identifier's noun names ("ISBN 0-89464-039-9").

Presidio's card pattern predates Mastercard's 2-series and leaves out 12-digit and 18-19-digit
cards; Curata adds patterns for them (``CARD_PATTERNS``), under the same Luhn check.

Secrets are Curata's own pattern recognizers (regexes below, with their sources). Overlapping
matches keep the higher score, then the longer span: a Luhn-valid card, an IBAN (1.0) or an
SSN with its context word (0.85) wins over the phone number its digits could also be.

Importing ``presidio_analyzer`` imports spaCy and, where installed, transformers and torch
(7-8 s when the embeddings extra is installed), though pattern recognizers use none of them:
:func:`_import_presidio` hides transformers and torch while it imports Presidio (1-2 s), unless
they are loaded already; both import normally afterwards. Recognizers are built on first use,
once per process, and reused.
Recognizers whose cheap pre-check (``_PRECHECK``) finds nothing are not run: no ``@``, no email;
no run of 6+ digits, no phone.

Metadata is not scanned (except the field ``region_field`` names); message content given as a
list of parts is left as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from curata.core.errors import ValidationError
from curata.core.records import Record
from curata.curation.steps.base import (
    Decision,
    Item,
    Step,
    StepParams,
    TextParams,
    replace_texts,
    text_fields,
)
from curata.curation.steps.field_filter import metadata_value
from curata.curation.steps.pii_phone import (
    PRESIDIO_REGIONS,
    check_regions,
    find_phones,
    region_code,
)

ENTITIES = (  # Presidio's recognizers, then Curata's secret patterns
    *("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "URL"),
    *("URL_CREDENTIALS", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "API_KEY"),
)
DEFAULT_ENTITIES = tuple(e for e in ENTITIES if e != "URL")
"""Every entity but URL: plain links are rarely personal, and Presidio's URL recognizer also
matches file names whose extension is a country domain (``setup.py``, ``README.md``)."""

_DIGITS = tuple("0123456789")
_PRECHECK: dict[str, tuple[tuple[str, ...], bool, re.Pattern[str] | None]] = {
    # entity: (one of these substrings, in the lower-cased text?, then this regex)
    "EMAIL_ADDRESS": (("@",), False, None),
    "PHONE_NUMBER": (_DIGITS, False, re.compile(r"\d(?:[\s().\-/]{0,3}\d){5,}")),  # 6+ digits
    "CREDIT_CARD": (_DIGITS, False, re.compile(r"\d(?:[ -]?\d){11}")),  # 12+ digits
    "IBAN_CODE": (_DIGITS, False, re.compile(r"[A-Z]{2}\d\d")),
    "IP_ADDRESS": ((*_DIGITS, "::"), False, re.compile(r"[\d:][.:][\dA-Fa-f:]")),
    "US_SSN": (_DIGITS, False, re.compile(r"\d{3}[- .]?\d\d")),
    "URL": ((".",), False, re.compile(r"\w\.[A-Za-z]{2}")),
    "URL_CREDENTIALS": (("://",), False, re.compile(r"://[^\s@]*@")),
    "AWS_ACCESS_KEY": (("AKIA", "ASIA", "ABIA", "ACCA"), False, None),
    "AWS_SECRET_KEY": (("secret",), True, None),
    "GITHUB_TOKEN": (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), False, None),
    "API_KEY": (("key", "token", "secret", "bearer", "xox", "sk_", "sk-", "aiza"), True, None),
}

# Curata's secret patterns. The pattern recognizers run them with the ``regex`` module (which
# allows the variable-width look-behinds that keep key names out of the span), case-sensitive;
# (?i:...) marks the case-insensitive parts.
_URL_USERINFO = r"[^:/?#\[\]@!$&'()*+,;=\s]+"
SECRET_PATTERNS: dict[str, list[tuple[str, str, float]]] = {
    # detect-secrets BasicAuthDetector (Yelp/detect-secrets, plugins/basic_auth.py), widened
    # to the whole scheme://user:password@host[:port]. Score 1.0 so that it beats the email
    # recognizer's match on "password@host".
    "URL_CREDENTIALS": [
        (
            "url with user:password",
            rf"\b[A-Za-z][A-Za-z0-9+.\-]*://{_URL_USERINFO}:{_URL_USERINFO}@[^\s/?#\"'<>]+",
            1.0,
        )
    ],
    # AWS key id prefixes (AWS IAM docs "Understanding unique ID prefixes"; detect-secrets
    # plugins/aws.py); 16 upper-case letters and digits follow.
    "AWS_ACCESS_KEY": [
        ("aws access key id", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])", 0.95)
    ],
    # 40 base64 characters after a secret-key name (detect-secrets plugins/aws.py keys the
    # secret on "aws...key"; here the names of the AWS CLI/SDK config and the STS API).
    "AWS_SECRET_KEY": [
        (
            "aws secret access key",
            r"(?<=(?i:aws[_\-.]?secret[_\-.]?(?:access[_\-.]?)?key|secret_?access_?key)"
            r"[\"']?\s{0,3}(?::|=|=>)\s{0,3}[\"']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
            0.9,
        )
    ],
    # GitHub token formats (GitHub docs "About authentication to GitHub", token prefixes;
    # gitleaks rules github-pat, github-oauth, github-app-token, github-fine-grained-pat).
    "GITHUB_TOKEN": [
        ("github token", r"\bgh[pousr]_[A-Za-z0-9]{36}\b", 0.95),
        ("github fine-grained pat", r"\bgithub_pat_[A-Za-z0-9_]{82}\b", 0.95),
    ],
    # Fixed-prefix keys (gitleaks rules slack-*-token, stripe-access-token, gcp-api-key,
    # openai-api-key), RFC 6750 bearer tokens (b64token syntax, at least 20 characters), and
    # gitleaks' generic-api-key idea: a value of 16+ characters with a digit assigned to a
    # key-like name. API_KEY matches also need Shannon entropy >= 3.5 bits per character
    # (gitleaks' threshold for generic-api-key).
    "API_KEY": [
        ("slack token", r"\bxox[abposr]-[0-9A-Za-z\-]{10,}", 0.9),
        ("stripe key", r"\b[rs]k_live_[0-9A-Za-z]{24,}", 0.9),
        ("google api key", r"\bAIza[0-9A-Za-z\-_]{35}(?![0-9A-Za-z\-_])", 0.9),
        ("openai key", r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{32,}", 0.8),
        ("bearer token", r"(?<=(?i:\bbearer)\s{1,3})[A-Za-z0-9\-._~+/]{20,}=*", 0.7),
        (
            "key assignment",
            r"(?<=(?i:api[_\-.]?key|apikey|api[_\-.]?secret|access[_\-.]?token|auth[_\-.]?token"
            r"|client[_\-.]?secret|secret[_\-.]?key|private[_\-.]?token)"
            r"[\"']?\s{0,3}(?::|=|=>)\s{0,3}[\"']?)"
            r"(?=[A-Za-z0-9_\-./+=~]*\d)[A-Za-z0-9_\-./+=~]{16,200}(?![A-Za-z0-9_\-./+=~])",
            0.6,
        ),
    ],
}
# Card numbers Presidio's one pattern (13-17 digits starting 1, 3, 4, 50-55 or 6) leaves out,
# from the issuer ranges of ISO/IEC 7812 as the card networks publish them: Mastercard's 2-series
# (2221-2720, 16 digits, issued since 2017), JCB's 15-digit 2131, 12-digit Maestro (50, 56-69),
# and 18-19-digit numbers (Visa, Maestro, Discover and UnionPay issue up to 19). Digits may be
# separated by single spaces or dashes. Like Presidio's, a match counts only if the Luhn check
# passes (the score then becomes 1.0).
CARD_PATTERNS: list[tuple[str, str, float]] = [
    (
        "card, mastercard 2-series or jcb 15",
        r"\b(?:2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)(?:[- ]?\d){12}"
        r"|2131(?:[- ]?\d){11})\b",
        0.3,
    ),
    ("card, maestro 12", r"\b(?:50|5[6-9]|6\d)\d\d(?:[- ]?\d){8}\b", 0.3),
    ("card, 18-19 digits", r"\b[4-6]\d{3}(?:[- ]?\d){14,15}\b", 0.3),
]
MIN_ENTROPY = 3.5
_MASK_KEEP_LAST = {"CREDIT_CARD": 4, "IBAN_CODE": 4}  # PCI DSS allows a card's last four
_NUMERIC = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN"})
_WORD = re.compile(r"\w+")
_CONTEXT_WORDS = 5
_CONTEXT_BOOST, _CONTEXT_FLOOR = 0.35, 0.4  # Presidio's LemmaContextAwareEnhancer defaults

Action = Literal["redact", "mask", "hash", "placeholder", "report"]


class PiiParams(TextParams):
    """Parameters of the ``pii`` step."""

    entities: tuple[str, ...] = Field(
        default=DEFAULT_ENTITIES,
        min_length=1,
        description="Entity types to find: " + ", ".join(ENTITIES) + " (default: all but URL).",
    )
    action: Action = Field(
        default="placeholder",
        description="redact: <REDACTED>; mask: each letter and digit becomes * (a card's or "
        "IBAN's last four stay); hash: <TYPE:8 hex digits of HMAC-SHA256(salt, value)>; "
        "placeholder: <TYPE_N>, numbered per record, the same value gets the same number; "
        "report: change nothing, record each finding's type and span (field, start, end) in "
        "the run's events.",
    )
    min_score: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="Lowest score that counts (after the context boost). 0.4 is the score of "
        "a phone number Presidio validates; it leaves out the very weak SSN patterns (0.05) "
        "unless a context word such as 'ssn' is near.",
    )
    drop: bool = Field(default=False, description="Drop records with any finding instead.")
    salt: str = Field(default="", description="Key of the hash action.")
    phone_regions: tuple[str, ...] = Field(
        default=PRESIDIO_REGIONS,
        description="Regions (ISO 3166-1 alpha-2 codes) in which a phone number is checked for "
        "validity with phonenumbers (default: Presidio's " + ", ".join(PRESIDIO_REGIONS) + "). "
        "Numbers with a + country code, or next to a phone word, count in any region.",
    )
    region_field: str | None = Field(
        default=None,
        description="Metadata field (dotted path) naming a record's region: a locale (de_DE, "
        "de-DE) or a region code (DE); phone numbers in such a record are also checked in that "
        "region. A value that names no region is ignored.",
    )
    salt_env: str | None = Field(
        default=None,
        description="Environment variable holding the hash key instead of salt (parameters "
        "are recorded with the version; the variable's value is not). Without a secret key, "
        "hashes of short values (phones, SSNs) can be reversed by trying them all.",
    )

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e not in ENTITIES]
        if unknown:
            raise ValueError(
                f"unknown entity {', '.join(map(repr, unknown))} (known: {', '.join(ENTITIES)})"
            )
        return tuple(dict.fromkeys(value))

    def model_post_init(self, _context: Any) -> None:
        super().model_post_init(_context)
        if self.action == "report" and self.drop:
            raise ValueError("action 'report' changes nothing; it cannot be combined with drop")

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_regions(value)


@dataclass(frozen=True, slots=True)
class Finding:
    """One match: where it is, what it is, and how sure the recognizer is."""

    start: int
    end: int
    entity: str
    score: float


class Pii(Step):
    """Find emails, phones, cards, IBANs, IPs, SSNs and secrets; replace them or drop."""

    name: ClassVar[str] = "pii"
    summary: ClassVar[str] = (
        "Find personal data and secrets (email, phone, card, IBAN, IP, SSN, credentials, "
        "API keys) with Presidio's pattern recognizers; redact, mask, hash or placeholder them."
    )
    Params: ClassVar[type[StepParams]] = PiiParams
    version: ClassVar[str] = "2"

    def __init__(self, params: StepParams) -> None:
        if not isinstance(params, PiiParams):
            raise TypeError(f"pii takes PiiParams, not {type(params).__name__}")
        super().__init__(params)
        self.options = params
        self.key = params.salt.encode()
        if params.salt_env is not None:
            if params.salt_env not in os.environ:
                raise ValidationError(f"pii: salt_env names {params.salt_env!r}, which is not set")
            self.key = os.environ[params.salt_env].encode()

    def find(self, text: str, *, regions: Sequence[str] = ()) -> list[Finding]:
        """Non-overlapping findings in ``text`` scoring at least ``min_score``, in order; phone
        numbers are also checked for validity in ``regions`` (a record's, say)."""
        lower = text.lower()
        found: list[Finding] = []
        for entity in self.options.entities:
            literals, lowered, pattern = _PRECHECK[entity]
            haystack = lower if lowered else text
            if not any(x in haystack for x in literals) or (pattern and not pattern.search(text)):
                continue
            if entity == "PHONE_NUMBER":
                checked = self.options.phone_regions
                checked += tuple(r for r in regions if r not in checked)
                results = find_phones(text, checked)
            else:
                recognizer, context = _recognizers()[entity]
                results = []
                for start, end, score in _analyze(recognizer, entity, text):
                    if entity == "IP_ADDRESS" and not_an_address(text, start, end):
                        continue
                    if context and _has_context(text, start, context):
                        score = min(1.0, max(score + _CONTEXT_BOOST, _CONTEXT_FLOOR))
                    results.append((start, end, score))
            found.extend(
                Finding(start, end, entity, score)
                for start, end, score in results
                if score >= self.options.min_score
            )
        return _resolve(found)

    def regions_of(self, record: Record) -> tuple[str, ...]:
        """The region ``region_field`` names in the record's metadata (none, or one; a list
        of values may name several)."""
        if self.options.region_field is None:
            return ()
        value = metadata_value(record.metadata, self.options.region_field)
        values = value if isinstance(value, list) else [value]
        return tuple(dict.fromkeys(r for v in values if (r := region_code(v)) is not None))

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Replace what is found (or drop the record, or only report it); keep records where
        nothing is."""
        return [self._decide(record) for _, record in batch]

    def _decide(self, record: Record) -> Decision:
        counts: Counter[str] = Counter()
        numbers: dict[tuple[str, str], int] = {}
        new: dict[str, str] = {}
        spans: list[dict[str, Any]] = []
        report = self.options.action == "report"
        regions = self.regions_of(record)
        for path, text in text_fields(record, self.options.fields):
            findings = self.find(text, regions=regions)
            if not findings:
                continue
            counts.update(f.entity for f in findings)
            if report:
                spans.extend(
                    {"field": path, "entity": f.entity, "start": f.start, "end": f.end}
                    for f in findings
                )
            elif not self.options.drop:
                new[path] = self._replace(text, findings, numbers)
        if not counts:
            return Decision.keep()
        found = {entity: counts[entity] for entity in sorted(counts)}
        summary = ", ".join(f"{n} {entity}" for entity, n in found.items())
        if report:
            return Decision.report(f"pii: would redact {summary}", found=found, spans=spans)
        if self.options.drop:
            return Decision.drop(f"pii: found {summary}", found=found)
        return Decision.change(
            replace_texts(record, new),
            f"pii: redacted {summary} ({self.options.action})",
            found=found,
            fields=list(new),
        )

    def _replace(
        self, text: str, findings: list[Finding], numbers: dict[tuple[str, str], int]
    ) -> str:
        parts: list[str] = []
        at = 0
        for f in findings:
            parts.append(text[at : f.start])
            parts.append(self._substitute(f.entity, text[f.start : f.end], numbers))
            at = f.end
        parts.append(text[at:])
        return "".join(parts)

    def _substitute(self, entity: str, value: str, numbers: dict[tuple[str, str], int]) -> str:
        action = self.options.action
        if action == "redact":
            return "<REDACTED>"
        if action == "mask":
            return _mask(value, _MASK_KEEP_LAST.get(entity, 0))
        canonical = _canonical(entity, value)
        if action == "hash":
            digest = hmac.new(self.key, canonical.encode(), hashlib.sha256).hexdigest()
            return f"<{entity}:{digest[:8]}>"
        key = (entity, canonical)
        if key not in numbers:
            numbers[key] = 1 + sum(1 for e, _ in numbers if e == entity)
        return f"<{entity}_{numbers[key]}>"


def _analyze(recognizer: Any, entity: str, text: str) -> Iterator[tuple[int, int, float]]:
    """(start, end, score) of a Presidio recognizer's results on ``text``."""
    for r in recognizer.analyze(text, [entity], None):
        yield r.start, r.end, r.score


_SECTION_NOUNS = (  # nouns of a dotted number: "Section 25.1.5.1", "version 2.4.1.0"
    "section sections sec sect secs clause clauses chapter chapters ch article articles art "
    "paragraph paragraphs para figure fig appendix annex "
    "version versions ver v release rev revision edition versionadded versionchanged deprecated"
)
SECTION_WORDS = frozenset(_SECTION_NOUNS.split())
_NUMBER_BEFORE = re.compile(r"(?:([^\W\d_]+)|(§))[\s\"'`(\[#:\-.=_\\&]*$")
_VERSION_SUFFIX = re.compile(r"-[0-9A-Za-z]*[A-Za-z]")  # "gettext 0.20.1.124-32cf"
_SUBSCRIPT = re.compile(r"[\w)\]]\[[\w\s+\-*/().]*$")


def not_an_address(text: str, start: int, end: int) -> bool:
    """Whether an IP-address match is something else: part of a longer dotted number
    (``3.4.1.3.1``), a number after a section or version noun (``Section 25.1.5.1``,
    ``versionadded:: 0.7.100.3``, ``__version__ = "0.5.1.2"``, ``§ 4.3.2.1``), a version with a
    suffix (``0.20.1.124-32cf``), a Python slice (``x[1::2]``) or a Perl package separator
    (``::db``: a short IPv6 form without a digit)."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    if (len(before) == 2 and before[1] == "." and before[0].isdigit()) or (
        len(after) == 2 and after[0] == "." and after[1].isdigit()
    ):
        return True
    line = text[text.rfind("\n", 0, start) + 1 : start]
    word = _NUMBER_BEFORE.search(line[-40:])
    if word and (word.group(2) or word.group(1).lower() in SECTION_WORDS):
        return True
    if _VERSION_SUFFIX.match(text, end):
        return True
    value = text[start:end]
    groups = [g for g in value.split(":") if g]
    if ":" not in value or len(groups) > 2:
        return False
    return _SUBSCRIPT.search(line) is not None or not any(c.isdigit() for c in value)


def _has_context(text: str, start: int, context: tuple[str, ...]) -> bool:
    """Whether a context word is part of one of the words just before ``start``."""
    before = _WORD.findall(text[max(0, start - 200) : start].lower())[-_CONTEXT_WORDS:]
    return any(c in word for word in before for c in context)


def _resolve(found: list[Finding]) -> list[Finding]:
    """Drop overlaps: the higher score wins, then the longer span, then the earlier one."""
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (-f.score, f.start - f.end, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def _canonical(entity: str, value: str) -> str:
    """The form two mentions of one value share (case, spaces and dashes do not count)."""
    if entity == "EMAIL_ADDRESS":
        return value.casefold()
    if entity in _NUMERIC:
        return "".join(c for c in value if c.isalnum()).upper()
    return value


def _mask(value: str, keep_last: int) -> str:
    """Every letter and digit as ``*`` except the last ``keep_last``; other characters stay."""
    alnum = sum(c.isalnum() for c in value)
    out, seen = [], 0
    for c in value:
        seen += c.isalnum()
        out.append("*" if c.isalnum() and seen <= alnum - keep_last else c)
    return "".join(out)


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(value)
    return -sum(k / n * math.log2(k / n) for k in Counter(value).values())


_HIDDEN = ("transformers", "torch")
"""Modules Presidio imports for its NLP engines (``try: import …``), unused by patterns."""


def _import_presidio() -> None:
    """Import ``presidio_analyzer`` with transformers and torch hidden (an entry of ``None``
    in ``sys.modules`` makes their import raise ImportError, which Presidio and thinc handle),
    then put them back: a later ``import torch`` loads it as usual."""
    import sys

    if "presidio_analyzer" in sys.modules:
        return
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer.predefined_recognizers  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


@cache
def _recognizers() -> dict[str, tuple[Any, tuple[str, ...]]]:
    """(recognizer, its context words) per entity, built once per process (imports Presidio)."""
    import regex
    import tldextract

    _import_presidio()
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer import predefined_recognizers as presidio

    offline_tld = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())

    class OfflineEmailRecognizer(presidio.EmailRecognizer):
        """Presidio's email recognizer, validating domains against the bundled suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline_tld(pattern_text).fqdn)

    class SecretRecognizer(PatternRecognizer):
        """A case-sensitive pattern recognizer, optionally rejecting low-entropy matches."""

        def __init__(self, entity: str, patterns: list[Any], min_entropy: float) -> None:
            super().__init__(
                supported_entity=entity,
                name=f"Curata{entity.title().replace('_', '')}Recognizer",
                patterns=patterns,
                global_regex_flags=regex.DOTALL | regex.MULTILINE,
            )
            self.min_entropy = min_entropy

        def invalidate_result(self, pattern_text: str) -> bool:
            return _entropy(pattern_text) < self.min_entropy

    out: dict[str, Any] = {
        "EMAIL_ADDRESS": OfflineEmailRecognizer(),
        "CREDIT_CARD": presidio.CreditCardRecognizer(
            patterns=[
                *presidio.CreditCardRecognizer.PATTERNS,
                *(Pattern(name, rx, score) for name, rx, score in CARD_PATTERNS),
            ]
        ),
        "IBAN_CODE": presidio.IbanRecognizer(),
        "IP_ADDRESS": presidio.IpRecognizer(),
        "US_SSN": presidio.UsSsnRecognizer(),
        "URL": presidio.UrlRecognizer(),
    }
    for entity, patterns in SECRET_PATTERNS.items():
        out[entity] = SecretRecognizer(
            entity,
            [Pattern(name, rx, score) for name, rx, score in patterns],
            MIN_ENTROPY if entity == "API_KEY" else 0.0,
        )
    return {e: (r, tuple(c.strip() for c in r.context or [] if c.strip())) for e, r in out.items()}
