"""What each console page shows, read from the store as a reader may see it: plain data the
templates lay out, with no HTML here and no queries in the templates."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kenning.audiences.membership import profile_memberships
from kenning.predictions.scores import latest_runs
from kenning.privacy.pii import MASK, Masker
from kenning.privacy.seen import profile_as_seen
from kenning.profiles.read import events, profile

if TYPE_CHECKING:
    from kenning.settings import Settings
    from kenning.store.store import Store

RECENT_EVENTS = 25


def profile_view(
    store: "Store", settings: "Settings", profile_id: int, *, pii_read: bool
) -> dict[str, Any]:
    """Everything the profile page shows of one person."""
    held = profile(store, profile_id)
    seen = profile_as_seen(store, settings.privacy, held, pii_read=pii_read)
    masker = None if pii_read else Masker(settings.privacy.pii)
    with store.reader() as con:
        memberships = profile_memberships(con, profile_id)
        page = events(con, [profile_id, *held["merged_ids"]], limit=RECENT_EVENTS)
    recent = page.items if masker is None else [masker.message(m) for m in page.items]
    return {
        "profile_id": profile_id,
        "merged_ids": seen["merged_ids"],
        "traits": [
            {"path": path, "value": _at_path(seen["traits"], path), **source}
            for path, source in sorted(seen["trait_sources"].items())
        ],
        "computed_traits": sorted(seen["computed_traits"].items()),
        "predictions": [
            {"name": name, **score} for name, score in sorted(seen["predictions"].items())
        ],
        "predictions_withheld": bool(held["predictions"]) and not seen["predictions"],
        "identities": seen["identities"],
        "consent": sorted(seen["consent"].items()),
        "understanding": seen["understanding"],
        "audiences": memberships["audiences"],
        "events": [_event_row(m) for m in recent],
        "masked": not pii_read,
    }


def predictions_view(store: "Store") -> list[dict[str, Any]]:
    """Each model's latest run: when it was computed, as of when, and how good it was."""
    with store.reader() as con:
        runs = latest_runs(con)
    return [
        {
            "model": run["model"],
            "computed_at": run["computed_at"],
            "as_of": run["report"].get("as_of"),
            "seconds": run["report"].get("seconds"),
            "skipped": run["report"].get("skipped"),
            "quality": _quality(run["model"], run["report"]),
        }
        for run in runs
    ]


def _quality(model: str, report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The few figures that say how good a model is, as (label, value) pairs."""
    found: list[tuple[str, str]] = []
    if model == "propensity":
        for target in ("purchase", "churn"):
            holdout = (report.get(target) or {}).get("holdout")
            if holdout:
                found.append((f"{target} AUC (held out)", f"{holdout['auc']:.3f}"))
                baseline = holdout.get("bgnbd_expected_purchases_auc")
                if baseline is not None:
                    found.append(("BG/NBD AUC, same people", f"{baseline:.3f}"))
    for fit in report.get("fits", []):
        if "log_likelihood" in fit:
            found.append((f"{fit['model']} log-likelihood", f"{fit['log_likelihood']:,.1f}"))
    return found


def _at_path(nested: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of nested traits; ``MASK`` where a masked parent hides it."""
    node: Any = nested
    for part in path.split("."):
        if node == MASK:
            return MASK
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _event_row(message: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the timeline: when, what, where from, and its properties."""
    kind = str(message.get("type", ""))
    name = message.get("event") if kind == "track" else message.get("name")
    return {
        "at": message.get("timestamp"),
        "type": kind,
        "name": name or "",
        "properties": message.get("properties") or message.get("traits") or {},
    }


def when(value: str | datetime | None) -> str:
    """An ISO time as the console shows it: to the second, in UTC (a time without an offset
    is taken as UTC). Text that is no such time (an event's own timestamp, as sent) is shown
    as it is."""
    if value is None:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def shown(value: Any) -> str:
    """A value as a cell shows it: money-like numbers to the cent, small ones to three
    decimals, lists joined, the rest as they are."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value)
    return str(value)
