"""Privacy: regulation requests, deletion checks, access exports, the audit log, retention."""

from typing import Any, Protocol

from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase
from kenning.errors import FieldError
from kenning.privacy.access import access_document
from kenning.privacy.erasure import verify_deleted
from kenning.privacy.exported import export_folders
from kenning.privacy.regulations import Regulations, parse_request
from kenning.privacy.retention import apply_retention

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
        folders = export_folders(self.store.activation.destinations.values(), self.settings.db_path)
        try:
            return verify_deleted(self.store, identifiers, folders)
        except FieldError as error:
            raise CommandError(str(error)) from None

    def access_export(self, identifier: str) -> dict[str, Any]:
        profile_id = self.profile_id_of(identifier)
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
