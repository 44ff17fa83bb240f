"""Profiles: one person's profile, recomputing them, computed traits, coverage."""

import time
from typing import Any, Protocol

from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase
from kenning.profiles.computed.definitions import DefinitionError, parse
from kenning.profiles.coverage import coverage
from kenning.profiles.read import profile


class ProfilesBackend(Protocol):
    def profile(self, identifier: str) -> dict[str, Any]: ...
    def recompute_profiles(self) -> dict[str, Any]: ...
    def computed_traits(self) -> list[dict[str, Any]]: ...
    def declare_trait(self, name: str, spec: object) -> dict[str, Any]: ...
    def remove_trait(self, name: str) -> None: ...
    def recompute_traits(self, names: list[str] | None) -> dict[str, Any]: ...
    def refresh_traits(self) -> dict[str, Any]: ...
    def coverage(self) -> dict[str, Any]: ...


class LocalProfiles(LocalBase):
    def profile(self, identifier: str) -> dict[str, Any]:
        profile_id = self.profile_id_of(identifier)
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


class RemoteProfiles(RemoteBase):
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
