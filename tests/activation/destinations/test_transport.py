from collections.abc import Callable
from typing import Any

import pytest

from kenning.activation.destinations.base import DestinationContext
from kenning.activation.destinations.transport import MAX_REDIRECTS, retry_after_seconds
from kenning.activation.destinations.webhook import Webhook, verify_signature
from tests.activation.destinations.make import delivery
from tests.activation.destinations.scripted import Reply, ScriptedServer, running

SECRET = "s3cret-of-at-least-16"
ONLY_FIRST = DestinationContext(allowed_networks=("127.0.0.1/32",), timeout_seconds=1)


def _send(url: str, context: DestinationContext, **config: Any) -> tuple[str, int | None, str]:
    destination = Webhook("t", {"url": url, "secret": SECRET, **config}, context)
    try:
        [outcome] = destination.send_many([delivery()])
    finally:
        destination.close()
    return outcome.status, outcome.code, outcome.detail


def redirect(status: int, location: str) -> Reply:
    return Reply(status, headers={"Location": location})


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_followed_with_the_same_signed_post(
    http_server: ScriptedServer, status: int
) -> None:
    http_server.script(redirect(status, "/moved"), Reply(200))
    assert _send(http_server.url + "/hook", ONLY_FIRST) == ("delivered", 200, "HTTP 200")
    first, second = http_server.requests
    assert (first.path, second.path) == ("/hook", "/moved")
    assert (first.method, second.method) == ("POST", "POST")
    assert first.body == second.body
    headers = second.headers
    assert verify_signature(
        SECRET, headers["x-kenning-timestamp"], second.body, headers["x-kenning-signature"]
    )
    assert headers["idempotency-key"] == "key-1"


def test_a_redirect_to_a_refused_address_is_refused() -> None:
    """127.0.0.1 is allowed, 127.0.0.2 is not: the first hop lands, the second never does."""
    with running("127.0.0.1") as allowed, running("127.0.0.2") as refused:
        allowed.script(redirect(307, refused.url + "/inside"))
        assert _send(allowed.url, ONLY_FIRST) == ("failed", None, "address not allowed")
        assert len(allowed.requests) == 1
        assert refused.requests == []


def test_a_redirect_to_ipv6_loopback_is_refused() -> None:
    with running("127.0.0.1") as allowed, running("::1") as refused:
        allowed.script(redirect(302, refused.url))
        assert _send(allowed.url, ONLY_FIRST) == ("failed", None, "address not allowed")
        assert refused.requests == []


def test_a_redirect_to_a_name_of_a_refused_address_is_refused(
    resolver: Callable[..., list[str]],
) -> None:
    with running("127.0.0.1") as allowed, running("127.0.0.2", allowed.port) as refused:
        resolver("inside.test", ["127.0.0.2"])
        allowed.script(redirect(302, f"http://inside.test:{allowed.port}/"))
        assert _send(allowed.url, ONLY_FIRST) == ("failed", None, "address not allowed")
        assert refused.requests == []


def test_at_most_five_redirects_are_followed(http_server: ScriptedServer) -> None:
    http_server.script(redirect(302, "/again"))
    assert _send(http_server.url, ONLY_FIRST) == (
        "failed",
        302,
        f"more than {MAX_REDIRECTS} redirects",
    )
    assert len(http_server.requests) == MAX_REDIRECTS + 1


def test_a_redirect_to_another_scheme_is_refused(http_server: ScriptedServer) -> None:
    http_server.script(redirect(307, "ftp://127.0.0.1/x"))
    assert _send(http_server.url, ONLY_FIRST) == (
        "failed",
        307,
        "redirect to a scheme other than http(s)",
    )


@pytest.mark.parametrize(
    ("location", "code"), [("http://127.0.0.1:b/", None), ("http://127.0.0.1:99999/", 302)]
)
def test_a_redirect_to_a_url_that_is_not_one_is_refused(
    http_server: ScriptedServer, location: str, code: int | None
) -> None:
    http_server.script(redirect(302, location))
    assert _send(http_server.url, ONLY_FIRST) == ("failed", code, "redirect to an invalid URL")
    assert len(http_server.requests) == 1


def test_extra_headers_do_not_follow_a_redirect_to_another_origin() -> None:
    context = DestinationContext(allow_private=True, timeout_seconds=1)
    with running("127.0.0.1") as first, running("127.0.0.2") as second:
        first.script(redirect(308, second.url + "/in"))
        outcome = _send(first.url, context, headers={"Authorization": "Bearer t"})
        assert outcome[0] == "delivered"
        assert first.requests[0].headers["authorization"] == "Bearer t"
        assert "authorization" not in second.requests[0].headers
        assert second.requests[0].headers["idempotency-key"] == "key-1"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=1445412470.0) == seconds
