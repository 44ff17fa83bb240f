"""Attribution over HTTP against a live server: spend imported and summed, with scopes and a
bad file refused whole."""

import httpx

from tests.api.test_journeys_api import token
from tests.live import LiveServer

SPEND = (
    "date,channel,campaign,spend,currency\n"
    "2031-01-01,paid_search,brand-x,10.5,EUR\n2031-01-02,paid_search,brand-x,4.5,EUR\n"
    "2031-01-02,email,,1,EUR\n"
)


def test_spend_is_imported_summed_and_a_bad_file_changes_nothing(
    server: LiveServer, admin: httpx.Client
) -> None:
    with token(admin, server, "analytics:read") as analyst:
        refused = analyst.put("/v1/spend", content=SPEND)
        assert refused.status_code == 403
    with token(admin, server, "analytics:write", "analytics:read") as owner:
        stored = owner.put("/v1/spend", content=SPEND, headers={"Content-Type": "text/csv"})
        assert stored.status_code == 200, stored.text
        assert stored.json()["rows"] == 3 and stored.json()["first_day"] == "2031-01-01"
        window = {"since": "2031-01-01", "until": "2031-01-03"}
        summed = owner.get("/v1/spend", params=window).json()["spend"]
        assert summed == {"paid_search": 15.0, "email": 1.0}
        by_campaign = owner.get("/v1/spend", params={**window, "by": "campaign"}).json()
        assert by_campaign["spend"] == {"brand-x": 15.0}
        bad = SPEND + "2031-01-03,paid_search,brand-x,-2,EUR\n"
        answer = owner.put("/v1/spend", content=bad)
        assert answer.status_code == 400
        assert answer.json() == {"code": "invalid_request", "field": "body:5.spend",
                                 "message": "'-2' is no amount (a number, 0 or more)"}  # fmt: skip
        # nothing of the bad file was kept
        assert owner.get("/v1/spend", params={"since": "2031-01-03"}).json()["spend"] == {}
        assert owner.get("/v1/spend", params={"by": "device"}).status_code == 400
