"""The email destination against a real SMTP server (aiosmtpd) on loopback."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from kenning.activation.destinations.base import (
    NOT_ATTEMPTED_UNREACHABLE,
    DestinationConfigError,
    DestinationContext,
)
from kenning.activation.destinations.smtp import Email, message_id
from tests.activation.destinations.make import delivery
from tests.live import free_port

LOCAL = DestinationContext(allow_private=True, timeout_seconds=1.0)


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps what it accepts; ``later@`` gets a 451, ``nobody@`` a 550."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse_data: str | None = None

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("later@"):
            return "451 4.3.0 Mailbox busy, try again later"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.refuse_data is not None:
            return self.refuse_data
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int


@pytest.fixture()
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(mailbox, port)
    finally:
        controller.stop()


def email(port: int, context: DestinationContext = LOCAL, **config: Any) -> Email:
    return Email(
        "mail", {"host": "127.0.0.1", "port": port, "from": "news@shop.example", **config}, context
    )


def message(n: int = 1, address: str = "ada@example.com", **payload: Any) -> Any:
    body = {
        "campaign": "welcome",
        "channel": "email",
        "subject": "Welcome, Ada",
        "body": "Hello Ada,\nthanks for joining.\n",
        "to": {"email": address},
        "traits": {"first_name": "Ada"},
        **payload,
    }
    return delivery(n, kind="message", payload=body, profile_id=n)


def test_a_message_is_sent_with_its_headers_and_body(smtp_server: SmtpServer) -> None:
    destination = email(smtp_server.port)
    [outcome] = destination.send_many([message(7)])
    assert (outcome.status, outcome.code) == ("delivered", 250)
    [(sender, recipients, received)] = smtp_server.mailbox.received
    assert (sender, recipients) == ("news@shop.example", ["ada@example.com"])
    assert received["From"] == "news@shop.example"
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Welcome, Ada"
    assert received["Message-ID"] == message_id("key-7", "shop.example")
    assert received["Date"] == "Sun, 01 Mar 2026 12:00:00 +0000"
    assert received.get_content_type() == "text/plain"
    assert _text(received.get_content()) == "Hello Ada,\nthanks for joining.\n"


def _text(content: str) -> str:
    # SMTP carries lines ended by CRLF.
    return content.replace("\r\n", "\n")


def test_a_retry_sends_the_same_message(smtp_server: SmtpServer) -> None:
    destination = email(smtp_server.port)
    destination.send_many([message(7)])
    destination.send_many([message(7)])
    first, second = (m for _, _, m in smtp_server.mailbox.received)
    assert first["Message-ID"] == second["Message-ID"]
    assert first.as_bytes() == second.as_bytes()


def test_html_is_an_alternative_part(smtp_server: SmtpServer) -> None:
    email(smtp_server.port).send_many([message(html="<p>Hello <b>Ada</b></p>")])
    [(_, _, received)] = smtp_server.mailbox.received
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None and html is not None
    assert _text(plain.get_content()) == "Hello Ada,\nthanks for joining.\n"
    assert _text(html.get_content()) == "<p>Hello <b>Ada</b></p>\n"


def test_several_messages_over_one_connection(smtp_server: SmtpServer) -> None:
    outcomes = email(smtp_server.port).send_many(
        [message(1, "a@example.com"), message(2, "b@example.com"), message(3, "c@example.com")]
    )
    assert [o.status for o in outcomes] == ["delivered"] * 3
    assert [r for _, [r], _ in smtp_server.mailbox.received] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


def test_a_temporary_refusal_is_retried_and_a_permanent_one_failed(
    smtp_server: SmtpServer,
) -> None:
    outcomes = email(smtp_server.port).send_many(
        [message(1, "later@example.com"), message(2, "nobody@example.com"), message(3)]
    )
    assert [(o.status, o.code, o.detail) for o in outcomes] == [
        ("retry", 451, "SMTP 451: recipient refused"),
        ("failed", 550, "SMTP 550: recipient refused"),
        ("delivered", 250, "accepted"),
    ]
    assert outcomes[1].response == "5.1.1 No such user"
    assert [r for _, [r], _ in smtp_server.mailbox.received] == ["ada@example.com"]


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        ("452 4.3.1 Insufficient system storage", "retry", 452),
        ("554 5.6.0 Message rejected as spam", "failed", 554),
    ],
)
def test_a_refused_message_body(
    smtp_server: SmtpServer, reply: str, status: str, code: int
) -> None:
    smtp_server.mailbox.refuse_data = reply
    [outcome] = email(smtp_server.port).send_many([message()])
    assert (outcome.status, outcome.code, outcome.detail) == (
        status,
        code,
        f"SMTP {code}: message refused",
    )


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"to": {}}, "no recipient email address"),
        ({"to": {"phone": "+447700900123"}}, "no recipient email address"),
        ({"to": {"email": "not an address"}}, "recipient email address not valid"),
        (
            {"to": {"email": "a@example.com\r\nBcc: b@example.com"}},
            "recipient email address not valid",
        ),
        ({"subject": "Hi\r\nBcc: b@example.com"}, "message could not be built"),
        ({"body": None}, "message has no text body"),
    ],
)
def test_a_message_that_cannot_be_sent_fails(
    smtp_server: SmtpServer, payload: dict[str, Any], detail: str
) -> None:
    [outcome] = email(smtp_server.port).send_many([message(**payload)])
    assert (outcome.status, outcome.detail) == ("failed", detail)
    assert smtp_server.mailbox.received == []


def test_other_deliveries_are_not_email(smtp_server: SmtpServer) -> None:
    [outcome] = email(smtp_server.port).send_many([delivery()])
    assert (outcome.status, outcome.detail) == ("failed", "email sends message deliveries only")


def test_starttls_required_but_not_offered_fails(smtp_server: SmtpServer) -> None:
    [outcome] = email(smtp_server.port, starttls=True).send_many([message()])
    assert outcome.status == "failed"
    assert outcome.detail.startswith("server does not support it: STARTTLS")
    assert smtp_server.mailbox.received == []


def test_no_server_is_retried_and_the_rest_not_tried() -> None:
    outcomes = email(free_port()).send_many([message(1), message(2)])
    assert [(o.status, o.detail) for o in outcomes] == [
        ("retry", "connection failed"),
        ("retry", NOT_ATTEMPTED_UNREACHABLE),
    ]


def test_the_smtp_host_goes_through_the_address_guard(smtp_server: SmtpServer) -> None:
    for host in ("127.0.0.1", "localhost"):
        destination = email(smtp_server.port, DestinationContext(), host=host)
        [outcome] = destination.send_many([message()])
        assert (outcome.status, outcome.detail) == ("failed", "address not allowed")
    assert smtp_server.mailbox.received == []
    allowed = DestinationContext(allowed_networks=("127.0.0.0/8",), timeout_seconds=1)
    [outcome] = email(smtp_server.port, allowed, host="localhost").send_many([message()])
    assert outcome.status == "delivered"


GOOD = {"host": "smtp.example.com", "from": "news@shop.example"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"from": "news@shop.example"}, "config.host"),
        ({**GOOD, "host": "smtp://smtp.example.com"}, "config.host"),
        ({**GOOD, "host": "smtp.example.com:587"}, "config.host"),
        ({"host": "smtp.example.com"}, "config.from"),
        ({**GOOD, "from": "News <news@shop.example>"}, "config.from"),
        ({**GOOD, "from": "news"}, "config.from"),
        ({**GOOD, "port": 0}, "config.port"),
        ({**GOOD, "port": "smtp"}, "config.port"),
        ({**GOOD, "starttls": "maybe"}, "config.starttls"),
        ({**GOOD, "username": "u"}, "config"),
        ({**GOOD, "username": "u", "password": "p"}, "config"),
        ({**GOOD, "timeout_seconds": -1}, "config.timeout_seconds"),
        ({**GOOD, "tls": True}, "config.tls"),
        ({**GOOD, "from_": "news@shop.example"}, "config.from_"),
    ],
)
def test_config_errors_name_their_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(DestinationConfigError) as raised:
        Email("mail", config, DestinationContext())
    assert raised.value.field == field


def test_login_over_starttls_is_accepted_as_config() -> None:
    config = {**GOOD, "port": 587, "starttls": True, "username": "u", "password": "p"}
    assert Email("mail", config, DestinationContext()).config.starttls


def test_the_config_schema_names_from() -> None:
    schema = Email.config_schema()
    assert set(schema["properties"]) == {
        "host",
        "port",
        "from",
        "username",
        "password",
        "starttls",
        "timeout_seconds",
    }
    assert set(schema["required"]) == {"host", "from"}
    assert schema["additionalProperties"] is False
