"""The brand's people: who they are, where they live, and the parameters that drive them.

Everything a later capability is scored against is decided here and written to the ground
truth: households, purchase rate and dropout (BG/NBD), spend (Gamma-Gamma), consent.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from kenning.demo.names import (
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_KINDS,
    STREETS,
    TOWNS,
    zipf_weights,
)

# The planted parameters (truth/params.json). Rates are per week.
BGNBD = {"r": 0.75, "alpha": 8.0, "a": 0.8, "b": 3.2}
GAMMA_GAMMA = {"p": 6.0, "q": 3.5, "gamma": 15.0}
CONSENT_DECLINE = {
    "analytics": 0.08,
    "personalisation": 0.15,
    "marketing_email": 0.2,
    "marketing_sms": 0.45,
    "marketing_push": 0.3,
    "advertising": 0.35,
}
HOUSEHOLD_SHARE = 0.3
ACQUISITION = ("paid_search", "organic_search", "paid_social", "referral", "direct", "store")

_FIRST_W = zipf_weights(len(FIRST_NAMES))
_LAST_W = zipf_weights(len(LAST_NAMES))


@dataclass
class Address:
    number: int
    street: str
    kind: str
    town: str
    postcode: str

    @property
    def street_line(self) -> str:
        return f"{self.number} {self.street} {self.kind}"


@dataclass
class Person:
    index: int
    household: int
    first_name: str
    last_name: str
    birthday: date
    address: Address
    email: str
    phone_national: str  # "7700 9xxxxx", formatted variously where it appears
    start_day: int  # first day of activity within the period
    rate: float  # BG/NBD purchase rate per week
    dropout: float  # BG/NBD probability of becoming inactive after a purchase
    spend_mean: float  # Gamma-Gamma: this person's mean order value
    signal: float  # a planted latent affinity (propensity / lookalike score)
    acquisition: str
    web_devices: int
    app_user: bool
    identifies_online: bool
    loyalty_member: bool
    offline_only: bool
    consent: dict[str, bool] = field(default_factory=dict)

    @property
    def person_id(self) -> str:
        return f"P{self.index:07d}"

    @property
    def user_id(self) -> str:
        return f"cust-{self.index:07d}"

    @property
    def loyalty_id(self) -> str:
        return f"LOY{self.index * 7919 % 10_000_000:07d}"

    @property
    def phone_e164(self) -> str:
        return "+44" + self.phone_national.replace(" ", "")


def make_people(
    rng: np.random.Generator,
    count: int,
    first_index: int,
    days: int,
    start: date,
    household_counter: list[int],
) -> list[Person]:
    """``count`` people; a share of them live together in households of 2-4."""
    people: list[Person] = []
    while len(people) < count:
        size = 1
        if rng.random() < HOUSEHOLD_SHARE / 2.2:  # about 30% of people end up sharing
            size = int(rng.choice([2, 3, 4], p=[0.6, 0.3, 0.1]))
        size = min(size, count - len(people))
        household_counter[0] += 1
        town, area = TOWNS[int(rng.integers(len(TOWNS)))]
        address = Address(
            int(rng.integers(1, 200)),
            STREETS[int(rng.integers(len(STREETS)))],
            STREET_KINDS[int(rng.integers(len(STREET_KINDS)))],
            town,
            f"{area}{int(rng.integers(1, 30))} {int(rng.integers(1, 10))}"
            f"{chr(65 + int(rng.integers(26)))}{chr(65 + int(rng.integers(26)))}",
        )
        last = LAST_NAMES[int(rng.choice(len(LAST_NAMES), p=_LAST_W))]
        for member in range(size):
            index = first_index + len(people)
            surname = (
                last
                if member == 0 or rng.random() < 0.85
                else LAST_NAMES[int(rng.choice(len(LAST_NAMES), p=_LAST_W))]
            )
            people.append(_person(rng, index, household_counter[0], surname, address, days, start))
    return people


def _person(
    rng: np.random.Generator,
    index: int,
    household: int,
    last: str,
    address: Address,
    days: int,
    start: date,
) -> Person:
    first = FIRST_NAMES[int(rng.choice(len(FIRST_NAMES), p=_FIRST_W))]
    signal = float(rng.normal())
    # BG/NBD heterogeneity: rate ~ Gamma(r, 1/alpha), dropout ~ Beta(a, b); the latent signal
    # nudges the rate so propensity and lookalike models have something to find.
    rate = float(rng.gamma(BGNBD["r"], 1 / BGNBD["alpha"])) * float(np.exp(0.35 * signal))
    dropout = float(rng.beta(BGNBD["a"], BGNBD["b"]))
    # Gamma-Gamma: each person's mean spend ~ Gamma(q, gamma) scaled by p.
    spend_mean = float(GAMMA_GAMMA["p"] / rng.gamma(GAMMA_GAMMA["q"], 1 / GAMMA_GAMMA["gamma"]))
    offline_only = rng.random() < 0.12
    app_user = not offline_only and rng.random() < 0.35
    # Real people do not share an email address or a phone number: both are made unique by
    # the person's index (7919 is coprime to 100,000, so the last five digits never repeat
    # within a block of 100,000 people, and the block picks the prefix).
    name = f"{first}.{last}" if rng.random() < 0.6 else f"{first[0]}{last}"
    email_local = f"{name.lower().replace(chr(39), '')}{index}"
    return Person(
        index=index,
        household=household,
        first_name=first,
        last_name=last,
        birthday=date(1950, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 55))),
        address=address,
        email=f"{email_local}@{EMAIL_DOMAINS[int(rng.integers(len(EMAIL_DOMAINS)))]}",
        phone_national=f"7{700 + index // 100_000:03d} 9{index * 7919 % 100_000:05d}",
        start_day=int(rng.integers(0, max(1, days // 2))),
        rate=rate,
        dropout=dropout,
        spend_mean=min(spend_mean, 400.0),
        signal=signal,
        acquisition=ACQUISITION[int(rng.integers(len(ACQUISITION)))]
        if not offline_only
        else "store",
        web_devices=0 if offline_only else int(rng.integers(1, 4)),
        app_user=app_user,
        identifies_online=not offline_only and rng.random() < 0.68,
        loyalty_member=rng.random() < (0.7 if offline_only else 0.35),
        offline_only=offline_only,
        consent={k: bool(rng.random() >= share) for k, share in CONSENT_DECLINE.items()},
    )
