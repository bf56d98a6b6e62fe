"""PyRIT seed datasets (Azure/PyRIT, ``pyrit/datasets/seed_prompts/*.prompt``): YAML read by
``SeedDataset.from_yaml_file`` (formerly ``SeedPromptDataset``).

Top-level keys are defaults merged into every prompt (``dataset_name``, ``name``,
``harm_categories``, ``description``, ``authors``, ``groups``, ``source``, ``data_type``, …);
the prompts are the list under ``prompts`` (``seeds`` in PyRIT 0.13 and later), each with a
``value`` (required) and optionally ``data_type``, ``harm_categories``, ``authors``,
``parameters`` (a template's slots), ``is_objective``/``seed_type``, ``prompt_group_alias`` and
``sequence`` (a multi-turn group). Only ``text`` prompts are attacks here; any other data type
(``image_path``, ``audio_path``, …) is refused naming its line.

Mapping: ``harm_categories`` (free text in PyRIT) through :data:`HARM_KEYWORDS` — a category
naming the system prompt → ``system_prompt_extraction``; leakage or extraction of training data
→ ``training_data_extraction``; otherwise ``harmful_content`` with the first harm area a keyword
matches (``general`` if none). A prompt of a group with more than one ``sequence`` is
``multi_turn_escalation`` (one turn of a scripted escalation; its harm area kept);
``parameters`` → provenance ``template``; ``authors`` → author; the group alias and
sequence, the seed type and ``source`` become tags; ``corpus_id`` is
``pyrit:<file stem>:<n>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from curata.core.errors import InputError
from curata.redteam.importers.base import AttackImporter, Row

HARM_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("chemical", "chemical_biological"),
    ("biolog", "chemical_biological"),
    ("cbrn", "chemical_biological"),
    ("weapon", "violence"),
    ("violen", "violence"),
    ("self-harm", "self_harm"),
    ("self harm", "self_harm"),
    ("suicid", "self_harm"),
    ("malware", "cybercrime"),
    ("cyber", "cybercrime"),
    ("hack", "cybercrime"),
    ("scam", "fraud_deception"),
    ("fraud", "fraud_deception"),
    ("decepti", "fraud_deception"),
    ("misinformation", "misinformation"),
    ("disinformation", "misinformation"),
    ("hate", "harassment_discrimination"),
    ("harass", "harassment_discrimination"),
    ("bully", "harassment_discrimination"),
    ("fairness", "harassment_discrimination"),
    ("bias", "harassment_discrimination"),
    ("sexual", "sexual_content"),
    ("privacy", "privacy"),
    ("pii", "privacy"),
    ("copyright", "copyright"),
    ("illegal", "illegal_activity"),
)
SYSTEM_PROMPT_MARKS = ("system prompt", "system_prompt")
EXTRACTION_MARKS = ("leakage", "training data", "extraction")
LIST_KEYS = ("harm_categories", "authors", "groups")


def _as_list(value: Any, key: str, *, path: Path, line: int) -> list[str]:
    """PyRIT accepts a string or a list of strings for its list fields."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise InputError(
            "expected a string or a list of strings", path=str(path), line=line, field=key
        )
    return [v for v in items if v.strip()]


def _classify(harms: list[str]) -> dict[str, Any]:
    text = " | ".join(harms).lower()
    if any(mark in text for mark in SYSTEM_PROMPT_MARKS):
        return {"category": "system_prompt_extraction"}
    area = next((a for h in harms for k, a in HARM_KEYWORDS if k in h.lower()), None)
    if any(mark in text for mark in EXTRACTION_MARKS):
        return {"category": "training_data_extraction", "harm_area": area}
    return {"category": "harmful_content", "harm_area": area or "general"}


class PyritSeeds(AttackImporter):
    """A PyRIT seed-prompt dataset (YAML)."""

    format = "pyrit"
    title = "PyRIT seed-prompt YAML"
    suffixes = (".prompt", ".yaml", ".yml")

    def rows(self, path: Path) -> Iterator[Row]:
        text = self.whole_text(path)
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            line = mark.line + 1 if mark is not None else None
            raise InputError(f"malformed YAML: {problem}", path=str(path), line=line) from None
        finally:
            loader.dispose()
        if not isinstance(data, dict) or root is None:
            kind = "nothing" if data is None else type(data).__name__
            raise InputError(
                f"a PyRIT seed dataset is a YAML mapping with a 'prompts' list, not {kind}",
                path=str(path),
                line=1,
            )
        key_lines = {k.value: k.start_mark.line + 1 for k, _ in root.value}
        nodes = {k.value: v for k, v in root.value}
        key = "prompts" if "prompts" in data else "seeds" if "seeds" in data else None
        if key is None:
            raise InputError(
                "missing (a PyRIT seed dataset lists its prompts under 'prompts' or 'seeds')",
                path=str(path),
                line=1,
                field="prompts",
            )
        prompts = data[key]
        if not isinstance(prompts, list):
            raise InputError(
                f"expected a list of prompts, got {type(prompts).__name__}",
                path=str(path),
                line=key_lines[key],
                field=key,
            )
        item_lines = [n.start_mark.line + 1 for n in nodes[key].value]
        defaults = {k: v for k, v in data.items() if k not in ("prompts", "seeds")}
        turns: dict[Any, set[Any]] = {}
        for prompt in prompts:
            if isinstance(prompt, dict) and prompt.get("prompt_group_alias") is not None:
                turns.setdefault(prompt["prompt_group_alias"], set()).add(prompt.get("sequence", 0))
        multi_turn = {alias for alias, sequences in turns.items() if len(sequences) > 1}
        for i, prompt in enumerate(prompts):
            line, at = item_lines[i], f"{key}[{i}]"
            yield self._row(path, line, at, i, prompt, defaults, multi_turn=multi_turn)

    def _row(
        self,
        path: Path,
        line: int,
        at: str,
        i: int,
        prompt: Any,
        defaults: dict[str, Any],
        *,
        multi_turn: set[Any],
    ) -> Row:
        def fail(problem: str, field: str) -> InputError:
            return InputError(problem, path=str(path), line=line, field=f"{at}.{field}")

        if not isinstance(prompt, dict):
            raise InputError(
                f"expected a mapping with a 'value', got {type(prompt).__name__}",
                path=str(path),
                line=line,
                field=at,
            )
        if "value" not in prompt:
            raise fail("missing (a seed prompt needs its value)", "value")
        value = prompt["value"]
        if not isinstance(value, str):
            raise fail(f"expected a string, got {type(value).__name__}", "value")
        if not value.strip():
            raise fail("empty value (an attack needs a prompt)", "value")
        data_type = prompt.get("data_type", defaults.get("data_type", "text"))
        if data_type != "text":
            raise fail(
                f"data type {data_type!r} is not a text prompt (only text seeds are attacks)",
                "data_type",
            )
        merged = {k: _as_list(prompt.get(k), f"{at}.{k}", path=path, line=line) for k in LIST_KEYS}
        for k in LIST_KEYS:  # the prompt's own first: its harm categories decide the mapping
            shared = _as_list(defaults.get(k), k, path=path, line=line)
            merged[k] += [v for v in shared if v not in merged[k]]
        parameters = prompt.get("parameters", defaults.get("parameters"))
        objective = bool(prompt.get("is_objective", defaults.get("is_objective"))) or (
            prompt.get("seed_type", defaults.get("seed_type")) == "objective"
        )
        source = prompt.get("source", defaults.get("source"))
        alias = prompt.get("prompt_group_alias")
        tags = [
            *(["seed_type:objective"] if objective else []),
            *(
                [f"group:{alias}", f"sequence:{prompt.get('sequence', 0)}"]
                if alias is not None
                else []
            ),
            *([f"source:{source}"] if isinstance(source, str) and source.strip() else []),
        ]
        harms = merged["harm_categories"]
        taxonomy = _classify(harms)
        if alias is not None and alias in multi_turn:  # one turn of a scripted escalation
            taxonomy["category"] = "multi_turn_escalation"
        return line, {
            "prompt": value.rstrip("\n"),
            **taxonomy,
            "provenance": "template" if parameters else "human",
            "author": ", ".join(merged["authors"]) or None,
            "language": "en",
            "corpus": self.format,
            "corpus_id": f"pyrit:{path.stem}:{i + 1}",
            "corpus_category": ", ".join(harms) or None,
            "tags": tags,
        }
