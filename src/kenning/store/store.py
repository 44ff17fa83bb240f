"""The store: one DuckDB file, one writer, many readers.

Domain code asks the store's namespaces (``store.sources``, ``store.tokens``, ``store.events``,
``store.quarantine``) for what it needs; only the store touches DuckDB.
"""

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Any

import duckdb

from kenning.activation.delivery import DeliveryService, DeliverySettings
from kenning.activation.destinations.base import DestinationContext
from kenning.activation.stage import ActivationStage
from kenning.audiences.membership import Recorded
from kenning.audiences.realtime import AudienceEvaluator, batch_evaluate
from kenning.audiences.stage import AudienceStage
from kenning.identity.matching.realtime import RealtimeMatching
from kenning.identity.matching.settings import MatchSettings
from kenning.identity.rules import IdentityRules
from kenning.identity.stitching import IdentityStage
from kenning.privacy.suppression import Suppressions
from kenning.profiles.computed.catchup import TallyCatchUp
from kenning.profiles.computed.stage import ComputedTraitStage
from kenning.profiles.computed.tally import Plan
from kenning.profiles.documents import ProfileDocuments
from kenning.profiles.state import ProfileSettings, ProfileStage
from kenning.store.audit import Audit
from kenning.store.events import Events
from kenning.store.migrations import migrate
from kenning.store.quarantine import Quarantine
from kenning.store.sources import Sources
from kenning.store.tokens import Tokens
from kenning.store.writer import EventRow, QuarantineRow, Stage, Writer, WriteResult


class StoreLocked(Exception):
    """Another process (usually a running server) holds the store's file."""


class EncryptionUnavailable(Exception):
    """The store is to be encrypted but this DuckDB cannot write encrypted files."""


ENCRYPTED_ALIAS = "kenning"


def _open_encrypted(path: Path, key: str, *, unsafe_crypto: bool) -> duckdb.DuckDBPyConnection:
    """A connection using the encrypted file at ``path`` (created if missing). Writing
    needs DuckDB's httpfs extension (its OpenSSL); installed once (``INSTALL httpfs``), it
    is loaded from the extension folder with no network."""
    con = duckdb.connect()
    try:
        if unsafe_crypto:
            con.execute("SET force_mbedtls_unsafe = 'true'")
        else:
            try:
                con.execute("LOAD httpfs")
            except duckdb.Error:
                con.close()
                raise EncryptionUnavailable(
                    "an encrypted store needs DuckDB's httpfs extension: run "
                    "`python -c \"import duckdb; duckdb.sql('INSTALL httpfs')\"` once"
                ) from None
        # The key is a parameter of no statement DuckDB logs; it is quoted, not formatted
        # into an error message.
        quoted = key.replace("'", "''")
        try:
            con.execute(
                f"ATTACH '{_quoted_path(path)}' AS {ENCRYPTED_ALIAS} (ENCRYPTION_KEY '{quoted}')"
            )
        except duckdb.IOException:
            raise
        except duckdb.Error as error:
            raise EncryptionUnavailable(
                "the store cannot be opened with this key (a wrong key, or a file that is not "
                f"encrypted): {type(error).__name__}"
            ) from None
        con.execute(f"USE {ENCRYPTED_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def _quoted_path(path: Path) -> str:
    return str(path).replace("'", "''")


class Store:
    """An open Kenning store. Use ``Store.open(path)``; close it with ``close()``.

    >>> import tempfile, pathlib
    >>> with Store.open(pathlib.Path(tempfile.mkdtemp()) / "k.duckdb") as store:
    ...     store.stats()["events"]
    0
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        *,
        max_group_events: int = 2_000,
        linger_seconds: float = 0.0,
        identity_rules: IdentityRules | None = None,
        matching: MatchSettings | None = None,
        profiles: ProfileSettings | None = None,
        stitch: bool = True,
        encrypted: bool = False,
    ) -> None:
        self.path = path
        self._con = con
        # An encrypted file is attached, not opened: each new cursor must be told to use it.
        self._use = f"USE {ENCRYPTED_ALIAS}" if encrypted else None
        self._cursor_lock = Lock()
        self.identity = IdentityStage(identity_rules or IdentityRules())
        self.matching = RealtimeMatching(self.identity, matching or MatchSettings())
        self.profile_settings = profiles or ProfileSettings()
        self.profiles = ProfileStage(self.identity, self.profile_settings)
        self.computed = ComputedTraitStage(
            self.identity,
            self.profile_settings.computed_traits,
            builtin=self.profile_settings.builtin_traits,
        )
        self.identity.on_rebuilt.append(self.profiles.recompute)
        self.identity.on_rebuilt.append(self.computed.rebuilt)
        self.documents = ProfileDocuments(self.identity, plan=lambda: self.tail_plan())
        self.profiles.on_recomputed.append(self.documents.invalidate_all)
        self.computed.on_recomputed.append(self.documents.invalidate_all)
        self.audiences = AudienceStage(self.identity, self.computed)
        self.activation = ActivationStage(self.identity, self.computed, self.audiences)
        stages: list[Stage] = [
            self.identity,
            self.matching,
            self.profiles,
            self.computed,
            self.documents,
            self.audiences,
            self.activation,
        ]
        self.writer = Writer(
            con,
            max_group_events=max_group_events,
            linger_seconds=linger_seconds,
            # Without stitching (benchmarks, bulk loads rebuilt afterwards) nothing resolves
            # until `kenning identity rebuild`.
            stages=stages if stitch else [],
            idle=[self.documents] if stitch else [],
        )
        self.tallies = TallyCatchUp(self, self.computed)
        self.writer.on_commit.append(self.tallies.committed)
        self.writer.on_commit.append(self.audiences.committed)
        self.writer.on_commit.append(self.activation.committed)
        self.audience_evaluator: AudienceEvaluator | None = None
        self.delivery: DeliveryService | None = None
        if stitch:
            # Traits declared or changed since the store was last open are computed now.
            self.writer.run(self.computed.sync, changes_stages=True).result()
            self.tallies.start()
        else:
            self.computed.load(con)
        self.sources = Sources(self)
        self.tokens = Tokens(self)
        self.events = Events(self)
        self.quarantine = Quarantine(self)
        self.suppressions = Suppressions(self)
        self.audit = Audit(self)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        max_group_events: int = 2_000,
        linger_seconds: float = 0.0,
        identity_rules: IdentityRules | None = None,
        matching: MatchSettings | None = None,
        profiles: ProfileSettings | None = None,
        stitch: bool = True,
        encryption_key: str | None = None,
        unsafe_test_crypto: bool = False,
    ) -> "Store":
        """Open (or create) the store at ``path``; with ``encryption_key``, the file is
        encrypted at rest by DuckDB (AES-GCM): unreadable, even its deleted rows' bytes,
        without the key. ``unsafe_test_crypto`` lets tests write one without the httpfs
        extension, with DuckDB's read-only crypto module forced to write (weak randomness:
        never for data)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = (
                _open_encrypted(path, encryption_key, unsafe_crypto=unsafe_test_crypto)
                if encryption_key
                else duckdb.connect(str(path))
            )
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise StoreLocked(f"{path} is in use by another process") from None
            raise
        # Checkpoints are done by the writer when idle; a larger automatic threshold keeps
        # them out of the way of ingest under load.
        con.execute("SET checkpoint_threshold = '256MB'")
        migrate(con)
        store = cls(
            con,
            path,
            max_group_events=max_group_events,
            linger_seconds=linger_seconds,
            identity_rules=identity_rules,
            matching=matching,
            profiles=profiles,
            stitch=stitch,
            encrypted=bool(encryption_key),
        )
        return store

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.delivery is not None:
            self.delivery.stop()
        if self.audience_evaluator is not None:
            self.audience_evaluator.stop()
        self.tallies.stop()
        self.writer.close()
        self._con.close()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for reading, usable from any one thread, closed on exit."""
        with self._cursor_lock:
            cursor = self._con.cursor()
        if self._use is not None:
            cursor.execute(self._use)
        try:
            yield cursor
        finally:
            cursor.close()

    def write_events(
        self,
        events: list[EventRow],
        quarantine: list[QuarantineRow] | None = None,
        *,
        also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> "Future[WriteResult]":
        kept, held, suppressed = self.suppressions.admit(events, quarantine or [])
        written = self.writer.write_events(kept, held, also=also)
        if not suppressed:
            return written
        answered: Future[WriteResult] = Future()

        def counted(done: "Future[WriteResult]") -> None:
            error = done.exception()
            if error is not None:
                answered.set_exception(error)
            else:
                answered.set_result(dataclasses.replace(done.result(), suppressed=suppressed))

        written.add_done_callback(counted)
        return answered

    def tail_plan(self) -> Plan | None:
        """What a read of a person's state passes ``rows.py`` so that their computed traits
        count the events not tallied yet: None when the catch-up has tallied every event
        committed (the usual case on a store at rest)."""
        if self.tallies.caught_up:
            return None
        return self.computed.plan

    def build_documents(self) -> None:
        """Build profile documents whenever the writer is idle (a server does; see
        profiles/documents.py)."""
        self.documents.build = True
        self.writer.wake()

    def evaluate_audiences(self, batch_minutes: float) -> None:
        """Evaluate audiences as people change, and all of them every ``batch_minutes`` (a
        server does; see audiences/realtime.py)."""
        if self.audience_evaluator is None:
            self.audience_evaluator = AudienceEvaluator(
                self, self.audiences, batch_minutes=batch_minutes
            )
            self.audience_evaluator.start()

    def deliver(self, settings: DeliverySettings, context: DestinationContext) -> DeliveryService:
        """Send what the outbox holds as it is owed (a server does; see
        activation/delivery.py)."""
        if self.delivery is None:
            self.delivery = DeliveryService(self, self.activation, settings, context)
            self.delivery.start()
        return self.delivery

    def evaluate_audiences_now(self) -> Recorded:
        """Evaluate every audience for everyone and record the changes (in turn with the
        server's evaluator, when one runs)."""
        if self.audience_evaluator is not None:
            return self.audience_evaluator.evaluate_everyone()
        return batch_evaluate(self, self.audiences)

    def stats(self) -> dict[str, Any]:
        with self.reader() as con:
            row = con.execute(
                """SELECT
                    (SELECT count(*) FROM __kenning_events),
                    (SELECT count(*) FROM __kenning_quarantine WHERE status = 'pending'),
                    (SELECT count(*) FROM __kenning_sources),
                    (SELECT count(DISTINCT profile_id) FROM kenning_identifiers),
                    (SELECT count(*) FROM __kenning_identifiers),
                    (SELECT count(*) FROM __kenning_profile_documents)"""
            ).fetchone()
        assert row is not None
        return {
            "events": int(row[0]),
            "quarantined": int(row[1]),
            "sources": int(row[2]),
            "profiles": int(row[3]),
            "identifiers": int(row[4]),
            "profile_documents": int(row[5]),
        }
