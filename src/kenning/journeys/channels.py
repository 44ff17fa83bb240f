"""The channel each event came through: the taxonomy and the rules that decide it.

Every event is classified into one of fourteen channels, in this order of evidence:

1. an explicit channel: the first of ``explicit`` paths (``properties.marketing_channel``,
   ``context.campaign.channel``, ``properties.channel``) whose value names a channel;
2. the rules, first match wins: the brand's own rules (configuration) before the built-in
   ones, which read the source (a POS source is the store), the event (``Email Opened`` is
   email), UTM parameters (``context.campaign.medium`` and ``source``) and the referrer's host
   (a search engine is organic search, a social network organic social, another site a
   referral);
3. ``app`` for a screen or an app's event without other evidence, else ``direct``.

A rule is data: ``{channel: paid_search, where: {context.campaign.medium: [cpc, ppc]}}``.
Each ``where`` entry tests one field, as text compared without case: a value or a list of
values (equals one), ``{matches: regex}`` (the whole text matches), ``{exists: bool}``. All
entries must hold. Fields are dotted paths into the message, or one of: ``source`` (the
source's name), ``event``, ``type``, ``referrer_host`` and ``page_host`` (the host of
``context.page.referrer`` / ``context.page.url``, without ``www.``) and
``external_referrer_host`` (the referrer's host when it is not the page's own).

The same rules run in SQL (``ChannelRules.sql``, for a whole log) and in Python
(``ChannelRules.classify``, for one message); the tests hold the two to the same answers.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kenning.errors import FieldError
from kenning.profiles.computed.batch import json_path


class Channel(StrEnum):
    PAID_SEARCH = "paid_search"
    ORGANIC_SEARCH = "organic_search"
    PAID_SOCIAL = "paid_social"
    ORGANIC_SOCIAL = "organic_social"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    DISPLAY = "display"
    AFFILIATE = "affiliate"
    REFERRAL = "referral"
    DIRECT = "direct"
    STORE = "store"
    CALL_CENTRE = "call_centre"
    APP = "app"


CHANNELS = tuple(c.value for c in Channel)
# Fields that are not paths into the message.
SOURCE, EVENT, TYPE = "source", "event", "type"
REFERRER_HOST, PAGE_HOST = "referrer_host", "page_host"
EXTERNAL_REFERRER_HOST = "external_referrer_host"  # a referrer from another site than the page
DERIVED = frozenset({SOURCE, EVENT, TYPE, REFERRER_HOST, PAGE_HOST, EXTERNAL_REFERRER_HOST})
_HOST_OF = {REFERRER_HOST: "context.page.referrer", PAGE_HOST: "context.page.url"}
# The host of an absolute URL, read the same way in SQL and in Python.
_URL_HOST = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#:@]+)")
_PATH = re.compile(r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$")

DEFAULT_EXPLICIT = (
    "properties.marketing_channel",
    "context.campaign.channel",
    "properties.channel",
)

_SEARCH_ENGINES = (
    r"(.+\.)?(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia|qwant|startpage)(\.[a-z.]+)"
)
_SOCIAL_NETWORKS = (
    r"(.+\.)?(facebook|fb|instagram|twitter|x|t|linkedin|lnkd|pinterest|tiktok|reddit|youtube"
    r"|snapchat|threads|whatsapp)\.(com|co|net|in)(\.[a-z]+)?"
)
_SOCIAL_SOURCES = (
    r"facebook|fb|instagram|ig|meta|twitter|x|linkedin|pinterest|tiktok|reddit|youtube|snapchat"
)
# The built-in rules, after the brand's own. Sends (Email Sent, SMS Sent) are classified too:
# whether an event is a touch is the touchpoints' decision, not the channel's.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"channel": "store", "where": {"source": ["pos", "store", "stores", "retail"]}},
    {"channel": "call_centre", "where": {"source": ["call-centre", "call_centre", "callcentre",
                                                   "call-center", "call_center", "callcenter"]}},
    {"channel": "email", "where": {"event": {"matches": r"email .*"}}},
    {"channel": "sms", "where": {"event": {"matches": r"sms .*"}}},
    {"channel": "push", "where": {"event": {"matches": r"push .*"}}},
    {"channel": "call_centre", "where": {"event": {"matches": r"call .*"}}},
    # A social network's own ad buys, whatever medium the brand tagged them with.
    {"channel": "paid_social", "where": {"context.campaign.medium": [
        "paid_social", "paidsocial", "paid-social", "social_paid", "social-paid", "social-ads"]}},
    {"channel": "paid_social", "where": {"context.campaign.medium": ["cpc", "ppc", "cpm", "paid"],
                                         "context.campaign.source": {"matches": _SOCIAL_SOURCES}}},
    {"channel": "paid_search", "where": {"context.campaign.medium": [
        "cpc", "ppc", "paid_search", "paidsearch", "paid-search", "sem"]}},
    {"channel": "display", "where": {"context.campaign.medium": [
        "display", "banner", "cpm", "programmatic", "retargeting"]}},
    {"channel": "affiliate", "where": {"context.campaign.medium": ["affiliate", "affiliates"]}},
    {"channel": "email", "where": {"context.campaign.medium": ["email", "e-mail", "newsletter"]}},
    {"channel": "sms", "where": {"context.campaign.medium": ["sms", "text"]}},
    {"channel": "push", "where": {"context.campaign.medium": ["push", "notification"]}},
    {"channel": "organic_search", "where": {"context.campaign.medium": ["organic"]}},
    {"channel": "organic_social", "where": {"context.campaign.medium": [
        "social", "social-network", "social-media", "sm", "organic_social"]}},
    {"channel": "referral", "where": {"context.campaign.medium": ["referral"]}},
    {"channel": "email", "where": {"source": ["email", "esp", "newsletter"]}},
    {"channel": "sms", "where": {"source": ["sms"]}},
    {"channel": "push", "where": {"source": ["push"]}},
    {"channel": "organic_search", "where": {"referrer_host": {"matches": _SEARCH_ENGINES}}},
    {"channel": "organic_social", "where": {"referrer_host": {"matches": _SOCIAL_NETWORKS}}},
    {"channel": "referral", "where": {"external_referrer_host": {"exists": True}}},
    {"channel": "app", "where": {"type": "screen"}},
    {"channel": "app", "where": {"context.app.name": {"exists": True}}},
    {"channel": "app", "where": {"source": ["app", "ios", "android", "mobile"]}},
)  # fmt: skip


@dataclass(frozen=True)
class Test:
    """One field's test: ``values`` (equals one, without case), ``pattern`` (the whole text
    matches, without case) or ``exists``."""

    field: str
    values: tuple[str, ...] = ()
    pattern: str | None = None
    exists: bool | None = None

    def spec(self) -> object:
        """The test as a rule declares it."""
        if self.exists is not None:
            return {"exists": self.exists}
        if self.pattern is not None:
            return {"matches": self.pattern}
        return self.values[0] if len(self.values) == 1 else list(self.values)

    def holds(self, text: str | None) -> bool:
        if self.exists is not None:
            return (text is not None) == self.exists
        if text is None:
            return False
        if self.pattern is not None:
            return re.fullmatch(self.pattern, text, re.IGNORECASE) is not None
        return text.lower() in self.values


@dataclass(frozen=True)
class Rule:
    channel: str
    tests: tuple[Test, ...]


@dataclass(frozen=True)
class ChannelRules:
    """The explicit paths, then the rules in order (the brand's, then the built-in)."""

    rules: tuple[Rule, ...]
    explicit: tuple[str, ...] = DEFAULT_EXPLICIT
    fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        used = dict.fromkeys([*self.explicit, *(t.field for r in self.rules for t in r.tests)])
        object.__setattr__(self, "fields", tuple(used))

    @classmethod
    def default(cls) -> "ChannelRules":
        return cls.from_config(None)

    @classmethod
    def from_config(cls, section: object, field: str = "channels") -> "ChannelRules":
        """The ``journeys.channels`` configuration: ``rules`` (checked before the built-in
        ones, or instead of them with ``replace_defaults: true``) and ``explicit`` paths."""
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise FieldError("channels is a mapping with rules and explicit", field)
        unknown = sorted(set(section) - {"rules", "explicit", "replace_defaults"})
        if unknown:
            raise FieldError(f"unknown setting {unknown[0]!r}", f"{field}.{unknown[0]}")
        own = section.get("rules", [])
        if not isinstance(own, list):
            raise FieldError("rules is a list", f"{field}.rules")
        replace = section.get("replace_defaults", False)
        if not isinstance(replace, bool):
            raise FieldError("replace_defaults is true or false", f"{field}.replace_defaults")
        rules = [_rule(r, f"{field}.rules[{i}]") for i, r in enumerate(own)]
        if not replace:
            rules += [_rule(r, f"default[{i}]") for i, r in enumerate(DEFAULT_RULES)]
        explicit = section.get("explicit", list(DEFAULT_EXPLICIT))
        if not isinstance(explicit, list) or not all(
            isinstance(p, str) and _PATH.match(p) for p in explicit
        ):
            raise FieldError("explicit is a list of dotted paths", f"{field}.explicit")
        return cls(tuple(rules), tuple(explicit))

    # -- one message, in Python --------------------------------------------------------------

    def classify(self, message: Mapping[str, Any], source: str | None) -> str:
        """The channel of one stored message sent by the source named ``source``."""
        return self.decided(message, source) or Channel.DIRECT.value

    def decided(self, message: Mapping[str, Any], source: str | None) -> str | None:
        """The channel evidence decides for one message, None when only the fallback would."""
        return self.decide(lambda name: field_text(message, source, name))

    def decide(self, text: Callable[[str], str | None]) -> str | None:
        for path in self.explicit:
            value = text(path)
            if value is not None and value.lower() in CHANNELS:
                return value.lower()
        for rule in self.rules:
            if all(t.holds(text(t.field)) for t in rule.tests):
                return rule.channel
        return None

    # -- a whole log, in SQL -----------------------------------------------------------------

    def sql(self, payload: str, source: str, params: list[Any]) -> str:
        """An SQL expression giving the channel of the event whose JSON text is ``payload``
        and whose source's name is ``source`` (``type`` and ``event`` columns in scope)."""
        return self.case_sql(lambda name: field_sql(name, payload, source), params)

    def case_sql(
        self,
        column: Callable[[str], str],
        params: list[Any],
        *,
        fallback: str | None = Channel.DIRECT.value,
    ) -> str:
        """The decision as a CASE over each field's text, given by ``column(field)`` (a
        caller that projects the fields first passes their column names); ``fallback`` when
        no evidence decides (NULL tells a caller that none did)."""
        branches = []
        for path in self.explicit:
            text = f"lower({column(path)})"
            branches.append(f"WHEN {_one_of(text, CHANNELS, params)} THEN {text}")
        for rule in self.rules:
            tests = " AND ".join(_test_sql(t, column(t.field), params) for t in rule.tests)
            params.append(rule.channel)
            branches.append(f"WHEN {tests} THEN ?")
        if fallback is None:
            return f"(CASE {' '.join(branches)} END)"
        params.append(fallback)
        return f"(CASE {' '.join(branches)} ELSE ? END)"


def _test_sql(test: Test, text: str, params: list[Any]) -> str:
    if test.exists is not None:
        return f"({text} IS {'NOT ' if test.exists else ''}NULL)"
    if test.pattern is not None:
        params.append(test.pattern)
        return f"coalesce(regexp_full_match({text}, ?, 'i'), false)"
    return f"coalesce({_one_of(f'lower({text})', test.values, params)}, false)"


def _one_of(text: str, values: tuple[str, ...], params: list[Any]) -> str:
    # An IN list of parameters, not = ANY(list): DuckDB plans the latter as a join per test.
    params.extend(values)
    return f"{text} IN ({', '.join('?' for _ in values)})"


def field_sql(name: str, payload: str, source: str) -> str:
    """A field's text in SQL: NULL when missing, null, or not a scalar."""
    if name == SOURCE:
        return source
    if name in (EVENT, TYPE):
        return name
    if name == EXTERNAL_REFERRER_HOST:
        referrer = field_sql(REFERRER_HOST, payload, source)
        page = field_sql(PAGE_HOST, payload, source)
        return f"(CASE WHEN {referrer} IS DISTINCT FROM {page} THEN {referrer} END)"
    if name in _HOST_OF:
        url = _scalar_sql(payload, _HOST_OF[name])
        host = f"lower(regexp_extract({url}, '{_URL_HOST.pattern}', 1))"
        return f"nullif(regexp_replace({host}, '^www\\.', ''), '')"
    return _scalar_sql(payload, name)


def _scalar_sql(payload: str, path: str) -> str:
    value = f"json_extract({payload}, '{json_path(path)}')"
    return f"""(CASE WHEN json_type({value}) IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE',
                                                  'BOOLEAN')
                     THEN json_extract_string({value}, '$') END)"""


def field_text(message: Mapping[str, Any], source: str | None, name: str) -> str | None:
    """A field's text in Python, as ``field_sql`` gives it."""
    if name == SOURCE:
        return source
    if name == EXTERNAL_REFERRER_HOST:
        referrer = field_text(message, source, REFERRER_HOST)
        return referrer if referrer != field_text(message, source, PAGE_HOST) else None
    if name in _HOST_OF:
        url = field_text(message, source, _HOST_OF[name])
        return _host(url) if url is not None else None
    value: Any = message
    for segment in name.split("."):
        if not isinstance(value, Mapping) or segment not in value:
            return None
        value = value[segment]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # DuckDB's text of a JSON double (see profiles' canonical text)
    if isinstance(value, str | int):
        return str(value)
    return None


def _host(url: str) -> str | None:
    found = _URL_HOST.match(url)
    return (found[1].lower().removeprefix("www.") or None) if found else None


def _rule(spec: object, field: str) -> Rule:
    if not isinstance(spec, Mapping):
        raise FieldError("a rule is a mapping with channel and where", field)
    unknown = sorted(set(spec) - {"channel", "where"})
    if unknown:
        raise FieldError(f"unknown key {unknown[0]!r}", f"{field}.{unknown[0]}")
    channel = spec.get("channel")
    if channel not in CHANNELS:
        raise FieldError(f"channel is one of {', '.join(CHANNELS)}", f"{field}.channel")
    where = spec.get("where")
    if not isinstance(where, Mapping) or not where:
        raise FieldError("where maps fields to the values they must have", f"{field}.where")
    return Rule(str(channel), tuple(_test(k, v, f"{field}.where.{k}") for k, v in where.items()))


def _test(name: object, spec: object, field: str) -> Test:
    if not isinstance(name, str) or not (name in DERIVED or _PATH.match(name)):
        raise FieldError("a field is a dotted path or one of " + ", ".join(sorted(DERIVED)), field)
    if isinstance(spec, str | int | float) and not isinstance(spec, bool):
        return Test(name, values=(str(spec).lower(),))
    if isinstance(spec, list) and spec and all(isinstance(v, str | int) for v in spec):
        return Test(name, values=tuple(str(v).lower() for v in spec))
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((op, operand),) = spec.items()
        if op == "matches" and isinstance(operand, str):
            try:
                re.compile(operand)
            except re.error as error:
                raise FieldError(f"not a regular expression: {error}", f"{field}.matches") from None
            return Test(name, pattern=operand)
        if op == "exists" and isinstance(operand, bool):
            return Test(name, exists=operand)
    raise FieldError("a value, a list of values, {matches: regex} or {exists: true|false}", field)
