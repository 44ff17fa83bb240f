"""What each person does over the period, as Segment messages and offline records.

Purchases follow a BG/NBD process (exponential waits at the person's rate; after each purchase
the person drops out with their dropout probability). Each online purchase is preceded by a path
of touches whose channels are drawn in proportion to CHANNEL_EFFECTS: the planted effect of a
channel on conversion. Browsing that does not convert draws channels without that tilt.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from kenning.demo.names import NICKNAMES, PRODUCTS, STREET_ABBREVIATIONS
from kenning.demo.people import Person

# channel -> (share of non-converting sessions, multiplier on conversion)
CHANNEL_EFFECTS: dict[str, tuple[float, float]] = {
    "paid_search": (0.16, 1.6),
    "organic_search": (0.2, 1.1),
    "paid_social": (0.12, 1.0),
    "organic_social": (0.1, 0.7),
    "display": (0.1, 0.5),
    "affiliate": (0.05, 1.2),
    "referral": (0.07, 0.9),
    "direct": (0.2, 1.0),
}
_BROWSE = np.array([share for share, _ in CHANNEL_EFFECTS.values()])
_BROWSE = _BROWSE / _BROWSE.sum()
_CONVERT = np.array([share * effect for share, effect in CHANNEL_EFFECTS.values()])
_CONVERT = _CONVERT / _CONVERT.sum()
_CHANNELS = list(CHANNEL_EFFECTS)
_UTM = {
    "paid_search": {"source": "google", "medium": "cpc", "name": "brand-search"},
    "paid_social": {"source": "facebook", "medium": "paid_social", "name": "spring-social"},
    "display": {"source": "adnetwork", "medium": "display", "name": "retarget-display"},
    "affiliate": {"source": "vouchers", "medium": "affiliate", "name": "affiliate-always-on"},
    "email": {"source": "newsletter", "medium": "email", "name": "fortnightly-newsletter"},
    "sms": {"source": "sms", "medium": "sms", "name": "sms-offers"},
}
_REFERRERS = {
    "organic_search": "https://www.google.com/",
    "organic_social": "https://www.facebook.com/",
    "referral": "https://blog.example.org/best-gear",
}
SECONDS_PER_DAY = 86_400.0
Emit = Callable[[str, float, dict[str, Any]], None]


@dataclass
class Records:
    """Where a person's offline rows go."""

    customer: Callable[[dict[str, str]], None]
    pos_order: Callable[[dict[str, str]], None]


def iso(start: datetime, seconds: float) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PersonTimeline:
    def __init__(
        self,
        rng: np.random.Generator,
        person: Person,
        days: int,
        start: datetime,
        emit: Emit,
        records: Records,
    ) -> None:
        self.rng, self.person, self.days, self.start = rng, person, days, start
        self.emit, self.records = emit, records
        self.counter = 0
        self.anonymous_ids = [f"anon-{person.index:07d}-{d}" for d in range(person.web_devices)]
        self.device_id = f"dev-{person.index:07d}"
        self.signed_up_at: float | None = None
        self.end = days * SECONDS_PER_DAY
        self.churn_at: float | None = None
        self.purchases = 0

    def message_id(self, source: str) -> str:
        self.counter += 1
        return f"{source}-{self.person.index:07d}-{self.counter:05d}"

    def send(self, source: str, at: float, message: dict[str, Any]) -> None:
        message["messageId"] = self.message_id(source)
        message["timestamp"] = iso(self.start, at)
        self.emit(source, at, message)

    # -- the life --------------------------------------------------------------------------

    def live(self) -> None:
        p, rng = self.person, self.rng
        t = p.start_day * SECONDS_PER_DAY + float(rng.uniform(0, SECONDS_PER_DAY))
        if p.loyalty_member:
            self.loyalty_join(t + 60)
        if p.identifies_online:
            self.sign_up(t + 120)
        purchase_times = self.purchase_times(t)
        active_until = self.churn_at if self.churn_at is not None else self.end
        browse = rng.poisson(max(0.5, (active_until - t) / SECONDS_PER_DAY / 30))
        for at in sorted(rng.uniform(t, active_until, size=browse)):
            if not p.offline_only:
                self.session(
                    float(at), _CHANNELS[int(rng.choice(len(_CHANNELS), p=_BROWSE))], convert=False
                )
        for at in purchase_times:
            self.purchase(at)
        self.marketing(t)
        if rng.random() < 0.12:
            for _ in range(int(rng.integers(1, 3))):
                self.call(float(rng.uniform(t, self.end)))
        self.crm_records(t)

    def purchase_times(self, t: float) -> list[float]:
        times: list[float] = []
        rate_per_second = self.person.rate / (7 * SECONDS_PER_DAY)
        while True:
            t += float(self.rng.exponential(1 / rate_per_second)) if rate_per_second else self.end
            if t >= self.end:
                return times
            times.append(t)
            if self.rng.random() < self.person.dropout:
                self.churn_at = t
                return times

    def sign_up(self, at: float) -> None:
        p = self.person
        self.signed_up_at = at
        source = "app" if p.app_user and self.rng.random() < 0.5 else "web"
        traits: dict[str, Any] = {
            "email": p.email,
            "firstName": p.first_name,
            "lastName": p.last_name,
        }
        if self.rng.random() < 0.5:
            traits["phone"] = "+44 " + p.phone_national
        if self.rng.random() < 0.3:
            traits["provider"] = str(self.rng.choice(["google", "facebook", "apple"]))
        message = {
            "type": "identify",
            "userId": p.user_id,
            "traits": traits,
            "context": {"consent": {"categoryPreferences": dict(p.consent)}},
        }
        self.attach_device(source, message)
        self.send(source, at, message)
        self.send(
            source,
            at + 1,
            self.attach_device(
                source,
                {
                    "type": "track",
                    "userId": p.user_id,
                    "event": "Signed Up",
                    "properties": {"method": traits.get("provider", "email")},
                },
            ),
        )

    def attach_device(self, source: str, message: dict[str, Any]) -> dict[str, Any]:
        context = message.setdefault("context", {})
        if source == "app":
            context["device"] = {
                "id": self.device_id,
                "type": "ios" if self.person.index % 2 else "android",
                "token": f"push-{self.person.index:07d}",
            }
            if self.person.index % 3 == 0:
                context["device"]["advertisingId"] = f"ad-{self.person.index:07d}"
            message.setdefault("anonymousId", f"app-anon-{self.person.index:07d}")
        elif self.anonymous_ids:
            message.setdefault(
                "anonymousId", self.anonymous_ids[int(self.rng.integers(len(self.anonymous_ids)))]
            )
            context["userAgent"] = "Mozilla/5.0 (synthetic)"
            context["ip"] = f"198.51.100.{self.person.index % 250 + 1}"
        return message

    def session(self, at: float, channel: str, *, convert: bool) -> str:
        """A web or app visit from ``channel``; returns the source used."""
        p, rng = self.person, self.rng
        source = "app" if p.app_user and rng.random() < 0.4 else "web"
        if source == "web" and not self.anonymous_ids:
            source = "app"
        known = self.signed_up_at is not None and at > self.signed_up_at
        base: dict[str, Any] = {"userId": p.user_id} if known and rng.random() < 0.8 else {}
        context: dict[str, Any] = {}
        if channel in _UTM:
            context["campaign"] = dict(_UTM[channel])
        page: dict[str, Any] = {"path": "/", "url": "https://shop.example/"}
        if channel in _REFERRERS:
            page["referrer"] = _REFERRERS[channel]
        product = PRODUCTS[int(rng.integers(len(PRODUCTS)))]
        views = int(rng.integers(1, 5))
        for step in range(views):
            ctx = dict(context, page=dict(page, path=f"/p/{product[1].lower().replace(' ', '-')}"))
            kind = "screen" if source == "app" else "page"
            self.send(
                source,
                at + step * 40,
                self.attach_device(
                    source,
                    {
                        "type": kind,
                        **base,
                        "name": "Product",
                        "context": ctx,
                        "properties": {"category": product[0]},
                    },
                ),
            )
            self.send(
                source,
                at + step * 40 + 5,
                self.attach_device(
                    source,
                    {
                        "type": "track",
                        **base,
                        "event": "Product Viewed",
                        "context": dict(ctx),
                        "properties": {
                            "product_id": product[1],
                            "category": product[0],
                            "price": product[2],
                        },
                    },
                ),
            )
        if convert or rng.random() < 0.3:
            self.send(
                source,
                at + views * 40,
                self.attach_device(
                    source,
                    {
                        "type": "track",
                        **base,
                        "event": "Product Added",
                        "context": dict(context),
                        "properties": {"product_id": product[1], "category": product[0]},
                    },
                ),
            )
        return source

    def purchase(self, at: float) -> None:
        p, rng = self.person, self.rng
        self.purchases += 1
        total = round(float(rng.gamma(GAMMA_SHAPE, p.spend_mean / GAMMA_SHAPE)), 2)
        product = PRODUCTS[int(rng.integers(len(PRODUCTS)))]
        quantity = max(1, round(total / product[2]))
        order_id = f"ord-{p.index:07d}-{self.purchases:03d}"
        store = p.offline_only or rng.random() < 0.3
        if store:
            self.records.pos_order(
                {
                    "order_id": order_id,
                    "store_id": f"store-{p.index % 17:02d}",
                    "loyalty_id": p.loyalty_id if p.loyalty_member and rng.random() < 0.6 else "",
                    "timestamp": iso(self.start, at),
                    "total": f"{total:.2f}",
                    "currency": "EUR",
                    "product_id": product[1],
                    "category": product[0],
                    "quantity": str(quantity),
                }
            )
        else:
            touches = int(rng.integers(1, 4))
            source = "web"
            for k in range(touches, 0, -1):
                channel = _CHANNELS[int(rng.choice(len(_CHANNELS), p=_CONVERT))]
                source = self.session(
                    at - k * 3_600 * float(rng.uniform(0.2, 20)), channel, convert=k == 1
                )
            known = self.signed_up_at is not None and at > self.signed_up_at
            base: dict[str, Any] = {"userId": p.user_id} if known else {}
            self.send(
                source,
                at,
                self.attach_device(
                    source,
                    {
                        "type": "track",
                        **base,
                        "event": "Order Completed",
                        "properties": {
                            "order_id": order_id,
                            "total": total,
                            "revenue": total,
                            "currency": "EUR",
                            "channel": source,
                            "products": [
                                {
                                    "product_id": product[1],
                                    "sku": product[1].upper()[:6],
                                    "category": product[0],
                                    "name": product[1],
                                    "price": product[2],
                                    "quantity": quantity,
                                }
                            ],
                        },
                    },
                ),
            )
        if p.loyalty_member:
            self.send(
                "loyalty",
                at + 300,
                {
                    "type": "track",
                    **(
                        {"userId": p.user_id}
                        if p.identifies_online
                        else {"anonymousId": f"loyalty-{p.loyalty_id}"}
                    ),
                    "event": "Points Earned",
                    "properties": {"points": int(total)},
                    "context": {
                        "externalIds": [
                            {
                                "id": p.loyalty_id,
                                "type": "loyalty_id",
                                "collection": "users",
                                "encoding": "none",
                            }
                        ]
                    },
                },
            )

    def loyalty_join(self, at: float) -> None:
        p = self.person
        self.send(
            "loyalty",
            at,
            {
                "type": "track",
                **(
                    {"userId": p.user_id}
                    if p.identifies_online
                    else {"anonymousId": f"loyalty-{p.loyalty_id}"}
                ),
                "event": "Loyalty Joined",
                "properties": {"tier": "green"},
                "context": {
                    "externalIds": [
                        {
                            "id": p.loyalty_id,
                            "type": "loyalty_id",
                            "collection": "users",
                            "encoding": "none",
                        }
                    ],
                    "traits": {"email": p.email},
                },
            },
        )

    def marketing(self, t: float) -> None:
        p, rng = self.person, self.rng
        if self.signed_up_at is None:
            return
        alive_until = self.churn_at if self.churn_at is not None else self.end
        if p.consent["marketing_email"]:
            send_at = self.signed_up_at + 14 * SECONDS_PER_DAY
            while send_at < self.end:
                number = int(send_at // (14 * SECONDS_PER_DAY))
                props = {
                    "campaign_id": f"nl-{number:03d}",
                    "campaign_name": "Newsletter",
                    "subject": f"Issue {number}",
                }
                base = {
                    "type": "track",
                    "userId": p.user_id,
                    "context": {"traits": {"email": p.email}},
                    "properties": props,
                }
                self.send("email", send_at, {**base, "event": "Email Sent"})
                engaged = send_at < alive_until
                if engaged and rng.random() < 0.3:
                    self.send("email", send_at + 3_600, {**base, "event": "Email Opened"})
                    if rng.random() < 0.2:
                        self.send("email", send_at + 3_700, {**base, "event": "Email Link Clicked"})
                        self.session(send_at + 3_800, "email", convert=False)
                send_at += 14 * SECONDS_PER_DAY
        if p.consent["marketing_sms"]:
            send_at = self.signed_up_at + 30 * SECONDS_PER_DAY
            while send_at < self.end:
                phone = _phone_variant(rng, p.phone_national)
                base = {
                    "type": "track",
                    "userId": p.user_id,
                    "context": {"traits": {"phone": phone}},
                    "properties": {"campaign_name": "SMS offers"},
                }
                self.send("sms", send_at, {**base, "event": "SMS Sent"})
                if send_at < alive_until and rng.random() < 0.08:
                    self.send("sms", send_at + 600, {**base, "event": "SMS Clicked"})
                    self.session(send_at + 700, "sms", convert=False)
                send_at += 30 * SECONDS_PER_DAY

    def call(self, at: float) -> None:
        p, rng = self.person, self.rng
        message: dict[str, Any] = {
            "type": "track",
            "event": "Call Completed",
            "context": {"traits": {"phone": _phone_variant(rng, p.phone_national)}},
            "properties": {
                "reason": str(rng.choice(["delivery", "returns", "sizing", "payment"])),
                "duration_seconds": int(rng.integers(60, 1_200)),
            },
        }
        if p.identifies_online and rng.random() < 0.5:
            message["userId"] = p.user_id
        else:
            message["anonymousId"] = f"call-{p.index:07d}-{self.counter}"
        self.send("call_centre", at, message)

    def crm_records(self, t: float) -> None:
        p, rng = self.person, self.rng
        if not (p.loyalty_member or p.offline_only or rng.random() < 0.3):
            return
        for variant in range(1 + int(rng.random() < 0.18)):
            self.records.customer(_crm_row(rng, p, variant, iso(self.start, t + 500 + variant)))


GAMMA_SHAPE = 4.0  # order values vary around the person's mean with this shape


def _phone_variant(rng: np.random.Generator, national: str) -> str:
    digits = national.replace(" ", "")
    return str(rng.choice([f"+44 {national}", f"0{digits}", f"+44{digits}", f"0{national}"]))


def _typo(rng: np.random.Generator, text: str) -> str:
    if len(text) < 4:
        return text
    i = int(rng.integers(1, len(text) - 2))
    kind = rng.random()
    if kind < 0.5:  # transposed letters
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind < 0.8:  # a dropped letter
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]  # a doubled letter


def _crm_row(rng: np.random.Generator, p: Person, variant: int, created: str) -> dict[str, str]:
    first, last = p.first_name, p.last_name
    email = p.email
    phone = _phone_variant(rng, p.phone_national)
    street = p.address.street_line
    postcode = p.address.postcode
    if variant or rng.random() < 0.25:
        noise = rng.random()
        if noise < 0.3 and first in NICKNAMES:
            first = str(rng.choice(NICKNAMES[first]))
        elif noise < 0.55:
            last = _typo(rng, last)
        elif noise < 0.7:
            email = email.upper() if rng.random() < 0.5 else ""
        elif noise < 0.85:
            street = street.replace(p.address.kind, STREET_ABBREVIATIONS[p.address.kind])
        else:
            postcode = postcode.replace(" ", "")
        if rng.random() < 0.2:
            phone = ""
    return {
        "customer_id": f"CRM{p.index:07d}{variant}",
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "street": street,
        "city": p.address.town,
        "postal_code": postcode,
        "country": "GB",
        "birthday": p.birthday.isoformat(),
        "loyalty_id": p.loyalty_id if p.loyalty_member else "",
        "created_at": created,
    }
