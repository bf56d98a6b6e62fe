"""The ``curata`` command: a thin shell over the Workspace services.

Exit codes: 0 success, 1 a user error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from curata._version import __version__
from curata.cli import (
    annotation,
    attribution,
    audit,
    automation,
    briefs,
    coverage,
    curation,
    datacard,
    datasets,
    evaluation,
    exports,
    gc,
    governance,
    ingest,
    interrupt,
    lineage,
    quality,
    redteam,
    signatures,
    sources,
    vendors,
)
from curata.cli.interrupt import Interrupted
from curata.cli.output import JsonOption, emit
from curata.core.errors import CurataError, ValidationError
from curata.settings import Settings, remove_login, write_login

app = typer.Typer(
    name="curata",
    help="Curata: the training-data supply chain of an LLM program, as one measurable loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sources.app, name="source")
app.add_typer(datasets.app, name="dataset")
app.add_typer(audit.app, name="audit")
app.command("ingest")(ingest.ingest)
app.command("lineage")(lineage.lineage)
app.add_typer(annotation.users, name="user")
app.add_typer(annotation.projects, name="project")
app.add_typer(annotation.guidelines, name="guideline")
app.add_typer(annotation.annotate, name="annotate")
app.add_typer(annotation.tasks, name="tasks")
app.command("serve")(annotation.serve)
app.add_typer(quality.app, name="quality")
app.add_typer(quality.simulate_app, name="simulate")
app.add_typer(redteam.app, name="redteam")
app.command("curate")(curation.curate)
app.add_typer(curation.steps, name="steps")
app.command("why")(curation.why)
app.add_typer(curation.pii, name="pii")
app.command("coverage")(coverage.coverage)
app.command("gc")(gc.gc)
app.add_typer(evaluation.train, name="train")
app.add_typer(evaluation.evals, name="eval")
app.add_typer(briefs.app, name="brief")
app.add_typer(automation.app, name="automation")
app.command("annotate-model")(automation.annotate_model)
app.command("attribute")(attribution.attribute)
app.add_typer(vendors.app, name="vendor")
app.add_typer(exports.app, name="export")
app.add_typer(signatures.app, name="release")
signatures.app.command("card")(datacard.card)
app.add_typer(governance.raci, name="raci")
app.add_typer(governance.policy, name="policy")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"curata {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", envvar="CURATA_HOME", help="Workspace folder (default ./.curata)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="CURATA_TOKEN",
        help="API token that says who you are on a shared database (default: the one 'curata "
        "login' saved; prefer that or CURATA_TOKEN to a token on the command line).",
    ),
) -> None:
    """Curata: source → curate → annotate → QA → release → evaluate → remediate."""
    ctx.obj = {"home": home, "token": token}


@app.command("init")
def init(
    ctx: typer.Context,
    directory: Path | None = typer.Argument(
        None, help="Workspace folder (default: --home or ./.curata).", metavar="DIR"
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        envvar="CURATA_DATABASE_URL",
        help="Metadata database (default: SQLite in the workspace; or postgresql+psycopg://…).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a workspace (running it again on an existing one changes nothing). On a shared
    database that has no users yet, you become its admin: an API token is printed once and
    saved as your login for this workspace."""
    from curata.cli.access import LOGIN_HINT, bootstrap
    from curata.workspace import Workspace

    root = ctx.find_root().obj or {}
    home = directory or root.get("home")
    with Workspace.create(home, database_url=database_url, token=root.get("token")) as ws:
        data: dict[str, str | None] = {
            "home": str(ws.home),
            "database_url": _safe_url(str(ws.settings.database_url)),
            "data_url": str(ws.settings.data_url),
        }
        token = bootstrap(ws)
        if token is not None:
            data.update(admin=ws.settings.user, token=token)
        elif ws.settings.shared:
            data["user"] = ws.identity.name if ws.identity else None

    def render(c: Console) -> None:
        c.print(
            f"Curata workspace ready at [bold]{data['home']}[/]\n"
            f"  metadata: {data['database_url']}\n  records:  {data['data_url']}"
        )
        if token is not None:
            c.print(
                f"This shared database had no users: [bold]{escape(ws.settings.user)}[/] is its "
                f"admin now, logged in on this workspace. API token (shown once):\n{token}"
            )
        elif ws.settings.shared and data["user"] is None:
            c.print(f"Shared database: to run privileged commands, {LOGIN_HINT}.")

    emit(as_json, data, render)


@app.command("login")
def login(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check an API token (--token, CURATA_TOKEN, or typed at the prompt) and save it for this
    workspace in a file only you can read: commands on a shared database then act as you."""
    from curata.workspace import Workspace

    root = ctx.find_root().obj or {}
    token = root.get("token") or typer.prompt("API token", hide_input=True)
    with Workspace.open(root.get("home"), token=token.strip()) as ws:
        if not ws.settings.shared or ws.identity is None:
            raise ValidationError(
                "login: this workspace keeps its metadata in its own SQLite file (one person, "
                "who acts as its owner without a token); logins are for shared databases"
            )
        user = ws.identity
        path = write_login(ws.home, token.strip())
    emit(
        as_json,
        {"user": user.name, "role": user.role, "saved": str(path)},
        lambda c: c.print(f"Logged in as {escape(user.name)} ({user.role}); token saved in {path}"),
    )


@app.command("logout")
def logout(ctx: typer.Context) -> None:
    """Forget the API token 'curata login' saved for this workspace."""
    home = (ctx.find_root().obj or {}).get("home")
    folder = (home or Settings().home).expanduser().resolve()
    removed = remove_login(folder)
    typer.echo("Logged out." if removed else f"No saved login in {folder}.")


def _safe_url(url: str) -> str:
    from curata.workspace import _redact

    return _redact(url)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a script, exit with) its exit code."""
    os.environ.setdefault("LANCE_LOG", "error")
    try:
        result = app(args=argv, prog_name="curata", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors (exit 2) and other parser errors
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            sys.stderr.write(f"error: {exc.format_message()}\n")
        return exc.exit_code
    except Interrupted as exc:  # a command that said what its Ctrl-C left
        sys.stderr.write(exc.line + "\n")
        return interrupt.EXIT
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 1
    except CurataError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(
            f"error: {exc.strerror or exc}: {exc.filename or ''}\n".rstrip(": \n") + "\n"
        )
        return 1
    except KeyboardInterrupt:  # outside a command (Typer turns one inside into exit 130)
        result = interrupt.EXIT
    if result == interrupt.EXIT:  # a bare Ctrl-C: every command commits at its end, in one
        sys.stderr.write(interrupt.GENERAL + "\n")  # transaction, so nothing half-done stays
    return result if isinstance(result, int) else 0


def script() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    script()
