"""What every backend builds on: the error a command reports, and the two ways of running one,
on the store file (``LocalBase``) or through a running server (``RemoteBase``).

The areas (``events.py``, ``identity.py``, ...) each add a local and a remote mixin to these.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from kenning.settings import Settings
from kenning.store.store import Store


class CommandError(Exception):
    """A failure to report as one line and a non-zero exit."""


class LocalBase:
    """Runs on the store file directly: this process holds DuckDB's one writer."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def profile_id_of(self, identifier: str) -> int:
        """The profile holding ``TYPE:VALUE``, or a CommandError saying why there is none."""
        from kenning.profiles.read import ProfileLookupError, find_profile

        try:
            profile_id = find_profile(self.store, identifier)
        except ProfileLookupError as error:
            raise CommandError(str(error)) from None
        if profile_id is None:
            raise CommandError(f"no profile holds {identifier}")
        return profile_id


class RemoteBase:
    """Talks to a running server over HTTP with an admin token."""

    def __init__(self, url: str, token: str | None) -> None:
        if not token:
            raise CommandError(
                "a server is running: pass --token (or set KENNING_TOKEN / KENNING_ADMIN_TOKEN)"
            )
        self.client = httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise CommandError(
                f"cannot reach the server at {self.client.base_url}: {error}"
            ) from None
        if response.status_code >= 400:
            raise CommandError(error_line(response))
        return response.json() if response.content else None


def error_line(response: httpx.Response) -> str:
    """``code: message``; refused input also names its field (``invalid_destination:
    config.url: ...``), as the local backend does, unless the message begins with it."""
    try:
        body = response.json()
        code, message, field = body.get("code"), body.get("message"), body.get("field")
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    named = isinstance(field, str) and field not in ("", "body")
    if response.status_code == 400 and named and not str(message).startswith(field):
        return f"{code}: {field}: {message}"
    return f"{code}: {message}"


@contextmanager
def output(out: Path | None) -> Iterator[Any]:
    if out is None:
        import sys

        yield sys.stdout.buffer
        sys.stdout.flush()
    else:
        with out.open("wb") as handle:
            yield handle
