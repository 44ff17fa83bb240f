"""A population that states consent through events, for the end-to-end consent properties.

People each have a user profile (with an email, or none) and devices, anonymous until they
sign in and so merge into the user's profile. In rounds they state, change and withdraw
consent (in a track's ``context.consent``, or an identify's ``traits.consent``; a value that
is neither true nor false decides nothing), trigger a campaign, send an event a webhook takes,
join and leave an audience, and sign in on a device: each round a main batch, then a late one
(consent and sign-ins) posted once the dispatcher has decided the main batch's messages.
Three control people act the same in every example (``CONTROLS``).

``Account`` is the test's own account of their consent, written from docs/profiles.md rather
than from the code: per category, the newest statement over the user's profile and every
device merged into it (here the newest is the later posted: no message carries a time, so
each is stated at its receipt, a request's messages in their order).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# What the module's declarations require (see the live fixtures).
CAMPAIGN_CONSENT = ("marketing_email",)
MAIL_CONSENT = ("personalisation",)
HOOK_CONSENT = ("analytics", "advertising")
MAIL_REQUIRES = (*CAMPAIGN_CONSENT, *MAIL_CONSENT)
HOOK_REQUIRES = HOOK_CONSENT
# marketing_sms is stated but required by nothing: a grant of it must not count for the rest.
STATED = (*MAIL_REQUIRES, *HOOK_REQUIRES, "marketing_sms")

TRIGGER_EVENT = "Consent Probe Triggered"
PING_EVENT = "Probe Ping"
COHORT_TRAIT = "probe_cohort"
ROUNDS = 2
# The control people, the same in every example: one grants everything, one never states
# anything, one grants everything and withdraws a category of each channel after the trigger.
ALWAYS, NEVER, WITHDRAWS = 0, 1, 2
CONTROLS = (ALWAYS, NEVER, WITHDRAWS)


@dataclass(frozen=True, order=True)
class Handle:
    """A profile the test addresses: the person's user profile, or one of their devices."""

    person: int
    device: int = -1  # -1: the user profile

    @property
    def is_user(self) -> bool:
        return self.device < 0


@dataclass(frozen=True)
class Introduces:
    """The person's first identify: their user id, and their email if they have one."""

    person: int


@dataclass(frozen=True)
class States:
    handle: Handle
    choices: tuple[tuple[str, bool | None], ...]
    in_traits: bool  # an identify's traits.consent; else a track's context.consent


@dataclass(frozen=True)
class Triggers:
    person: int


@dataclass(frozen=True)
class Pings:
    handle: Handle


@dataclass(frozen=True)
class Joins:
    person: int
    joins: bool  # False: leaves


@dataclass(frozen=True)
class SignsIn:
    """A device merged into its person's profile: by an event carrying both ids, or by an
    identify from the device giving the person's email."""

    device: Handle
    by_email: bool


Action = Introduces | States | Triggers | Pings | Joins | SignsIn


@dataclass(frozen=True)
class Person:
    has_email: bool
    devices: int


@dataclass(frozen=True)
class Round:
    main: tuple[Action, ...]
    late: tuple[Action, ...]  # posted after the main batch, before anything is let through


@dataclass(frozen=True)
class Population:
    people: tuple[Person, ...]
    rounds: tuple[Round, ...]


# -- generation -------------------------------------------------------------------------------


def _choices(stated: Mapping[str, bool | None]) -> tuple[tuple[str, bool | None], ...]:
    return tuple(sorted(stated.items()))


_every = {category: True for category in (*MAIL_REQUIRES, *HOOK_REQUIRES)}
# Grants of whole channels and withdrawals of one category are drawn often (arbitrary choices
# rarely grant every category a channel needs, and then nothing is sent at all).
_grants = st.sampled_from(
    [_every, dict.fromkeys(MAIL_REQUIRES, True), dict.fromkeys(HOOK_REQUIRES, True)]
)
choices = st.one_of(
    st.dictionaries(
        st.sampled_from(STATED), st.sampled_from([True, True, False, None]), min_size=1, max_size=3
    ),
    _grants,
    st.sampled_from([*({c: False} for c in _every), dict.fromkeys(_every, False)]),
).map(_choices)
# What a profile first says (a consent banner): most say yes to something.
openings = st.one_of(_grants.map(_choices), _grants.map(_choices), choices)


def _controls(round_index: int) -> tuple[Action, ...]:
    """Each round the control people trigger the campaign and send a forwarded event: every
    example has sends that must happen, and sends that must not."""
    granting = (States(Handle(ALWAYS), _choices(_every), False),) if round_index == 0 else ()
    return (
        *granting,
        States(Handle(WITHDRAWS), _choices(_every), round_index % 2 == 1),
        *(Joins(p, True) for p in CONTROLS if round_index == 0),
        *(Triggers(p) for p in CONTROLS),
        *(Pings(Handle(p)) for p in CONTROLS),
    )


def _late_controls(round_index: int) -> tuple[Action, ...]:
    """The withdrawal comes after the dispatcher gave the message its channel: only the
    sender's check stops it (the campaign's category one round, the destination's the next)."""
    withdrawn = MAIL_REQUIRES[round_index % 2], HOOK_REQUIRES[round_index % 2]
    return (States(Handle(WITHDRAWS), _choices(dict.fromkeys(withdrawn, False)), False),)


@st.composite
def populations(draw: st.DrawFn, most_people: int = 14) -> Population:
    generated = draw(
        st.lists(
            st.builds(
                Person,
                has_email=st.sampled_from([True, True, True, False]),
                devices=st.integers(0, 2),
            ),
            min_size=1,
            max_size=most_people - len(CONTROLS),
        )
    )
    people = (*(Person(True, 0) for _ in CONTROLS), *generated)
    persons = range(len(CONTROLS), len(people))
    devices = [Handle(p, d) for p in persons for d in range(people[p].devices)]
    every_handle = [*(Handle(p) for p in persons), *devices]
    handles = st.sampled_from(every_handle)
    statements: st.SearchStrategy[Action] = st.builds(States, handles, choices, st.booleans())
    main: list[st.SearchStrategy[Action]] = [
        statements,
        statements,
        st.builds(Triggers, st.sampled_from(persons)),
        st.builds(Pings, handles),
        st.builds(Joins, st.sampled_from(persons), st.booleans()),
    ]
    # After the dispatcher's decision, mostly withdrawals: what the sender's check must catch.
    withdrawals: st.SearchStrategy[Action] = st.builds(
        States, handles, st.sampled_from([((c, False),) for c in _every]), st.booleans()
    )
    late: list[st.SearchStrategy[Action]] = [withdrawals, withdrawals, statements]
    if devices:
        sign_ins: st.SearchStrategy[Action] = st.builds(
            SignsIn, st.sampled_from(devices), st.booleans()
        )
        main.append(sign_ins)
        late.append(sign_ins)
    rounds = []
    for index in range(ROUNDS):
        first: tuple[Action, ...] = ()
        if index == 0:
            first = tuple(Introduces(p) for p in range(len(people)))
            first += tuple(
                States(h, draw(openings), draw(st.booleans()))
                for h in (*(Handle(p) for p in persons), *devices)
            )
        drawn_main: list[Action] = draw(st.lists(st.one_of(main), max_size=16))
        # Everyone triggers the campaign and sends the forwarded event each round, somewhere
        # among what they state.
        for person in persons:
            own = [h for h in every_handle if h.person == person]
            for owed in (Triggers(person), Pings(draw(st.sampled_from(own)))):
                drawn_main.insert(draw(st.integers(0, len(drawn_main))), owed)
        drawn_late = draw(st.lists(st.one_of(late), max_size=6))
        rounds.append(
            Round((*first, *_controls(index), *drawn_main), (*_late_controls(index), *drawn_late))
        )
    return Population(people, tuple(rounds))


# -- the messages that say it -----------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """A population's identifiers, tagged so that examples sharing a server never meet."""

    tag: str
    population: Population

    def user_id(self, person: int) -> str:
        return f"{self.tag}-p{person}"

    def email(self, person: int) -> str:
        return f"{self.tag}-p{person}@consent.example"

    def ids(self, handle: Handle) -> dict[str, str]:
        if handle.is_user:
            return {"userId": self.user_id(handle.person)}
        return {"anonymousId": f"{self.tag}-p{handle.person}-d{handle.device}"}

    def identifier(self, handle: Handle) -> str:
        """``TYPE:VALUE``, as the Profile API takes it."""
        ((key, value),) = self.ids(handle).items()
        return f"{'user_id' if key == 'userId' else 'anonymous_id'}:{value}"

    def handle_of(self, type_: str, value: str) -> Handle | None:
        """The handle an identity of a profile is, or None (not one of this population's)."""
        for person, about in enumerate(self.population.people):
            for handle in (Handle(person), *(Handle(person, d) for d in range(about.devices))):
                if self.identifier(handle) == f"{type_}:{value}":
                    return handle
        return None

    def person_of_email(self, address: str) -> int | None:
        found = [p for p in range(len(self.population.people)) if self.email(p) == address]
        return found[0] if found else None

    def message_id(self, round_index: int, phase: str, index: int) -> str:
        return f"{self.tag}-r{round_index}-{phase}-{index}"

    def messages(
        self, actions: Sequence[Action], round_index: int, phase: str
    ) -> list[dict[str, Any]]:
        return [
            {**self.message(action), "messageId": self.message_id(round_index, phase, index)}
            for index, action in enumerate(actions)
        ]

    def message(self, action: Action) -> dict[str, Any]:
        match action:
            case Introduces(person):
                has_email = self.population.people[person].has_email
                traits = {"first_name": f"P{person}"}
                if has_email:
                    traits["email"] = self.email(person)
                return {"type": "identify", "userId": self.user_id(person), "traits": traits}
            case States(handle, stated, in_traits):
                preferences = {"consent": {"categoryPreferences": dict(stated)}}
                if in_traits:
                    return {"type": "identify", **self.ids(handle), "traits": preferences}
                track = {"type": "track", "event": "Consent Updated", **self.ids(handle)}
                return {**track, "context": preferences}
            case Triggers(person):
                return {"type": "track", "event": TRIGGER_EVENT, "userId": self.user_id(person)}
            case Pings(handle):
                return {"type": "track", "event": PING_EVENT, **self.ids(handle)}
            case Joins(person, joins):
                traits = {COHORT_TRAIT: "in" if joins else "out"}
                return {"type": "identify", "userId": self.user_id(person), "traits": traits}
            case SignsIn(device, by_email):
                if by_email and self.population.people[device.person].has_email:
                    traits = {"email": self.email(device.person)}
                    return {"type": "identify", **self.ids(device), "traits": traits}
                both = {**self.ids(device), "userId": self.user_id(device.person)}
                return {"type": "track", "event": "Signed In", **both}
        raise AssertionError(action)


# -- the test's own account -------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A profile's person at one moment: the handles merged together, and their consent."""

    component: frozenset[Handle]
    consent: Mapping[str, bool]

    def grants(self, categories: Sequence[str]) -> bool:
        return all(self.consent.get(c) is True for c in categories)


@dataclass
class Account:
    population: Population
    seen: set[Handle] = field(default_factory=set)  # handles the server has a profile for
    merged: set[Handle] = field(default_factory=set)  # devices merged into their person
    said: dict[Handle, list[tuple[int, str, bool]]] = field(default_factory=dict)
    cohort: dict[int, bool] = field(default_factory=dict)
    _order: int = 0

    def apply(self, action: Action) -> None:
        match action:
            case Introduces(person):
                self.seen.add(Handle(person))
            case States(handle, stated, _):
                self.seen.add(handle)
                for category, value in stated:
                    if isinstance(value, bool):  # anything else decides nothing
                        self._order += 1
                        self.said.setdefault(handle, []).append((self._order, category, value))
            case Pings(handle):
                self.seen.add(handle)
            case Joins(person, joins):
                self.cohort[person] = joins
            case SignsIn(device, _):
                self.seen.add(device)
                self.merged.add(device)

    def component(self, handle: Handle) -> frozenset[Handle]:
        if not handle.is_user and handle not in self.merged:
            return frozenset({handle})
        user = Handle(handle.person)
        return frozenset({user, *(d for d in self.merged if d.person == handle.person)})

    def standing(self) -> dict[Handle, Standing]:
        """Every known profile's person as the account has them now."""
        found = {}
        for handle in self.seen:
            component = self.component(handle)
            newest: dict[str, tuple[int, bool]] = {}
            for member in component:
                for order, category, value in self.said.get(member, []):
                    if category not in newest or newest[category][0] < order:
                        newest[category] = (order, value)
            consent = {category: value for category, (_, value) in newest.items()}
            found[handle] = Standing(component, consent)
        return found

    def ever_granted(self, person: int) -> set[str]:
        """The categories any of the person's profiles ever said yes to."""
        return {
            category
            for handle, stated in self.said.items()
            if handle.person == person
            for _, category, value in stated
            if value
        }
