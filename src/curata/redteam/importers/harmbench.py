"""HarmBench behaviours (Mazeika et al. 2024, centerforaisafety/HarmBench,
``data/behavior_datasets/harmbench_behaviors_text_*.csv``): a CSV with the header
``Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID``.

The prompt is the behaviour, or for a ``contextual`` behaviour its context string, a
``---`` separator and the behaviour (``f"{context}\\n\\n---\\n\\n{behavior}"``, as HarmBench's
own baselines build it). ``SemanticCategory`` maps to a harm area (:data:`SEMANTIC`);
``FunctionalCategory`` (standard, contextual, copyright) to the technique; ``Tags`` (comma
separated) become tags; ``corpus_id`` is ``harmbench:<BehaviorID>``. Multimodal behaviours
need their image and are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curata.core.errors import InputError
from curata.redteam.importers.base import AttackImporter, Row, optional_text, required_text

SEMANTIC = {
    "chemical_biological": "chemical_biological",
    "cybercrime_intrusion": "cybercrime",
    "illegal": "illegal_activity",
    "misinformation_disinformation": "misinformation",
    "harassment_bullying": "harassment_discrimination",
    "copyright": "copyright",
    "harmful": "general",
}
FUNCTIONAL = {
    "standard": "direct_request",
    "contextual": "contextual_request",
    "copyright": "direct_request",
}


class HarmBench(AttackImporter):
    """HarmBench behaviours CSV."""

    format = "harmbench"
    title = "HarmBench behaviours CSV"
    suffixes = (".csv",)

    def sniff(self, head: str) -> bool:
        first = head.splitlines()[0].lower() if head else ""
        return "behaviorid" in first and "semanticcategory" in first

    def rows(self, path: Path) -> Iterator[Row]:
        columns = ("Behavior", "FunctionalCategory", "SemanticCategory", "BehaviorID")
        for line, row in self.csv_rows(path, required=columns, optional=("Tags", "ContextString")):
            behavior = required_text(row, "Behavior", path=path, line=line).strip()
            behavior_id = required_text(row, "BehaviorID", path=path, line=line).strip()
            semantic = required_text(row, "SemanticCategory", path=path, line=line).strip()
            functional = required_text(row, "FunctionalCategory", path=path, line=line).strip()
            if semantic not in SEMANTIC:
                raise InputError(
                    f"unknown SemanticCategory {semantic!r} "
                    f"(HarmBench's are {', '.join(SEMANTIC)})",
                    path=str(path),
                    line=line,
                    field="SemanticCategory",
                )
            if functional not in FUNCTIONAL:
                raise InputError(
                    f"FunctionalCategory {functional!r} is not a text behaviour "
                    f"({', '.join(FUNCTIONAL)}; multimodal behaviours need their image)",
                    path=str(path),
                    line=line,
                    field="FunctionalCategory",
                )
            context = optional_text(row, "ContextString")
            tags = [t.strip() for t in (optional_text(row, "Tags") or "").split(",") if t.strip()]
            yield (
                line,
                {
                    "prompt": f"{context.strip()}\n\n---\n\n{behavior}" if context else behavior,
                    "goal": behavior,
                    "category": "harmful_content",
                    "harm_area": SEMANTIC[semantic],
                    "technique": FUNCTIONAL[functional],
                    "language": "en",
                    "corpus": self.format,
                    "corpus_id": f"harmbench:{behavior_id}",
                    "corpus_category": semantic,
                    "tags": tags,
                },
            )
