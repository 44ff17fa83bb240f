"""A campaign's lift: did the people it reached do the thing more than its control group?

Each message the campaign decided is a trial: ``delivered`` ones are the treated group, those
held back (``holdout``) the control. A trial converts when the person (or a profile merged
into them since) performed ``event`` within ``within`` after the trigger. Lift is the treated
rate over the control rate, minus one; a two-proportion z-test says how surprising the
difference would be if the campaign did nothing.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb


@dataclass(frozen=True)
class Group:
    people: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.people if self.people else None

    def document(self) -> dict[str, Any]:
        return {"people": self.people, "converted": self.converted, "rate": self.rate}


def lift(
    con: duckdb.DuckDBPyConnection, campaign: str, event: str, within: timedelta, now: datetime
) -> dict[str, Any]:
    """Treated and control conversion, the lift and its p-value, over the trials whose window
    has closed (a trial still inside its window could yet convert)."""
    rows = con.execute(
        """WITH trials AS (
               SELECT o.id, o.status, o.created_at,
                      coalesce(r.canonical_id, o.profile_id) AS person
               FROM __kenning_outbox o
               LEFT JOIN __kenning_profile_redirects r ON r.profile_id = o.profile_id
               WHERE o.campaign = $campaign AND o.status IN ('delivered', 'holdout')
                 AND o.created_at + $within <= $now),
           members AS (
               SELECT DISTINCT t.person, coalesce(r.profile_id, t.person) AS profile_id
               FROM trials t
               LEFT JOIN __kenning_profile_redirects r ON r.canonical_id = t.person
               UNION SELECT person, person FROM trials)
           SELECT t.status, count(*),
                  count(*) FILTER (WHERE EXISTS (
                      SELECT 1 FROM members m
                      JOIN __kenning_event_profiles p ON p.profile_id = m.profile_id
                      JOIN __kenning_events e ON e.seq = p.seq
                      WHERE m.person = t.person AND e.event = $event
                        AND e.timestamp > t.created_at
                        AND e.timestamp <= t.created_at + $within))
           FROM trials t GROUP BY t.status""",
        {"campaign": campaign, "event": event, "within": within, "now": now},
    ).fetchall()
    counts = {str(status): Group(int(n), int(c)) for status, n, c in rows}
    treated = counts.get("delivered", Group(0, 0))
    control = counts.get("holdout", Group(0, 0))
    return {
        "campaign": campaign,
        "event": event,
        "within_days": within / timedelta(days=1),
        "treated": treated.document(),
        "control": control.document(),
        "lift": _lift(treated, control),
        "p_value": _p_value(treated, control),
    }


def _lift(treated: Group, control: Group) -> float | None:
    if treated.rate is None or not control.rate:
        return None
    return treated.rate / control.rate - 1


def _p_value(treated: Group, control: Group) -> float | None:
    """Two-sided, of the pooled two-proportion z-test; None without both groups."""
    if not treated.people or not control.people:
        return None
    pooled = (treated.converted + control.converted) / (treated.people + control.people)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / treated.people + 1 / control.people))
    if spread == 0:
        return 1.0
    z = ((treated.rate or 0.0) - (control.rate or 0.0)) / spread
    return math.erfc(abs(z) / math.sqrt(2))
