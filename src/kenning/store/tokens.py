"""API tokens: bearer tokens with scopes, stored as hashes only."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING, Any

import duckdb

from kenning.privacy.scopes import ADMIN
from kenning.store.sources import hash_secret

if TYPE_CHECKING:
    from kenning.store.store import Store


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a live token is: its id and name (what the audit log records) and its scopes."""

    id: str
    name: str
    scopes: tuple[str, ...]


class Tokens:
    def __init__(self, store: "Store") -> None:
        self._store = store
        self._lock = Lock()
        self._by_hash: dict[str, Principal] = {}
        self._reload()

    def _reload(self) -> None:
        with self._store.reader() as con:
            rows = con.execute(
                "SELECT token_hash, id, name, scopes FROM __kenning_tokens WHERE revoked_at IS NULL"
            ).fetchall()
        by_hash = {row[0]: Principal(row[1], row[2], tuple(row[3])) for row in rows}
        with self._lock:
            self._by_hash = by_hash

    def create(self, name: str, scopes: list[str], *, token: str | None = None) -> str:
        """Store a token (a new random one unless given) and return it in plain text, once."""
        return self.create_principal(name, scopes, token=token)[1]

    def create_principal(
        self, name: str, scopes: Sequence[str], *, token: str | None = None
    ) -> tuple[Principal, str]:
        """Like ``create``, also returning who the token is."""
        plain = token or "kn_" + secrets.token_urlsafe(32)
        token_hash = hash_secret(plain)
        token_id = "tok_" + secrets.token_hex(8)

        def insert(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "INSERT INTO __kenning_tokens VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
                [token_id, name, token_hash, list(scopes), datetime.now(UTC)],
            )

        self._store.writer.run(insert).result()
        self._reload()
        principal = self._by_hash.get(token_hash) or Principal(token_id, name, tuple(scopes))
        return principal, plain

    def principal(self, token: str) -> Principal | None:
        """Who a live token is, or None for an unknown or revoked one."""
        return self._by_hash.get(hash_secret(token))

    def scopes(self, token: str) -> tuple[str, ...] | None:
        """The scopes of a live token, or None for an unknown or revoked one."""
        found = self.principal(token)
        return None if found is None else found.scopes

    def list(self) -> list[dict[str, Any]]:
        """Every token, revoked ones too, without its hash."""
        with self._store.reader() as con:
            rows = con.execute(
                """SELECT id, name, scopes, created_at, revoked_at FROM __kenning_tokens
                   ORDER BY created_at, id"""
            ).fetchall()
        return [
            {
                "id": token_id,
                "name": name,
                "scopes": list(scopes),
                "created_at": created.isoformat(),
                "revoked_at": revoked.isoformat() if revoked else None,
            }
            for token_id, name, scopes, created, revoked in rows
        ]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token at once; False if no live token has this id."""

        def update(con: duckdb.DuckDBPyConnection) -> bool:
            row = con.execute(
                """UPDATE __kenning_tokens SET revoked_at = now()
                   WHERE id = ? AND revoked_at IS NULL RETURNING id""",
                [token_id],
            ).fetchone()
            return row is not None

        revoked = bool(self._store.writer.run(update).result())
        self._reload()
        return revoked

    def ensure_admin(self, configured: str | None) -> str | None:
        """Make sure an admin token exists; returns a newly generated one (to print once)."""
        if configured:
            if self.scopes(configured) is None:
                self.create("admin (KENNING_ADMIN_TOKEN)", [ADMIN], token=configured)
            return None
        if any(ADMIN in p.scopes for p in self._by_hash.values()):
            return None
        return self.create("admin (generated at first start)", [ADMIN])
