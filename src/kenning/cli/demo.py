"""``kenning demo``: the synthetic brand, generated, loaded through the real API, served."""

import os
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from kenning.cli.backend import CommandError, server_file
from kenning.cli.serve import (
    announce,
    open_server_store,
    tune_garbage_collection,
    uvicorn_config,
)
from kenning.demo.loader import load_demo, read_manifest
from kenning.settings import Settings

app = typer.Typer(
    help="The synthetic brand: generate it, or load and serve it.", invoke_without_command=True
)
err = Console(stderr=True)

People = Annotated[int, typer.Option(help="How many people the brand has.")]
Seed = Annotated[int, typer.Option(help="The random seed: same seed, same brand.")]


def _generate(people: int, seed: int, out: Path) -> None:
    from kenning.demo.generator import generate

    with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
        task = bar.add_task("people", total=people)
        generate(
            people,
            seed,
            out,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option(help="Directory to write the brand to.")],
    people: People = 5_000,
    seed: Seed = 42,
) -> None:
    """Write the brand's data files and its ground truth to a directory."""
    _generate(people, seed, out)
    err.print(f"wrote {people:,} people to {out} (manifest.json lists the files)")


@app.callback()
def demo(
    ctx: typer.Context,
    people: People = 5_000,
    seed: Seed = 42,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the brand and its store live.")
    ] = Path("demo-data"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve: Annotated[bool, typer.Option(help="Keep serving after loading.")] = True,
) -> None:
    """Generate the brand, load it into a fresh store through the API, and serve it."""
    if ctx.invoked_subcommand is not None:
        return
    _generate(people, seed, directory / "brand")
    db = directory / "kenning.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo always starts from a fresh store
    from kenning.demo.generator import CONFIG_FILE  # numpy: not loaded by every command

    # The brand's own configuration (British phones, its loyalty card as an identifier),
    # unless one is given.
    brand_config = None if os.environ.get("KENNING_CONFIG") else directory / "brand" / CONFIG_FILE
    settings = Settings.from_env(brand_config, db_path=db, host=host, port=port)
    store, token = open_server_store(settings)
    if token is None:  # cannot happen on the fresh store the demo makes
        store.close()
        raise CommandError("no admin token: set KENNING_ADMIN_TOKEN")
    server = uvicorn.Server(uvicorn_config(settings, store))
    tune_garbage_collection()
    failure: list[BaseException] = []
    loader = threading.Thread(
        target=_load,
        args=(server, directory / "brand", settings, token, serve, failure),
        daemon=True,
    )
    loader.start()
    announce(settings)
    try:
        server.run()
    finally:
        server_file(db).unlink(missing_ok=True)
        store.close()
    if failure:
        raise CommandError(f"loading the demo failed: {failure[0]}")


def _load(
    server: uvicorn.Server,
    brand: Path,
    settings: Settings,
    token: str,
    serve: bool,
    failure: list[BaseException],
) -> None:
    while not server.started:
        if server.should_exit:
            return
        threading.Event().wait(0.05)
    url = f"http://{settings.host}:{settings.port}"
    manifest = read_manifest(brand)
    records = 0
    for spec in manifest["imports"]:
        with (brand / spec["file"]).open("rb") as handle:
            records += sum(1 for _ in handle) - 1  # less the header
    total = sum(info["messages"] for info in manifest["sources"].values()) + records
    try:
        with Progress(
            TextColumn("loading {task.description}"), BarColumn(), MofNCompleteColumn(), console=err
        ) as bar:
            task = bar.add_task("events", total=total)
            summary = load_demo(
                brand,
                url=url,
                token=token,
                progress=lambda label, n: bar.update(task, advance=n, description=label),
            )
    except BaseException as error:  # reported by the main thread after shutdown
        failure.append(error)
        server.should_exit = True
        return
    sent = sum(summary.sent.values())
    imported = sum(summary.imported.values())
    rejected = sum(summary.rejected.values())
    err.print(
        f"loaded {sent:,} events through /v1/batch and {imported:,} imported records "
        f"({rejected:,} quarantined); {summary.households:,} households; "
        f"{summary.spend_rows:,} rows of ad spend; {summary.scored:,} customers scored by the "
        "prediction models"
    )
    if serve:
        err.print(
            f"Kenning is serving the demo brand on {url} (Ctrl-C to stop); the console: "
            f"{url}/console/ (sign in with the admin token)"
        )
    else:
        server.should_exit = True
