"""Audiences: declare, preview, list, evaluate, page members, remove."""

from datetime import UTC, datetime
from typing import Any, Protocol

from kenning.audiences.audience import parse_audience
from kenning.audiences.conditions import ConditionError
from kenning.audiences.membership import ENTERED, EXITED, members_page, preview
from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase


class AudiencesBackend(Protocol):
    def list_audiences(self) -> list[dict[str, Any]]: ...
    def declare_audience(self, name: str, spec: dict[str, Any]) -> dict[str, Any]: ...
    def remove_audience(self, name: str) -> None: ...
    def preview_audience(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def evaluate_audiences(self) -> dict[str, Any]: ...
    def audience_members(self, name: str, limit: int, cursor: str | None) -> dict[str, Any]: ...


class LocalAudiences(LocalBase):
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
        self.store.tallies.now()  # the computed traits count every event committed so far
        with self.store.reader() as con:
            return preview(con, audience, self.store.computed.definitions, datetime.now(UTC))

    def evaluate_audiences(self) -> dict[str, Any]:
        changes = self.store.evaluate_audiences_now()
        return {"entered": changes.count(ENTERED), "exited": changes.count(EXITED)}

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


class RemoteAudiences(RemoteBase):
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
