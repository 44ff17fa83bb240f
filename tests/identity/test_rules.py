from datetime import timedelta

import pytest

from kenning.identity.rules import IdentityRules, Limit, RulesError


def test_defaults_are_segments() -> None:
    rules = IdentityRules()
    assert rules.limit("user_id") == Limit(1)
    assert rules.limit("email") == Limit(5, timedelta(days=365))
    assert rules.limit("anonymous_id") == Limit(5, timedelta(days=7))
    assert rules.limit("loyalty_id") == Limit(5)
    assert rules.rank("user_id") < rules.rank("email") < rules.rank("phone")
    assert rules.rank("anonymous_id") < rules.rank("crm_id")


def test_from_config() -> None:
    rules = IdentityRules.from_config(
        {
            "phone_region": "GB",
            "blocked_extra": ["^guest-"],
            "limits": {"email": {"count": 2, "window_days": 30}, "loyalty_id": {"count": 1}},
            "priority": ["user_id", "loyalty_id", "email"],
            "max_identifiers_per_profile": 9,
            "custom": {"loyalty_id": ["traits.loyalty"]},
        }
    )
    assert rules.is_blocked("guest-123") and not rules.is_blocked("real-1")
    assert rules.is_blocked("undefined")  # the defaults still apply
    assert rules.limit("email") == Limit(2, timedelta(days=30))
    assert rules.limit("loyalty_id") == Limit(1)
    assert rules.rank("loyalty_id") == 1
    assert rules.custom == {"loyalty_id": ("traits.loyalty",)}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"limit": {}}, "unknown identity settings: limit"),
        ({"limits": {"email": {"count": "five"}}}, "identity.limits.email needs an integer"),
        ({"blocked": ["("]}, "invalid pattern"),
    ],
)
def test_bad_config_is_reported(config: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        IdentityRules.from_config(config)
