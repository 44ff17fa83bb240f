"""Where a CLI command runs: against a running server over HTTP, or on the store file directly.

DuckDB allows one writing process, so while a server owns the file the CLI must go through it.
A running server leaves ``<db>.server.json`` beside the file saying where it listens.

One module per area (``events``, ``identity``, ``profiles``, ``audiences``, ``activation``)
holds what that area asks of a backend (a protocol) and how each backend does it (a local and a
remote mixin); ``local.py`` and ``remote.py`` put the mixins together and ``connect.py`` picks
one.
"""

from kenning.cli.backend.base import CommandError
from kenning.cli.backend.connect import Backend, connect, server_file
from kenning.cli.backend.local import LocalBackend
from kenning.cli.backend.remote import RemoteBackend

__all__ = ["Backend", "CommandError", "LocalBackend", "RemoteBackend", "connect", "server_file"]
