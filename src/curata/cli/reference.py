"""Renders the CLI reference (docs/cli.md) from the commands themselves, so it cannot drift.

Regenerate with ``python -m curata.cli.reference > docs/cli.md``; a test fails when it is stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from curata.cli.main import app

HEADER = """# CLI reference

Generated from the commands' own help by `python -m curata.cli.reference > docs/cli.md`
(a test fails when this file is stale). Every command also answers `--help`.

Global options go before the command: `curata --home DIR …` (or `CURATA_HOME`), and on a
shared database `curata --token TOKEN …` (or `CURATA_TOKEN`, or the token `curata login` saved).
Exit codes: `0` success, `1` a user error (one line on stderr, starting `error:`),
`2` a usage error (unknown option, missing argument, bad choice).
"""


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def _param_line(param: Any) -> str | None:
    if param.param_type_name == "argument":
        name = (param.metavar or param.name).upper()
        required = "required" if param.required else "optional"
        return f"- `{name}` ({required}): {getattr(param, 'help', None) or ''}".rstrip(": ")
    if getattr(param, "hidden", False) or param.name == "help":
        return None
    opts = ", ".join(f"`{o}`" for o in param.opts)
    choices = getattr(getattr(param, "type_descriptor", None), "choices", None)
    names = [str(getattr(c, "value", c)) for c in choices or ()]
    extra = f" One of: {', '.join(names)}." if names else ""
    default = param.default
    if param.required:
        extra += " Required."
    elif default not in (None, False, "", ()) and not callable(default):
        value = getattr(default, "value", default)
        extra += f" Default: `{value}`."
    return f"- {opts}: {param.help or ''}{extra}"


def render() -> str:
    """The whole reference as Markdown."""
    root = typer.main.get_command(app)
    parts = [HEADER]
    for path, cmd in _walk(root):
        if not path:
            continue
        title = " ".join(("curata", *path))
        parts.append(f"\n## `{title}`\n")
        parts.append((cmd.help or "").strip().split("\n\n")[0] + "\n")
        lines = [line for p in cmd.params if (line := _param_line(p))]
        if lines:
            parts.append("\n" + "\n".join(lines) + "\n")
    return "".join(parts)


if __name__ == "__main__":
    print(render(), end="")
