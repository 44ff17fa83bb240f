"""The console in a real headless Chromium against a live server: signing in with an API
token, finding a profile by email, its predictions with when each was computed (as the API
says), personal values masked without ``pii:read`` and audited with it, predictions withheld
once consent is withdrawn, scopes refused with a page that names them, revocation and sign-out,
security headers, escaping, and nothing loaded from anywhere but the server."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.api.test_journeys_api import BASE
from tests.console.browser import chromium
from tests.live import LiveServer

PROFILING = {"consent": {"categoryPreferences": {"personalisation": True}}}
PROVOKED = (400, 401, 403, 404)
HOSTILE = "<script>window.pwned = 1</script><b>bold</b>"


@dataclass(frozen=True)
class Shop:
    server: LiveServer
    admin: httpx.Client
    tag: str
    email: str
    lapsed_email: str
    run: dict[str, Any]


def order(who: str, days_before: float, revenue: float) -> dict[str, Any]:
    return {"type": "track", "userId": who, "event": "Order Completed",
            "timestamp": (BASE - timedelta(days=days_before)).isoformat(),
            "properties": {"revenue": revenue}, "context": PROFILING}  # fmt: skip


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    server = LiveServer(tmp_path_factory.mktemp("console") / "kenning.duckdb").start()
    tag = uuid.uuid4().hex[:8]
    email, lapsed = f"ada-{tag}@shop.example", f"bo-{tag}@shop.example"
    key = server.create_source("web")
    people = [(f"ada-{tag}", email), (f"bo-{tag}", lapsed)]
    batch: list[dict[str, Any]] = [
        {"type": "identify", "userId": user, "timestamp": (BASE - timedelta(days=400)).isoformat(),
         "traits": {"email": address, "firstName": "Ada", "title": HOSTILE}, "context": PROFILING}
        for user, address in people
    ]  # fmt: skip
    batch += [order(f"ada-{tag}", 3, 40), order(f"ada-{tag}", 40, 60), order(f"bo-{tag}", 300, 25)]
    batch += [order(f"other{i}-{tag}", 5 + 11 * i, 10 + i) for i in range(20)]
    with httpx.Client(base_url=server.url, auth=(key, ""), timeout=30) as collector:
        assert collector.post("/v1/batch", json={"batch": batch}).status_code == 200
    admin = server.admin()
    ran = admin.post("/v1/predictions/run",
                     json={"as_of": BASE.isoformat(), "models": ["rfm", "lifecycle"]})  # fmt: skip
    assert ran.status_code == 200, ran.text
    yield Shop(server, admin, tag, email, lapsed, ran.json())
    admin.close()
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture()
def visit(browser: Browser, shop: Shop) -> Iterator[Page]:
    """A fresh browser context (no cookie) on the console; it fails the test if the page
    asked anything of another origin or the browser reported an error (a CSP violation)."""
    context = browser.new_context(base_url=shop.server.url)
    tab = context.new_page()
    elsewhere: list[str] = []
    errors: list[str] = []
    origin = shop.server.url
    tab.on("request", lambda r: None if r.url.startswith(origin) else elsewhere.append(r.url))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()
    assert elsewhere == []
    # the pages the tests provoke answer 400 to 404, which the browser reports; nothing else
    assert [e for e in errors if not any(f"status of {s}" in e for s in PROVOKED)] == []


def new_token(shop: Shop, *scopes: str) -> dict[str, Any]:
    asked = {"name": f"console-{shop.tag}", "scopes": list(scopes)}
    created = shop.admin.post("/v1/tokens", json=asked)
    assert created.status_code == 201
    found: dict[str, Any] = created.json()
    return found


def sign_in(tab: Page, token: str) -> None:
    tab.goto("/console/")
    assert tab.url.endswith("/console/login")  # not signed in: sent to sign in
    tab.fill("#token", token)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/console/")


def find(tab: Page, identifier: str) -> None:
    tab.fill("#identifier", identifier)
    tab.click("main button[type=submit]")
    tab.wait_for_load_state()


def shown_time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_profile_shows_each_score_with_when_it_was_computed(visit: Page, shop: Shop) -> None:
    sign_in(visit, new_token(shop, "profiles:read", "pii:read")["token"])
    find(visit, f"email:{shop.email}")
    assert "/console/profiles/" in visit.url and shop.email not in visit.url
    api = shop.admin.get(f"/v1/profiles/email:{shop.email}").json()
    assert visit.url.endswith(f"/console/profiles/{api['profile_id']}")
    rows = visit.locator("#predictions tbody tr")
    shown = {rows.nth(i).get_attribute("data-score"): rows.nth(i).locator("td").all_inner_texts()
             for i in range(rows.count())}  # fmt: skip
    assert set(shown) == set(api["predictions"]) and "rfm_segment" in shown
    for name, (label, _, model, computed_at) in shown.items():
        score = api["predictions"][name]
        assert (label, model) == (name, score["model"])
        assert computed_at == shown_time(score["computed_at"])
    assert shown["lifecycle_stage"][1] == api["predictions"]["lifecycle_stage"]["value"]
    assert shown["rfm_score"][1] == str(api["predictions"]["rfm_score"]["value"])
    level = api["understanding"]
    assert f"level {level['level']}, {level['label']}" in visit.inner_text("#understanding")
    # with pii:read, the email is shown, and the view is in the audit log
    assert visit.locator("tr[data-trait=email] .value").inner_text() == shop.email
    assert visit.locator("#masked").count() == 0
    reads = shop.admin.get("/v1/audit", params={"action": "pii.read",
                                                "target": str(api["profile_id"])})  # fmt: skip
    assert reads.json()["entries"], "the console's unmasked view is audited"
    # a trait holding markup is shown as text, never run
    assert visit.locator("tr[data-trait=title] .value").inner_text() == HOSTILE
    assert visit.evaluate("window.pwned") is None
    assert visit.locator("main script, main b").count() == 0


def test_the_models_page_shows_each_run_as_the_api_does(visit: Page, shop: Shop) -> None:
    sign_in(visit, new_token(shop, "analytics:read")["token"])
    visit.click("nav >> text=Predictions")
    visit.wait_for_url("**/console/predictions")
    runs = {r["model"]: r for r in shop.admin.get("/v1/predictions").json()["runs"]}
    assert set(runs) == {"rfm", "lifecycle"}
    for model, run in runs.items():
        cell = visit.locator(f"tr[data-model={model}] .computed-at").inner_text()
        assert cell == shown_time(run["computed_at"])
    # this token reads no profile: the home page says so, and a profile page is refused
    visit.goto("/console/")
    assert "lacks the scope profiles:read" in visit.inner_text("main")
    answer = visit.goto("/console/profiles/1")
    assert answer is not None and answer.status == 403
    assert "profiles:read" in visit.inner_text("main")


def test_without_pii_read_personal_values_are_masked(visit: Page, shop: Shop) -> None:
    sign_in(visit, new_token(shop, "profiles:read")["token"])
    find(visit, f"email:{shop.email}")
    assert visit.locator("#masked").is_visible()
    assert visit.locator("tr[data-trait=email] .value").inner_text() == "***"
    assert visit.locator("tr[data-trait=firstName] .value").inner_text() == "***"
    assert shop.email not in visit.content() and "Ada" not in visit.inner_text("#traits")
    assert visit.locator("#predictions tbody tr").count() > 0
    # an unknown identifier and a malformed one are answered on the page
    visit.goto("/console/")
    find(visit, f"email:nobody-{shop.tag}@shop.example")
    assert "no profile holds this identifier" in visit.inner_text(".error")
    find(visit, "no colon here")
    assert visit.locator(".error").count() == 1


def test_predictions_are_withheld_once_consent_is_withdrawn(visit: Page, shop: Shop) -> None:
    refusal = {"categoryPreferences": {"personalisation": False}}
    withdrawn = shop.admin.put(f"/v1/profiles/email:{shop.lapsed_email}/consent", json=refusal)
    assert withdrawn.status_code == 200, withdrawn.text
    sign_in(visit, new_token(shop, "profiles:read", "pii:read")["token"])
    find(visit, f"email:{shop.lapsed_email}")
    assert "does not let themselves be profiled" in visit.inner_text("#predictions")
    assert visit.locator("#predictions tbody tr").count() == 0
    assert "refused" in visit.inner_text("#consent tr[data-category=personalisation]")


def test_pages_are_hardened_and_a_revoked_token_signs_out(visit: Page, shop: Shop) -> None:
    made = new_token(shop, "profiles:read")
    sign_in(visit, made["token"])
    answer = visit.goto("/console/")
    assert answer is not None
    headers = answer.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    # the stylesheet, served by the console itself, applies
    background = visit.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(247, 248, 251)"
    (cookie,) = visit.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    # a form posted from another site is refused, cookie or not
    forged = httpx.post(f"{shop.server.url}/console/profiles/find",
                        data={"identifier": f"email:{shop.email}"},
                        headers={"Origin": "https://evil.example"},
                        cookies={cookie["name"]: cookie["value"]})  # fmt: skip
    assert forged.status_code == 403 and shop.email not in forged.text
    # revoking the token ends the session at the next page
    assert shop.admin.delete(f"/v1/tokens/{made['id']}").status_code == 200
    visit.goto("/console/")
    assert visit.url.endswith("/console/login")


def test_a_bad_token_is_refused_and_sign_out_forgets_the_token(visit: Page, shop: Shop) -> None:
    visit.goto("/console/login")
    visit.fill("#token", "kn_not_a_token")
    visit.click("button[type=submit]")
    assert "unknown or revoked token" in visit.inner_text(".error")
    assert visit.context.cookies() == []
    sign_in(visit, new_token(shop, "profiles:read")["token"])
    visit.click("text=Sign out")
    visit.wait_for_url("**/console/login")
    assert visit.context.cookies() == []
    visit.goto("/console/profiles/1")
    assert visit.url.endswith("/console/login")


def test_a_malformed_form_reads_as_empty(shop: Shop) -> None:
    made = new_token(shop, "profiles:read")
    url = f"{shop.server.url}/console/login"
    crowded = "&".join(f"f{i}=x" for i in range(50)) + f"&token={made['token']}"
    for body in (crowded, "token=" + "x" * 5_000):
        answer = httpx.post(url, content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert answer.status_code == 401 and "unknown or revoked token" in answer.text
        assert "set-cookie" not in answer.headers
