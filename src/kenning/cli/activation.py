"""``kenning destinations``, ``kenning campaigns`` and ``kenning deliveries``: declare where
deliveries go and the campaigns that make them from YAML or JSON files, list and show them,
page the delivery log, look at one delivery's attempts and dead letters, replay dead ones.

A destination's secrets are shown masked, as the API shows them (docs/activation.md).
"""

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kenning.cli.backend import CommandError, connect
from kenning.cli.declarations import read_declaration
from kenning.cli.options import DEFAULT, Db, Json, Token, Url

destinations = typer.Typer(help="Destinations: list, show, declare, remove, kinds.")
campaigns = typer.Typer(help="Campaigns: list, show, declare, lift, remove.")
deliveries = typer.Typer(help="The delivery log: list, show, replay dead deliveries.")

DestinationName = Annotated[str, typer.Argument(help="The destination.")]
CampaignName = Annotated[str, typer.Argument(help="The campaign.")]
DestinationFile = Annotated[
    Path,
    typer.Argument(
        help="A YAML or JSON file: name, kind, config, consent, audiences, events, enabled "
        "(docs/activation.md)."
    ),
]
CampaignFile = Annotated[
    Path,
    typer.Argument(
        help="A YAML or JSON file: name, trigger, message, channel, channels, ... "
        "(docs/activation.md)."
    ),
]


def _read(file: Path, what: str, keys: str) -> dict[str, Any]:
    """The declaration in FILE, which must be named."""
    spec = read_declaration(file, f"a {what}: {keys}")
    if not isinstance(spec.get("name"), str):
        raise CommandError(f"{file}: the {what} needs a name")
    return spec


def _json(value: object) -> None:
    print(orjson.dumps(value).decode())


def _shown(value: object) -> str:
    """A value as one table cell: text as it is, anything else as compact JSON."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return escape(text)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{status} {n:,}" for status, n in sorted(counts.items())) or "none"


def _when(at: str | None) -> str:
    return "" if at is None else at[:19].replace("T", " ")


# -- destinations ------------------------------------------------------------------------------


def _receives(d: dict[str, Any]) -> str:
    parts = [f"audience {a}" for a in d["audiences"]]
    events = d.get("events")
    if events is not None:
        names = events["names"] + [f"type {t}" for t in events["types"]]
        parts.append(f"events ({', '.join(names)})" if names else "every event")
    return escape(", ".join(parts)) or "campaign messages"


@destinations.command("list")
def destinations_list(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Every destination: its kind and what it receives besides campaign messages."""
    with connect(db, url, token) as backend:
        listed = backend.list_destinations()
    if json:
        _json(listed)
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    for column in ("kind", "enabled", "receives", "consent"):
        table.add_column(column)
    for d in listed:
        table.add_row(
            d["name"],
            d["kind"],
            "yes" if d["enabled"] else "no",
            _receives(d),
            escape(", ".join(d["consent"])),
        )
    Console().print(table)


@destinations.command("show")
def destinations_show(
    name: DestinationName,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """One destination (secrets masked) and its queue: deliveries by status."""
    with connect(db, url, token) as backend:
        found = backend.destination(name)
    if json:
        _json(found)
        return
    table = Table("key", "value", show_header=False)
    table.add_row("name", found["name"])
    table.add_row("kind", found["kind"])
    table.add_row("enabled", "yes" if found["enabled"] else "no")
    for key, value in found["config"].items():
        table.add_row(f"config.{escape(key)}", _shown(value))
    table.add_row("consent", escape(", ".join(found["consent"])) or "none")
    table.add_row("receives", _receives(found))
    table.add_row("deliveries", _counts(found["deliveries"]))
    Console().print(table)


@destinations.command("declare")
def destinations_declare(
    file: DestinationFile, db: Db = DEFAULT, url: Url = None, token: Token = None
) -> None:
    """Add or replace the destination in FILE; its config is checked by making it."""
    spec = _read(file, "destination", "name, kind and config")
    with connect(db, url, token) as backend:
        declared = backend.declare_destination(spec["name"], spec)
    Console().print(f"declared {declared['name']} ({declared['kind']})")


@destinations.command("remove")
def destinations_remove(
    name: DestinationName, db: Db = DEFAULT, url: Url = None, token: Token = None
) -> None:
    """Remove a destination; what it was still owed becomes dead letters (replayable)."""
    with connect(db, url, token) as backend:
        result = backend.remove_destination(name)
    dead = result["dead_lettered"]
    owed = f"; {dead:,} deliveries still owed are dead letters (replayable)" if dead else ""
    Console().print(f"removed {name}{owed}")


@destinations.command("snapshot")
def destinations_snapshot(
    name: DestinationName,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """A file destination writes every member of each audience it takes (deltas follow)."""
    with connect(db, url, token) as backend:
        result = backend.snapshot_destination(name)
    if json:
        _json(result)
        return
    out = Console()
    for audience, path in result["files"].items():
        out.print(f"{escape(audience)}: {escape(path)}", highlight=False)
    if not result["files"]:
        out.print(f"{name} takes no audience: nothing written")


@destinations.command("kinds")
def destinations_kinds(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """The kinds of destination and the keys of each one's config."""
    with connect(db, url, token) as backend:
        found = backend.destination_kinds()
    if json:
        _json(found)
        return
    table = Table("kind", "config key", "required or default", "what")
    for kind in found:
        schema = kind["config_schema"]
        required = set(schema.get("required", []))
        for i, (key, field) in enumerate(schema.get("properties", {}).items()):
            default = field.get("default")
            if key in required:
                need = "required"
            else:
                need = "" if default is None else f"default {_shown(default)}"
            name = kind["kind"] if i == 0 else ""  # each kind named on its first row only
            table.add_row(name, key, need, escape(field.get("description", "")))
    Console().print(table)


# -- campaigns ---------------------------------------------------------------------------------


def _trigger(trigger: dict[str, Any]) -> str:
    """``event: Order Completed``, ``audience: vip, on: exited``."""
    return ", ".join(f"{key}: {_shown(value)}" for key, value in trigger.items())


@campaigns.command("list")
def campaigns_list(
    db: Db = DEFAULT, url: Url = None, token: Token = None, json: Json = False
) -> None:
    """Every campaign: its trigger, channels and what became of its messages."""
    with connect(db, url, token) as backend:
        listed = backend.list_campaigns()
    if json:
        _json(listed)
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    for column in ("enabled", "trigger", "channels", "messages"):
        table.add_column(column)
    for c in listed:
        table.add_row(
            c["name"],
            "yes" if c.get("enabled", True) else "no",
            _trigger(c["trigger"]),
            _channels(c),
            _counts(c["messages"]),
        )
    Console().print(table)


def _channels(c: dict[str, Any]) -> str:
    """``email via mail`` (a fixed channel), ``preferred: email via mail, sms via gateway``."""
    routes = {ch: f"{ch} via {r['destination']}" for ch, r in c["channels"].items()}
    if c["channel"] in routes:
        return escape(routes[c["channel"]])
    return escape(f"{c['channel']}: {', '.join(routes.values())}")


@campaigns.command("show")
def campaigns_show(
    name: CampaignName,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """One campaign as declared and its messages by status (holdout among them)."""
    with connect(db, url, token) as backend:
        found = backend.campaign(name)
    if json:
        _json(found)
        return
    table = Table("key", "value", show_header=False)
    table.add_row("name", found["name"])
    if found.get("description"):
        table.add_row("description", escape(found["description"]))
    table.add_row("enabled", "yes" if found.get("enabled", True) else "no")
    table.add_row("trigger", _trigger(found["trigger"]))
    for key, value in found["message"].items():
        table.add_row(f"message.{key}", escape(value))
    table.add_row("channels", _channels(found))
    shown = {"name", "description", "enabled", "trigger", "message", "channel", "channels"}
    for key, value in found.items():
        if key not in shown and key != "messages" and value not in ([], None):
            table.add_row(escape(key), _shown(value))
    table.add_row("messages", _counts(found["messages"]))
    Console().print(table)


@campaigns.command("declare")
def campaigns_declare(
    file: CampaignFile, db: Db = DEFAULT, url: Url = None, token: Token = None
) -> None:
    """Add or replace the campaign in FILE; its destinations and audiences must be declared."""
    spec = _read(file, "campaign", "name, trigger, message and channels")
    with connect(db, url, token) as backend:
        declared = backend.declare_campaign(spec["name"], spec)
    Console().print(f"declared {declared['name']}: {_trigger(declared['trigger'])}")


@campaigns.command("lift")
def campaigns_lift(
    name: CampaignName,
    event: Annotated[str, typer.Option(help="The conversion event, e.g. 'Order Completed'.")],
    within: Annotated[str, typer.Option(help="The window after the trigger: 7d, 24h.")] = "7d",
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Conversion of the people reached against the holdout group, the lift and p-value."""
    with connect(db, url, token) as backend:
        found = backend.campaign_lift(name, event, within)
    if json:
        _json(found)
        return
    table = Table("group", "people", "converted", "rate")
    for group in ("treated", "control"):
        g = found[group]
        rate = "-" if g["rate"] is None else f"{g['rate']:.1%}"
        table.add_row(group, f"{g['people']:,}", f"{g['converted']:,}", rate)
    Console().print(table)
    lift = "-" if found["lift"] is None else f"{found['lift']:+.1%}"
    p_value = "-" if found["p_value"] is None else f"{found['p_value']:.3g}"
    Console().print(f"lift {lift}, p-value {p_value}")


@campaigns.command("remove")
def campaigns_remove(
    name: CampaignName, db: Db = DEFAULT, url: Url = None, token: Token = None
) -> None:
    """Remove a campaign; its messages not yet decided become suppressed."""
    with connect(db, url, token) as backend:
        backend.remove_campaign(name)
    Console().print(f"removed {name}")


# -- deliveries --------------------------------------------------------------------------------


@deliveries.command("list")
def deliveries_list(
    status: Annotated[
        str | None,
        typer.Option(help="scheduled, pending, delivered, dead, suppressed or holdout."),
    ] = None,
    destination: Annotated[str | None, typer.Option(help="Only this destination's.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's.")] = None,
    profile: Annotated[int | None, typer.Option(help="Only this profile's (its id).")] = None,
    limit: Annotated[int, typer.Option(help="Deliveries per page, at most 1000.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="The next_cursor of a page.")] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """A page of the delivery log, newest first; the cursor of the next page on standard
    error (in the JSON, ``next_cursor``)."""
    with connect(db, url, token) as backend:
        page = backend.deliveries(
            status=status,
            destination=destination,
            campaign=campaign,
            profile_id=profile,
            limit=limit,
            cursor=cursor,
        )
    if json:
        _json(page)
        return
    table = Table()
    table.add_column("id", justify="right", no_wrap=True)
    for column in ("created", "destination", "kind", "campaign", "profile", "status"):
        table.add_column(column)
    table.add_column("attempts", justify="right")
    table.add_column("detail")
    for d in page["deliveries"]:
        sent_as = d["campaign"] and f"{d['campaign']} ({d['channel'] or 'channel undecided'})"
        table.add_row(
            str(d["id"]),
            _when(d["created_at"]),
            escape(d["destination"] or ""),
            d["kind"],
            escape(sent_as or ""),
            "" if d["profile_id"] is None else str(d["profile_id"]),
            d["status"],
            str(d["attempts"]),
            escape(d["detail"] or ""),
        )
    Console().print(table)
    if page["next_cursor"]:
        Console(stderr=True).print(f"next page: --cursor {page['next_cursor']}")


@deliveries.command("show")
def deliveries_show(
    delivery_id: Annotated[int, typer.Argument(metavar="ID", help="The delivery's id.")],
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """One delivery: its payload, every attempt and its dead letters."""
    with connect(db, url, token) as backend:
        found = backend.delivery(delivery_id)
    if json:
        _json(found)
        return
    out = Console()
    summary = Table("key", "value", show_header=False)
    for key in ("id", "idempotency_key", "destination", "kind", "campaign", "channel"):
        if found.get(key) is not None:
            summary.add_row(key, escape(str(found[key])))
    if found["profile_id"] is not None:
        summary.add_row("profile", str(found["profile_id"]))
    summary.add_row(
        "status", found["status"] + (f": {escape(found['detail'])}" if found["detail"] else "")
    )
    for key in ("created_at", "scheduled_at", "next_attempt_at", "finished_at"):
        if found.get(key):
            summary.add_row(key.removesuffix("_at"), _when(found[key]))
    out.print(summary)
    out.print(
        "payload:",
        orjson.dumps(found["payload"], option=orjson.OPT_INDENT_2).decode(),
        markup=False,
        highlight=False,
    )
    if found["attempts_log"]:
        attempts = Table("attempt", "at", "status", "code", "detail", "ms", title="attempts")
        for a in found["attempts_log"]:
            attempts.add_row(
                str(a["attempt"]),
                _when(a["at"]),
                a["status"],
                "" if a["code"] is None else str(a["code"]),
                escape(a["detail"] or ""),
                "" if a["milliseconds"] is None else str(a["milliseconds"]),
            )
        out.print(attempts)
    if found["dead_letters"]:
        letters = Table("at", "code", "detail", "response", "replayed", title="dead letters")
        for letter in found["dead_letters"]:
            letters.add_row(
                _when(letter["at"]),
                "" if letter["code"] is None else str(letter["code"]),
                escape(letter["detail"] or ""),
                escape(letter["response"] or ""),
                _when(letter["replayed_at"]) or "no",
            )
        out.print(letters)


@deliveries.command("replay")
def deliveries_replay(
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="A dead delivery's id (repeatable).")
    ] = None,
    destination: Annotated[
        str | None, typer.Option(help="Every dead delivery of this destination.")
    ] = None,
    db: Db = DEFAULT,
    url: Url = None,
    token: Token = None,
) -> None:
    """Put dead deliveries back in the queue (their dead letters are kept, marked replayed)."""
    if not ids and destination is None:
        raise CommandError("give --id, --destination, or both")
    with connect(db, url, token) as backend:
        replayed = backend.replay_deliveries(ids or None, destination)["replayed"]
    if not replayed:
        Console().print("no dead delivery matched: nothing replayed")
        return
    noun = "delivery" if len(replayed) == 1 else "deliveries"
    Console().print(f"replayed {len(replayed):,} {noun}: {', '.join(str(i) for i in replayed)}")
