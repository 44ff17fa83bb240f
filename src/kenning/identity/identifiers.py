"""Reading identifiers out of a message, normalised so the same person's values compare equal."""

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

import phonenumbers

from kenning.identity.rules import IdentityRules


class Identifier(NamedTuple):
    """A typed identifier value. A tuple, so hashing it (the hot path) is C code."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> "Identifier":
        """``email:jane@example.com`` -> Identifier("email", "jane@example.com")."""
        type_, sep, value = text.partition(":")
        if not sep or not type_ or not value:
            raise ValueError(f"{text!r} is not TYPE:VALUE")
        return cls(type_, value)


def normalise_email(value: str) -> str | None:
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    return email if at and local and "." in domain else None


# A phone written with digits, one leading plus and spacing alone parses as its bare digits
# do (a property test holds it to that), so the ways one number is spaced ("07700 900123",
# "07700-900-123") are parsed once: parsing is most of a rebuild's normalising.
_SPACED_PHONE = re.compile(r"\+?[0-9 ()\-.]*")
_SPACING = str.maketrans("", "", " ()-.")


def normalise_phone(value: str, region: str) -> str | None:
    """E.164 (``+447700900123``), or None when the text is not a possible number."""
    if _SPACED_PHONE.fullmatch(value):
        bare = value.translate(_SPACING)
        if len(bare) - bare.startswith("+") >= 3:  # fewer digits parse apart from spaced
            value = bare
    return _parsed_phone(value, region)


@lru_cache(maxsize=65_536)
def _parsed_phone(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(type_: str, raw: object, rules: IdentityRules) -> str | None:
    """The canonical text of a value of ``type_``, or None if it identifies nobody."""
    if type(raw) is not str:  # text is the common case: it skips the checks below
        if isinstance(raw, bool) or raw is None:
            return None
        if isinstance(raw, int | float):
            raw = str(int(raw)) if float(raw).is_integer() else str(raw)
        if not isinstance(raw, str):
            return None
    value: str | None = raw.strip()
    if type_ == "email":
        value = normalise_email(raw)
    elif type_ == "phone":
        value = normalise_phone(raw, rules.phone_region)
    if not value or rules.is_blocked(value):
        return None
    return value


def _dig(message: Mapping[str, Any], parts: tuple[str, ...]) -> object:
    """The value at a path (its keys), or None where a key is missing or not in a mapping."""
    node: object = message
    for part in parts:
        # Parsed JSON is dicts: checking for one first spares the ABC check, which was the
        # slowest part of reading a message's identifiers.
        if type(node) is not dict and not isinstance(node, Mapping):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


# The fixed places identifiers are read from, in reading order: (dotted path, type, whether
# only identify calls count there). log_links reads the same places in bulk, from this table.
# A place added here needs a migration that sets __kenning_events.other_identifiers back to
# NULL: the events stored before were judged without it (see holds_other_identifiers).
FIXED_PLACES: tuple[tuple[str, str, bool], ...] = (
    ("userId", "user_id", False),
    ("anonymousId", "anonymous_id", False),
    ("context.traits.email", "email", False),
    ("context.traits.phone", "phone", False),
    ("traits.email", "email", True),
    ("traits.phone", "phone", True),
    ("context.device.id", "device_id", False),
    ("context.device.advertisingId", "advertising_id", False),
    ("context.device.token", "push_token", False),
)


# The same places with their paths split once, by the calls they are read in.
_IDENTIFY_PLACES = tuple((tuple(dotted.split(".")), type_) for dotted, type_, _ in FIXED_PLACES)
_OTHER_PLACES = tuple(
    (tuple(dotted.split(".")), type_)
    for dotted, type_, identify_only in FIXED_PLACES
    if not identify_only
)


# Where else than the log's user_id and anonymous_id columns a message can carry an
# identifier (custom paths aside): the other fixed places, externalIds, an alias's previousId.
_BEYOND_ID_COLUMNS = (
    *(parts for parts, _ in _IDENTIFY_PLACES if parts not in (("userId",), ("anonymousId",))),
    ("context", "externalIds"),
    ("previousId",),
)

# The same paths as a tree of keys (a leaf is None), so that a message is walked once: each key
# is looked up once however many paths pass through it (a quarter of the time of one walk a
# path, at every event received).
_PathTree = dict[str, "_PathTree | None"]


def _path_tree(paths: Iterable[tuple[str, ...]]) -> _PathTree:
    tree: _PathTree = {}
    for parts in paths:
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            assert child is not None, "a path is a prefix of another"
            node = child
        assert parts[-1] not in node, "a path is a prefix of another"
        node[parts[-1]] = None
    return tree


_BEYOND_ID_COLUMNS_TREE = _path_tree(_BEYOND_ID_COLUMNS)


def _holds_any(node: object, tree: _PathTree) -> bool:
    """Whether ``node`` has a value (not None) at any path of ``tree``."""
    if type(node) is not dict and not isinstance(node, Mapping):
        return False
    for key, below in tree.items():
        value = node.get(key)
        if value is not None and (below is None or _holds_any(value, below)):
            return True
    return False


def other_identifiers_hint_applies(rules: IdentityRules) -> bool:
    """Whether ``holds_other_identifiers`` answers for these rules: it knows the fixed places,
    not the custom paths a configuration adds, so under those every payload is read."""
    return not rules.custom


def holds_other_identifiers(message: Mapping[str, Any]) -> bool:
    """Whether a message has a value where an identifier is read, beyond its userId and
    anonymousId (custom paths aside). The log keeps the answer with each event, so that under
    rules without custom paths a rebuild parses only the payloads that have (a third of them
    on the synthetic brand's events) and reads the rest's identifiers from its two id
    columns."""
    return _holds_any(message, _BEYOND_ID_COLUMNS_TREE)


def id_identifiers(
    user_id: str | None, anonymous_id: str | None, rules: IdentityRules
) -> list[Identifier]:
    """``extract_identifiers`` of a message holding only these two ids (as the log's columns
    keep them: numbers already written as text)."""
    # Written out for the two types rather than looped and sorted: it runs for most events
    # received (half the time of the loop and the sort).
    user = normalise("user_id", user_id, rules) if user_id is not None else None
    anonymous = normalise("anonymous_id", anonymous_id, rules) if anonymous_id is not None else None
    if user is None:
        return [] if anonymous is None else [Identifier("anonymous_id", anonymous)]
    if anonymous is None:
        return [Identifier("user_id", user)]
    pair = [Identifier("user_id", user), Identifier("anonymous_id", anonymous)]
    # As _by_priority orders them: by rank, a tie keeping the user id first.
    return pair if rules.rank("user_id") <= rules.rank("anonymous_id") else pair[::-1]


def _by_priority(found: list[Identifier], rules: IdentityRules) -> list[Identifier]:
    """``found``, most important first; ties keep the reading order (the sort is stable)."""
    if len(found) > 1:
        found.sort(key=lambda i: rules.rank(i.type))
    return found


def _raw_identifiers(
    message: Mapping[str, Any], rules: IdentityRules
) -> Iterator[tuple[str, object]]:
    """Each (type, raw value) at an identifier's place, in reading order."""
    places = _IDENTIFY_PLACES if message.get("type") == "identify" else _OTHER_PLACES
    for parts, type_ in places:
        yield type_, _dig(message, parts)
    external = _dig(message, ("context", "externalIds"))
    if isinstance(external, list):
        for entry in external:
            if isinstance(entry, Mapping) and isinstance(entry.get("type"), str):
                yield entry["type"], entry.get("id")
    for type_, paths in rules.custom.items():
        for path in paths:
            yield type_, _dig(message, tuple(path.split(".")))


def extract_identifiers(message: Mapping[str, Any], rules: IdentityRules) -> list[Identifier]:
    """Every distinct usable identifier of a message, most important first.

    >>> from kenning.identity.rules import IdentityRules
    >>> [str(i) for i in extract_identifiers({"type": "identify", "userId": "u1",
    ...     "traits": {"email": " Jane@Example.COM "}, "anonymousId": "null"}, IdentityRules())]
    ['user_id:u1', 'email:jane@example.com']
    """
    found: list[Identifier] = []
    for type_, raw in _raw_identifiers(message, rules):
        if raw is None:
            continue
        value = normalise(type_, raw, rules)
        if value is not None:
            identifier = Identifier(type_, value)
            if identifier not in found:  # a message holds a handful: a list beats a set
                found.append(identifier)
    return _by_priority(found, rules)
