"""A large event log shaped like the synthetic brand's, written by DuckDB in bulk.

The brand's generator (``kenning.demo``) writes about 75 events per person in Python, and
ingest through HTTP stores about 16,000 events a second: a million people would take hours
either way. Here DuckDB writes the messages itself, from ``range()`` and string building, into
the log of a migrated store (``__kenning_events``, payloads as the writer stores them: the
message's compact JSON text). Nothing is stitched: ``store.py`` then runs Kenning's own rebuild.

What a person does is decided by hashes of (person, event number), so the same sizes give the
same log. The messages are the brand's (``kenning/demo/behaviour.py``), by the same sources and
with the same identifiers:

- a sign-up ``identify`` (web or app) with ``userId``, traits (names, email, often a phone,
  sometimes an address and a birthday) and consent in ``context.consent.categoryPreferences``;
  a quarter of the people never sign up and stay one anonymous web visitor;
- page and screen views and ``Product Viewed``/``Product Added`` with ``properties.category``
  (most from the person's favourite category), from a web ``anonymousId`` (one of up to three
  devices, so a second device seen before the sign-up makes a merge later) or an app's
  ``context.device`` (id, push token, advertising id);
- ``Order Completed`` with ``revenue``, ``total``, ``currency``, ``channel`` (web, app, store:
  till orders come from the ``pos`` source) and a product line;
- newsletters (``Email Sent``/``Opened``/``Link Clicked``) with ``context.traits.email`` for
  those who consented, SMS with ``context.traits.phone`` written four ways, call-centre calls
  (the phone, and a user id or a call's own anonymous id), loyalty events with an
  ``externalIds`` loyalty id, CRM records imported as identify calls with a ``crm_id``, and
  later identify calls that move house, add a birthday or change a consent choice.

Each person has one email, phone, loyalty and CRM id of their own, so one person is one
profile, plus the anonymous profiles merged into it when their devices are tied together.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from kenning.demo.names import (
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    PRODUCTS,
    STREET_KINDS,
    STREETS,
    TOWNS,
)
from kenning.demo.people import CONSENT_DECLINE

SOURCES = ("web", "app", "email", "sms", "call_centre", "loyalty", "crm", "pos")
START = datetime(2025, 1, 1, tzinfo=UTC)
# Events per person: 6 plus floor(spread * u ** 1.5) for u uniform in [0, 1), whose mean is
# about 0.4 * spread - 0.5: a long tail of busy customers.
_FEWEST = 6
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LogSize:
    people: int
    events: int


def _spread(mean_events: float) -> int:
    if mean_events < _FEWEST + 2:
        raise ValueError(f"at least {_FEWEST + 2} events per person on average")
    return round((mean_events - _FEWEST + 0.5) / 0.4)


def _categories() -> list[str]:
    return list(dict.fromkeys(category for category, _, _ in PRODUCTS))


_SETUP = (
    "SET TimeZone = 'UTC'",
    "SET enable_progress_bar = false",
    # A uniform number in [0, 1) from (person, event number, purpose): the same every run.
    """CREATE OR REPLACE TEMP MACRO bench_u(i, k, salt) AS
        (hash(i, k, salt) % 1000003)::DOUBLE / 1000003""",
)

# One row per person: who they are and the dice that shape their year.
_PEOPLE = """
CREATE OR REPLACE TEMP TABLE bench_people AS
WITH drawn AS (
    SELECT i,
        $first_names[1 + floor(len($first_names) * pow(bench_u(i, 0, 'first'), 2))::INT]
            AS first_name,
        $last_names[1 + floor(len($last_names) * pow(bench_u(i, 0, 'last'), 2))::INT]
            AS last_name,
        bench_u(i, 0, 'id') < 0.75 AS identifies,
        1 + floor(len($towns) * bench_u(i, 0, 'town'))::INT AS town_n,
        bench_u(i, 0, 'phone') < 0.55 AS has_phone,
        floor(bench_u(i, 0, 'start') * 240 * 86400)::BIGINT AS start_s,
        $fewest + floor($spread * pow(bench_u(i, 0, 'n'), 1.5))::INT AS n_events
    FROM range(1, $people + 1) AS r(i)
)
SELECT i, first_name, last_name, identifies, has_phone, start_s, n_events,
    printf('cust-%07d', i) AS user_id,
    lower(replace(
        CASE WHEN bench_u(i, 0, 'handle') < 0.6 THEN first_name || '.' || last_name
             ELSE first_name[1] || last_name END, '''', ''))
        || i || '@' || $domains[1 + floor(len($domains) * bench_u(i, 0, 'domain'))::INT]
        AS email,
    -- as the brand: unique per person (7919 is coprime to 100,000)
    printf('7%03d 9%05d', 700 + i // 100000, i * 7919 % 100000) AS phone_national,
    printf('LOY%07d', i * 7919 % 10000000) AS loyalty_id,
    (1 + floor(199 * bench_u(i, 0, 'number'))::INT) || ' '
        || $streets[1 + floor(len($streets) * bench_u(i, 0, 'street'))::INT] || ' '
        || $street_kinds[1 + floor(len($street_kinds) * bench_u(i, 0, 'kind'))::INT]
        AS street,
    $towns[town_n] AS city,
    $areas[town_n] || (1 + floor(29 * bench_u(i, 0, 'pc1'))::INT) || ' '
        || (1 + floor(9 * bench_u(i, 0, 'pc2'))::INT)
        || chr(65 + floor(26 * bench_u(i, 0, 'pc3'))::INT)
        || chr(65 + floor(26 * bench_u(i, 0, 'pc4'))::INT) AS postal_code,
    DATE '1950-01-01' + floor(20075 * bench_u(i, 0, 'birthday'))::INT AS birthday,
    identifies AND bench_u(i, 0, 'app') < 0.45 AS app_user,
    CASE WHEN identifies THEN 1 + floor(3 * bench_u(i, 0, 'devices'))::INT ELSE 1 END
        AS web_devices,
    identifies AND bench_u(i, 0, 'loyalty') < 0.3 AS loyalty,
    identifies AND bench_u(i, 0, 'crm') < 0.3 AS crm,
    CASE WHEN identifies THEN (bench_u(i, 0, 'signup') < 0.5)::INT END AS signup_k,
    floor($categories * bench_u(i, 0, 'favourite'))::INT AS favourite,
    $consent_sql AS consent,
    bench_u(i, 0, 'c_marketing_email') >= $decline_email AS marketing_email,
    bench_u(i, 0, 'c_marketing_sms') >= $decline_sms AS marketing_sms
FROM drawn
"""

# One row per event, numbered in time order: the log's seq.
_SKELETON = """
CREATE OR REPLACE TEMP TABLE bench_skeleton AS
SELECT row_number() OVER (ORDER BY at_ms, i, k) AS seq, i, k, at_ms FROM (
    SELECT i, k, $start_ms + floor(1000 * (
        start_s + (365 * 86400 - start_s) * (k + 0.9 * bench_u(i, k, 't')) / n_events))::BIGINT
        AS at_ms
    FROM (SELECT i, start_s, n_events, unnest(range(n_events)) AS k FROM bench_people))
ORDER BY seq
"""

_PRODUCTS = (
    """CREATE OR REPLACE TEMP TABLE bench_products AS
       SELECT p - 1 AS pid, category, name, price, cat - 1 AS cat
       FROM (SELECT unnest($categories_of) AS category, unnest($names) AS name,
                    unnest($prices) AS price, unnest($cat_numbers) AS cat,
                    generate_subscripts($names, 1) AS p)""",
    # Products are listed by category: a category's are consecutive.
    """CREATE OR REPLACE TEMP TABLE bench_categories AS
       SELECT cat, min(pid) AS first_in_cat, count(*) AS in_cat,
              (SELECT count(*) FROM bench_products) AS products
       FROM bench_products GROUP BY cat""",
)


def _obj(*fields: str) -> str:
    """A JSON object from ``"key":value`` fragments, NULL fragments left out."""
    return "('{' || concat_ws(',', " + ", ".join(fields) + ") || '}')"


def _f(key: str, json_value: str) -> str:
    """A ``"key":value`` fragment; NULL when the value is."""
    return f"""('"{key}":' || {json_value})"""


def _s(key: str, text: str) -> str:
    """A string field from a SQL text expression."""
    return _f(key, f"to_json({text})")


def _when(condition: str, fragment: str) -> str:
    return f"CASE WHEN {condition} THEN {fragment} END"


def _case(*branches: tuple[str, str], otherwise: str = "NULL") -> str:
    whens = " ".join(f"WHEN {condition} THEN {value}" for condition, value in branches)
    return f"CASE {whens} ELSE {otherwise} END"


def _external_ids(id_sql: str, type_: str) -> str:
    """A one-entry ``externalIds`` array, as the brand's loyalty events and imports send."""
    entry = _obj(
        _s("id", id_sql),
        _s("type", f"'{type_}'"),
        _s("collection", "'users'"),
        _s("encoding", "'none'"),
    )
    return _f("externalIds", f"'[' || {entry} || ']'")


_UTM = {
    "paid_search": '{"source":"google","medium":"cpc","name":"brand-search"}',
    "paid_social": '{"source":"facebook","medium":"paid_social","name":"spring-social"}',
    "display": '{"source":"adnetwork","medium":"display","name":"retarget-display"}',
    "affiliate": '{"source":"vouchers","medium":"affiliate","name":"affiliate-always-on"}',
}

_ADDRESS = _obj(_s("street", "street"), _s("city", "city"), _s("postalCode", "postal_code"))
_MOVED = _obj(
    _s("street", "(2 + floor(190 * w)::INT) || ' New Street'"),
    _s("city", "$towns[1 + floor(len($towns) * v)::INT]"),
    _s("postalCode", "postal_code || 'X'"),
)
_PHONE_VARIANT = """[
    '+44 ' || phone_national, '0' || replace(phone_national, ' ', ''),
    '+44' || replace(phone_national, ' ', ''), '0' || phone_national
][1 + floor(4 * x)::INT]"""
_SIGN_UP_TRAITS = _obj(
    _s("email", "email"),
    _s("firstName", "first_name"),
    _s("lastName", "last_name"),
    _when("has_phone", _s("phone", "'+44 ' || phone_national")),
    _when("v < 0.4", _f("address", _ADDRESS)),
    _when("w < 0.4", _s("birthday", "birthday::VARCHAR")),
    _when("x < 0.3", _s("provider", "['google', 'facebook', 'apple'][1 + floor(3 * y)::INT]")),
)
_UPDATE_TRAITS = _case(
    ("v < 0.4", _obj(_f("address", _MOVED))),
    ("v < 0.7", _obj(_s("birthday", "birthday::VARCHAR"), _f("address", _ADDRESS))),
    otherwise="'{}'",
)
_CRM_TRAITS = _obj(
    _s("firstName", "first_name"),
    _s("lastName", "last_name"),
    _s("email", "CASE WHEN v < 0.1 THEN upper(email) ELSE email END"),
    _when("has_phone", _s("phone", _PHONE_VARIANT)),
    _s("birthday", "birthday::VARCHAR"),
    _f(
        "address",
        _obj(
            _s("street", "street"),
            _s("city", "city"),
            _s("postalCode", "postal_code"),
            """'"country":"GB"'""",
        ),
    ),
    _when("loyalty", _s("loyalty_id", "loyalty_id")),
    _s("createdAt", "iso"),
)
_ORDER = _obj(
    _s("order_id", "printf('ord-%07d-%03d', i, k)"),
    _when("source = 'pos'", _s("store_id", "printf('store-%02d', i % 17)")),
    _f("total", "to_json(total)"),
    _f("revenue", "to_json(total)"),
    """'"currency":"EUR"'""",
    _s("channel", "CASE source WHEN 'pos' THEN 'store' ELSE source END"),
    _f(
        "products",
        "'[' || "
        + _obj(
            _s("product_id", "product"),
            _s("sku", "upper(left(replace(product, ' ', ''), 6))"),
            _s("category", "category"),
            _s("name", "product"),
            _f("price", "to_json(price)"),
            _f("quantity", "quantity::VARCHAR"),
        )
        + " || ']'",
    ),
)
_PROPERTIES = _case(
    ("kind = 'view'", _obj(_s("category", "category"))),
    (
        "kind = 'product_viewed'",
        _obj(
            _s("product_id", "product"), _s("category", "category"), _f("price", "to_json(price)")
        ),
    ),
    ("kind = 'product_added'", _obj(_s("product_id", "product"), _s("category", "category"))),
    ("kind = 'order'", _ORDER),
    ("kind = 'signed_up'", _obj(_s("method", "'email'"))),
    ("kind = 'loyalty_joined'", _obj(_s("tier", "'green'"))),
    ("kind = 'points'", _obj(_f("points", "floor(total)::INT::VARCHAR"))),
    (
        "kind = 'email'",
        _obj(
            _s("campaign_id", "printf('nl-%03d', k)"),
            _s("campaign_name", "'Newsletter'"),
            _s("subject", "'Issue ' || k"),
        ),
    ),
    ("kind = 'sms'", _obj(_s("campaign_name", "'SMS offers'"))),
    (
        "kind = 'call'",
        _obj(
            _s("reason", "['delivery', 'returns', 'sizing', 'payment'][1 + floor(4 * w)::INT]"),
            _f("duration_seconds", "(60 + floor(1140 * x)::INT)::VARCHAR"),
        ),
    ),
)
_WEB_CONTEXT = [
    _when(
        "y < 0.43",
        _f(
            "campaign",
            "CASE WHEN y < 0.16 THEN '{ps}' WHEN y < 0.28 THEN '{so}' WHEN y < 0.38 THEN '{di}' "
            "ELSE '{af}' END".format(
                ps=_UTM["paid_search"],
                so=_UTM["paid_social"],
                di=_UTM["display"],
                af=_UTM["affiliate"],
            ),
        ),
    ),
    _when(
        "kind IN ('view', 'product_viewed')",
        _f(
            "page",
            _obj(
                _s("path", "'/p/' || lower(replace(product, ' ', '-'))"),
                """'"url":"https://shop.example/"'""",
            ),
        ),
    ),
]
_DEVICE = _obj(
    _s("id", "printf('dev-%07d', i)"),
    _s("type", "CASE WHEN i % 2 = 1 THEN 'ios' ELSE 'android' END"),
    _s("token", "printf('push-%07d', i)"),
    _when("i % 3 = 0", _s("advertisingId", "printf('ad-%07d', i)")),
)
_LOYALTY_IDS = _external_ids("loyalty_id", "loyalty_id")
_CHANGED_CONSENT = _obj(
    "to_json($consent_categories[1 + floor(len($consent_categories) * w)::INT])"
    " || ':' || (x < 0.5)::VARCHAR"
)
_ONLINE_CONTEXT = _obj(
    _when("kind = 'identify'", _f("consent", _obj(_f("categoryPreferences", "consent")))),
    _when(
        "kind = 'update' AND v >= 0.7",
        _f("consent", _obj(_f("categoryPreferences", _CHANGED_CONSENT))),
    ),
    *[_when("source = 'web' AND kind NOT IN ('identify', 'update')", f) for f in _WEB_CONTEXT],
    _when("source = 'web'", _s("userAgent", "'Mozilla/5.0 (synthetic)'")),
    _when("source = 'web'", _s("ip", "'198.51.100.' || (i % 250 + 1)")),
    _when("source = 'app'", _f("device", _DEVICE)),
)
_CONTEXT = _case(
    (
        "kind = 'email'",
        _obj(
            _f("traits", _obj(_s("email", "CASE WHEN w < 0.05 THEN upper(email) ELSE email END")))
        ),
    ),
    ("kind IN ('sms', 'call')", _obj(_f("traits", _obj(_s("phone", _PHONE_VARIANT))))),
    ("kind = 'points'", _obj(_LOYALTY_IDS)),
    ("kind = 'loyalty_joined'", _obj(_LOYALTY_IDS, _f("traits", _obj(_s("email", "email"))))),
    (
        "kind = 'crm'",
        _obj(_external_ids("printf('CRM%07d0', i)", "crm_id")),
    ),
    ("source = 'pos'", "NULL"),
    otherwise=_ONLINE_CONTEXT,
)

_PAYLOAD = _obj(
    _s("type", "type"),
    _s("userId", "uid"),
    _when("type = 'track'", _s("event", "event")),
    _when("type IN ('page', 'screen')", _s("name", "event")),
    _when("kind = 'identify'", _f("traits", _SIGN_UP_TRAITS)),
    _when("kind = 'update'", _f("traits", _UPDATE_TRAITS)),
    _when("kind = 'crm'", _f("traits", _CRM_TRAITS)),
    _f("properties", _PROPERTIES),
    _f("context", _CONTEXT),
    _s("anonymousId", "anonymous_id"),
    _s("messageId", "message_id"),
    _s("timestamp", "iso"),
)

# The events of seq $lo..$hi, with every column of the log.
_EVENTS = f"""
INSERT INTO __kenning_events
WITH ev AS (
    SELECT s.seq, s.i, s.k, s.at_ms, p.*,
        bench_u(s.i, s.k, 'kind') AS u, bench_u(s.i, s.k, 'v') AS v,
        bench_u(s.i, s.k, 'w') AS w, bench_u(s.i, s.k, 'x') AS x,
        bench_u(s.i, s.k, 'y') AS y, bench_u(s.i, s.k, 'product') AS z,
        coalesce(p.identifies AND s.k >= p.signup_k, false) AS known
    FROM bench_skeleton s JOIN bench_people p USING (i)
    WHERE s.seq BETWEEN $lo AND $hi
), kinded AS (
    SELECT *,
        CASE
            WHEN k = signup_k THEN 'identify'
            WHEN k = signup_k + 1 THEN 'signed_up'
            WHEN loyalty AND k = signup_k + 2 THEN 'loyalty_joined'
            WHEN crm AND k = n_events - 2 THEN 'crm'
            WHEN u < 0.28 THEN 'view'
            WHEN u < 0.52 THEN 'product_viewed'
            WHEN u < 0.60 THEN 'product_added'
            WHEN u < 0.66 THEN 'order'
            WHEN u < 0.80 THEN CASE WHEN known AND marketing_email THEN 'email' ELSE 'view' END
            WHEN u < 0.84 THEN
                CASE WHEN known AND has_phone AND marketing_sms THEN 'sms'
                     ELSE 'product_viewed' END
            WHEN u < 0.88 THEN CASE WHEN known AND loyalty THEN 'points' ELSE 'view' END
            WHEN u < 0.90 THEN CASE WHEN known AND has_phone THEN 'call' ELSE 'product_viewed' END
            WHEN u < 0.93 THEN CASE WHEN known THEN 'update' ELSE 'view' END
            ELSE 'view'
        END AS kind,
        CASE WHEN app_user AND bench_u(i, k, 'source') < 0.4 THEN 'app' ELSE 'web' END
            AS online
    FROM ev
), sourced AS (
    SELECT *,
        CASE kind
            WHEN 'email' THEN 'email' WHEN 'sms' THEN 'sms' WHEN 'call' THEN 'call_centre'
            WHEN 'points' THEN 'loyalty' WHEN 'loyalty_joined' THEN 'loyalty'
            WHEN 'crm' THEN 'crm'
            WHEN 'order' THEN CASE WHEN known AND v < 0.25 THEN 'pos' ELSE online END
            ELSE online
        END AS source
    FROM kinded
), shaped AS (
    SELECT q.*, pr.name AS product, pr.category, pr.price,
        1 + floor(3 * pow(w, 3))::INT AS quantity,
        round(pr.price * (1 + floor(3 * pow(w, 3))::INT) * (0.9 + 0.2 * x), 2) AS total,
        strftime(make_timestamp(q.at_ms * 1000)::TIMESTAMPTZ, '%Y-%m-%dT%H:%M:%S.%gZ') AS iso,
        CASE
            WHEN kind IN ('identify', 'update', 'crm') THEN 'identify'
            WHEN kind = 'view' THEN CASE WHEN source = 'app' THEN 'screen' ELSE 'page' END
            ELSE 'track'
        END AS type,
        CASE kind
            WHEN 'view' THEN 'Product'
            WHEN 'signed_up' THEN 'Signed Up' WHEN 'loyalty_joined' THEN 'Loyalty Joined'
            WHEN 'product_viewed' THEN 'Product Viewed' WHEN 'product_added' THEN 'Product Added'
            WHEN 'order' THEN 'Order Completed' WHEN 'points' THEN 'Points Earned'
            WHEN 'email' THEN CASE WHEN v < 0.6 THEN 'Email Sent' WHEN v < 0.9 THEN 'Email Opened'
                                   ELSE 'Email Link Clicked' END
            WHEN 'sms' THEN CASE WHEN v < 0.85 THEN 'SMS Sent' ELSE 'SMS Clicked' END
            WHEN 'call' THEN 'Call Completed'
        END AS event,
        CASE
            WHEN kind = 'crm' THEN NULL
            WHEN kind = 'call' THEN CASE WHEN v < 0.5 THEN user_id END
            WHEN kind IN ('identify', 'update', 'signed_up') OR source NOT IN ('web', 'app')
                THEN user_id
            WHEN known AND bench_u(i, k, 'logged_in') < 0.8 THEN user_id
        END AS uid,
        CASE
            WHEN kind = 'call' AND v >= 0.5 THEN printf('call-%07d-%d', i, k)
            WHEN source = 'web' THEN
                printf('anon-%07d-%d', i, floor(web_devices * bench_u(i, k, 'device'))::INT)
            WHEN source = 'app' THEN printf('app-anon-%07d', i)
        END AS anonymous_id,
        CASE WHEN kind = 'crm' THEN 'imp-customers-' || md5(i::VARCHAR)
             ELSE printf('%s-%07d-%05d', source, i, k) END AS message_id
    FROM sourced q JOIN bench_categories c ON c.cat = q.favourite
    JOIN bench_products pr ON pr.pid = CASE
        WHEN z < 0.6 THEN c.first_in_cat + floor(c.in_cat * bench_u(q.i, q.k, 'pick'))::INT
        ELSE floor(c.products * bench_u(q.i, q.k, 'pick'))::INT END
)
SELECT seq, src.id, message_id, type, event, uid, anonymous_id,
    make_timestamp(at_ms * 1000)::TIMESTAMPTZ, NULL, NULL,
    make_timestamp(at_ms * 1000 + 1000000)::TIMESTAMPTZ, []::VARCHAR[],
    {_PAYLOAD}, NULL  -- other_identifiers: not known, a rebuild parses the payload
FROM shaped JOIN __kenning_sources src ON src.name = shaped.source
ORDER BY seq
"""


def _parameters() -> dict[str, Any]:
    categories = _categories()
    consent_categories = list(CONSENT_DECLINE)
    return {
        "first_names": list(FIRST_NAMES),
        "last_names": list(LAST_NAMES),
        "domains": list(EMAIL_DOMAINS),
        "streets": list(STREETS),
        "street_kinds": list(STREET_KINDS),
        "towns": [town for town, _ in TOWNS],
        "areas": [area for _, area in TOWNS],
        "categories": len(categories),
        "consent_categories": consent_categories,
    }


def _consent_sql() -> str:
    """The person's choice per consent category, declined at the brand's rates, as JSON."""
    fields = [
        f"""'"{name}":' || (bench_u(i, 0, 'c_{name}') >= {share})::VARCHAR"""
        for name, share in CONSENT_DECLINE.items()
    ]
    return "('{' || " + " || ',' || ".join(fields) + " || '}')"


def write_log(
    con: duckdb.DuckDBPyConnection,
    people: int,
    mean_events: float,
    *,
    chunk_events: int = 1_000_000,
    progress: Progress | None = None,
) -> LogSize:
    """Write the log for ``people`` people into the (migrated, empty) store ``con`` is open on;
    its sources must exist (``SOURCES``). ``progress(events written, events)`` per chunk."""
    for statement in _SETUP:
        con.execute(statement)
    parameters = _parameters()
    people_sql = _PEOPLE.replace("$consent_sql", _consent_sql())
    con.execute(
        people_sql,
        {
            **{
                name: parameters[name]
                for name in (
                    "first_names",
                    "last_names",
                    "domains",
                    "streets",
                    "street_kinds",
                    "towns",
                    "areas",
                    "categories",
                )
            },
            "people": people,
            "fewest": _FEWEST,
            "spread": _spread(mean_events),
            "decline_email": CONSENT_DECLINE["marketing_email"],
            "decline_sms": CONSENT_DECLINE["marketing_sms"],
        },
    )
    con.execute(_SKELETON, {"start_ms": int(START.timestamp() * 1000)})
    categories = _categories()
    con.execute(
        _PRODUCTS[0],
        {
            "categories_of": [category for category, _, _ in PRODUCTS],
            "names": [name for _, name, _ in PRODUCTS],
            "prices": [price for _, _, price in PRODUCTS],
            "cat_numbers": [categories.index(category) + 1 for category, _, _ in PRODUCTS],
        },
    )
    con.execute(_PRODUCTS[1])
    row = con.execute("SELECT count(*) FROM bench_skeleton").fetchone()
    total = int(row[0]) if row else 0
    for lo in range(1, total + 1, chunk_events):
        hi = min(total, lo + chunk_events - 1)
        con.execute(
            _EVENTS,
            {
                "lo": lo,
                "hi": hi,
                "towns": parameters["towns"],
                "consent_categories": parameters["consent_categories"],
            },
        )
        if progress is not None:
            progress(hi, total)
    for table in ("bench_skeleton", "bench_people", "bench_products", "bench_categories"):
        con.execute(f"DROP TABLE {table}")
    return LogSize(people, total)
