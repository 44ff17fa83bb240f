from pathlib import Path

import pytest

from kenning.ingest.mapping import Mapping, MappingError, row_to_message

ROW = {
    "customer_id": "C-1",
    "first_name": "Jane",
    "email": "JANE@example.com",
    "phone": "07700900123",
    "city": "Leeds",
    "spend": "12.50",
    "visits": "3",
    "postal_code": "01234",
    "created_at": "2024-05-06",
    "note": "",
}


def test_customers_become_identify_with_nested_traits_and_an_external_id() -> None:
    mapping = Mapping.from_dict(
        {
            "timestamp": "created_at",
            "traits": {
                "firstName": "first_name",
                "address.city": "city",
                "address.postalCode": "postal_code",
            },
            "only_mapped": True,
        }
    )
    message = row_to_message(
        ROW, mapping=mapping, kind="customers", source="crm", id_column="customer_id"
    )
    assert message["type"] == "identify"
    assert message["traits"] == {
        "firstName": "Jane",
        "address": {"city": "Leeds", "postalCode": "01234"},
    }
    assert message["timestamp"] == "2024-05-06T00:00:00Z"
    assert message["context"]["externalIds"] == [
        {"id": "C-1", "type": "crm_id", "collection": "users", "encoding": "none"}
    ]


def test_unmapped_columns_are_kept_and_numbers_typed_but_not_codes() -> None:
    message = row_to_message(
        ROW,
        mapping=Mapping().resolve_defaults(list(ROW)),
        kind="customers",
        source="crm",
        id_column=None,
    )
    traits = message["traits"]
    assert traits["spend"] == 12.5 and traits["visits"] == 3
    # leading zeros, phone numbers and ids stay text; empty values are left out
    assert traits["phone"] == "07700900123" and traits["postal_code"] == "01234"
    assert traits["customer_id"] == "C-1" and "note" not in traits
    assert "created_at" not in traits  # used as the timestamp


def test_orders_are_order_completed_tracks_with_literals() -> None:
    mapping = Mapping.from_dict(
        {"properties": {"total": "spend", "channel": "=store"}, "only_mapped": True}
    )
    message = row_to_message(
        ROW, mapping=mapping, kind="orders", source="pos", id_column="customer_id"
    )
    assert message["type"] == "track" and message["event"] == "Order Completed"
    assert message["properties"] == {"total": 12.5, "channel": "store"}


def test_message_ids_follow_the_row_content() -> None:
    mapping = Mapping()

    def message_id(row: dict[str, str]) -> str:
        return str(
            row_to_message(
                row, mapping=mapping, kind="customers", source="crm", id_column="customer_id"
            )["messageId"]
        )

    assert message_id(ROW) == message_id(dict(ROW))  # the same row again: a duplicate
    # an updated record, or a second line with the same id, is new information
    assert message_id(ROW) != message_id({**ROW, "email": "x@example.com"})
    other_source = row_to_message(
        ROW, mapping=mapping, kind="customers", source="shop", id_column=None
    )
    assert other_source["messageId"] != message_id(ROW)


def test_bad_mapping_files_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("traits: [a, b]\n")
    with pytest.raises(MappingError, match="traits must be an object"):
        Mapping.load(path)
    path.write_text("userid: x\n")
    with pytest.raises(MappingError, match="unknown mapping keys: userid"):
        Mapping.load(path)
    with pytest.raises(MappingError, match="cannot read mapping"):
        Mapping.load(tmp_path / "absent.yaml")


def test_segment_messages_and_kenning_exports_pass_through() -> None:
    message = {"type": "identify", "userId": "u1", "traits": {"email": "e@x.com"}}
    passed = row_to_message(message, mapping=Mapping(), kind="events", source="app", id_column=None)
    assert passed["traits"] == {"email": "e@x.com"} and passed["type"] == "identify"
    assert passed["messageId"].startswith("imp-events-")
    exported = {
        "seq": 4,
        "messageId": "m-1",
        "source": "web",
        "payload": {"type": "track", "event": "E", "userId": "u", "messageId": "m-1"},
    }
    assert (
        row_to_message(exported, mapping=Mapping(), kind="events", source="web", id_column=None)
        == exported["payload"]
    )
