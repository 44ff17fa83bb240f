"""The audiences' writer stage: which people each group changed (for real-time evaluation,
``realtime.py``), the declared audiences, and their event counters kept as computed traits.

A group's people are noted in its transaction and handed on once it commits, so the evaluator
reads state that includes the group. A merge notes both profiles (the one merged away leaves
its audiences); a recompute or a rebuild, which may change anyone, asks for a batch evaluation.
"""

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from kenning.audiences.audience import Audience, in_order, parse_audience
from kenning.audiences.conditions import ConditionError, parse
from kenning.audiences.membership import EXITED, Change, ChangeListener, apply_changes
from kenning.identity.graph import Merge
from kenning.identity.stitching import IdentityStage
from kenning.profiles.computed.stage import ComputedTraitStage
from kenning.store.writer import EventRow


class AudienceStage:
    def __init__(self, identity: IdentityStage, computed: ComputedTraitStage) -> None:
        self._identity = identity
        self._computed = computed
        self.audiences: list[Audience] = []  # in dependency order
        self._group: set[int] = set()
        self._group_everyone = False
        self._touched: set[int] = set()
        self._everyone = False  # a batch evaluation is wanted
        self._lock = threading.Lock()
        self.changed = threading.Event()  # set when there is something to evaluate
        # Told, in the transaction recording them, of membership changes (activation).
        self.listeners: list[ChangeListener] = []
        # Asked before an audience is removed: who else uses it (a campaign, a destination),
        # or None.
        self.users: list[Callable[[str], str | None]] = []
        # Asked before a batch tells the listeners: the audiences whose changes they want (a
        # first batch over a million people changes millions, most of them wanted by none).
        self.watchers: list[Callable[[], Collection[str]]] = []
        identity.on_merged.append(self._merged)
        identity.on_rebuilt.append(lambda con, _: self._everyone_changed(con))
        computed.on_recomputed.append(self._everyone_changed)

    # -- the stage ---------------------------------------------------------------------------

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        declared = [
            parse_audience(orjson.loads(spec), str(name))
            if owner is None
            else Audience(str(name), parse(orjson.loads(spec)["condition"]), "", str(owner))
            for name, owner, spec in con.execute(
                """SELECT name, owner, json_object('name', name, 'description', description,
                                                   'condition', condition)::VARCHAR
                   FROM __kenning_audiences ORDER BY name"""
            ).fetchall()
        ]
        self.audiences = in_order(declared)
        self._computed.use_counters(
            list({c.name: c for a in self.audiences for c in a.counters}.values())
        )
        self._group, self._group_everyone = set(), False

    def apply(self, con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, EventRow]]) -> None:
        if self.audiences:
            self._group.update(profile for _, profile in self._identity.resolved)

    def _merged(self, con: duckdb.DuckDBPyConnection, merges: Sequence[Merge]) -> None:
        if self.audiences:
            self._group.update(p for m in merges for p in (m.kept, m.merged))

    def _everyone_changed(self, con: duckdb.DuckDBPyConnection) -> None:
        self._group_everyone = True

    def committed(self) -> None:
        """After each commit (``Writer.on_commit``): hand the group's people on."""
        if not self._group and not self._group_everyone:
            return
        with self._lock:
            self._everyone |= self._group_everyone
            self._touched |= self._group
        self._group, self._group_everyone = set(), False
        self.changed.set()

    # -- for the evaluator -------------------------------------------------------------------

    def take(self) -> tuple[set[int], bool]:
        """The people changed since the last call, and whether everyone may have."""
        with self._lock:
            touched, everyone = self._touched, self._everyone
            self._touched, self._everyone = set(), False
            self.changed.clear()
        return touched, everyone

    def put_back(self, touched: set[int], everyone: bool) -> None:
        """Hand back what ``take`` gave, when evaluating it failed (tried again later)."""
        with self._lock:
            self._touched |= touched
            self._everyone |= everyone

    def pending(self) -> set[int]:
        """The people changed and not yet taken (a batch leaves them to real time)."""
        with self._lock:
            return set(self._touched)

    def want_everyone(self) -> None:
        with self._lock:
            self._everyone = True
        self.changed.set()

    # -- declared through the API (writer jobs that change the stage) ------------------------

    def declare(self, con: duckdb.DuckDBPyConnection, audience: Audience) -> None:
        """Add or replace an audience; its event counters are computed from the log now."""
        others = [a for a in self.audiences if a.name != audience.name]
        in_order([*others, audience])  # refuses a cycle or an unknown audience
        spec = audience.spec
        con.execute(
            """INSERT INTO __kenning_audiences VALUES (?, ?, ?, now(), now(), ?)
               ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                   condition = excluded.condition, updated_at = excluded.updated_at""",
            [
                audience.name,
                audience.description,
                orjson.dumps(spec["condition"]).decode(),
                audience.owner,
            ],
        )
        self.load(con)
        self._computed.sync(con)

    def remove(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        readers = sorted(a.name for a in self.audiences if name in a.reads_audiences)
        if readers:
            raise ConditionError(f"audience {readers[0]!r} reads {name!r}", "name")
        for user in self.users:
            using = user(name)
            if using is not None:
                raise ConditionError(f"{using} uses {name!r}", "name")
        found = con.execute(
            "DELETE FROM __kenning_audiences WHERE name = ? RETURNING name", [name]
        ).fetchall()
        if not found:
            raise KeyError(name)
        members = con.execute(
            "SELECT profile_id FROM __kenning_audience_members WHERE audience = ?", [name]
        ).fetchall()
        # Its members leave it, recorded as every exit is.
        exits = [Change(name, int(p), EXITED) for (p,) in members]
        apply_changes(con, exits, datetime.now(UTC), "removed", self.listeners)
        self.load(con)
        self._computed.sync(con)

    def watched(self) -> set[str]:
        """The audiences whose changes some listener wants."""
        return {name for watcher in self.watchers for name in watcher()}

    def get(self, name: str) -> Audience | None:
        return next((a for a in self.audiences if a.name == name), None)

    def describe(self, con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        """Every audience with its size and when it was declared and last changed."""
        sizes = dict(
            con.execute(
                "SELECT audience, count(*) FROM __kenning_audience_members GROUP BY audience"
            ).fetchall()
        )
        times = {
            str(name): (created, updated)
            for name, created, updated in con.execute(
                "SELECT name, created_at, updated_at FROM __kenning_audiences"
            ).fetchall()
        }
        return [
            {
                **a.spec,
                "size": int(sizes.get(a.name, 0)),
                "created_at": times[a.name][0].astimezone(UTC).isoformat(),
                "updated_at": times[a.name][1].astimezone(UTC).isoformat(),
            }
            for a in sorted(self.audiences, key=lambda a: a.name)
            if a.name in times and a.owner is None
        ]


def now() -> datetime:
    return datetime.now(UTC)
