"""``curata redteam``: attacks, converters and (coming) campaigns against targets."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit

app = typer.Typer(help="Red teaming: attack sets, converters, targets and campaigns.")
converters = typer.Typer(help="Converters: transformations applied to an attack before it is sent.")
app.add_typer(converters, name="converters")


@converters.command("list")
def converters_list(as_json: bool = JsonOption) -> None:
    """Every registered converter with its parameters, defaults and whether it can be decoded."""
    from curata.redteam.converters import converter_table

    data = converter_table()

    def render(c: Console) -> None:
        for conv in data:
            flags = [f for f, on in (("reversible", conv["reversible"]), ("seeded", conv["random"]))
                     if on]  # fmt: skip
            extra = f" ({', '.join(flags)})" if flags else ""
            c.print(f"[bold]{conv['name']}[/]{extra}: {escape(conv['summary'])}")
            for p in conv["params"]:
                c.print(f"  {p['name']} ({escape(str(p['type']))}; default {p['default']!r}): "
                        f"{escape(p['description'])}")  # fmt: skip

    emit(as_json, data, render)


def convert(
    chain: str = typer.Option(
        ...,
        "--converters",
        "-c",
        metavar="CHAIN",
        help="Converters applied in turn: 'name' or 'name:key=value,...', separated by '|' "
        "(e.g. 'leetspeak|base64').",
    ),
    text: str | None = typer.Argument(
        None, help="The text to convert (default: read standard input).", metavar="TEXT"
    ),
    decode: bool = typer.Option(
        False, "--decode", help="Undo the chain instead (every converter must be reversible)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Apply a converter chain to a text and print the result (what a campaign would send)."""
    from curata.redteam.converters.chain import Chain

    parsed = Chain.parse(chain)
    given = sys.stdin.read().removesuffix("\n") if text is None else text  # echo adds one
    out = parsed.decode(given) if decode else parsed.convert(given)
    data = {"converters": parsed.record(), "decoded" if decode else "converted": out}
    emit(as_json, data, lambda _: typer.echo(out))  # as is: no wrapping, no markup


app.command("convert")(convert)
