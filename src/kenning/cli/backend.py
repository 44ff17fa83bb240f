"""Where a CLI command runs: against a running server over HTTP, or on the store file directly.

DuckDB allows one writing process, so while a server owns the file the CLI must go through it.
A running server leaves ``<db>.server.json`` beside the file saying where it listens.
"""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from rich.progress import Progress

from kenning.audiences.audience import parse_audience
from kenning.audiences.conditions import ConditionError
from kenning.audiences.membership import members_page, preview
from kenning.identity.evaluate import TruthError, evaluate
from kenning.identity.explain import explain
from kenning.identity.households import compute_households
from kenning.identity.identifiers import Identifier
from kenning.identity.matching.review import ReviewError, decide_review, list_reviews
from kenning.identity.matching.run import match_identities
from kenning.identity.matching.settings import MatchSettingsError
from kenning.identity.overrides import OverrideError
from kenning.identity.rebuild import rebuild_identity
from kenning.identity.unmerge import lift_override, record_override
from kenning.ingest.importer import ChunkResult
from kenning.ingest.pipeline import prepare_messages
from kenning.ingest.replay import replay_quarantine
from kenning.profiles.computed.definitions import DefinitionError, parse
from kenning.profiles.coverage import coverage
from kenning.profiles.read import ProfileLookupError, find_profile, profile
from kenning.settings import Settings
from kenning.store.events import iter_identities
from kenning.store.sources import SourceExists
from kenning.store.store import Store, StoreLocked


class CommandError(Exception):
    """A failure to report as one line and a non-zero exit."""


class Backend(Protocol):
    def create_source(self, name: str, rate_limit: float | None) -> dict[str, Any]: ...
    def list_sources(self) -> list[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def quarantine(self, status: str, code: str | None, limit: int) -> list[dict[str, Any]]: ...
    def replay(self, ids: list[int] | None, code: str | None) -> dict[str, Any]: ...
    def export(
        self,
        out: Path | None,
        since: datetime | None,
        fmt: str,
        progress: Callable[[int], None] | None = None,
    ) -> int: ...
    def import_chunk(self, source: str, messages: list[dict[str, Any]]) -> ChunkResult: ...
    def ensure_source(self, name: str) -> bool: ...
    def explain(self, a: str, b: str) -> dict[str, Any]: ...
    def rebuild_identity(self) -> dict[str, Any]: ...
    def add_override(
        self, kind: str, a: str, b: str | None, reason: str | None
    ) -> dict[str, Any]: ...
    def list_overrides(self) -> list[dict[str, Any]]: ...
    def evaluate_identity(self, truth: list[Path]) -> dict[str, Any]: ...
    def households(self, by_surname: bool) -> dict[str, Any]: ...
    def remove_override(self, override_id: int) -> dict[str, Any]: ...
    def export_identities(self, out: Path | None, fmt: str) -> None: ...
    def match(
        self, match_probability: float | None, review_probability: float | None
    ) -> dict[str, Any]: ...
    def reviews(self, status: str, limit: int) -> list[dict[str, Any]]: ...
    def decide_review(self, review_id: int, accept: bool) -> dict[str, Any]: ...
    def profile(self, identifier: str) -> dict[str, Any]: ...
    def recompute_profiles(self) -> dict[str, Any]: ...
    def computed_traits(self) -> list[dict[str, Any]]: ...
    def declare_trait(self, name: str, spec: object) -> dict[str, Any]: ...
    def remove_trait(self, name: str) -> None: ...
    def recompute_traits(self, names: list[str] | None) -> dict[str, Any]: ...
    def refresh_traits(self) -> dict[str, Any]: ...
    def coverage(self) -> dict[str, Any]: ...
    def list_audiences(self) -> list[dict[str, Any]]: ...
    def declare_audience(self, name: str, spec: dict[str, Any]) -> dict[str, Any]: ...
    def remove_audience(self, name: str) -> None: ...
    def preview_audience(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def evaluate_audiences(self) -> dict[str, Any]: ...
    def audience_members(self, name: str, limit: int, cursor: str | None) -> dict[str, Any]: ...


def server_file(db: Path) -> Path:
    return db.with_name(db.name + ".server.json")


class LocalBackend:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def create_source(self, name: str, rate_limit: float | None) -> dict[str, Any]:
        try:
            created = self.store.sources.create(name, rate_limit=rate_limit)
        except SourceExists as error:
            raise CommandError(str(error)) from None
        return {"id": created.source.id, "name": name, "write_key": created.write_key}

    def list_sources(self) -> list[dict[str, Any]]:
        from kenning.api.admin import source_json

        return [source_json(s) for s in self.store.sources.list()]

    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    def quarantine(self, status: str, code: str | None, limit: int) -> list[dict[str, Any]]:
        items = self.store.quarantine.list(
            status=None if status == "all" else status, code=code, limit=limit
        )
        return [i.as_dict() for i in items]

    def replay(self, ids: list[int] | None, code: str | None) -> dict[str, Any]:
        result = replay_quarantine(self.store, limits=self.settings.limits, ids=ids, code=code)
        return {
            "replayed": result.replayed,
            "duplicates": result.duplicates,
            "still_invalid": result.still_invalid,
        }

    def export(
        self,
        out: Path | None,
        since: datetime | None,
        fmt: str,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        if fmt == "parquet":
            if out is None:
                raise CommandError("--format parquet needs --out FILE")
            return self.store.events.write_parquet(out, since=since)
        count = 0
        with _output(out) as sink:
            for chunk in self.store.events.iter_jsonl(since=since):
                sink.write(chunk)
                count += chunk.count(b"\n")
                if progress is not None:
                    progress(count)
        return count

    def ensure_source(self, name: str) -> bool:
        if self.store.sources.by_name(name) is None:
            self.store.sources.create(name)
            return True
        return False

    def profile(self, identifier: str) -> dict[str, Any]:
        try:
            profile_id = find_profile(self.store, identifier)
        except ProfileLookupError as error:
            raise CommandError(str(error)) from None
        if profile_id is None:
            raise CommandError(f"no profile holds {identifier}")
        return profile(self.store, profile_id)

    def recompute_profiles(self) -> dict[str, Any]:
        stating = self.store.writer.run(self.store.profiles.recompute).result()
        return {"events_stating": stating, **self.store.stats()}

    def computed_traits(self) -> list[dict[str, Any]]:
        with self.store.reader() as con:
            return self.store.computed.describe(con)

    def declare_trait(self, name: str, spec: object) -> dict[str, Any]:
        try:
            definition = parse(name, spec, "api")
        except DefinitionError as error:
            raise CommandError(f"{error.field}: {error}") from None
        computed = self.store.computed
        listed = self.store.writer.run(
            lambda con: (computed.declare(con, definition), computed.describe(con))[1],
            changes_stages=True,
        ).result()
        return next(d for d in listed if d["name"] == name)

    def remove_trait(self, name: str) -> None:
        computed = self.store.computed
        try:
            self.store.writer.run(
                lambda con: computed.remove(con, name), changes_stages=True
            ).result()
        except DefinitionError as error:
            raise CommandError(str(error)) from None

    def recompute_traits(self, names: list[str] | None) -> dict[str, Any]:
        computed = self.store.computed
        started = time.perf_counter()
        try:
            done = self.store.writer.run(lambda con: computed.recompute(con, names)).result()
        except DefinitionError as error:
            raise CommandError(str(error)) from None
        return {"recomputed": done, "seconds": round(time.perf_counter() - started, 3)}

    def refresh_traits(self) -> dict[str, Any]:
        done = self.store.writer.run(self.store.computed.refresh_windows).result()
        return {"recomputed": done}

    def coverage(self) -> dict[str, Any]:
        return coverage(self.store)

    def list_audiences(self) -> list[dict[str, Any]]:
        with self.store.reader() as con:
            return self.store.audiences.describe(con)

    def declare_audience(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            audience = parse_audience(spec, name)
            self.store.writer.run(
                lambda con: self.store.audiences.declare(con, audience), changes_stages=True
            ).result()
        except ConditionError as error:
            raise CommandError(f"{error.field}: {error}") from None
        self.store.evaluate_audiences_now()
        return next(a for a in self.list_audiences() if a["name"] == name)

    def remove_audience(self, name: str) -> None:
        try:
            self.store.writer.run(
                lambda con: self.store.audiences.remove(con, name), changes_stages=True
            ).result()
        except KeyError:
            raise CommandError(f"no audience is named {name!r}") from None
        except ConditionError as error:
            raise CommandError(str(error)) from None

    def preview_audience(self, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            audience = parse_audience({"name": "preview", **spec})
        except ConditionError as error:
            raise CommandError(f"{error.field}: {error}") from None
        with self.store.reader() as con:
            return preview(con, audience, self.store.computed.definitions, datetime.now(UTC))

    def evaluate_audiences(self) -> dict[str, Any]:
        changes = self.store.evaluate_audiences_now()
        entered = sum(1 for c in changes if c.change == "entered")
        return {"entered": entered, "exited": len(changes) - entered}

    def audience_members(self, name: str, limit: int, cursor: str | None) -> dict[str, Any]:
        if self.store.audiences.get(name) is None:
            raise CommandError(f"no audience is named {name!r}")
        after = int(cursor) if cursor and cursor.isdigit() else 0
        with self.store.reader() as con:
            rows = members_page(con, name, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "members": [
                {"profile_id": p, "entered_at": at.astimezone(UTC).isoformat()} for p, at in rows
            ],
            "next_cursor": str(rows[-1][0]) if more else None,
        }

    def explain(self, a: str, b: str) -> dict[str, Any]:
        try:
            first, second = Identifier.parse(a), Identifier.parse(b)
        except ValueError as error:
            raise CommandError(str(error)) from None
        return explain(self.store, first, second).as_dict()

    def rebuild_identity(self) -> dict[str, Any]:
        return {**rebuild_identity(self.store).as_dict(), **self.store.stats()}

    def add_override(self, kind: str, a: str, b: str | None, reason: str | None) -> dict[str, Any]:
        try:
            return record_override(self.store, kind, a, b, reason).as_dict()
        except OverrideError as error:
            raise CommandError(str(error)) from None

    def list_overrides(self) -> list[dict[str, Any]]:
        return [o.as_dict() for o in self.store.identity.overrides]

    def households(self, by_surname: bool) -> dict[str, Any]:
        return compute_households(self.store, by_surname=by_surname).as_dict()

    def evaluate_identity(self, truth: list[Path]) -> dict[str, Any]:
        try:
            return evaluate(self.store, truth).as_dict()
        except TruthError as error:
            raise CommandError(str(error)) from None

    def remove_override(self, override_id: int) -> dict[str, Any]:
        applied = lift_override(self.store, override_id)
        if applied is None:
            raise CommandError(f"no active override {override_id}")
        return applied.as_dict()

    def export_identities(self, out: Path | None, fmt: str) -> None:
        with _output(out) as sink:
            for chunk in iter_identities(self.store, fmt):
                sink.write(chunk)

    def match(
        self, match_probability: float | None, review_probability: float | None
    ) -> dict[str, Any]:
        try:
            settings = self.settings.matching.with_thresholds(match_probability, review_probability)
        except MatchSettingsError as error:
            raise CommandError(str(error)) from None
        with Progress(transient=True) as bar:
            task = bar.add_task("matching", total=None)
            report = match_identities(
                self.store, settings, step=lambda s: bar.update(task, description=s)
            )
        return report.as_dict()

    def reviews(self, status: str, limit: int) -> list[dict[str, Any]]:
        try:
            found = list_reviews(
                self.store, status=None if status == "all" else status, limit=limit
            )
        except ReviewError as error:
            raise CommandError(str(error)) from None
        return [r.as_dict() for r in found]

    def decide_review(self, review_id: int, accept: bool) -> dict[str, Any]:
        try:
            return decide_review(self.store, review_id, accept).as_dict()
        except ReviewError as error:
            raise CommandError(str(error)) from None

    def import_chunk(self, source: str, messages: list[dict[str, Any]]) -> ChunkResult:
        found = self.store.sources.by_name(source)
        if found is None:
            raise CommandError(f"no source named {source!r}")
        prepared = prepare_messages(
            messages,
            source_id=found.id,
            received_at=datetime.now(UTC),
            limits=self.settings.limits,
            require_user_or_anonymous_id=False,
        )
        result = self.store.write_events(prepared.events, prepared.quarantine).result()
        return ChunkResult(
            len(prepared.events), result.stored, result.duplicates, len(prepared.rejections)
        )


class RemoteBackend:
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
            raise CommandError(_error_line(response))
        return response.json() if response.content else None

    def create_source(self, name: str, rate_limit: float | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/sources", json={"name": name, "rate_limit": rate_limit}
        )
        return result

    def list_sources(self) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = self._call("GET", "/v1/sources")["sources"]
        return sources

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/stats")
        return result

    def quarantine(self, status: str, code: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"status": status, "limit": limit}
        if code:
            params["code"] = code
        items: list[dict[str, Any]] = self._call("GET", "/v1/quarantine", params=params)["items"]
        return items

    def replay(self, ids: list[int] | None, code: str | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/quarantine/replay", json={"ids": ids, "code": code}
        )
        return result

    def export(
        self,
        out: Path | None,
        since: datetime | None,
        fmt: str,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        if fmt == "parquet" and out is None:
            raise CommandError("--format parquet needs --out FILE")
        params: dict[str, Any] = {"format": fmt}
        if since is not None:
            params["since"] = since.isoformat()
        count = 0
        with self.client.stream("GET", "/v1/events/export", params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise CommandError(_error_line(response))
            with _output(out) as sink:
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    count += chunk.count(b"\n")
                    if progress is not None and fmt == "jsonl":
                        progress(count)
        if fmt == "parquet" and out is not None:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(out).metadata.num_rows)
        return count

    def ensure_source(self, name: str) -> bool:
        if any(s["name"] == name for s in self.list_sources()):
            return False
        self.create_source(name, None)
        return True

    def profile(self, identifier: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/profiles/{identifier}")
        return result

    def recompute_profiles(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/profiles/recompute")
        return result

    def computed_traits(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/computed-traits")["computed_traits"]
        return result

    def declare_trait(self, name: str, spec: object) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/v1/computed-traits/{name}", json=spec)
        return result

    def remove_trait(self, name: str) -> None:
        self._call("DELETE", f"/v1/computed-traits/{name}")

    def recompute_traits(self, names: list[str] | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/computed-traits/recompute", json={"names": names}
        )
        return result

    def refresh_traits(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/computed-traits/refresh")
        return result

    def coverage(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/coverage")
        return result

    def list_audiences(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", "/v1/audiences")["audiences"]
        return listed

    def declare_audience(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/v1/audiences/{name}", json=spec)
        return result

    def remove_audience(self, name: str) -> None:
        self._call("DELETE", f"/v1/audiences/{name}")

    def preview_audience(self, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/audiences/preview", json=spec)
        return result

    def evaluate_audiences(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/audiences/evaluate")
        return result

    def audience_members(self, name: str, limit: int, cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        result: dict[str, Any] = self._call("GET", f"/v1/audiences/{name}/members", params=params)
        return result

    def explain(self, a: str, b: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/identity/explain", params={"a": a, "b": b})
        return result

    def rebuild_identity(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/identity/rebuild")
        return result

    def add_override(self, kind: str, a: str, b: str | None, reason: str | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST",
            "/v1/identity/overrides",
            json={"kind": kind, "a": a, "b": b, "reason": reason},
        )
        return result

    def list_overrides(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/identity/overrides")["overrides"]
        return result

    def remove_override(self, override_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/identity/overrides/{override_id}")
        return result

    def match(
        self, match_probability: float | None, review_probability: float | None
    ) -> dict[str, Any]:
        body = {"match_probability": match_probability, "review_probability": review_probability}
        result: dict[str, Any] = self._call("POST", "/v1/identity/match", json=body)
        return result

    def reviews(self, status: str, limit: int) -> list[dict[str, Any]]:
        result: dict[str, Any] = self._call(
            "GET", "/v1/identity/reviews", params={"status": status, "limit": limit}
        )
        reviews: list[dict[str, Any]] = result["reviews"]
        return reviews

    def decide_review(self, review_id: int, accept: bool) -> dict[str, Any]:
        decision = "accept" if accept else "reject"
        result: dict[str, Any] = self._call("POST", f"/v1/identity/reviews/{review_id}/{decision}")
        return result

    def households(self, by_surname: bool) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/identity/households", json={"by_surname": by_surname}
        )
        return result

    def evaluate_identity(self, truth: list[Path]) -> dict[str, Any]:
        try:
            texts = [path.read_text(encoding="utf-8") for path in truth]
        except OSError as error:
            raise CommandError(f"cannot read {error.filename}: {error.strerror}") from None
        result: dict[str, Any] = self._call("POST", "/v1/identity/evaluate", json={"truth": texts})
        return result

    def export_identities(self, out: Path | None, fmt: str) -> None:
        with self.client.stream("GET", "/v1/identities/export", params={"format": fmt}) as response:
            if response.status_code >= 400:
                response.read()
                raise CommandError(_error_line(response))
            with _output(out) as sink:
                for chunk in response.iter_bytes():
                    sink.write(chunk)

    def import_chunk(self, source: str, messages: list[dict[str, Any]]) -> ChunkResult:
        body = self._call(
            "POST",
            f"/v1/sources/{source}/import",
            content=orjson.dumps({"batch": messages}),
            headers={"Content-Type": "application/json"},
        )
        return ChunkResult(
            body["accepted"], body["stored"], body["duplicates"], len(body["rejected"])
        )


def _error_line(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('code')}: {body.get('message')}"
    except ValueError:
        return f"HTTP {response.status_code}"


@contextmanager
def _output(out: Path | None) -> Iterator[Any]:
    if out is None:
        import sys

        yield sys.stdout.buffer
        sys.stdout.flush()
    else:
        with out.open("wb") as handle:
            yield handle


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
