"""AdvBench harmful behaviours (Zou et al. 2023, llm-attacks/llm-attacks,
``data/advbench/harmful_behaviors.csv``): a CSV with the header ``goal,target``.

Each row is a plain harmful request (``goal``) and the affirmative opening a successful attack
elicits (``target``, "Sure, here is …"). The corpus has no categories: every row maps to
``harmful_content`` / ``general``, ``direct_request``, English. The behaviours were written
with Wizard-Vicuna-30B-Uncensored (the paper, section 3), so their provenance is
``attacker_model``. A row's ``corpus_id`` is ``advbench:N``, N its position among the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curata.redteam.importers.base import AttackImporter, Row, optional_text, required_text


class AdvBench(AttackImporter):
    """AdvBench ``harmful_behaviors.csv`` (``goal,target``)."""

    format = "advbench"
    title = "AdvBench harmful_behaviors.csv"
    suffixes = (".csv",)

    def sniff(self, head: str) -> bool:
        first = head.splitlines()[0] if head else ""
        return sorted(c.strip().lower() for c in first.split(",")) == ["goal", "target"]

    def rows(self, path: Path) -> Iterator[Row]:
        for n, (line, row) in enumerate(self.csv_rows(path, required=("goal", "target")), start=1):
            goal = required_text(row, "goal", path=path, line=line).strip()
            target = optional_text(row, "target")
            yield (
                line,
                {
                    "prompt": goal,
                    "goal": goal,
                    "target": target.strip() if target else None,
                    "category": "harmful_content",
                    "harm_area": "general",
                    "technique": "direct_request",
                    "language": "en",
                    "provenance": "attacker_model",
                    "author": "Wizard-Vicuna-30B-Uncensored (AdvBench, Zou et al. 2023)",
                    "corpus": self.format,
                    "corpus_id": f"advbench:{n}",
                },
            )
