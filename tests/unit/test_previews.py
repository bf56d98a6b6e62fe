"""Diff previews show where two versions of a record differ, even far into the text."""

from __future__ import annotations

from curata.core.records import Record
from curata.versioning.diff import change_preview, preview


def test_change_preview_starts_near_the_first_difference() -> None:
    base = "Before contacting support, check the receipt. " * 4
    old, new = Record.from_text(base), Record.from_text(base + "Updated: one business day.")
    before, after = change_preview(old, new)
    assert before.startswith("…") and after.startswith("…")
    assert "Updated: one business day." in after and "Updated" not in before


def test_preview_flattens_chat_and_clips() -> None:
    chat = Record.from_messages(
        [{"role": "user", "content": "hi\n\nthere"}, {"role": "assistant", "content": "x" * 200}]
    )
    text = preview(chat)
    assert text.startswith("user: hi there | assistant: x") and len(text) == 80
    assert text.endswith("…")
