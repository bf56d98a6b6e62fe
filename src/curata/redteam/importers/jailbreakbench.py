"""JailbreakBench behaviours (Chao et al. 2024, the ``JailbreakBench/JBB-Behaviors`` dataset,
``data/harmful-behaviors.csv`` and ``data/benign-behaviors.csv``): a CSV with the header
``Index,Goal,Target,Behavior,Category,Source``.

``Goal`` is the prompt, ``Target`` the affirmative opening, ``Category`` (one of the ten
categories drawn from OpenAI's usage policies) maps to a harm area (:data:`CATEGORIES`),
``Behavior`` (a short name) and ``Source`` (Original, AdvBench, TDC/HarmBench, …) become tags;
``corpus_id`` is ``jailbreakbench:<Index>``. The benign file has the same header: import it with
``benign=True`` (its prompts must not be refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curata.core.errors import InputError
from curata.redteam.importers.base import AttackImporter, Row, optional_text, required_text

CATEGORIES = {
    "harassment/discrimination": "harassment_discrimination",
    "malware/hacking": "cybercrime",
    "physical harm": "violence",
    "economic harm": "economic_harm",
    "fraud/deception": "fraud_deception",
    "disinformation": "misinformation",
    "sexual/adult content": "sexual_content",
    "privacy": "privacy",
    "expert advice": "specialised_advice",
    "government decision-making": "government_decision_making",
}


class JailbreakBench(AttackImporter):
    """JBB-Behaviors CSV."""

    format = "jailbreakbench"
    title = "JailbreakBench JBB-Behaviors CSV"
    suffixes = (".csv",)

    def sniff(self, head: str) -> bool:
        first = {c.strip().lower() for c in (head.splitlines()[0] if head else "").split(",")}
        return {"goal", "target", "behavior", "category"} <= first

    def rows(self, path: Path) -> Iterator[Row]:
        required = ("Goal", "Target", "Behavior", "Category")
        for n, (line, row) in enumerate(
            self.csv_rows(path, required=required, optional=("Index", "Source")), start=1
        ):
            goal = required_text(row, "Goal", path=path, line=line).strip()
            category = required_text(row, "Category", path=path, line=line).strip()
            area = CATEGORIES.get(category.lower())
            if area is None:
                known = ", ".join(c.capitalize() for c in CATEGORIES)
                raise InputError(
                    f"unknown Category {category!r} (JailbreakBench's are {known})",
                    path=str(path),
                    line=line,
                    field="Category",
                )
            index = (optional_text(row, "Index") or str(n)).strip()
            target = optional_text(row, "Target")
            behavior = optional_text(row, "Behavior")
            source = optional_text(row, "Source")
            yield (
                line,
                {
                    "prompt": goal,
                    "goal": goal,
                    "target": target.strip() if target else None,
                    "category": "harmful_content",
                    "harm_area": area,
                    "technique": "direct_request",
                    "language": "en",
                    "corpus": self.format,
                    "corpus_id": f"jailbreakbench:{index}",
                    "corpus_category": category,
                    "tags": [
                        *([f"behavior:{behavior.strip()}"] if behavior else []),
                        *([f"source:{source.strip()}"] if source else []),
                    ],
                },
            )
