"""The coverage report on a real store, against a brute-force count over every profile as the
Profile API reads it: traits (and the source of each winning value), computed traits, consent,
identifier types, households, the understanding levels; the parts add up."""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from kenning.identity.households import compute_households
from kenning.identity.identifiers import extract_identifiers
from kenning.identity.rules import IdentityRules
from kenning.identity.unmerge import record_override
from kenning.profiles.coverage import coverage
from kenning.profiles.read import find_profile, profile
from kenning.profiles.state import ProfileSettings
from kenning.store.events import iter_identities
from kenning.store.store import Store
from tests.profiles.test_state import send
from tests.profiles.test_understanding import CASES, identify, order, page

LATER = "2026-04-01T00:00:00Z"
COUNTING = {"count", "sum", "unique_count", "unique_list"}
# The default rules, written out again (docs/understanding.md)
DEMOGRAPHIC = {"birthday", "age", "gender", "address.city", "address.postalCode", "address.country"}
SOCIAL = {"social", "twitter", "instagram", "facebook", "tiktok", "linkedin", "youtube"}


def consent(ids: dict[str, str], at: str, **choices: bool) -> dict[str, Any]:
    return {
        "type": "track",
        **ids,
        "event": "Preferences Saved",
        "context": {"consent": {"categoryPreferences": choices}},
        "timestamp": at,
    }


HOME = {"street": "1 Elm Rd", "postalCode": "LS1 1AA", "city": "Leeds"}
# A small brand, sent in this order: the understanding cases, then customers over three more
# sources: values overwritten and cleared, consent changed, merges, sums that cancel, addresses
# shared.
BRAND: list[tuple[str, list[dict[str, Any]]]] = [
    ("cases", [message for messages, _, _ in CASES.values() for message in messages]),
    ("crm", [
        identify({"userId": "c1"}, email="ann@example.com", firstName="Ann", address=HOME),
        identify({"userId": "c2"}, email="bob@example.com", lastName="Bo", birthday="1970-01-01"),
        identify({"userId": "c3"}, phone="+44 7700 900001", birthday="2015-06-01"),
    ]),
    ("web", [
        # newer than the CRM's: the web wins Ann's city; Bob's birthday is cleared
        {**identify({"userId": "c1"}, address={"city": "York"}), "timestamp": LATER},
        {**identify({"userId": "c2"}, birthday=None, address=HOME), "timestamp": LATER},
        consent({"userId": "c1"}, "2026-03-01T00:00:00Z", marketing_email=True, analytics=True),
        consent({"userId": "c1"}, "2026-03-05T00:00:00Z", marketing_email=False),
        order({"userId": "c1"}, "web"),
        {**order({"userId": "c2"}), "properties": {"revenue": 0}},
        page({"anonymousId": "w-9"}),
        page({"userId": "c1", "anonymousId": "ann-laptop"}),
    ]),
    ("app", [
        {**identify({"userId": "c3"}, address=HOME), "timestamp": "2026-04-02T00:00:00Z"},
        consent({"userId": "c3", "anonymousId": "w-9"}, "2026-03-02T00:00:00Z", analytics=False),
        {**order({"userId": "c3"}), "properties": {"revenue": 5}},
        {**order({"userId": "c3"}), "properties": {"revenue": -5}},
        identify({"anonymousId": "lonely"}, address={"street": "9 Oak St", "city": "Hull"}),
        {**page({"userId": "c1", "anonymousId": "ann-phone"}), "timestamp": LATER},
    ]),
]  # fmt: skip


def load_brand(store: Store) -> None:
    for name, messages in BRAND:
        found = store.sources.by_name(name)
        source = found.id if found else store.sources.create(name).source.id
        for message in messages:  # one group per message, as events arrive
            send(store, message, source=source)


def _leaf(traits: dict[str, Any], path: str) -> Any:
    value: Any = traits
    for part in path.split("."):
        value = value[part]
    return value


def _blank(value: Any) -> bool:
    return value in (None, "", [], {}) or (isinstance(value, str) and value.strip(" ") == "")


def brute_force(
    read: Callable[[int], dict[str, Any]],
    identity_rows: Iterable[dict[str, Any]],
    events: Iterable[dict[str, Any]],
    kinds: dict[str, str],
    rules: IdentityRules | None = None,
) -> dict[str, Any]:
    """Every count the report gives, from each profile (those of the exported identity graph)
    as the Profile API reads it (``read``), the exported event log (which source carried each
    identifier first), and the kind of each computed trait."""
    profile_ids = sorted({int(row["profile_id"]) for row in identity_rows})
    first_carried: dict[str, tuple[int, str]] = {}
    for event in sorted(events, key=lambda e: int(e["seq"])):
        for identifier in extract_identifiers(event["payload"], rules or IdentityRules()):
            first_carried.setdefault(str(identifier), (int(event["seq"]), event["source"]))
    traits: dict[str, Counter[str]] = defaultdict(Counter)
    computed: Counter[str] = Counter()
    decided: dict[str, Counter[str]] = defaultdict(Counter)
    granted: dict[str, Counter[str]] = defaultdict(Counter)
    identifiers: dict[str, Counter[str]] = defaultdict(Counter)
    levels: Counter[int] = Counter()
    met: Counter[str] = Counter()
    for profile_id in profile_ids:
        found = read(profile_id)
        present = {
            path: meta["source"]
            for path, meta in found["trait_sources"].items()
            if not _blank(_leaf(found["traits"], path))
        }
        for path, source in present.items():
            traits[path][source] += 1
        for name, value in found["computed_traits"].items():
            if kinds[name] not in COUNTING or value not in (0, []):
                computed[name] += 1
        for category, choice in found["consent"].items():
            decided[category][choice["source"]] += 1
            granted[category][choice["source"]] += choice["granted"]
        types = {i["type"] for i in found["identities"]}
        for kind in types:
            held = [f"{kind}:{i['value']}" for i in found["identities"] if i["type"] == kind]
            identifiers[kind][min(first_carried[i] for i in held)[1]] += 1
        levels[found["understanding"]["level"]] += 1
        values = found["computed_traits"]
        covered = [p.split(".")[0] for p in present] + list(present)
        met.update(
            name
            for name, holds in {
                "contact": bool(types & {"email", "phone", "user_id"}),
                "name": bool({"firstName", "lastName", "name"} & set(present)),
                "demographics": bool(DEMOGRAPHIC & set(present)),
                "transactional_or_social": values.get("orders_count", 0) >= 1
                or bool(SOCIAL & set(covered)),
                "behavioural": len(values.get("channels_used", [])) >= 2,
            }.items()
            if holds
        )
    return {
        "profiles": len(profile_ids),
        "traits": {t: dict(by) for t, by in traits.items()},
        "computed_traits": {n: computed[n] for n in kinds},
        "decided": {c: dict(by) for c, by in decided.items()},
        "granted": {c: dict(by) for c, by in granted.items()},
        "identifiers": {t: dict(by) for t, by in identifiers.items()},
        "levels": [levels[level] for level in range(5)],
        "requirements": dict(met),
    }


def store_brute_force(store: Store, rules: IdentityRules | None = None) -> dict[str, Any]:
    rows = [orjson.loads(line) for line in b"".join(iter_identities(store, "jsonl")).splitlines()]
    events = [orjson.loads(line) for line in b"".join(store.events.iter_jsonl()).splitlines()]
    kinds = {d.name: d.kind.value for d in store.computed.definitions.values()}
    return brute_force(lambda profile_id: profile(store, profile_id), rows, events, kinds, rules)


def counts(report: dict[str, Any]) -> dict[str, Any]:
    """The report's counts in ``brute_force``'s shape (every share checked on the way)."""
    total = report["profiles"]

    def n(entry: dict[str, Any]) -> int:
        assert entry["share"] == round(entry["profiles"] / total, 4)
        return int(entry["profiles"])

    def by_source(entry: dict[str, Any]) -> dict[str, int]:
        sources = {s: n(e) for s, e in entry["by_source"].items()}
        assert sum(sources.values()) == n(entry)  # the sources' shares add up
        return sources

    consent = report["consent"]
    return {
        "profiles": total,
        "traits": {t: by_source(e) for t, e in report["traits"].items()},
        "computed_traits": {name: n(e) for name, e in report["computed_traits"].items()},
        "decided": {c: {s: n(e["decided"]) for s, e in v["by_source"].items()} for c, v in
                    consent.items()},
        "granted": {c: {s: n(e["granted"]) for s, e in v["by_source"].items()} for c, v in
                    consent.items()},
        "identifiers": {t: by_source(e) for t, e in report["identifiers"].items()},
        "levels": [n(level) for level in report["understanding"]["levels"]],
        "requirements": {
            r["requirement"]: n(r) for r in report["understanding"]["requirements"] if n(r)
        },
    }  # fmt: skip


def test_the_report_equals_a_brute_force_count_over_every_profile(store: Store) -> None:
    load_brand(store)
    report = coverage(store)
    assert counts(report) == store_brute_force(store)
    levels = report["understanding"]["levels"]
    assert sum(level["profiles"] for level in levels) == report["profiles"]
    # what the brand says, literally
    # Ann's York and Bob's Leeds, newer than the CRM's
    assert report["traits"]["address.city"]["by_source"]["web"]["profiles"] == 2
    # Bob's birthday was cleared; the child's, from the CRM, stays
    assert report["traits"]["birthday"]["by_source"]["crm"]["profiles"] == 1
    computed = report["computed_traits"]
    assert computed["lifetime_value"]["counts"] == "non-zero"
    assert computed["orders_count"]["profiles"] - computed["lifetime_value"]["profiles"] == 2
    assert report["consent"]["marketing_email"]["decided"]["profiles"] == 1
    assert report["consent"]["marketing_email"]["granted"]["profiles"] == 0  # withdrawn


def test_households_and_their_composition(store: Store) -> None:
    load_brand(store)
    empty = coverage(store)["households"]
    assert empty["in_a_household"] == {"profiles": 0, "share": 0.0}
    compute_households(store)
    report = coverage(store)
    total = report["profiles"]
    # Ann (no birthday), Bob (birthday cleared, but households keep the latest one stated)
    # and the child share 1 Elm Rd; the lonely profile lives alone, age unknown.
    with store.reader() as con:
        rows = con.execute(
            "SELECT profile_id, household_size, household_age_unknown FROM kenning_household_traits"
        ).fetchall()
    assert len(rows) == 4
    assert report["households"] == {
        "in_a_household": {"profiles": 4, "share": round(4 / total, 4)},
        "sharing_a_household": {"profiles": 3, "share": round(3 / total, 4)},
        "composition_known": {
            "profiles": sum(1 for _, _, unknown in rows if unknown == 0),
            "share": round(sum(1 for _, _, unknown in rows if unknown == 0) / total, 4),
        },
    }


def test_merges_and_unmerges_count_each_person_once(store: Store) -> None:
    load_brand(store)
    before = coverage(store)
    # the web visitor w-9 was merged into c3 by the consent event; split them again
    c3 = find_profile(store, "user_id:c3")
    assert c3 is not None and profile(store, c3)["merged_ids"]
    record_override(store, "detach", "anonymous_id:w-9")
    after = coverage(store)
    assert after["profiles"] == before["profiles"] + 1
    assert counts(after) == store_brute_force(store)
    # sources appear by name, never by id
    assert all(not s.startswith("src_") for e in after["traits"].values() for s in e["by_source"])


def test_a_trusted_sources_older_values_are_the_winners_it_is_credited_with(
    tmp_path: Path,
) -> None:
    settings = ProfileSettings(source_priority=("crm",))
    with Store.open(tmp_path / "k.duckdb", profiles=settings) as store:
        load_brand(store)
        crm, web = (store.sources.by_name(n) for n in ("crm", "web"))
        assert crm is not None and web is not None
        send(
            store,
            consent({"userId": "c1"}, "2026-01-01T00:00:00Z", marketing_email=True),
            # two profiles' choices, combined when they merge
            consent({"anonymousId": "kiosk"}, "2026-01-01T00:00:00Z", sms=True),
            {**identify({"anonymousId": "kiosk"}, gender="f"), "timestamp": "2026-01-01T00:00:00Z"},
            source=crm.id,
        )
        send(
            store,
            consent({"userId": "c9"}, "2026-03-01T00:00:00Z", sms=False),
            identify({"userId": "c9"}, gender="m"),
            page({"userId": "c9", "anonymousId": "kiosk"}),
            source=web.id,
        )
        report = coverage(store)
        assert counts(report) == store_brute_force(store)
        # the CRM's older city (Ann's) and marketing choice win over the web's newer ones
        cities = report["traits"]["address.city"]["by_source"]
        assert (cities["crm"]["profiles"], cities["web"]["profiles"]) == (1, 1)
        email = report["consent"]["marketing_email"]
        assert email["granted"]["profiles"] == 1
        assert email["by_source"] == {
            "crm": {"decided": email["decided"], "granted": email["granted"]}
        }
        assert report["consent"]["sms"]["by_source"]["crm"]["granted"]["profiles"] == 1
        assert report["traits"]["gender"]["by_source"]["crm"]["profiles"] == 1


def test_an_empty_store_reports_nothing_and_divides_by_nothing(store: Store) -> None:
    report = coverage(store)
    assert report["profiles"] == 0
    assert report["traits"] == report["consent"] == report["identifiers"] == {}
    assert report["computed_traits"]["orders_count"] == {
        "kind": "count",
        "counts": "non-zero",
        "profiles": 0,
        "share": 0.0,
    }
    assert [level["profiles"] for level in report["understanding"]["levels"]] == [0] * 5
