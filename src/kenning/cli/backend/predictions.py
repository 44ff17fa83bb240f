"""Predictions: refit the models and score everyone; the latest run of each model."""

from typing import Any, Protocol

from kenning.cli.backend.base import LocalBase, RemoteBase


class PredictionsBackend(Protocol):
    def run_predictions(self, models: list[str] | None, as_of: str | None) -> dict[str, Any]: ...
    def prediction_runs(self) -> list[dict[str, Any]]: ...
    def make_lookalike(self, spec: dict[str, Any]) -> dict[str, Any]: ...


class LocalPredictions(LocalBase):
    def run_predictions(self, models: list[str] | None, as_of: str | None) -> dict[str, Any]:
        from kenning.predictions.analysis import run_and_reevaluate

        return run_and_reevaluate(self.store, self.settings, models=models, as_of=as_of)

    def prediction_runs(self) -> list[dict[str, Any]]:
        from kenning.predictions.scores import latest_runs

        with self.store.reader() as con:
            return latest_runs(con)

    def make_lookalike(self, spec: dict[str, Any]) -> dict[str, Any]:
        from kenning.predictions.lookalike_audience import lookalike_from_request

        return lookalike_from_request(self.store, self.settings, spec)


class RemotePredictions(RemoteBase):
    def run_predictions(self, models: list[str] | None, as_of: str | None) -> dict[str, Any]:
        question: dict[str, Any] = {"models": models, "as_of": as_of}
        result: dict[str, Any] = self._call("POST", "/v1/predictions/run", json=question)
        return result

    def prediction_runs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/predictions")["runs"]
        return result

    def make_lookalike(self, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/predictions/lookalikes", json=spec)
        return result
