"""``kenning serve``: run the HTTP API on the store."""

import gc
import os
from typing import Annotated

import orjson
import typer
import uvicorn
from rich.console import Console

from kenning.api.app import create_app
from kenning.cli.backend import CommandError, server_file
from kenning.cli.options import DEFAULT, Config, Db
from kenning.settings import Settings
from kenning.store.store import Store, StoreLocked

err = Console(stderr=True)


def open_server_store(settings: Settings) -> tuple[Store, str | None]:
    """Open the store for a server and make sure an admin token exists.

    Returns the store and the admin token when it is known here: the configured one, or one
    generated now (printed once; afterwards only its hash is kept).
    """
    try:
        store = Store.open(
            settings.db_path,
            max_group_events=settings.max_group_events,
            linger_seconds=settings.linger_seconds,
            identity_rules=settings.identity,
            matching=settings.matching,
            profiles=settings.profiles,
            encryption_key=settings.encryption_key,
        )
    except StoreLocked as error:
        raise CommandError(f"{error}: is a server already running on it?") from None
    generated = store.tokens.ensure_admin(settings.admin_token)
    if generated:
        err.print(
            f"Admin token (shown once, store it now): [bold]{generated}[/bold]", soft_wrap=True
        )
    return store, settings.admin_token or generated


def uvicorn_config(settings: Settings, store: Store) -> uvicorn.Config:
    # No access log: URLs and client addresses are personal data in a CDP.
    return uvicorn.Config(
        create_app(settings, store),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


def tune_garbage_collection() -> None:
    """Keep Python's cycle collector out of acknowledgement latency.

    A request allocates thousands of short-lived objects that reference counting frees. With the
    default threshold (700) the young generation is collected many times inside one request,
    survivors are promoted, and full collections follow every second or so, each walking every
    object the process holds and pausing the writer for 20-40 ms (the p99). A young threshold of
    20,000 lets request garbage die young, and freezing what start-up loaded (modules, app,
    identity graph) keeps it out of every later full pass. Measured in bench/ingest.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


def announce(settings: Settings) -> None:
    url = f"http://{settings.host}:{settings.port}"
    server_file(settings.db_path).write_bytes(orjson.dumps({"url": url, "pid": os.getpid()}))
    err.print(f"Kenning serving {settings.db_path} on {url}")


def serve(
    db: Db = DEFAULT,
    config: Config = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the collection, profile and admin APIs on the store."""
    settings = Settings.from_env(config, db_path=db, host=host, port=port)
    store, _ = open_server_store(settings)
    server = uvicorn.Server(uvicorn_config(settings, store))
    tune_garbage_collection()
    announce(settings)
    try:
        server.run()
    finally:
        server_file(settings.db_path).unlink(missing_ok=True)
        store.close()
