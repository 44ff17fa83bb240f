"""Privacy: regulation requests, deletion checks, access exports, the audit log, retention."""

from typing import Any, Protocol

from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase
from kenning.errors import FieldError
from kenning.identity.identifiers import Identifier
from kenning.privacy.access import access_document
from kenning.privacy.erasure import parse_identifier
from kenning.privacy.exported import export_folders
from kenning.privacy.regulations import Regulations, parse_request
from kenning.privacy.retention import apply_retention
from kenning.privacy.traces import find_traces, needles_of
from kenning.profiles.read import ProfileLookupError, find_profile

# Who the audit log and the regulations name for a command run on the store's file.
CLI_ACTOR = "cli"


class PrivacyBackend(Protocol):
    def regulate(self, kind: str, identifiers: list[str]) -> dict[str, Any]: ...
    def regulations(self) -> list[dict[str, Any]]: ...
    def verify(self, identifiers: list[str]) -> dict[str, Any]: ...
    def access_export(self, identifier: str) -> dict[str, Any]: ...
    def audit_log(self, action: str | None, limit: int) -> list[dict[str, Any]]: ...
    def retention(self) -> dict[str, Any]: ...


class LocalPrivacy(LocalBase):
    def _regulations(self) -> Regulations:
        return Regulations(
            self.store,
            lambda: export_folders(
                self.store.activation.destinations.values(), self.settings.db_path
            ),
        )

    def regulate(self, kind: str, identifiers: list[str]) -> dict[str, Any]:
        try:
            kind, parsed = parse_request(self.store, {"type": kind, "identifiers": identifiers})
        except FieldError as error:
            raise CommandError(str(error)) from None
        return self._regulations().run(kind, parsed, CLI_ACTOR)

    def regulations(self) -> list[dict[str, Any]]:
        return self._regulations().list()

    def verify(self, identifiers: list[str]) -> dict[str, Any]:
        values: list[str] = []
        for text in identifiers:
            try:
                values.append(Identifier.parse(text).value)
            except ValueError as error:
                raise CommandError(str(error)) from None
            try:
                values.append(parse_identifier(text, self.store).value)
            except ValueError:
                continue  # not a valid value of its type: looked for as given
        folders = export_folders(self.store.activation.destinations.values(), self.settings.db_path)
        with self.store.reader() as con:
            traces = find_traces(con, needles_of(values), folders)
        found = [{"where": t.where, "rows": t.rows} for t in traces]
        return {"identifiers": len(identifiers), "traces": found, "clean": not found}

    def access_export(self, identifier: str) -> dict[str, Any]:
        try:
            profile_id = find_profile(self.store, identifier)
        except ProfileLookupError as error:
            raise CommandError(str(error)) from None
        if profile_id is None:
            raise CommandError(f"no profile holds {identifier}")
        return access_document(self.store, profile_id)

    def audit_log(self, action: str | None, limit: int) -> list[dict[str, Any]]:
        return self.store.audit.query(action=action, limit=limit)

    def retention(self) -> dict[str, Any]:
        return apply_retention(self.store)


class RemotePrivacy(RemoteBase):
    def regulate(self, kind: str, identifiers: list[str]) -> dict[str, Any]:
        started: dict[str, Any] = self._call(
            "POST", "/v1/regulations", json={"type": kind, "identifiers": identifiers}
        )
        while started["status"] == "running":
            started = self._call("GET", f"/v1/regulations/{started['id']}")
        return started

    def regulations(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/regulations")["regulations"]
        return result

    def verify(self, identifiers: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/privacy/verify", json={"identifiers": identifiers}
        )
        return result

    def access_export(self, identifier: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/profiles/{identifier}/export")
        return result

    def audit_log(self, action: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if action:
            params["action"] = action
        result: list[dict[str, Any]] = self._call("GET", "/v1/audit", params=params)["entries"]
        return result

    def retention(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/privacy/retention")
        return result
