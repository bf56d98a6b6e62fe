"""The ``length`` step: bounds on the characters and words of the selected text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from curata.curation.steps.base import Decision, Item, Step, TextParams, joined_text


class LengthParams(TextParams):
    """Parameters of :class:`Length`; ``None`` is no bound, bounds are inclusive."""

    min_chars: int | None = Field(default=None, ge=0, description="Fewest characters kept.")
    max_chars: int | None = Field(default=None, ge=0, description="Most characters kept.")
    min_words: int | None = Field(default=None, ge=0, description="Fewest words kept.")
    max_words: int | None = Field(default=None, ge=0, description="Most words kept.")

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        for unit in ("chars", "words"):
            low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_{unit} {low} is greater than max_{unit} {high}")


class Length(Step):
    """Drop records whose selected text is too short or too long.

    The text measured is every selected text joined by a blank line (see
    :func:`~curata.curation.steps.base.joined_text`); characters are Unicode code points and
    words are runs of non-whitespace (``str.split``). A record with no selected text measures
    0 characters and 0 words.
    """

    name = "length"
    summary = "Bounds on the characters and words of the selected text."
    Params = LengthParams
    params: LengthParams

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Drop a record outside any bound, naming the bound and the measured value."""
        p = self.params
        count_words = p.min_words is not None or p.max_words is not None
        out: list[Decision] = []
        for _, record in batch:
            text = joined_text(record, p.fields)
            measured = {"chars": len(text), "words": len(text.split()) if count_words else 0}
            out.append(self._decide(measured))
        return out

    def _decide(self, measured: dict[str, int]) -> Decision:
        for unit, value in measured.items():
            low = getattr(self.params, f"min_{unit}")
            high = getattr(self.params, f"max_{unit}")
            if low is not None and value < low:
                return Decision.drop(
                    f"too short: {value} {unit} < min_{unit} {low}",
                    bound=f"min_{unit}",
                    limit=low,
                    value=value,
                )
            if high is not None and value > high:
                return Decision.drop(
                    f"too long: {value} {unit} > max_{unit} {high}",
                    bound=f"max_{unit}",
                    limit=high,
                    value=value,
                )
        return Decision.keep()
