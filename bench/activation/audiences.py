"""Fifty audiences of the kinds a brand declares, over the synthetic year's people.

One row each: trait comparisons, computed-trait thresholds, relative dates, event counts in
windows, consent, and combinations of ``all``/``any``/``not``, some reading other audiences.
The synthetic log covers 2025, so a window is given as "the last N days of the log"
(``log_days``): it reaches from now back into the log, and each audience holds about the same
share of people whenever the benchmark runs.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.profiles.synthetic import START

LOG_END = START + timedelta(days=365)
NORTH = ["Leeds", "York", "Manchester", "Sheffield", "Newcastle", "Liverpool"]


def log_days(days: int, now: datetime) -> str:
    """A window reaching ``days`` into the synthetic log from its end, as a duration from now."""
    return f"{max(0, (now - LOG_END).days) + days}d"


def conditions(now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Each audience's condition, by name, an audience after those it reads."""
    at = now or datetime.now(UTC)

    def w(days: int) -> str:
        return log_days(days, at)

    ordered = {"event": "Order Completed"}
    return {
        # traits
        "in_london": {"trait": "address.city", "eq": "London"},
        "northern_cities": {"trait": "address.city", "in": NORTH},
        "has_email": {"trait": "email", "exists": True},
        "has_phone": {"trait": "phone", "exists": True},
        "no_phone": {"trait": "phone", "exists": False},
        "birthday_this_week": {"trait": "birthday", "anniversary_within": "7d"},
        "birthday_this_month": {"trait": "birthday", "anniversary_within": "30d"},
        "born_before_1970": {"trait": "birthday", "lt": "1970-01-01"},
        "common_surnames": {"trait": "lastName", "in": ["Smith", "Jones", "Williams"]},
        "social_sign_up": {"trait": "provider", "in": ["google", "facebook", "apple"]},
        "org_addresses": {"trait": "email", "contains": "example.org"},
        "loyalty_members": {"trait": "loyalty_id", "exists": True},
        "crm_known": {"trait": "createdAt", "exists": True},
        # computed traits
        "high_value": {"computed": "lifetime_value", "gte": 500},
        "mid_value": {"all": [{"computed": "lifetime_value", "gte": 100},
                              {"computed": "lifetime_value", "lt": 500}]},
        "repeat_buyers": {"computed": "orders_count", "gte": 3},
        "never_ordered": {"computed": "orders_count", "eq": 0},
        "big_basket": {"computed": "average_order_value", "gt": 150},
        "multi_device": {"computed": "devices_count", "gte": 2},
        "email_engaged": {"computed": "channels_used", "contains": "email"},
        "app_first": {"computed": "preferred_channel", "eq": "app"},
        "store_shoppers": {"computed": "channels_used", "contains": "store"},
        "shoes_fans": {"computed": "favourite_category", "eq": "shoes"},
        "broad_browsers": {"computed": "categories_viewed", "gte": 4},
        "newsletter_readers": {"computed": "email_opens", "gte": 3},
        "one_big_order": {"computed": "biggest_order", "gte": 300},
        "points_collectors": {"computed": "points_earned", "gte": 200},
        # relative dates
        "recent_buyers": {"computed": "last_order_at", "within_last": w(60)},
        "lapsed_buyers": {"all": [{"computed": "orders_count", "gte": 1},
                                  {"computed": "last_order_at", "before_last": w(180)}]},
        "new_this_quarter": {"computed": "first_seen", "within_last": w(90)},
        "dormant": {"computed": "last_seen", "before_last": w(120)},
        "recent_openers": {"computed": "last_email_open_at", "within_last": w(30)},
        # events in windows
        "ordered_twice_lately": {**ordered, "within": w(90), "at_least": 2},
        "store_orders": {**ordered, "where": {"properties.channel": "store"}},
        "viewed_not_bought": {"all": [
            {"event": "Product Viewed", "within": w(30), "at_least": 3},
            {**ordered, "within": w(30), "performed": False}]},
        "cart_abandoners": {"all": [
            {"event": "Product Added", "within": w(14)},
            {"not": {**ordered, "within": w(14)}}]},
        "heavy_browsers": {"event": "Product Viewed", "at_least": 15},
        "shoes_viewers": {"event": "Product Viewed", "where": {"properties.category": "shoes"},
                          "within": w(60), "at_least": 2},
        "sms_clickers": {"event": "SMS Clicked"},
        "callers": {"event": "Call Completed", "within": w(90)},
        "big_orders_twice": {**ordered, "where": {"properties.revenue": {"gte": 100}},
                             "at_least": 2},
        "light_email_clickers": {"event": ["Email Link Clicked", "Email Opened"],
                                 "within": w(60), "at_least": 1, "at_most": 3},
        # consent
        "emailable": {"all": [{"consent": "marketing_email"}, {"trait": "email", "exists": True}]},
        "textable": {"all": [{"consent": "marketing_sms"}, {"trait": "phone", "exists": True}]},
        "no_advertising": {"consent": "advertising", "granted": False},
        # reading other audiences
        "vip": {"any": [{"audience": "high_value"},
                        {"all": [{"audience": "repeat_buyers"}, {"audience": "recent_buyers"}]}]},
        "vip_emailable": {"all": [{"audience": "vip"}, {"audience": "emailable"}]},
        "winback": {"all": [{"audience": "lapsed_buyers"}, {"not": {"audience": "vip"}},
                            {"consent": "marketing_email"}]},
        "city_spenders": {"all": [{"any": [{"audience": "in_london"},
                                           {"audience": "northern_cities"}]},
                                  {"computed": "lifetime_value", "gte": 250}]},
        "birthday_offer": {"all": [{"audience": "birthday_this_month"},
                                   {"any": [{"audience": "emailable"}, {"audience": "textable"}]},
                                   {"not": {"audience": "never_ordered"}}]},
    }  # fmt: skip


# The reference: one audience reading one trait, through the same evaluation.
TRIVIAL = {"trait": "email", "exists": True}
