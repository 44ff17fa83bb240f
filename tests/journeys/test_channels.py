"""The channel taxonomy: built-in rules on the messages brands send, the brand's own rules,
bad rules refused with their path, and the SQL classification equal to the Python one."""

from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenning.errors import FieldError
from kenning.journeys.channels import CHANNELS, ChannelRules


def page(**context: Any) -> dict[str, Any]:
    return {"type": "page", "name": "Home", "context": context}


def track(event: str, **context: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "context": context}


EXAMPLES: list[tuple[dict[str, Any], str | None, str]] = [
    (page(campaign={"source": "google", "medium": "cpc"}), "web", "paid_search"),
    (page(campaign={"source": "facebook", "medium": "cpc"}), "web", "paid_social"),
    (page(campaign={"source": "facebook", "medium": "paid_social"}), "web", "paid_social"),
    (page(campaign={"source": "adnetwork", "medium": "Display"}), "web", "display"),
    (page(campaign={"source": "vouchers", "medium": "affiliate"}), "web", "affiliate"),
    (page(campaign={"source": "newsletter", "medium": "email"}), "web", "email"),
    (page(campaign={"source": "sms", "medium": "sms"}), "web", "sms"),
    (page(page={"referrer": "https://www.google.co.uk/search?q=x"}), "web", "organic_search"),
    (page(page={"referrer": "https://duckduckgo.com/"}), "web", "organic_search"),
    (page(page={"referrer": "https://m.facebook.com/story"}), "web", "organic_social"),
    (page(page={"referrer": "https://t.co/abc"}), "web", "organic_social"),
    (page(page={"referrer": "https://blog.example.org/best-gear"}), "web", "referral"),
    (page(page={"referrer": "https://shop.example/cart", "url": "https://shop.example/"}),
     "web", "direct"),
    (page(), "web", "direct"),
    ({"type": "screen", "name": "Home"}, "app", "app"),
    (track("Product Viewed", app={"name": "Shop"}), "ios", "app"),
    (track("Email Opened"), "esp", "email"),
    (track("Email Link Clicked"), "anything", "email"),
    (track("SMS Clicked"), "anything", "sms"),
    (track("Push Opened"), "anything", "push"),
    (track("Call Completed"), "anything", "call_centre"),
    (track("Order Completed"), "pos", "store"),
    (track("Order Completed"), "call-centre", "call_centre"),
    (track("Points Earned"), "loyalty", "direct"),
    ({"type": "track", "event": "Order Completed", "properties": {"channel": "app"}}, "web",
     "app"),
    ({"type": "track", "event": "Order Completed", "properties": {"channel": "web"}}, "web",
     "direct"),
    ({"type": "track", "event": "X", "properties": {"marketing_channel": "Affiliate"}}, None,
     "affiliate"),
]  # fmt: skip


def sql_channels(rules: ChannelRules, rows: list[tuple[dict[str, Any], str | None]]) -> list[str]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INT, type VARCHAR, event VARCHAR, src VARCHAR, p VARCHAR)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
        [
            (i, m.get("type"), m.get("event") or m.get("name"), s, orjson.dumps(m).decode())
            for i, (m, s) in enumerate(rows)
        ],
    )
    params: list[Any] = []
    expression = rules.sql("p", "src", params)
    return [c for (c,) in con.execute(f"SELECT {expression} FROM t ORDER BY i", params).fetchall()]


@pytest.mark.parametrize(("message", "source", "expected"), EXAMPLES)
def test_built_in_rules_classify_what_brands_send(
    message: dict[str, Any], source: str | None, expected: str
) -> None:
    rules = ChannelRules.default()
    assert rules.classify(message, source) == expected
    assert sql_channels(rules, [(message, source)]) == [expected]


def test_a_brands_own_rules_come_before_the_built_in_ones() -> None:
    rules = ChannelRules.from_config(
        {"rules": [{"channel": "referral", "where": {"context.campaign.source": "partner-*x",
                                                     "referrer_host": {"exists": True}}},
                   {"channel": "affiliate", "where": {"context.campaign.source": ["awin", "cj"]}}]}
    )  # fmt: skip
    cpc_from_awin = page(campaign={"source": "AWIN", "medium": "cpc"})
    assert rules.classify(cpc_from_awin, "web") == "affiliate"
    assert ChannelRules.default().classify(cpc_from_awin, "web") == "paid_search"
    assert sql_channels(rules, [(cpc_from_awin, "web")]) == ["affiliate"]


def test_replacing_the_defaults_leaves_only_the_brands_rules() -> None:
    rules = ChannelRules.from_config(
        {"replace_defaults": True, "explicit": [],
         "rules": [{"channel": "store", "where": {"event": {"matches": "in-store .*"}}}]}
    )  # fmt: skip
    assert rules.classify(track("In-Store Visit"), "x") == "store"
    assert rules.classify(page(campaign={"medium": "cpc"}), "web") == "direct"
    assert rules.classify(track("Email Opened"), "web") == "direct"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ([], "channels"),
        ({"rulez": []}, "channels.rulez"),
        ({"rules": {}}, "channels.rules"),
        ({"rules": [{"channel": "tv", "where": {"event": "x"}}]}, "channels.rules[0].channel"),
        ({"rules": [{"channel": "sms"}]}, "channels.rules[0].where"),
        ({"rules": [{"channel": "sms", "where": {"a..b": "x"}}]}, "channels.rules[0].where.a..b"),
        (
            {"rules": [{"channel": "sms", "where": {"event": {"matches": "("}}}]},
            "channels.rules[0].where.event.matches",
        ),
        ({"rules": [{"channel": "sms", "where": {"event": {"like": "x"}}}]},
         "channels.rules[0].where.event"),
        ({"rules": [{"channel": "sms", "where": {"event": "x"}, "when": 1}]},
         "channels.rules[0].when"),
        ({"explicit": "properties.channel"}, "channels.explicit"),
        ({"replace_defaults": "yes"}, "channels.replace_defaults"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_with_its_path(config: Any, field: str) -> None:
    with pytest.raises(FieldError) as refused:
        ChannelRules.from_config(config)
    assert refused.value.field == field


_TEXT = st.sampled_from(
    ["cpc", "CPC", "email", "google", "facebook", "organic", "social", "display", "x", "app",
     "store", "Affiliate", "sms", "paid", "", "referral", "push"]
)  # fmt: skip
_URLS = st.sampled_from(
    ["https://www.google.com/", "https://www.bing.com/x", "http://user@facebook.com/",
     "https://news.example.com/a", "HTTPS://WWW.PINTEREST.COM/", "not a url", "https://",
     "https://shop.example/", "ftp://t.co/x"]
)  # fmt: skip
_SCALAR = st.one_of(_TEXT, st.integers(-5, 5), st.booleans(), st.none(), st.floats(0, 9))
_MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["page", "screen", "track", "identify"])},
    optional={
        "event": st.sampled_from(["Email Opened", "SMS Sent", "Order Completed", "push x"]),
        "properties": st.fixed_dictionaries(
            {}, optional={"channel": _SCALAR, "marketing_channel": _SCALAR}
        ),
        "context": st.fixed_dictionaries(
            {},
            optional={
                "campaign": st.one_of(
                    st.fixed_dictionaries(
                        {}, optional={"medium": _SCALAR, "source": _SCALAR, "channel": _SCALAR}
                    ),
                    st.just("not an object"),
                ),
                "page": st.fixed_dictionaries({}, optional={"referrer": _URLS, "url": _URLS}),
                "app": st.fixed_dictionaries({}, optional={"name": _SCALAR}),
            },
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_MESSAGES, st.one_of(st.none(), _TEXT)), min_size=1, max_size=20))
def test_sql_and_python_classify_alike(rows: list[tuple[dict[str, Any], str | None]]) -> None:
    rules = ChannelRules.default()
    assert sql_channels(rules, rows) == [rules.classify(m, s) for m, s in rows]
    assert all(c in CHANNELS for c in sql_channels(rules, rows))
