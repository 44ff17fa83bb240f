"""A store of shop sessions, written by DuckDB straight into a migrated store's tables.

Sending 20M events through the writer would take hours; DuckDB writes them from ``range()``
in minutes, with hash-decided columns, so the same size always gives the same log. The store
is kept under the cache directory and reused.

Events come in sessions of eight, a few minutes apart, each session one person's (a million
people for 20M events, sessions spread over 180 days). A session's depth decides how far it
goes down the shop's funnel::

    page (Home) · Product Viewed · Product Added (45%) or Product Viewed
    · Checkout Started (25%) or page · Payment Info Entered (18%) or Search
    · Order Completed (12%) or page · Product Viewed · Email Opened (50%) or page

so a person may also convert across sessions. Products have one of eight categories (the
session's), a price and an id; messages carry a page context, a library, an address and a user
agent (about 500 bytes, like analytics.js's), and some sessions a paid-search, email or
organic-search origin. One person in ten has a second profile (a second device) merged into
the first, through ``__kenning_profile_redirects``. Nothing else is stitched: funnels read
the log, the event profiles and the redirects, and nothing more.
"""

from pathlib import Path

import duckdb

from kenning.store.store import Store

SESSION = 8
EVENTS_PER_PERSON = 20
SPAN_DAYS = 180
CATEGORIES = ("shoes", "hats", "bags", "coats", "shirts", "socks", "belts", "scarves")
START = "2026-01-01 00:00:00+00"


def _u(*parts: str) -> str:
    """A number in [0, 1) decided by a hash of ``parts``."""
    return f"(hash({', '.join(parts)}) % 1000003) / 1000003.0"


_NAME = f"""CASE j
    WHEN 0 THEN NULL
    WHEN 1 THEN 'Product Viewed'
    WHEN 2 THEN CASE WHEN depth < 0.45 THEN 'Product Added' ELSE 'Product Viewed' END
    WHEN 3 THEN CASE WHEN depth < 0.25 THEN 'Checkout Started' END
    WHEN 4 THEN CASE WHEN depth < 0.18 THEN 'Payment Info Entered' ELSE 'Search' END
    WHEN 5 THEN CASE WHEN depth < 0.12 THEN 'Order Completed' END
    WHEN 6 THEN 'Product Viewed'
    ELSE CASE WHEN {_u("s", "'mail'")} < 0.5 THEN 'Email Opened' END
END"""

# Sessions start in order through the 180 days (a few seconds apart, with some jitter), so
# the log is in time order as it arrives, and every row is written as it is made.
_GENERATED = f"""
SELECT i + 1 AS seq, i, s, j, person, depth, origin, category, product, second_device, ts,
       {_NAME} AS name
FROM (
    SELECT i, s, j,
           (hash(s, 'person') % $people)::BIGINT AS person,
           {_u("s", "'depth'")} AS depth,
           {_u("s", "'origin'")} AS origin,
           (hash(s, 'category') % {len(CATEGORIES)})::BIGINT AS category,
           (hash(s, 'product') % 5000)::BIGINT AS product,
           {_u("s", "'second'")} < 0.5 AS second_device,
           TIMESTAMPTZ '{START}'
             + to_microseconds((s * $session_gap + hash(s, 'start') % 60000000)::BIGINT)
             + to_microseconds(j * 150000000 + (hash(i, 'gap') % 100000000)::BIGINT) AS ts
    FROM (SELECT i, i // {SESSION} AS s, i % {SESSION} AS j FROM range($events) t(i)))
"""

_CONTEXT = """json_object(
    'page', json_object('path', path, 'url', 'https://shop.example' || path,
                        'referrer', CASE WHEN origin < 0.5 THEN 'https://www.google.com/'
                                         ELSE 'https://shop.example/' END),
    'campaign', CASE WHEN origin < 0.3 THEN json_object('source', 'google', 'medium', 'cpc',
                                                        'name', 'spring')
                     WHEN origin < 0.4 THEN json_object('source', 'newsletter',
                                                        'medium', 'email', 'name', 'weekly')
                END,
    'library', json_object('name', 'analytics.js', 'version', '4.1.0'),
    'ip', '203.0.113.' || (person % 250),
    'userAgent', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 '
                 || '(KHTML, like Gecko) Version/17.0 Safari/605.1.15')"""

_PAYLOAD = f"""json_object(
    'type', kind, 'event', name, 'name', CASE WHEN kind = 'page' THEN page END,
    'userId', 'u' || person, 'anonymousId', 'a' || person || '-' || second_device::INT,
    'messageId', 'm' || i, 'timestamp', strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ'),
    'properties', json_object('product_id', 'p' || product,
                              'category', {list(CATEGORIES)}[category + 1],
                              'price', 5 + product % 200 + 0.99, 'currency', 'EUR'),
    'context', {_CONTEXT})::VARCHAR"""

_EVENTS = f"""
INSERT INTO __kenning_events
SELECT seq, CASE WHEN person % 10 = 0 THEN 'src-app' ELSE 'src-web' END, 'm' || i, kind, name,
       'u' || person, 'a' || person, ts, ts, ts, ts, [], {_PAYLOAD}, NULL
FROM (SELECT g.*,
             CASE WHEN name IS NULL THEN 'page' ELSE 'track' END AS kind,
             CASE j WHEN 0 THEN 'Home' WHEN 3 THEN 'Category' ELSE 'Product' END AS page,
             CASE j WHEN 0 THEN '/' WHEN 3 THEN '/c/' || category ELSE '/p/' || product END
                 AS path
      FROM ({_GENERATED}) g)
"""

# A person's second device is a profile of its own (people + person + 1), merged into the
# first: its events count as the person's through the redirect.
_EVENT_PROFILES = f"""
INSERT INTO __kenning_event_profiles
SELECT seq, CASE WHEN person % 10 = 3 AND second_device THEN $people + person + 1
                 ELSE person + 1 END
FROM ({_GENERATED})
"""


def build_store(path: Path, events: int) -> None:
    """A store at ``path`` with ``events`` events (minutes for 20M; the caller caches it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for stale in (partial, partial.with_suffix(".partial.wal")):
        stale.unlink(missing_ok=True)
    Store.open(partial, stitch=False).close()  # the schema, by the store's own migrations
    con = duckdb.connect(str(partial))
    try:
        people = max(1, events // EVENTS_PER_PERSON)
        sessions = max(1, events // SESSION)
        sizes = {
            "events": events,
            "people": people,
            "session_gap": SPAN_DAYS * 86_400_000_000 // sessions,
        }
        con.execute("SET TimeZone = 'UTC'")
        # This machine is shared: the rows stream, and nothing needs much memory.
        con.execute("SET memory_limit = '3GB'")
        con.execute("SET enable_progress_bar = false")
        con.execute(
            """INSERT INTO __kenning_sources VALUES
               ('src-web', 'web', 'hash-web', 'web', NULL, now(), NULL),
               ('src-app', 'app', 'hash-app', 'app', NULL, now(), NULL)"""
        )
        con.execute(_EVENTS, sizes)
        con.execute(_EVENT_PROFILES, sizes)
        con.execute(
            """INSERT INTO __kenning_profile_redirects
               SELECT $people + p + 1, p + 1 FROM range($people) t(p) WHERE p % 10 = 3""",
            {"people": people},
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    partial.rename(path)


def cached_store(cache: Path, events: int) -> tuple[Path, bool]:
    """The store of ``events`` events under ``cache``, built if missing; (path, built now)."""
    path = cache / f"funnels-{events}.duckdb"
    if path.exists():
        return path, False
    build_store(path, events)
    return path, True
