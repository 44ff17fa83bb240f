"""The ``kenning`` command. Its default is ``serve``, as Datasette's is."""

import sys

import typer
from rich.console import Console

from kenning.cli import (
    activation,
    attribution,
    audiences,
    demo,
    export,
    identity,
    predictions,
    privacy,
    profiles,
    quarantine,
    sources,
    traits,
)
from kenning.cli.backend import CommandError
from kenning.cli.coverage import coverage_command
from kenning.cli.imports import import_command
from kenning.cli.journeys import funnel_command, goals_command, journey_command, paths_command
from kenning.cli.serve import serve
from kenning.cli.stats import stats
from kenning.ingest.files import FileFormatError
from kenning.ingest.mapping import MappingError
from kenning.settings import ConfigError
from kenning.store.store import EncryptionUnavailable

app = typer.Typer(
    name="kenning",
    help="Kenning: an open-source Customer Data Platform.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve)
app.command("stats")(stats)
app.command("import")(import_command)
app.command("coverage")(coverage_command)
app.add_typer(sources.app, name="sources")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(export.app, name="export")
app.add_typer(demo.app, name="demo")
app.add_typer(identity.app, name="identity")
app.add_typer(profiles.app, name="profile")
app.add_typer(traits.app, name="traits")
app.add_typer(audiences.app, name="audiences")
app.add_typer(activation.destinations, name="destinations")
app.add_typer(activation.campaigns, name="campaigns")
app.add_typer(activation.deliveries, name="deliveries")
app.command("journey")(journey_command)
app.command("paths")(paths_command)
app.command("funnel")(funnel_command)
app.command("goals")(goals_command)
app.add_typer(attribution.attribution, name="attribution")
app.add_typer(attribution.spend, name="spend")
app.add_typer(predictions.predict, name="predict")
app.add_typer(privacy.app, name="privacy")

# Failures a user can cause and fix: reported as one line, never a traceback.
USER_ERRORS = (
    CommandError, MappingError, FileFormatError, ConfigError, EncryptionUnavailable, ValueError,
    OSError,
)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        args = ["serve"]
    try:
        # Outside standalone mode click returns a command's ``typer.Exit`` code.
        code = app(args, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(130)
    except USER_ERRORS as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(1)
    except Exception as error:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
