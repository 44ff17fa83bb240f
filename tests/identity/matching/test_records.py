"""Records built in Python for real-time matching are the records the batch SQL builds."""

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from kenning.identity.matching.features import features_sql, populated_sql
from kenning.identity.matching.records import build_records, normalise
from kenning.identity.matching.settings import MatchField, MatchSettings

SETTINGS = MatchSettings(
    fields=(
        *MatchSettings().fields,
        MatchField("ssn", "socSecId", "id"),
        MatchField("employer", "company.name", "text"),
    ),
    min_fields=1,
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)

VALUES: dict[str, list[Any]] = {
    "name": ["  José ", "O'Brien-Smith", "ÆRØ", "Zoë  Ann", "  ", "12345", "ﬁona", "Mc Donald"],
    "date": [
        "1990-05-01",
        "1990-5-1",
        " 1990-05-01 ",
        "1990-05-01T10:00:00",
        "19900501",
        "01/05/1990",
        "1990/05/01",
        "31/02/1990",
        "not a date",
        19900501,
        "",
    ],
    "street": [
        "12, Oak St.",
        "12 OAK STREET",
        "Flat 3, 5 St Albans Rd",
        "7 rue de l'Église",
        "9 Wattle  Cres",
        "st",
        "   ",
        "1 Long Avenue Ave",
    ],
    "text": ["Acme Ltd.", "  ÉCOLE  normale ", "---", 42, True],
    "postcode": ["SW1A 1AA", "sw1a1aa", " 2000 ", "--", 2600],
    "id": ["123-45-6789", "A 1", "", 7654321],
    "email": [" Ada@Example.COM ", "", "ÉMILE@x.fr"],
    "phone": ["+44 7700 900123", "07700 900123", "12345", "(555) 010-9999 ext. 12", 447700900123],
    "exact": ["London", "  NEW york ", "", 5],
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_each_kind_normalises_as_the_sql_does(kind: str) -> None:
    from kenning.identity.matching.features import _normalised

    con = duckdb.connect()
    for value in VALUES[kind]:
        raw = orjson.dumps(value).decode()
        (expected,) = con.execute(
            f"SELECT {_normalised(kind, 'raw')} FROM"
            " (SELECT json_extract_string(?::JSON, '$') AS raw)",
            [raw],
        ).fetchone() or (None,)
        text = value if isinstance(value, str) else raw.lower() if isinstance(value, bool) else raw
        assert normalise(kind, text) == expected, (kind, value)


def _messages() -> list[tuple[int, str, datetime, dict[str, Any]]]:
    return [
        (1, "web", T0, {"traits": {"firstName": "Ada", "lastName": "Lovelace", "email": "A@x.io"}}),
        # newer: the email changes, the name stays (a field's newest value, field by field)
        (1, "web", T0 + timedelta(days=1), {"traits": {"email": "ada@y.io", "phone": None}}),
        (1, "crm", T0, {"context": {"traits": {"name": "Ada King", "birthday": "1815-12-10"}}}),
        (
            2,
            "crm",
            T0,
            {
                "traits": {
                    "name": "Charles",
                    "address": {"street": "1 Marylebone Rd", "postalCode": "NW1 5LR"},
                }
            },
        ),
        (2, "crm", T0, {"traits": {}, "context": {"traits": {"firstName": "ignored"}}}),
        (3, "app", T0, {"properties": {"traits": "not traits"}}),
        (4, "app", T0, {"traits": {"company": {"name": "Analytical Engines"}, "socSecId": 99}}),
    ]


def test_records_are_the_batch_records() -> None:
    events = _messages()
    table = pa.table(
        {
            "profile_id": [e[0] for e in events],
            "source_id": [e[1] for e in events],
            "timestamp": pa.array([e[2] for e in events], pa.timestamp("us", tz="UTC")),
            "payload": [orjson.dumps(e[3]).decode() for e in events],
        }
    )
    con = duckdb.connect()
    con.register("events", table)
    expected = con.execute(
        f"SELECT * FROM ({features_sql(SETTINGS, 'events')})"
        f" WHERE {populated_sql(SETTINGS)} >= 1 ORDER BY profile_id, source_id"
    )
    columns = [d[0] for d in expected.description]
    rows = [dict(zip(columns, row, strict=True)) for row in expected.fetchall()]
    assert build_records(SETTINGS, events) == rows
    assert {(r["profile_id"], r["source_id"]) for r in rows} == {
        (1, "crm"),
        (1, "web"),
        (2, "crm"),
        (4, "app"),
    }
