from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from kenning.spec.limits import Limits
from kenning.spec.messages import InvalidMessage, validate_message

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def check(raw: object, **kwargs: Any) -> Any:
    return validate_message(
        raw, received_at=NOW, limits=Limits(), generated_message_id="gen", **kwargs
    )


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ([], "invalid_message", None),
        ({"userId": "u"}, "missing_field", "type"),
        ({"type": "purchase", "userId": "u"}, "invalid_type", "type"),
        ({"type": "identify"}, "missing_identity", "userId"),
        ({"type": "identify", "userId": ""}, "missing_identity", "userId"),
        ({"type": "track", "userId": "u"}, "missing_field", "event"),
        ({"type": "track", "userId": "u", "event": ""}, "missing_field", "event"),
        ({"type": "group", "anonymousId": "a"}, "missing_field", "groupId"),
        ({"type": "alias", "anonymousId": "a", "previousId": "p"}, "missing_identity", "userId"),
        ({"type": "identify", "userId": "u", "traits": "x"}, "invalid_field", "traits"),
        ({"type": "identify", "userId": "u", "context": 3}, "invalid_field", "context"),
        ({"type": "identify", "userId": {"a": 1}}, "invalid_field", "userId"),
        # JSON has no infinity (orjson writes null): not an id an import may pass on
        ({"type": "identify", "userId": float("inf")}, "invalid_field", "userId"),
        (
            {"type": "identify", "userId": "u", "anonymousId": float("nan")},
            "invalid_field",
            "anonymousId",
        ),
        ({"type": "identify", "userId": "u", "sentAt": "soon"}, "invalid_field", "sentAt"),
        (
            {"type": "identify", "userId": "u", "messageId": "x" * 100},
            "message_id_too_long",
            "messageId",
        ),
        (
            {"type": "identify", "userId": "u", "traits": {"x": "y" * 33_000}},
            "event_too_large",
            None,
        ),
    ],
)
def test_invalid_messages(raw: object, code: str, field: str | None) -> None:
    with pytest.raises(InvalidMessage) as caught:
        check(raw)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_valid_track_keeps_the_raw_payload() -> None:
    raw = {
        "type": "track",
        "userId": 42,
        "event": "Order Completed",
        "messageId": "m1",
        "properties": {"total": 1},
        "somethingNew": {"a": [1]},
    }
    valid = check(raw)
    assert valid.user_id == "42"  # numeric ids become strings, as in Segment
    assert valid.event == "Order Completed"
    assert valid.message_id == "m1"
    assert orjson.loads(valid.payload) == raw


def test_page_name_is_the_event_column() -> None:
    assert check({"type": "page", "anonymousId": "a", "name": "Home"}).event == "Home"


def test_missing_message_id_is_generated() -> None:
    assert check({"type": "identify", "userId": "u"}).message_id == "gen"


def test_external_ids_suffice_only_when_allowed() -> None:
    record = {"type": "identify", "context": {"externalIds": [{"id": "1", "type": "crm_id"}]}}
    with pytest.raises(InvalidMessage):
        check(record)
    assert check(record, require_user_or_anonymous_id=False).user_id is None
