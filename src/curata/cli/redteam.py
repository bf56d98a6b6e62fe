"""``curata redteam``: attacks, converters and (coming) campaigns against targets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from curata.cli.output import JsonOption, emit, print_plugins, workspace
from curata.cli.output import table as table_of

app = typer.Typer(help="Red teaming: attack sets, converters, targets and campaigns.")
converters = typer.Typer(help="Converters: transformations applied to an attack before it is sent.")
app.add_typer(converters, name="converters")
targets = typer.Typer(help="Targets: the models and endpoints a campaign attacks.")
app.add_typer(targets, name="targets")


@converters.command("list")
def converters_list(as_json: bool = JsonOption) -> None:
    """Every registered converter with its parameters, defaults and whether it can be decoded."""
    from curata.redteam.converters import converter_table

    data = converter_table()
    emit(as_json, data, lambda c: print_plugins(c, data, reversible="reversible", random="seeded"))


@targets.command("list")
def targets_list(as_json: bool = JsonOption) -> None:
    """Every registered target kind with its parameters (an API key is never a parameter: a
    target names the environment variable that holds it)."""
    from curata.redteam.targets import TARGETS

    data = TARGETS.describe()
    emit(as_json, data, lambda c: print_plugins(c, data))


def scripted(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: a free one)."),
    latency_ms: float = typer.Option(
        0.0, "--latency-ms", min=0.0, help="Time each answer takes, in milliseconds."
    ),
    patched: bool = typer.Option(
        False, "--patched", help="The fixed checkpoint: obfuscated and injected attacks refused."
    ),
) -> None:
    """Serve the scripted test target (a rule-based double, not a model) on an
    OpenAI-compatible endpoint until Ctrl-C; prints its base URL first."""
    from curata.redteam.targets.scripted import ScriptedServer

    server = ScriptedServer(port=port, latency_ms=latency_ms, patched=patched)
    server.serve_forever(announce=lambda url: typer.echo(url))


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


def import_attacks(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., help="A corpus file: AdvBench, HarmBench or JailbreakBench CSV, garak payload JSON "
        "or prompt list, PyRIT seed YAML.", metavar="FILE"
    ),
    dataset: str = typer.Option(..., "--dataset", help="Attack set to write the next version of."),
    source: str = typer.Option(..., "--source", help="Registered source the attacks come from."),
    format: str = typer.Option(
        "auto", "--format", help="auto (by extension and CSV header), advbench, harmbench, "
        "jailbreakbench, garak-payloads, garak-prompts, pyrit or curata-jsonl."
    ),
    message: str | None = typer.Option(None, "-m", "--message", help="Describe this version."),
    append: bool = typer.Option(
        False, "--append", help="Add to the latest version instead of replacing its content."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace the latest version even if it appeared meanwhile."
    ),
    category: str | None = typer.Option(None, "--category", help="Set every attack's category."),
    language: str | None = typer.Option(None, "--language", help="Set every attack's language."),
    benign: bool = typer.Option(
        False, "--benign", help="The file holds benign prompts (over-refusal checks)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Import an attack corpus as the next version of an attack set (a versioned dataset)."""
    taxonomy: dict[str, Any] = {
        k: v for k, v in (("category", category), ("language", language)) if v is not None
    }
    if benign:
        taxonomy["benign"] = True
    result = workspace(ctx).redteam.import_attacks(
        path, dataset=dataset, source=source, format=format, message=message, append=append,
        force=force, **taxonomy,
    )  # fmt: skip

    def render(c: Console) -> None:
        v = result.version
        if result.changed:
            read = f"{result.attacks_read:,} attacks read from {escape(result.path)}"
            c.print(f"{escape(v.ref)}: {read} ({result.format}), {v.record_count:,} in the set")
        else:
            c.print(f"no new version: {escape(result.path)} holds what {escape(v.ref)} holds")
        if result.duplicates:
            c.print(f"{result.duplicates:,} duplicate attacks skipped")

    emit(as_json, result.to_dict(), render)


def attacks(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="An attack set version, e.g. advbench@1.", metavar="REF"),
    category: str | None = typer.Option(None, "--category", help="Only this category."),
    harm_area: str | None = typer.Option(None, "--harm-area", help="Only this harm area."),
    technique: str | None = typer.Option(None, "--technique", help="Only this technique."),
    language: str | None = typer.Option(None, "--language", help="Only this language."),
    owasp: str | None = typer.Option(
        None, "--owasp", help="Only attacks probing this OWASP LLM risk (e.g. LLM01)."
    ),
    benign: bool | None = typer.Option(
        None, "--benign/--harmful", help="Only benign prompts, or only attacks."
    ),
    counts: bool = typer.Option(
        False, "--counts", help="Count attacks per value of each taxonomy field instead."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="List at most this many attacks."),
    as_json: bool = JsonOption,
) -> None:
    """List an attack set's attacks with their taxonomy (filtered), or count them (--counts)."""
    service = workspace(ctx).redteam
    if counts:
        tally = service.taxonomy_counts(ref)

        def render_counts(c: Console) -> None:
            c.print(f"{escape(tally.ref)}: {tally.total:,} attacks ({tally.benign:,} benign)")
            t = table_of("field", "value", "attacks")
            for name, values in tally.counts.items():
                for value, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])):
                    t.add_row(name, escape(str(value)), f"{n:,}")
            c.print(t)

        emit(as_json, tally.to_dict(), render_counts)
        return
    listing = service.attacks(
        ref, category=category, harm_area=harm_area, technique=technique, language=language,
        owasp=owasp, benign=benign, limit=limit,
    )  # fmt: skip

    def render(c: Console) -> None:
        shown = len(listing.attacks)
        c.print(f"{escape(listing.ref)}: {shown:,} shown of {listing.total:,} attacks")
        t = table_of("id", "category", "language", "prompt")
        for a in listing.attacks:
            prompt = a.attack.prompt if len(a.attack.prompt) <= 80 else a.attack.prompt[:77] + "..."
            t.add_row(a.id[:12], a.attack.category, a.attack.language, escape(prompt))
        c.print(t)

    emit(as_json, listing.to_dict(), render)


def coverage(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="An attack set version, e.g. advbench@1.", metavar="REF"),
    thin: int = typer.Option(3, "--thin", min=1, help="A cell with fewer attacks is thin."),
    no_embed: bool = typer.Option(
        False, "--no-embed", help="Skip the MiniLM embedding dispersion (near-duplicates only)."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Also write an HTML report with a heat map per dimension pair."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Which taxonomy cells an attack set leaves empty or thin (category x technique x framing
    x language x directness), what to fill next, and how diverse its prompts are."""
    from curata.cli.output import write_html

    def no_vectors(texts: list[str]) -> list[list[float]]:
        return [[0.0] for _ in texts]

    encode = no_vectors if no_embed else None
    result = workspace(ctx).redteam.coverage(ref, thin=thin, encode=encode)
    data = result.to_dict()
    if no_embed:
        data["diversity"]["dispersion"] = None
    if html is not None:
        write_html(html, result.to_html())

    def render(c: Console) -> None:
        d = data["diversity"]
        spread = "" if d["dispersion"] is None else f", dispersion {d['dispersion']:.3f}"
        c.print(f"{escape(data['ref'])}: {data['total']:,} attacks ({data['benign']:,} benign), "
                f"{len(data['empty']):,} empty and {len(data['thin_cells']):,} thin cells; "
                f"near-duplicates {d['near_dup_rate']:.1%}{spread}")  # fmt: skip
        t = table_of("fill next", "cell", "attacks")
        for s in data["suggestions"][:10]:
            cell = " x ".join(f"{k}={v}" for k, v in zip(s["dims"], s["values"], strict=True))
            t.add_row(str(len(t.rows) + 1), escape(cell), str(s["count"]))
        c.print(t)

    emit(as_json, data, render)


app.command("import")(import_attacks)
app.command("coverage")(coverage)
app.command("scripted")(scripted)
app.command("attacks")(attacks)

from curata.cli import redteam_campaigns as _campaigns  # noqa: E402,F401  (registers commands)
