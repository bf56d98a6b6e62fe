"""The ``normalize`` step: Unicode repair, Unicode normal form, control characters, whitespace."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

import ftfy
from pydantic import Field

from curata.curation.steps.base import Decision, Item, Step, TextParams, replace_texts, text_fields

FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    fix_character_width=False,
    uncurl_quotes=False,
    remove_control_chars=False,
    normalization=None,
    explain=True,
)
"""ftfy's defaults (mojibake, C1 controls, ligatures, line breaks, surrogates, terminal escapes)
except: HTML entities are content (records may be code or markup), fullwidth forms are left to
``form="NFKC"``, curly quotes are correct typography, control characters and the normal form
are this step's own ``control`` and ``form`` parameters."""

_ENCODING_FIXES = {
    "restore_byte_a0",
    "replace_lossy_sequences",
    "decode_inconsistent_utf8",
    "fix_c1_controls",
}
_FIX_LABELS = {
    "fix_latin_ligatures": "ligatures",
    "fix_line_breaks": "line breaks",
    "fix_surrogates": "surrogates",
    "remove_terminal_escapes": "terminal escapes",
}
_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"\r\n|[{_LINE_BREAKS}]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ufeff]")
_SPACE = f"[^\\S\n{_LINE_BREAKS}]"  # horizontal whitespace: spaces, tabs, NBSP, ...
_SPACE_RUN = f"{_SPACE}{{2,}}"
_INNER_RUN = re.compile(f"(?<=\\S){_SPACE_RUN}")
_ANY_RUN = re.compile(_SPACE_RUN)
_TRAILING = re.compile(f"{_SPACE}+$", re.MULTILINE)
MAX_ROUNDS = 4


class NormalizeParams(TextParams):
    """Parameters of :class:`Normalize`."""

    fix_unicode: bool = Field(
        default=True,
        description="Repair mojibake and broken Unicode with ftfy (HTML entities, curly quotes "
        "and fullwidth forms are left as they are).",
    )
    form: Literal["NFC", "NFKC", "none"] = Field(
        default="NFC",
        description="Unicode normal form: NFC (composed), NFKC (also folds compatibility forms "
        "such as fullwidth letters and ligatures; changes '10\u00b3' to '103') or none.",
    )
    control: bool = Field(
        default=True,
        description="Remove control characters, except newline and tab, and the byte-order "
        "mark U+FEFF; CR, CRLF, vertical tab, form feed and Unicode line separators become "
        "newlines.",
    )
    whitespace: bool = Field(
        default=True,
        description="Collapse runs of two or more spaces and tabs (any horizontal whitespace) "
        "inside a line to one space; strip trailing spaces and leading and trailing blank "
        "lines; keep at most max_blank_lines blank lines in a row.",
    )
    keep_indent: bool = Field(
        default=True,
        description="Leave each line's leading indentation as it is (code, nested lists).",
    )
    max_blank_lines: int = Field(
        default=2, ge=0, description="The most consecutive blank lines kept (whitespace)."
    )


class Normalize(Step):
    """Repair and normalise the selected texts; never drops a record.

    The stages run in order (Unicode repair, normal form, control characters, whitespace) and
    are repeated on a changed text until nothing changes (at most ``MAX_ROUNDS`` rounds), so
    normalising twice gives the same text as normalising once.
    """

    name = "normalize"
    summary = "Unicode repair (ftfy), NFC/NFKC, control characters and whitespace."
    Params = NormalizeParams
    params: NormalizeParams

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Change each record whose selected texts normalise differently, keep the others."""
        out: list[Decision] = []
        for _, record in batch:
            new: dict[str, str] = {}
            changes: list[str] = []
            for path, text in text_fields(record, self.params.fields):
                fixed = self.normalize(text, changes)
                if fixed != text:
                    new[path] = fixed
            if not new:
                out.append(Decision.keep())
                continue
            reason = "normalised: " + ", ".join(changes)
            out.append(
                Decision.change(
                    replace_texts(record, new), reason, fields=sorted(new), changes=changes
                )
            )
        return out

    def normalize(self, text: str, changes: list[str] | None = None) -> str:
        """The normalised ``text``; what changed is appended to ``changes`` (once per label)."""
        log: list[str] = [] if changes is None else changes
        for _ in range(MAX_ROUNDS):
            before = text
            text = self._one_round(text, log)
            if text == before:
                break
        return text

    def _one_round(self, text: str, log: list[str]) -> str:
        p = self.params
        if p.fix_unicode:
            fixed, labels = repair_unicode(text)
            if fixed != text:
                _note(log, f"unicode repaired ({', '.join(labels)})")
            text = fixed
        if p.form != "none":
            text = _stage(log, p.form, text, unicodedata.normalize(p.form, text))
        if p.control:
            text = _stage(log, "control characters", text, remove_controls(text))
        if p.whitespace:
            fixed = normalize_whitespace(
                text, keep_indent=p.keep_indent, max_blank_lines=p.max_blank_lines
            )
            text = _stage(log, "whitespace", text, fixed)
        return text


def repair_unicode(text: str) -> tuple[str, list[str]]:
    """``ftfy.fix_text(text, FTFY_CONFIG)`` and the kinds of repair it made.

    Fixes line by line as ``fix_text`` does, through ``fix_and_explain`` to learn what changed.
    """
    out: list[str] = []
    labels: list[str] = []
    pos = 0
    limit = FTFY_CONFIG.max_decode_length
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        end = min(end, pos + limit)
        fixed, steps = ftfy.fix_and_explain(text[pos:end], FTFY_CONFIG)
        out.append(fixed)
        for action, parameter in steps or ():
            if action != "apply" or parameter in _ENCODING_FIXES:
                label = "mojibake"
            else:
                label = _FIX_LABELS.get(parameter, parameter)
            if label not in labels:
                labels.append(label)
        pos = end
    return "".join(out), labels


def remove_controls(text: str) -> str:
    """``text`` with line-break controls made newlines and other control characters removed."""
    return _CONTROL.sub("", _LINE_BREAK.sub("\n", text))


def normalize_whitespace(text: str, *, keep_indent: bool = True, max_blank_lines: int = 2) -> str:
    """``text`` with space runs collapsed, lines right-stripped and blank-line runs limited."""
    text = _TRAILING.sub("", text)
    text = (_INNER_RUN if keep_indent else _ANY_RUN).sub(" ", text)
    text = re.sub(f"\n{{{max_blank_lines + 2},}}", "\n" * (max_blank_lines + 1), text)
    return text.strip("\n")


def _stage(log: list[str], label: str, before: str, after: str) -> str:
    if after != before:
        _note(log, label)
    return after


def _note(log: list[str], label: str) -> None:
    if label not in log:
        log.append(label)
