"""Conversions: the goal events attribution credits, with their value, read from the log.

A conversion is an event by name (``Order Completed``), optionally with property filters (the
language of computed traits: ``{properties.currency: EUR}``); its value is the first number
among ``value`` paths (``properties.revenue``, then ``properties.value``, then
``properties.total``), 0 when none is. With ``first_only``, only each person's first such
event in the whole log counts: a first-time buyer, a new member.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kenning.journeys.declarations import time_range_sql
from kenning.journeys.touchpoints import TouchOptions, events_sql
from kenning.profiles.computed.batch import json_number_sql, json_path, payload_condition_sql
from kenning.profiles.computed.definitions import Condition, parse_filters

VALUE_PATHS = ("properties.revenue", "properties.value", "properties.total")


@dataclass(frozen=True)
class Conversion:
    event: str
    where: tuple[Condition, ...] = ()
    value: tuple[str, ...] = VALUE_PATHS
    first_only: bool = False

    @classmethod
    def parse(
        cls,
        event: str,
        where: Mapping[str, Any] | None = None,
        *,
        value: tuple[str, ...] = VALUE_PATHS,
        first_only: bool = False,
    ) -> "Conversion":
        return cls(event, parse_filters(where, "where"), value, first_only)


def conversions_sql(conversion: Conversion, options: TouchOptions, params: list[Any]) -> str:
    """Columns profile_id, ts, seq, value: the conversions in ``options``' range."""
    values = [json_number_sql(f"json_extract(payload, '{json_path(p)}')") for p in conversion.value]
    value = f"coalesce({', '.join(values)}, 0.0)"
    scope = (
        options
        if not conversion.first_only
        else TouchOptions(options.rules, profiles=options.profiles)
    )
    events = events_sql(scope, params)
    filters = " AND ".join(
        payload_condition_sql(c, "payload", params, source="source_name") for c in conversion.where
    )
    params.append(conversion.event)
    chosen = f"""SELECT profile_id, ts, seq, {value} AS value FROM ({events})
                 WHERE {filters or "true"} AND event = ?"""
    if not conversion.first_only:
        return chosen
    # the first in the whole log, kept when it falls in range
    in_range = time_range_sql(options.since, options.until, params)
    return f"""SELECT * FROM ({chosen}
                              QUALIFY row_number() OVER (PARTITION BY profile_id
                                                         ORDER BY ts, seq) = 1)
               WHERE {in_range}"""
