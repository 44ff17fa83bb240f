"""The identity graph: explain, overrides, rebuild, probabilistic matching and its review
queue, households, evaluation against ground truth, export."""

from pathlib import Path
from typing import Any, Protocol

from rich.progress import Progress

from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase, error_line, output
from kenning.identity.ceiling import evidence_ceiling
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
from kenning.store.events import iter_identities


class IdentityBackend(Protocol):
    def explain(self, a: str, b: str) -> dict[str, Any]: ...
    def rebuild_identity(self) -> dict[str, Any]: ...
    def add_override(
        self, kind: str, a: str, b: str | None, reason: str | None
    ) -> dict[str, Any]: ...
    def list_overrides(self) -> list[dict[str, Any]]: ...
    def evaluate_identity(self, truth: list[Path], ceiling: bool) -> dict[str, Any]: ...
    def households(self, by_surname: bool) -> dict[str, Any]: ...
    def remove_override(self, override_id: int) -> dict[str, Any]: ...
    def export_identities(self, out: Path | None, fmt: str) -> None: ...
    def match(
        self, match_probability: float | None, review_probability: float | None
    ) -> dict[str, Any]: ...
    def reviews(self, status: str, limit: int) -> list[dict[str, Any]]: ...
    def decide_review(self, review_id: int, accept: bool) -> dict[str, Any]: ...


class LocalIdentity(LocalBase):
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

    def evaluate_identity(self, truth: list[Path], ceiling: bool) -> dict[str, Any]:
        try:
            scores = evaluate(self.store, truth).as_dict()
            if ceiling:
                scores["ceiling"] = evidence_ceiling(self.store, truth).as_dict()
        except TruthError as error:
            raise CommandError(str(error)) from None
        return scores

    def remove_override(self, override_id: int) -> dict[str, Any]:
        applied = lift_override(self.store, override_id)
        if applied is None:
            raise CommandError(f"no active override {override_id}")
        return applied.as_dict()

    def export_identities(self, out: Path | None, fmt: str) -> None:
        with output(out) as sink:
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


class RemoteIdentity(RemoteBase):
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

    def evaluate_identity(self, truth: list[Path], ceiling: bool) -> dict[str, Any]:
        try:
            texts = [path.read_text(encoding="utf-8") for path in truth]
        except OSError as error:
            raise CommandError(f"cannot read {error.filename}: {error.strerror}") from None
        result: dict[str, Any] = self._call(
            "POST", "/v1/identity/evaluate", json={"truth": texts, "ceiling": ceiling}
        )
        return result

    def export_identities(self, out: Path | None, fmt: str) -> None:
        with self.client.stream("GET", "/v1/identities/export", params={"format": fmt}) as response:
            if response.status_code >= 400:
                response.read()
                raise CommandError(error_line(response))
            with output(out) as sink:
                for chunk in response.iter_bytes():
                    sink.write(chunk)
