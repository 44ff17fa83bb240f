"""Next best channel on a real store: the best response rate among consented channels, rates
shrunk towards everyone's, no channel without consent."""

from datetime import timedelta
from typing import Any

import pytest

from kenning.journeys.settings import JourneySettings
from kenning.predictions.next_channel import PRIOR_SENDS
from kenning.predictions.run import run_predictions
from kenning.predictions.settings import PredictionSettings
from kenning.store.store import Store
from tests.predictions.test_run import AS_OF, scores_of, store, write

__all__ = ["store"]


def sends(who: str, event: str, n: int) -> list[dict[str, Any]]:
    return [{"type": "track", "userId": who, "event": event,
             "timestamp": (AS_OF - timedelta(days=1 + i)).isoformat()}
            for i in range(n)]  # fmt: skip


def consent(who: str, **granted: bool) -> dict[str, Any]:
    """``who``'s choices; each person here lets themselves be profiled (predictions need it)."""
    preferences = {"personalisation": True, **granted}
    return {"type": "identify", "userId": who, "timestamp": AS_OF.isoformat(),
            "context": {"consent": {"categoryPreferences": preferences}}}  # fmt: skip


def test_the_best_consented_channel_wins(store: Store) -> None:
    messages = [
        # a reader of emails who also clicks texts, more: sms wins
        *sends("both", "Email Sent", 10), *sends("both", "Email Opened", 3),
        *sends("both", "SMS Sent", 10), *sends("both", "SMS Clicked", 8),
        consent("both", marketing_email=True, marketing_sms=True),
        # the same engagement, but no consent to texts: email
        *sends("no_sms", "Email Sent", 10), *sends("no_sms", "Email Opened", 3),
        *sends("no_sms", "SMS Sent", 10), *sends("no_sms", "SMS Clicked", 8),
        consent("no_sms", marketing_email=True, marketing_sms=False),
        # never messaged, consents to both: everyone's rates decide
        consent("new", marketing_email=True, marketing_sms=True),
        # engaged, consented to nothing
        *sends("silent", "Email Sent", 4), *sends("silent", "Email Opened", 4),
        consent("silent", marketing_email=False),
    ]  # fmt: skip
    write(store, messages)
    ran = run_predictions(store, PredictionSettings(), JourneySettings(),
                          models=["next_channel"], as_of=AS_OF)  # fmt: skip
    report = ran["models"]["next_channel"]
    email_rate = (3 + 3 + 4) / (10 + 10 + 4)
    sms_rate = (8 + 8) / 20
    assert report["channels"]["email"]["overall_rate"] == pytest.approx(email_rate)
    assert report["channels"]["sms"]["overall_rate"] == pytest.approx(sms_rate)
    both = scores_of(store, "both")
    assert both["next_best_channel"] == "sms"
    assert both["response_rate_email"] == pytest.approx(
        (3 + PRIOR_SENDS * email_rate) / (10 + PRIOR_SENDS)
    )
    assert scores_of(store, "no_sms")["next_best_channel"] == "email"
    new = scores_of(store, "new")
    assert new["next_best_channel"] == "sms"  # everyone answers texts more
    assert new["response_rate_sms"] == pytest.approx(sms_rate)
    assert "next_best_channel" not in scores_of(store, "silent")
    assert report["chosen"] == {"email": 1, "sms": 2}
