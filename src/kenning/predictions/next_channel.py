"""Next best channel: for each person, the messaging channel most likely to get a response,
among those they have consented to.

A channel's response rate for a person is their responses over their sends on it (opens and
clicks over emails sent, clicks over texts, opens over pushes), shrunk towards everyone's rate
on that channel by ``PRIOR_SENDS`` imaginary sends: two opens of two emails is promising, not
certain, and a person never messaged on a channel gets everyone's rate. The channel with the
highest rate among those whose consent category is granted wins (ties: the order below). A
person who consented to none gets no channel.

Scores: ``next_best_channel`` and ``response_rate_<channel>`` for each channel.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from kenning.journeys.declarations import EVENTS_SQL
from kenning.predictions.context import Run, Scored
from kenning.predictions.scores import score_table

PRIOR_SENDS = 5.0


@dataclass(frozen=True)
class Channel:
    name: str
    consent: str
    sent: tuple[str, ...]
    responses: tuple[str, ...]


CHANNELS = (
    Channel("email", "marketing_email", ("Email Sent",),
            ("Email Opened", "Email Link Clicked")),
    Channel("sms", "marketing_sms", ("SMS Sent",), ("SMS Clicked", "SMS Replied")),
    Channel("push", "marketing_push", ("Push Sent",), ("Push Opened", "Push Clicked")),
)  # fmt: skip


def engagement_sql(at: datetime, params: list[Any]) -> str:
    """Per person: sends and responses per channel up to ``at``, and whether each channel's
    consent is granted now."""
    columns = []
    for channel in CHANNELS:
        columns.append(f"count(*) FILTER (WHERE event IN ({_marks(channel.sent)})) "
                       f"AS {channel.name}_sent")  # fmt: skip
        params += channel.sent
        columns.append(f"count(*) FILTER (WHERE event IN ({_marks(channel.responses)})) "
                       f"AS {channel.name}_responses")  # fmt: skip
        params += channel.responses
    consent = [
        f"bool_or(granted) FILTER (WHERE category = '{c.consent}') AS {c.name}_consent"
        for c in CHANNELS
    ]
    wanted = [e for c in CHANNELS for e in (*c.sent, *c.responses)]
    params += [*wanted, at, [c.consent for c in CHANNELS]]
    return f"""WITH engaged AS (
                   SELECT person AS profile_id, {", ".join(columns)}
                   FROM ({EVENTS_SQL}) WHERE event IN ({_marks(wanted)}) AND ts <= ?::TIMESTAMPTZ
                   GROUP BY 1),
               consented AS (
                   SELECT profile_id, {", ".join(consent)} FROM kenning_consent
                   WHERE category = ANY(?::VARCHAR[]) GROUP BY 1)
               SELECT * FROM engaged FULL JOIN consented USING (profile_id)
               ORDER BY profile_id"""


def _marks(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("?" for _ in values)


def next_channel_model(run: Run) -> Scored:
    params: list[Any] = []
    sql = engagement_sql(run.as_of, params)
    with run.store.reader() as con:
        table = con.sql(sql, params=params).to_arrow_table()
    people = table.column("profile_id").to_numpy().astype(np.int64)
    rates: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    report: dict[str, Any] = {"prior_sends": PRIOR_SENDS, "channels": {}}
    best = np.full(len(people), -1.0)
    choice: list[str | None] = [None] * len(people)
    for channel in CHANNELS:
        sent = np.nan_to_num(table.column(f"{channel.name}_sent").to_numpy(zero_copy_only=False)
                             .astype(np.float64))  # fmt: skip
        responded = np.nan_to_num(
            table.column(f"{channel.name}_responses").to_numpy(zero_copy_only=False)
            .astype(np.float64)
        )  # fmt: skip
        overall = float(responded.sum() / sent.sum()) if sent.sum() else 0.0
        rate = (responded + PRIOR_SENDS * overall) / (sent + PRIOR_SENDS)
        rates[f"response_rate_{channel.name}"] = np.minimum(rate, 1.0)
        consented = table.column(f"{channel.name}_consent").to_pylist()
        granted = np.array([g is True for g in consented], dtype=bool)
        better = granted & (rate > best)
        best = np.where(better, rate, best)
        for index in np.flatnonzero(better):
            choice[index] = channel.name
        report["channels"][channel.name] = {
            "overall_rate": overall, "sends": int(sent.sum()), "consented": int(granted.sum()),
        }  # fmt: skip
    chosen = np.array([c is not None for c in choice])
    report["scored"] = int(chosen.sum())
    names, counts = np.unique(np.array([c for c in choice if c is not None], dtype=str),
                              return_counts=True)  # fmt: skip
    report["chosen"] = {str(n): int(c) for n, c in zip(names, counts, strict=True)}
    columns = {k: pa.array(v) for k, v in rates.items()}
    columns["next_best_channel"] = pa.array(choice, pa.string())
    return Scored(score_table(pa.array(people), columns), report)
