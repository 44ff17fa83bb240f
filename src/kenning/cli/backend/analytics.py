"""Analytics: a person's journey, and the questions asked of the whole log (paths, funnels,
touchpoint goals, attribution), each a JSON question with a JSON answer; marketing spend."""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from kenning.cli.backend.base import LocalBase, RemoteBase
from kenning.journeys.analysis import journey

if TYPE_CHECKING:
    from kenning.journeys.settings import JourneySettings
    from kenning.store.store import Store

Question = Callable[["Store", Mapping[str, Any], "JourneySettings"], dict[str, Any]]


class AnalyticsBackend(Protocol):
    def journey(self, identifier: str, limit: int) -> dict[str, Any]: ...
    def ask(self, kind: str, question: Mapping[str, Any]) -> dict[str, Any]: ...
    def import_spend(self, text: str) -> dict[str, Any]: ...


def questions() -> dict[str, Question]:
    """Each kind of question and the function that answers it (the API's ``POST
    /v1/{kind}``)."""
    from kenning.attribution.analysis import acquisition, attribution
    from kenning.journeys.analysis import funnel, goals, top_paths

    return {
        "paths": top_paths,
        "funnels": funnel,
        "goals": goals,
        "attribution": attribution,
        "attribution/acquisition": acquisition,
    }


class LocalAnalytics(LocalBase):
    def journey(self, identifier: str, limit: int) -> dict[str, Any]:
        profile_id = self.profile_id_of(identifier)
        return journey(self.store, profile_id, self.settings.journeys, limit=limit)

    def ask(self, kind: str, question: Mapping[str, Any]) -> dict[str, Any]:
        return questions()[kind](self.store, question, self.settings.journeys)

    def import_spend(self, text: str) -> dict[str, Any]:
        from kenning.attribution.roi import import_spend

        return import_spend(self.store, text)


class RemoteAnalytics(RemoteBase):
    def journey(self, identifier: str, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "GET", f"/v1/profiles/{identifier}/journey", params={"limit": limit}
        )
        return result

    def ask(self, kind: str, question: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/{kind}", json=dict(question))
        return result

    def import_spend(self, text: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", "/v1/spend", content=text.encode(), headers={"Content-Type": "text/csv"}
        )
        return result
