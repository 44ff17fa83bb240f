"""The email destination: a campaign's rendered message, sent over SMTP.

Sends ``message`` deliveries: ``payload["subject"]`` and ``payload["body"]`` (plain text, and
``payload["html"]`` as an alternative part when given) to ``payload["to"]["email"]``. The
``Message-ID`` is derived from the idempotency key and ``Date`` from the delivery's creation,
so every attempt sends the same message and a retry is recognisable (a mail system or a
person can drop the repeat). One connection serves a call to ``send_many``.

Reply codes: 4xx (temporary) and lost or refused connections are retried; 5xx (permanent),
a missing or invalid recipient, a server without STARTTLS when it is asked for, and a refused
address are failed. The SMTP host goes through the same address guard as a URL: resolved,
every address checked, and the connection made to a checked one.
"""

import hashlib
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from kenning.activation.destinations.base import (
    ConfigModel,
    Delivery,
    DestinationContext,
    Outcome,
    config_schema_of,
    parse_config,
    send_each,
    truncate_response,
)
from kenning.activation.destinations.network import (
    AddressGuard,
    AddressNotAllowed,
    NameNotResolved,
    connect_checked,
)


def parse_address(value: str) -> Address:
    """One plain address (``ada@example.com``); a display name or a second address is refused.

    >>> parse_address("ada@example.com").domain
    'example.com'
    """
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\0 <>,;\"'()"):
        raise ValueError("an email address is like name@example.com")
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError):
        raise ValueError("an email address is like name@example.com") from None
    if not address.username or "." not in address.domain:
        raise ValueError("an email address is like name@example.com")
    return address


class EmailConfig(ConfigModel):
    host: str = Field(min_length=1, description="the SMTP server's name or address")
    port: int = Field(default=25, ge=1, le=65535)
    from_: str = Field(alias="from", description="the sender's address")
    username: str | None = None
    password: str | None = None
    starttls: bool = Field(default=False, description="upgrade to TLS; required to log in")
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        parse_address(value)
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            # A name, then: no scheme, port or user (an IPv6 address is the one host with ":").
            if any(ch.isspace() or ch in "/@:[]" for ch in value):
                raise ValueError("a host name or address, without scheme or port") from None
        return value

    @model_validator(mode="after")
    def _login(self) -> "EmailConfig":
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together")
        if self.username is not None and not self.starttls:
            raise ValueError("a password is sent only over TLS: set starttls")
        return self


class _GuardedSMTP(smtplib.SMTP):
    # smtplib opens its socket in _get_socket (SMTP_SSL overrides it the same way): here it
    # connects to an address the guard checked, while the name stays the TLS server name.
    def __init__(self, guard: AddressGuard, host: str, port: int, timeout: float) -> None:
        self._guard = guard
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return connect_checked(self._guard, host, port, timeout)


class Email:
    """Send ``message`` deliveries by SMTP (see the module's docstring)."""

    kind: ClassVar[str] = "email"

    def __init__(self, name: str, config: Mapping[str, Any], context: DestinationContext) -> None:
        self.name = name
        self.config = parse_config(EmailConfig, config)
        self.sender = parse_address(self.config.from_)
        self.timeout = self.config.timeout_seconds or context.timeout_seconds
        self._guard = AddressGuard(context)

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return config_schema_of(EmailConfig)

    def message(self, delivery: Delivery) -> EmailMessage | Outcome:
        """The email for a delivery, or the outcome that says why there is none."""
        if delivery.kind != "message":
            return Outcome.failed("email sends message deliveries only")
        payload = delivery.payload
        to = payload.get("to")
        recipient = to.get("email") if isinstance(to, Mapping) else None
        if not recipient:
            return Outcome.failed("no recipient email address")
        try:
            address = parse_address(recipient)
        except ValueError:
            return Outcome.failed("recipient email address not valid")
        body, html = payload.get("body"), payload.get("html")
        subject = payload.get("subject") or ""
        if not isinstance(body, str) or not isinstance(subject, str):
            return Outcome.failed("message has no text body")
        message = EmailMessage()
        try:
            message["From"] = self.sender
            message["To"] = address
            message["Subject"] = subject
            message["Date"] = format_datetime(delivery.created_at)
            message["Message-ID"] = message_id(delivery.idempotency_key, self.sender.domain)
            message.set_content(body)
            if isinstance(html, str):
                message.add_alternative(html, subtype="html")
        except (ValueError, TypeError):
            return Outcome.failed("message could not be built")
        return message

    def send_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        connection: _GuardedSMTP | None = None

        def send_one(delivery: Delivery) -> Outcome:
            nonlocal connection
            message = self.message(delivery)
            if isinstance(message, Outcome):
                return message
            try:
                if connection is None:
                    connection = self._connect()
                connection.send_message(message)
            except Exception as error:
                outcome = outcome_of_smtp_error(error)
                if outcome.status == "retry" and (outcome.code is None or outcome.code == 421):
                    _close(connection)
                    connection = None
                return outcome
            return Outcome.delivered(250, "accepted")

        try:
            return send_each(deliveries, send_one)
        finally:
            _quit(connection)

    def _connect(self) -> _GuardedSMTP:
        connection = _GuardedSMTP(self._guard, self.config.host, self.config.port, self.timeout)
        try:
            connection.ehlo_or_helo_if_needed()
            if self.config.starttls:
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if self.config.username is not None and self.config.password is not None:
                connection.login(self.config.username, self.config.password)
        except BaseException:
            _close(connection)
            raise
        return connection

    def close(self) -> None:
        pass


def message_id(idempotency_key: str, domain: str) -> str:
    """The ``Message-ID`` of every attempt of one delivery.

    >>> message_id("audience:vip:42:entered", "example.com")
    '<kenning.5e9853c5ed71fa552fe5f20fff3e58cd@example.com>'
    """
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<kenning.{digest}@{domain}>"


def outcome_of_smtp_error(error: Exception) -> Outcome:
    """4xx and unanswered connections retry; 5xx and what no retry can change fail."""
    if isinstance(error, AddressNotAllowed):
        return Outcome.failed(error.detail)
    if isinstance(error, NameNotResolved):
        return Outcome.retry("name did not resolve")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()), (None, b""))
        return _by_code(code, "recipient refused", text)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return Outcome.failed(f"server does not support it: {error}")
    if isinstance(error, smtplib.SMTPResponseException):
        what = {
            smtplib.SMTPSenderRefused: "sender refused",
            smtplib.SMTPDataError: "message refused",
            smtplib.SMTPAuthenticationError: "login refused",
            smtplib.SMTPConnectError: "connection refused",
            smtplib.SMTPHeloError: "greeting refused",
        }.get(type(error), "refused")
        return _by_code(error.smtp_code, what, error.smtp_error)
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return Outcome.retry("connection lost")
    if isinstance(error, ssl.SSLCertVerificationError):
        return Outcome.failed("TLS certificate not valid")
    if isinstance(error, TimeoutError | socket.timeout):
        return Outcome.retry("timed out")
    if isinstance(error, OSError):
        return Outcome.retry("connection failed")
    raise error


def _by_code(code: int | None, what: str, text: bytes | str) -> Outcome:
    response = truncate_response(text)
    if code is not None and 400 <= code < 500:
        return Outcome.retry(f"SMTP {code}: {what}", code, response=response)
    if code is None or code < 0:
        return Outcome.retry(f"{what}, no reply code", None, response=response)
    return Outcome.failed(f"SMTP {code}: {what}", code, response=response)


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        connection.close()


def _quit(connection: smtplib.SMTP | None) -> None:
    if connection is None:
        return
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
