"""API tokens: bearer tokens with scopes, stored as hashes only."""

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb

from kenning.store.sources import hash_secret

if TYPE_CHECKING:
    from kenning.store.store import Store

ADMIN = "admin"


class Tokens:
    def __init__(self, store: "Store") -> None:
        self._store = store
        self._scopes_by_hash: dict[str, tuple[str, ...]] = {}
        self._reload()

    def _reload(self) -> None:
        with self._store.reader() as con:
            rows = con.execute(
                "SELECT token_hash, scopes FROM __kenning_tokens WHERE revoked_at IS NULL"
            ).fetchall()
        self._scopes_by_hash = {row[0]: tuple(row[1]) for row in rows}

    def create(self, name: str, scopes: list[str], *, token: str | None = None) -> str:
        """Store a token (a new random one unless given) and return it in plain text, once."""
        plain = token or "kn_" + secrets.token_urlsafe(32)
        token_hash = hash_secret(plain)

        def insert(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "INSERT INTO __kenning_tokens VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
                ["tok_" + secrets.token_hex(8), name, token_hash, scopes, datetime.now(UTC)],
            )

        self._store.writer.run(insert).result()
        self._reload()
        return plain

    def scopes(self, token: str) -> tuple[str, ...] | None:
        """The scopes of a live token, or None for an unknown or revoked one."""
        return self._scopes_by_hash.get(hash_secret(token))

    def ensure_admin(self, configured: str | None) -> str | None:
        """Make sure an admin token exists; returns a newly generated one (to print once)."""
        if configured:
            if self.scopes(configured) is None:
                self.create("admin (KENNING_ADMIN_TOKEN)", [ADMIN], token=configured)
            return None
        if any(ADMIN in scopes for scopes in self._scopes_by_hash.values()):
            return None
        return self.create("admin (generated at first start)", [ADMIN])
