"""``curata vendor``: vendors' terms, revoking a vendor and handing over what it produced."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress

from curata.annotation.vendor_export import FILES
from curata.annotation.vendors import TERMS, Vendor
from curata.cli.output import JsonOption, emit, err_console, workspace
from curata.cli.output import table as table_of
from curata.cli.sources import SensitivityChoice

app = typer.Typer(help="Vendors: their terms, revocation and hand-over of what they produced.")

VendorArgument = typer.Argument(..., help="Vendor name.", metavar="VENDOR")


def _print_vendor(c: Console, v: Vendor) -> None:
    state = f"[red]revoked {v.revoked_at:%Y-%m-%d %H:%M}[/]" if v.revoked_at else "active"
    c.print(f"[bold]{escape(v.name)}[/] ({state}), {v.members} user(s)")
    c.print(f"  data ownership: {escape(v.data_ownership) or '-'}")
    c.print(f"  IP: {escape(v.ip) or '-'}")
    c.print(f"  retention: {f'{v.retention_days} days' if v.retention_days else 'not set'}")
    c.print(f"  permitted sensitivity: up to {v.max_sensitivity or 'any (no cap)'}")


@app.command("list")
def vendor_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List vendors with their terms and how many users each has."""
    found = workspace(ctx).vendors.vendors()

    def render(c: Console) -> None:
        t = table_of("vendor", "users", "max sensitivity", "retention", "state")
        for v in found:
            t.add_row(
                v.name,
                str(v.members),
                v.max_sensitivity or "-",
                f"{v.retention_days} d" if v.retention_days else "-",
                "revoked" if v.revoked_at else "active",
            )
        c.print(t)

    emit(as_json, [v.to_dict() for v in found], render)


@app.command("show")
def vendor_show(
    ctx: typer.Context, vendor: str = VendorArgument, as_json: bool = JsonOption
) -> None:
    """Show a vendor's terms."""
    v = workspace(ctx).vendors.vendor(vendor)
    emit(as_json, v.to_dict(), lambda c: _print_vendor(c, v))


@app.command("terms")
def vendor_terms(
    ctx: typer.Context,
    vendor: str = VendorArgument,
    ownership: str | None = typer.Option(None, "--ownership", help="Who owns the data produced."),
    ip: str | None = typer.Option(None, "--ip", help="Intellectual-property terms."),
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="How long the vendor may keep data (1 to 36500 days)."
    ),
    max_sensitivity: SensitivityChoice | None = typer.Option(
        None, "--max-sensitivity", help="Most sensitive class its users may be served."
    ),
    clear: list[str] = typer.Option(
        [],
        "--clear",
        help=f"Remove a term (repeatable): {', '.join(TERMS)}.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Record the terms that govern a vendor (options not given stay as they are; --clear
    removes one)."""
    v = workspace(ctx).vendors.set_terms(
        vendor,
        ownership=ownership,
        ip=ip,
        retention_days=retention_days,
        max_sensitivity=max_sensitivity.value if max_sensitivity else None,
        clear=clear,
    )
    emit(as_json, v.to_dict(), lambda c: _print_vendor(c, v))


@app.command("revoke")
def vendor_revoke(
    ctx: typer.Context,
    vendor: str = VendorArgument,
    reason: str = typer.Option(..., "--reason", help="Why the vendor is revoked (audited)."),
    as_json: bool = JsonOption,
) -> None:
    """Revoke a vendor: its users' tokens are revoked and their leases end now (a running
    server refuses them within 1 s); no token is issued to them until it is reinstated."""
    done = workspace(ctx).vendors.revoke_vendor(vendor, reason)
    emit(
        as_json,
        done.to_dict(),
        lambda c: c.print(
            f"Revoked vendor [bold]{escape(vendor)}[/]: {len(done.users)} user(s), "
            f"{done.tokens} token(s), {done.released} lease(s) released"
        ),
    )


@app.command("reinstate")
def vendor_reinstate(
    ctx: typer.Context,
    vendor: str = VendorArgument,
    reason: str = typer.Option("", "--reason", help="Why the vendor is reinstated (audited)."),
    as_json: bool = JsonOption,
) -> None:
    """Lift a vendor's revocation (tokens revoked then stay revoked; new ones can be issued)."""
    v = workspace(ctx).vendors.reinstate_vendor(vendor, reason)
    emit(as_json, v.to_dict(), lambda c: _print_vendor(c, v))


@app.command("export")
def vendor_export(
    ctx: typer.Context,
    vendor: str = VendorArgument,
    out_dir: Path = typer.Argument(
        ..., help="Folder to write (missing or empty).", metavar="OUT_DIR"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Hand over everything a vendor's users produced: annotations with their reviews, skips
    and calibration results as JSONL, and a manifest with the terms, row counts and SHA-256."""
    ws = workspace(ctx)
    console = err_console()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task(f"Exporting {vendor}", total=len(FILES))
    with progress:
        manifest = ws.vendors.export_vendor(
            vendor, out_dir, progress=lambda name, rows: progress.advance(task)
        )

    def render(c: Console) -> None:
        c.print(f"Exported vendor [bold]{escape(vendor)}[/] to {escape(str(out_dir))}")
        for name, info in manifest["files"].items():
            c.print(f"  {name}: {info['rows']} row(s)")

    emit(as_json, manifest, render)
