"""Which backend a command gets: ``--url``, else the store file, else the server holding it."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import orjson

from kenning.cli.backend.activation import ActivationBackend
from kenning.cli.backend.analytics import AnalyticsBackend
from kenning.cli.backend.audiences import AudiencesBackend
from kenning.cli.backend.base import CommandError
from kenning.cli.backend.events import EventsBackend
from kenning.cli.backend.identity import IdentityBackend
from kenning.cli.backend.local import LocalBackend
from kenning.cli.backend.predictions import PredictionsBackend
from kenning.cli.backend.privacy import PrivacyBackend
from kenning.cli.backend.profiles import ProfilesBackend
from kenning.cli.backend.remote import RemoteBackend
from kenning.settings import Settings
from kenning.store.store import Store, StoreLocked


class Backend(
    EventsBackend,
    IdentityBackend,
    ProfilesBackend,
    AudiencesBackend,
    ActivationBackend,
    AnalyticsBackend,
    PredictionsBackend,
    PrivacyBackend,
    Protocol,
):
    """What every command may ask of a backend, local or remote."""


def server_file(db: Path) -> Path:
    return db.with_name(db.name + ".server.json")


def _running_server(db: Path) -> str | None:
    path = server_file(db)
    try:
        info = orjson.loads(path.read_bytes())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, orjson.JSONDecodeError):
        return None
    return str(info["url"])


@contextmanager
def connect(db: Path, url: str | None, token: str | None) -> Iterator[Backend]:
    """A backend for a CLI command: ``--url``, else the store file, else the server holding it."""
    token = token or os.environ.get("KENNING_TOKEN") or os.environ.get("KENNING_ADMIN_TOKEN")
    if url:
        yield RemoteBackend(url, token)
        return
    settings = Settings.from_env(db_path=db)
    try:
        store = Store.open(
            db,
            identity_rules=settings.identity,
            matching=settings.matching,
            profiles=settings.profiles,
            encryption_key=settings.encryption_key,
        )
    except StoreLocked:
        running = _running_server(db)
        if running is None:
            raise CommandError(
                f"{db} is in use by another process and no server is listed; pass --url"
            ) from None
        yield RemoteBackend(running, token)
        return
    try:
        yield LocalBackend(store, settings)
    finally:
        store.close()
