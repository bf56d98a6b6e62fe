"""The ``language`` step: keep records in allowed languages, identified offline by py3langid."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier
from pydantic import Field

from curata.core.records import Record
from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text


@cache
def identifier() -> LanguageIdentifier:
    """py3langid's model (shipped in its wheel, loaded once per process, ~0.7 s) with
    normalised probabilities, over all of its languages."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageParams(TextParams):
    """Parameters of :class:`Language`."""

    allow: tuple[str, ...] = Field(
        min_length=1,
        description="Languages kept: ISO 639-1 codes (en, de, fr, ...), or ISO 639-3 for the "
        "languages py3langid knows that have none (e.g. ary).",
    )
    min_confidence: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Lowest probability of the identified language. py3langid's probabilities "
        "are calibrated across text lengths; 0.5 means more likely than all others together.",
    )
    write_field: str | None = Field(
        default=None,
        description="Metadata key to store {language, confidence} in for kept records (which "
        "makes the step change them); none leaves records as they are.",
    )

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        known = set(identifier().labels)
        unknown = [code for code in self.allow if code not in known]
        if unknown:
            raise ValueError(
                f"unknown language code {unknown[0]!r} (py3langid knows: "
                f"{', '.join(sorted(known))})"
            )
        if self.write_field is not None and (not self.write_field or "." in self.write_field):
            raise ValueError("write_field is a top-level metadata key (not empty, no dots)")


class Language(Step):
    """Drop records whose selected text is not confidently in an allowed language.

    The text identified is every selected text joined by a blank line (see
    :func:`~curata.curation.steps.base.joined_text`). py3langid (a naive Bayes model over
    byte n-grams, shipped in the package: nothing is downloaded) gives the most probable of
    its 140 languages and that language's probability. A record is dropped when the
    probability is below ``min_confidence`` (``language 'en' confidence 0.31 < 0.5``: the
    text is too short or mixed to tell), else when the language is not allowed
    (``language 'de' (0.98) not in allowed [en]``). A record with no selected text, or only
    whitespace, is dropped: it cannot show that it is in an allowed language.
    """

    name = "language"
    summary = "Keep records in allowed languages (py3langid, offline), above a confidence."
    Params = LanguageParams
    params: LanguageParams

    def identify(self, text: str) -> tuple[str, float]:
        """The most probable language of ``text`` and its probability."""
        code, confidence = identifier().classify(text)
        return str(code), float(confidence)

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Drop, keep, or (with ``write_field``) record the language of each record."""
        return [self._decide(record) for _, record in batch]

    def _decide(self, record: Record) -> Decision:
        p = self.params
        text = joined_text(record, p.fields)
        if not text.strip():
            return Decision.drop("language: no text to identify", language=None)
        code, confidence = self.identify(text)
        shown = f"{confidence:.2f}"
        if confidence < p.min_confidence:
            return Decision.drop(
                f"language {code!r} confidence {shown} < {p.min_confidence}",
                score=confidence,
                language=code,
            )
        if code not in p.allow:
            return Decision.drop(
                f"language {code!r} ({shown}) not in allowed [{', '.join(p.allow)}]",
                score=confidence,
                language=code,
            )
        if p.write_field is None:
            return Decision.keep()
        value = {"language": code, "confidence": round(confidence, 4)}
        if record.metadata.get(p.write_field) == value:
            return Decision.keep()
        changed = dataclasses.replace(record, metadata={**record.metadata, p.write_field: value})
        return Decision.change(changed, f"language: {code} ({shown})", field=p.write_field)
