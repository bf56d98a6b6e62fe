"""Importers of public red-team corpus formats (one module per format; see docs/redteam.md).

:data:`IMPORTERS` maps each format name to its importer; :func:`detect_format` picks one for a
file by its extension and, among CSV formats, by its header; :func:`read_attacks` reads a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from curata.core.errors import InputError
from curata.redteam.attacks import Attack
from curata.redteam.importers.advbench import AdvBench
from curata.redteam.importers.base import DEFAULT_MAX_PROMPT_BYTES, AttackImporter, check_file
from curata.redteam.importers.garak import GarakPayloads, GarakPrompts
from curata.redteam.importers.harmbench import HarmBench
from curata.redteam.importers.jailbreakbench import JailbreakBench
from curata.redteam.importers.native import CurataJsonl
from curata.redteam.importers.pyrit import PyritSeeds

IMPORTERS: dict[str, type[AttackImporter]] = {
    cls.format: cls
    for cls in (
        AdvBench, HarmBench, JailbreakBench, GarakPayloads, GarakPrompts, PyritSeeds, CurataJsonl
    )
}
"""Every importer by format name, in the order ``auto`` tries them."""

__all__ = ["IMPORTERS", "AttackImporter", "detect_format", "read_attacks"]


def detect_format(path: str | Path, fmt: str = "auto") -> str:
    """The importer format for ``path``: ``fmt`` itself when given (checked), else by the
    file's extension, and among the CSV formats by its header row."""
    path = Path(path)
    if fmt != "auto":
        if fmt not in IMPORTERS:
            raise InputError(
                f"unknown attack format {fmt!r} (choose from auto, {', '.join(IMPORTERS)})"
            )
        return fmt
    check_file(path)
    suffix = path.suffix.lower()
    candidates = [cls for cls in IMPORTERS.values() if suffix in cls.suffixes]
    if not candidates:
        known = ", ".join(sorted({s for cls in IMPORTERS.values() for s in cls.suffixes}))
        raise InputError(
            f"cannot tell the attack format from the extension {suffix!r} (known: {known}); "
            f"give the format ({', '.join(IMPORTERS)})",
            path=str(path),
        )
    if len(candidates) == 1:
        return candidates[0].format
    with path.open("rb") as f:
        head = f.read(64 * 1024).decode("utf-8", errors="replace").removeprefix("\ufeff")
    for cls in candidates:
        if cls().sniff(head):
            return cls.format
    raise InputError(
        f"the header matches none of {', '.join(c.format for c in candidates)}; give the format",
        path=str(path),
        line=1,
    )


def read_attacks(
    path: str | Path,
    *,
    format: str = "auto",
    defaults: Mapping[str, Any] | None = None,
    encoding: str = "utf-8",
    max_prompt_bytes: int = DEFAULT_MAX_PROMPT_BYTES,
) -> Iterator[tuple[int, Attack]]:
    """Every attack of a file, with the line it starts on (see :meth:`AttackImporter.read`)."""
    importer = IMPORTERS[detect_format(path, format)](
        encoding=encoding, max_prompt_bytes=max_prompt_bytes
    )
    return importer.read(path, defaults=defaults)
