"""The event log: sources, importing, quarantine and its replay, export, stats."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase, error_line, output
from kenning.ingest.importer import ChunkResult
from kenning.ingest.pipeline import prepare_messages
from kenning.ingest.replay import replay_quarantine
from kenning.store.sources import SourceExists


class EventsBackend(Protocol):
    def create_source(self, name: str, rate_limit: float | None) -> dict[str, Any]: ...
    def list_sources(self) -> list[dict[str, Any]]: ...
    def set_retention(self, name: str, days: int | None) -> dict[str, Any]: ...
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


class LocalEvents(LocalBase):
    def create_source(self, name: str, rate_limit: float | None) -> dict[str, Any]:
        try:
            created = self.store.sources.create(name, rate_limit=rate_limit)
        except SourceExists as error:
            raise CommandError(str(error)) from None
        return {"id": created.source.id, "name": name, "write_key": created.write_key}

    def list_sources(self) -> list[dict[str, Any]]:
        from kenning.api.admin import source_json

        return [source_json(s) for s in self.store.sources.list()]

    def set_retention(self, name: str, days: int | None) -> dict[str, Any]:
        from kenning.api.admin import source_json

        try:
            return source_json(self.store.sources.set_retention(name, days))
        except KeyError:
            raise CommandError(f"no source named {name!r}") from None

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
        with output(out) as sink:
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


class RemoteEvents(RemoteBase):
    def create_source(self, name: str, rate_limit: float | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/sources", json={"name": name, "rate_limit": rate_limit}
        )
        return result

    def list_sources(self) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = self._call("GET", "/v1/sources")["sources"]
        return sources

    def set_retention(self, name: str, days: int | None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/v1/sources/{name}/retention", json={"days": days}
        )
        return result

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
                raise CommandError(error_line(response))
            with output(out) as sink:
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
