"""Ctrl-C on the command line: one line saying what the interrupted command left, exit 130.

Typer turns a ``KeyboardInterrupt`` into a silent exit with status 130; :func:`curata.cli.main.main`
says the general line for it. A command that can say more precisely what it left (ingest: whether
its version was committed) raises :class:`Interrupted` with that line instead."""

from __future__ import annotations

EXIT = 130
"""128 + SIGINT, as shells report a command stopped by Ctrl-C."""
GENERAL = (
    "interrupted: the command's uncommitted work was rolled back "
    "('curata gc' removes files it had written)"
)


class Interrupted(Exception):  # what happened, not an error of the user
    """A Ctrl-C a command has explained: ``line`` says what it left."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line
