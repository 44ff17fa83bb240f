"""The access matrix: every endpoint of the server's OpenAPI schema, asked by every scope, by a
write key and with no credential, answers as specified: 401 without a token (or with a write
key where a token is needed), 403 with a token lacking the endpoint's scope, and otherwise
whatever the endpoint says about the request (never 401, 403 or a server error). The scope
each endpoint needs is declared here, by hand: a new endpoint fails this test until it is."""

import base64
from collections.abc import Iterator
from typing import get_args

import httpx
import pytest

from kenning.api.admin import Scope
from kenning.privacy.scopes import SCOPES
from tests.live import LiveServer

WRITE_KEY = "write key"
PUBLIC = "public"

# (method, path template) -> what it needs: a scope, WRITE_KEY (collection) or PUBLIC.
ENDPOINTS: dict[tuple[str, str], str] = {
    **{("POST", f"/v1/{kind}"): WRITE_KEY
       for kind in ("import", "batch", "identify", "track", "page", "screen", "group", "alias")},
    ("GET", "/v1/sources"): "admin",
    ("POST", "/v1/sources"): "admin",
    ("GET", "/v1/tokens"): "admin",
    ("POST", "/v1/tokens"): "admin",
    ("DELETE", "/v1/tokens/{token_id}"): "admin",
    ("PUT", "/v1/sources/{name}/retention"): "admin",
    ("POST", "/v1/profiles/recompute"): "admin",
    ("GET", "/v1/stats"): "admin",
    ("GET", "/v1/quarantine"): "admin",
    ("GET", "/v1/quarantine/{quarantine_id}"): "admin",
    ("PUT", "/v1/quarantine/{quarantine_id}"): "admin",
    ("POST", "/v1/quarantine/replay"): "admin",
    ("GET", "/v1/events/export"): "admin",
    ("POST", "/v1/sources/{name}/import"): "admin",
    ("GET", "/v1/identity/explain"): "admin",
    ("POST", "/v1/identity/rebuild"): "admin",
    ("GET", "/v1/identity/overrides"): "admin",
    ("POST", "/v1/identity/overrides"): "admin",
    ("DELETE", "/v1/identity/overrides/{override_id}"): "admin",
    ("POST", "/v1/identity/evaluate"): "admin",
    ("POST", "/v1/identity/households"): "admin",
    ("GET", "/v1/identity/households/{household}"): "admin",
    ("GET", "/v1/identity/profiles/{profile_id}/household"): "admin",
    ("POST", "/v1/identity/match"): "admin",
    ("GET", "/v1/identity/reviews"): "admin",
    ("POST", "/v1/identity/reviews/{review_id}/{decision}"): "admin",
    ("GET", "/v1/identities/export"): "admin",
    ("GET", "/v1/profiles/{identifier}"): "profiles:read",
    ("GET", "/v1/profiles/{identifier}/audiences"): "profiles:read",
    ("GET", "/v1/profiles/{identifier}/traits"): "profiles:read",
    ("GET", "/v1/profiles/{identifier}/identities"): "profiles:read",
    ("GET", "/v1/profiles/{identifier}/consent"): "profiles:read",
    ("PUT", "/v1/profiles/{identifier}/consent"): "consent:write",
    ("GET", "/v1/profiles/{identifier}/events"): "profiles:read",
    ("GET", "/v1/profiles/{identifier}/journey"): "profiles:read",
    ("GET", "/v1/profiles/{identifier}/export"): "privacy:admin",
    ("GET", "/v1/profiles"): "profiles:read",
    ("GET", "/v1/computed-traits"): "profiles:read",
    ("PUT", "/v1/computed-traits/{name}"): "admin",
    ("DELETE", "/v1/computed-traits/{name}"): "admin",
    ("POST", "/v1/computed-traits/recompute"): "admin",
    ("POST", "/v1/computed-traits/refresh"): "admin",
    ("GET", "/v1/coverage"): "profiles:read",
    ("GET", "/v1/audiences"): "profiles:read",
    ("GET", "/v1/audiences/schema"): "profiles:read",
    ("GET", "/v1/audiences/{name}"): "profiles:read",
    ("GET", "/v1/audiences/{name}/members"): "profiles:read",
    ("PUT", "/v1/audiences/{name}"): "audiences:write",
    ("DELETE", "/v1/audiences/{name}"): "audiences:write",
    ("POST", "/v1/audiences/preview"): "audiences:write",
    ("POST", "/v1/audiences/evaluate"): "audiences:write",
    ("GET", "/v1/destinations"): "activation:read",
    ("GET", "/v1/destinations/kinds"): "activation:read",
    ("GET", "/v1/destinations/{name}"): "activation:read",
    ("PUT", "/v1/destinations/{name}"): "activation:write",
    ("DELETE", "/v1/destinations/{name}"): "activation:write",
    ("POST", "/v1/destinations/{name}/snapshot"): "activation:write",
    ("GET", "/v1/campaigns"): "activation:read",
    ("GET", "/v1/campaigns/{name}"): "activation:read",
    ("GET", "/v1/campaigns/{name}/lift"): "activation:read",
    ("PUT", "/v1/campaigns/{name}"): "activation:write",
    ("DELETE", "/v1/campaigns/{name}"): "activation:write",
    ("GET", "/v1/deliveries"): "activation:read",
    ("GET", "/v1/deliveries/{delivery_id}"): "activation:read",
    ("POST", "/v1/deliveries/replay"): "activation:write",
    ("GET", "/v1/channels"): "analytics:read",
    ("POST", "/v1/paths"): "analytics:read",
    ("POST", "/v1/funnels"): "analytics:read",
    ("POST", "/v1/goals"): "analytics:read",
    ("GET", "/v1/spend"): "analytics:read",
    ("PUT", "/v1/spend"): "analytics:write",
    ("POST", "/v1/attribution"): "analytics:read",
    ("POST", "/v1/attribution/acquisition"): "analytics:read",
    ("POST", "/v1/attribution/paths"): "analytics:read",
    ("GET", "/v1/predictions"): "analytics:read",
    ("POST", "/v1/predictions/run"): "analytics:write",
    ("POST", "/v1/predictions/lookalikes"): "audiences:write",
    ("POST", "/v1/regulations"): "privacy:admin",
    ("GET", "/v1/regulations"): "privacy:admin",
    ("GET", "/v1/regulations/{regulation_id}"): "privacy:admin",
    ("POST", "/v1/privacy/verify"): "privacy:admin",
    ("GET", "/v1/audit"): "privacy:admin",
    ("POST", "/v1/privacy/retention"): "privacy:admin",
    ("GET", "/v1/consent/categories"): "profiles:read",
}  # fmt: skip
# Endpoints left out of the OpenAPI schema, checked all the same.
UNLISTED = {("GET", "/health"): PUBLIC, ("GET", "/openapi.json"): PUBLIC}
# A path parameter's value: one that names nothing, so a permitted request changes nothing.
PARAMETERS = {"identifier": "user_id:nobody-here", "decision": "accept"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("matrix") / "kenning.duckdb").start()
    yield server
    server.stop()


def _credentials(live: LiveServer) -> dict[str, dict[str, str]]:
    """Headers per principal: no credential, a write key, and a token for each scope alone."""
    principals: dict[str, dict[str, str]] = {"none": {}}
    key = live.create_source("matrix")
    with live.admin() as admin:
        for scope in SCOPES:
            made = admin.post("/v1/tokens", json={"name": f"only {scope}", "scopes": [scope]})
            assert made.status_code == 201, made.text
            principals[scope] = {"Authorization": f"Bearer {made.json()['token']}"}
    principals[WRITE_KEY] = {"Authorization": "Basic " + _basic(key)}
    return principals


def _basic(key: str) -> str:
    return base64.b64encode(f"{key}:".encode()).decode()


def _url(template: str) -> str:
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        name = path[start + 1 : end]
        path = path[:start] + PARAMETERS.get(name, "x") + path[end + 1 :]
    return path


def _expected(needs: str, principal: str) -> str:
    if needs == PUBLIC:
        return "allowed"
    if needs == WRITE_KEY:
        return "allowed" if principal == WRITE_KEY else "401"
    if principal in ("none", WRITE_KEY):
        return "401"
    return "allowed" if principal in (needs, "admin") else "403"


def test_the_scopes_tokens_are_made_with_are_the_scopes_there_are() -> None:
    assert set(get_args(Scope)) == set(SCOPES)
    assert set(ENDPOINTS.values()) - {WRITE_KEY, PUBLIC} <= set(SCOPES)


def test_every_endpoint_answers_every_principal_as_specified(live: LiveServer) -> None:
    schema = httpx.get(live.url + "/openapi.json").json()
    listed = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}
    assert listed == set(ENDPOINTS), (
        f"undeclared: {sorted(listed - set(ENDPOINTS))}; gone: {sorted(set(ENDPOINTS) - listed)}"
    )
    principals = _credentials(live)
    wrong: list[str] = []
    with httpx.Client(base_url=live.url, timeout=60) as client:
        for (method, template), needs in sorted({**ENDPOINTS, **UNLISTED}.items()):
            for principal, headers in principals.items():
                body = {} if method in ("POST", "PUT") else None
                answer = client.request(method, _url(template), headers=headers, json=body)
                expected = _expected(needs, principal)
                got = answer.status_code
                fine = (
                    got not in (401, 403) and got < 500
                    if expected == "allowed"
                    else str(got) == expected
                )
                if got in (401, 403) and answer.json().get("field") != (
                    "writeKey" if needs == WRITE_KEY else "Authorization"
                ):
                    fine = False  # refusals are JSON naming what was missing
                if not fine:
                    wrong.append(f"{method} {template} as {principal}: {got}, not {expected}")
    assert wrong == []
