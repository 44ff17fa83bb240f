"""What a run of the models works from: the store, the settings, the moment it scores as of,
and each customer's orders, read once for every model."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from kenning.journeys.touch_arrays import ConversionArrays
from kenning.predictions.settings import PredictionSettings

if TYPE_CHECKING:
    from kenning.journeys.settings import JourneySettings
    from kenning.store.store import Store


@dataclass(frozen=True)
class Orders:
    """Each customer's orders as of the run: person ids, and per order its person's index,
    its time and value."""

    people: np.ndarray[Any, np.dtype[np.int64]]
    customer: np.ndarray[Any, np.dtype[np.int64]]  # into ``people``
    time_us: np.ndarray[Any, np.dtype[np.int64]]
    value: np.ndarray[Any, np.dtype[np.float64]]
    as_of_us: int

    @classmethod
    def of(cls, found: ConversionArrays, as_of: datetime) -> "Orders":
        people, customer = np.unique(found.person, return_inverse=True)
        return cls(people, customer.astype(np.int64), found.time, found.value,
                   int(as_of.timestamp() * 1_000_000))  # fmt: skip

    def arrays(self) -> ConversionArrays:
        """Back to one person id per order."""
        return ConversionArrays(self.people[self.customer], self.time_us, self.value)


@dataclass(frozen=True)
class Run:
    store: "Store"
    settings: PredictionSettings
    journeys: "JourneySettings"
    as_of: datetime
    orders: Orders
    # The people who grant the profiling consent category, sorted: the only ones a model
    # may fit on or score (privacy/profiling.py).
    profiled: np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class Scored:
    """A model's scores, as long rows (profile_id, name, value), and its report."""

    rows: pa.Table
    report: dict[str, Any]


Model = Callable[[Run], Scored]


def default_as_of(con: duckdb.DuckDBPyConnection) -> datetime:
    """What a run scores as of when not told: the newest event's time (on a live store a
    moment ago; a store loaded from history as it stood, not as if every customer had left
    since), or now on an empty store."""
    newest = con.execute("SELECT max(timestamp) FROM __kenning_events").fetchall()[0][0]
    found: datetime = (newest or datetime.now(UTC)).astimezone(UTC)
    return found
