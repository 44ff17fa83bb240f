"""Activation: destinations, campaigns and the delivery log.

The local side makes the calls ``api/activation.py`` makes, through the same checks
(``activation/catalog.py``), so both answer and refuse alike. Without a server no delivery
service runs: what is declared or replayed here is sent once a server holds the file.
"""

from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from kenning.activation.campaigns import CampaignError, parse_campaign
from kenning.activation.catalog import (
    check_references,
    describe_campaign,
    describe_destination,
    replay_dead,
)
from kenning.activation.declared import parse_destination
from kenning.activation.destinations.base import DestinationConfigError
from kenning.activation.destinations.registry import kinds
from kenning.activation.lift import lift
from kenning.activation.outbox import STATUSES, deliveries_page, delivery_detail
from kenning.activation.snapshots import write_snapshots
from kenning.activation.stage import CampaignInUse
from kenning.audiences.conditions import ConditionError, parse_duration
from kenning.cli.backend.base import CommandError, LocalBase, RemoteBase
from kenning.settings import destination_context

MAX_PAGE = 1_000  # as the API's limit


class ActivationBackend(Protocol):
    def list_destinations(self) -> list[dict[str, Any]]: ...
    def destination(self, name: str) -> dict[str, Any]: ...
    def destination_kinds(self) -> list[dict[str, Any]]: ...
    def declare_destination(self, name: str, spec: dict[str, Any]) -> dict[str, Any]: ...
    def remove_destination(self, name: str) -> dict[str, Any]: ...
    def snapshot_destination(self, name: str) -> dict[str, Any]: ...
    def list_campaigns(self) -> list[dict[str, Any]]: ...
    def campaign(self, name: str) -> dict[str, Any]: ...
    def declare_campaign(self, name: str, spec: dict[str, Any]) -> dict[str, Any]: ...
    def campaign_lift(self, name: str, event: str, within: str) -> dict[str, Any]: ...
    def remove_campaign(self, name: str) -> None: ...
    def deliveries(
        self,
        *,
        status: str | None,
        destination: str | None,
        campaign: str | None,
        profile_id: int | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]: ...
    def delivery(self, delivery_id: int) -> dict[str, Any]: ...
    def replay_deliveries(
        self, ids: list[int] | None, destination: str | None
    ) -> dict[str, Any]: ...


class LocalActivation(LocalBase):
    def list_destinations(self) -> list[dict[str, Any]]:
        return [d.public() for _, d in sorted(self.store.activation.destinations.items())]

    def destination(self, name: str) -> dict[str, Any]:
        described = describe_destination(self.store, name)
        if described is None:
            raise CommandError(f"no destination is named {name!r}")
        return described

    def destination_kinds(self) -> list[dict[str, Any]]:
        return [{"kind": name, "config_schema": k.config_schema()} for name, k in kinds().items()]

    def declare_destination(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        activation = self.store.activation
        try:
            declared = parse_destination(spec, name, context=destination_context(self.settings))
        except DestinationConfigError as error:
            raise CommandError(str(error)) from None
        self.store.writer.run(
            lambda con: activation.declare_destination(con, declared), changes_stages=True
        ).result()
        return declared.public()

    def remove_destination(self, name: str) -> dict[str, Any]:
        activation = self.store.activation
        try:
            dropped = self.store.writer.run(
                lambda con: activation.remove_destination(con, name), changes_stages=True
            ).result()
        except KeyError:
            raise CommandError(f"no destination is named {name!r}") from None
        except CampaignInUse as error:
            raise CommandError(str(error)) from None
        return {"removed": name, "dead_lettered": dropped}

    def snapshot_destination(self, name: str) -> dict[str, Any]:
        declared = self.store.activation.destinations.get(name)
        if declared is None:
            raise CommandError(f"no destination is named {name!r}")
        try:
            files = write_snapshots(self.store, declared, destination_context(self.settings))
        except DestinationConfigError as error:
            raise CommandError(str(error)) from None
        return {"files": {a: str(p) for a, p in files.items()}}

    def list_campaigns(self) -> list[dict[str, Any]]:
        with self.store.reader() as con:
            return self.store.activation.describe_campaigns(con)

    def campaign(self, name: str) -> dict[str, Any]:
        described = describe_campaign(self.store, name)
        if described is None:
            raise CommandError(f"no campaign is named {name!r}")
        return described

    def campaign_lift(self, name: str, event: str, within: str) -> dict[str, Any]:
        if name not in self.store.activation.campaigns:
            raise CommandError(f"no campaign is named {name!r}")
        try:
            window = parse_duration(within)
        except ValueError as error:
            raise CommandError(f"within: {error}") from None
        with self.store.reader() as con:
            return lift(con, name, event, window, datetime.now(UTC))

    def declare_campaign(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        activation = self.store.activation
        try:
            campaign = parse_campaign(spec, name)
            check_references(campaign, self.store)
            self.store.writer.run(
                lambda con: activation.declare_campaign(con, campaign), changes_stages=True
            ).result()
        except CampaignError as error:
            raise CommandError(str(error)) from None
        except ConditionError as error:
            raise CommandError(f"{error.field or 'trigger'}: {error}") from None
        return campaign.document()

    def remove_campaign(self, name: str) -> None:
        activation = self.store.activation
        try:
            self.store.writer.run(
                lambda con: activation.remove_campaign(con, name), changes_stages=True
            ).result()
        except KeyError:
            raise CommandError(f"no campaign is named {name!r}") from None

    def deliveries(
        self,
        *,
        status: str | None,
        destination: str | None,
        campaign: str | None,
        profile_id: int | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise CommandError(f"--status is one of {', '.join(STATUSES)}")
        if not 1 <= limit <= MAX_PAGE:
            raise CommandError(f"--limit is 1 to {MAX_PAGE:,}")
        if cursor is not None and not cursor.isdigit():
            raise CommandError("--cursor is not one a page gave")
        with self.store.reader() as con:
            items = deliveries_page(
                con,
                status=status,
                destination=destination,
                campaign=campaign,
                profile_id=profile_id,
                before=None if cursor is None else int(cursor),
                limit=limit + 1,
            )
        more = len(items) > limit
        items = items[:limit]
        return {"deliveries": items, "next_cursor": str(items[-1]["id"]) if more else None}

    def delivery(self, delivery_id: int) -> dict[str, Any]:
        with self.store.reader() as con:
            found = delivery_detail(con, delivery_id)
        if found is None:
            raise CommandError(f"no delivery has id {delivery_id}")
        return found

    def replay_deliveries(self, ids: list[int] | None, destination: str | None) -> dict[str, Any]:
        if ids is None and destination is None:
            # Neither would replay every dead delivery of every destination.
            raise CommandError("give ids, a destination, or both")
        try:
            return {"replayed": replay_dead(self.store, ids, destination)}
        except KeyError:
            raise CommandError(f"no destination is named {destination!r}") from None


class RemoteActivation(RemoteBase):
    def list_destinations(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", "/v1/destinations")["destinations"]
        return listed

    def destination(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/destinations/{quote(name, safe='')}")
        return result

    def destination_kinds(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", "/v1/destinations/kinds")["kinds"]
        return listed

    def declare_destination(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/destinations/{quote(name, safe='')}"
        result: dict[str, Any] = self._call("PUT", path, json=spec)
        return result

    def remove_destination(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/destinations/{quote(name, safe='')}")
        return result

    def snapshot_destination(self, name: str) -> dict[str, Any]:
        path = f"/v1/destinations/{quote(name, safe='')}/snapshot"
        result: dict[str, Any] = self._call("POST", path)
        return result

    def list_campaigns(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", "/v1/campaigns")["campaigns"]
        return listed

    def campaign(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/campaigns/{quote(name, safe='')}")
        return result

    def campaign_lift(self, name: str, event: str, within: str) -> dict[str, Any]:
        path = f"/v1/campaigns/{quote(name, safe='')}/lift"
        result: dict[str, Any] = self._call("GET", path, params={"event": event, "within": within})
        return result

    def declare_campaign(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/campaigns/{quote(name, safe='')}"
        result: dict[str, Any] = self._call("PUT", path, json=spec)
        return result

    def remove_campaign(self, name: str) -> None:
        self._call("DELETE", f"/v1/campaigns/{quote(name, safe='')}")

    def deliveries(
        self,
        *,
        status: str | None,
        destination: str | None,
        campaign: str | None,
        profile_id: int | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        given = {
            "status": status,
            "destination": destination,
            "campaign": campaign,
            "profile_id": profile_id,
            "cursor": cursor,
        }
        params: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        result: dict[str, Any] = self._call(
            "GET", "/v1/deliveries", params={**params, "limit": limit}
        )
        return result

    def delivery(self, delivery_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/deliveries/{delivery_id}")
        return result

    def replay_deliveries(self, ids: list[int] | None, destination: str | None) -> dict[str, Any]:
        body = {k: v for k, v in {"ids": ids, "destination": destination}.items() if v is not None}
        result: dict[str, Any] = self._call("POST", "/v1/deliveries/replay", json=body)
        return result
