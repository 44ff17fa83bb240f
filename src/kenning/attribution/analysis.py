"""Attribution questions asked of a store, as the API and the CLI ask them.

- ``attribution``: the conversions of one event (with filters, valued) in a time range, each
  credited over the person's touches within the lookback (``journeys/touch_arrays.py`` reads
  them, ``journeys.build_journeys`` cuts them into journeys), by every model asked, with the
  return on the spend imported for the same days;
- ``acquisition``: the same over each person's *first* conversion of each event asked
  (``Order Completed``: first-time buyers; ``Loyalty Joined``: new members), by channel;
- ``attribute_path_file``: aggregated paths from a file, no store needed.

Each takes the request as a mapping and refuses a bad one with the field's path.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kenning.attribution.credit import Credit
from kenning.attribution.journeys import Journeys, Paths, build_journeys
from kenning.attribution.models import MODELS, attribute
from kenning.attribution.pathfile import read_path_file
from kenning.attribution.roi import returns, spend_by
from kenning.errors import FieldError
from kenning.journeys.conversions import VALUE_PATHS, Conversion
from kenning.journeys.declarations import parse_time, parse_window
from kenning.journeys.settings import JourneySettings
from kenning.journeys.touch_arrays import LABELS, read_conversions, read_touches
from kenning.profiles.computed.definitions import DefinitionError

if TYPE_CHECKING:
    from kenning.store.store import Store

DEFAULT_LOOKBACK = timedelta(days=30)
ATTRIBUTION_KEYS = frozenset(
    {"conversion", "where", "value", "models", "lookback", "since", "until", "by",
     "half_life_days", "markov_order"}
)  # fmt: skip
ACQUISITION_KEYS = frozenset({"events", "models", "lookback", "since", "until", "by"})
ACQUISITION_MODELS = ("first_touch", "last_touch", "markov")


def attribution(
    store: "Store", request: Mapping[str, Any], settings: JourneySettings
) -> dict[str, Any]:
    """Every model's credit per channel (or campaign) for the conversions asked, with return
    on spend."""
    _known(request, ATTRIBUTION_KEYS)
    event = request.get("conversion")
    if not isinstance(event, str) or not event:
        raise FieldError("name the conversion event", "conversion")
    try:
        conversion = Conversion.parse(
            event, request.get("where"), value=_paths(request.get("value", list(VALUE_PATHS)))
        )
    except DefinitionError as error:
        raise FieldError(str(error), error.field) from None
    scope = _scope(request)
    models, options = _models(request, MODELS)
    journeys = _journeys(store, conversion, settings, scope)
    credits = attribute(journeys, models, **options)
    since, until = scope["since"], scope["until"]
    with store.reader() as con:
        spend = spend_by(
            con,
            since.date() if since else None,
            until.date() if until else None,
            by=scope["by"],
        )
    return {
        **_described(conversion.event, journeys, scope),
        "models": {name: credit.to_dict() for name, credit in credits.items()},
        "roi": [row.to_dict() for row in returns(_by_label(credits), spend)],
        "spend": spend,
    }


def acquisition(
    store: "Store", request: Mapping[str, Any], settings: JourneySettings
) -> dict[str, Any]:
    """Which channels bring people to each event for the first time (first orders, new
    members): the first conversions credited by ``models`` (first touch, last touch and
    Markov by default)."""
    _known(request, ACQUISITION_KEYS)
    events = request.get("events")
    if isinstance(events, str):
        events = [events]
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and e for e in events)
    ):
        raise FieldError("a list of event names, e.g. [Order Completed, Loyalty Joined]", "events")
    scope = _scope(request)
    chosen = {**request, "models": request.get("models", list(ACQUISITION_MODELS))}
    models, options = _models(chosen, MODELS)
    answers = []
    for event in events:
        conversion = Conversion.parse(event, first_only=True)
        journeys = _journeys(store, conversion, settings, scope)
        credits = attribute(journeys, models, **options)
        answers.append(
            {
                **_described(event, journeys, scope),
                "models": {name: credit.to_dict() for name, credit in credits.items()},
            }
        )
    return {"by": scope["by"], "events": answers}


def attribute_path_file(
    data: bytes,
    *,
    path_column: str,
    conversions_column: str,
    nulls_column: str | None = None,
    value_column: str | None = None,
    separator: str = ">",
    models: list[str] | None = None,
    markov_order: int = 1,
    name: str = "paths",
) -> dict[str, Any]:
    """Every model that reads paths over an aggregated path file."""
    paths = read_path_file(
        data,
        path_column=path_column,
        conversions_column=conversions_column,
        nulls_column=nulls_column,
        value_column=value_column,
        separator=separator,
        name=name,
    )
    request: dict[str, Any] = {"markov_order": markov_order}
    if models is not None:
        request["models"] = models
    chosen, options = _models(request, MODELS, paths=paths)
    credits = attribute(paths, chosen, **options)
    return {
        "paths": paths.count,
        "total_conversions": paths.total_conversions,
        "total_value": paths.total_value,
        "models": {model: credit.to_dict() for model, credit in credits.items()},
    }


def credit_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An answer's credits as rows (model, channel, conversions, value, and the Markov
    removal effects where given), for CSV."""
    rows = []
    for model, credit in answer["models"].items():
        for channel in credit["channels"]:
            rows.append({"model": model, **channel})
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in keys} for row in rows]


def _journeys(
    store: "Store", conversion: Conversion, settings: JourneySettings, scope: dict[str, Any]
) -> Journeys:
    since: datetime | None = scope["since"]
    lookback: timedelta = scope["lookback"]
    with store.reader() as con:
        # Touches a lookback before the range still lead to conversions inside it.
        touch_scope = settings.touches(
            since=since - lookback if since else None, until=scope["until"]
        )
        touches = read_touches(con, touch_scope, exclude=(conversion.event,), label=scope["by"])
        found = read_conversions(
            con, conversion, settings.touches(since=since, until=scope["until"])
        )
    return build_journeys(
        touches.person,
        touches.time,
        touches.label,
        found.person,
        found.time,
        found.value,
        lookback_seconds=lookback.total_seconds(),
        names=touches.names,
    )


def _described(event: str, journeys: Journeys, scope: dict[str, Any]) -> dict[str, Any]:
    converting = int((journeys.conversions > 0).sum())
    return {
        "conversion": event,
        "by": scope["by"],
        "lookback_days": scope["lookback"] / timedelta(days=1),
        "since": scope["since"],
        "until": scope["until"],
        "journeys": journeys.count,
        "converting_journeys": converting,
        "total_conversions": journeys.total_conversions,
        "total_value": journeys.total_value,
        # conversions with no touch in their lookback: no model can credit a channel
        "untouched_conversions": journeys.untouched_conversions,
        "untouched_value": journeys.untouched_value,
    }


def _by_label(credits: Mapping[str, Credit]) -> dict[str, dict[str, tuple[float, float]]]:
    return {name: credit.by_channel() for name, credit in credits.items()}


def _scope(request: Mapping[str, Any]) -> dict[str, Any]:
    by = request.get("by", "channel")
    if by not in LABELS:
        raise FieldError(f"by is one of {', '.join(LABELS)}", "by")
    since = parse_time(request.get("since"), "since")
    until = parse_time(request.get("until"), "until")
    if since and until and since >= until:
        raise FieldError("since comes before until", "until")
    return {
        "by": by,
        "since": since,
        "until": until,
        "lookback": parse_window(request.get("lookback", "30d"), "lookback"),
    }


def _models(
    request: Mapping[str, Any], known: Mapping[str, Any], *, paths: Paths | None = None
) -> tuple[list[str] | None, dict[str, Any]]:
    """The models asked (None: every one the data allows) and the options they take."""
    models = request.get("models")
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if models is not None:
        if not isinstance(models, list) or not models or not all(m in known for m in models):
            raise FieldError(f"models are some of {', '.join(known)}", "models")
    elif paths is not None:
        models = [m for m, model in known.items() if model.needs == "paths"]
    chosen = models if models is not None else list(known)
    options: dict[str, Any] = {}
    if "markov" in chosen:
        order = request.get("markov_order", 1)
        if isinstance(order, bool) or order not in (1, 2, 3, 4):
            raise FieldError("the Markov order is 1, 2, 3 or 4", "markov_order")
        options["order"] = order
    elif "markov_order" in request and request["markov_order"] != 1:
        raise FieldError("only the markov model takes an order", "markov_order")
    if "time_decay" in chosen and "half_life_days" in request:
        half_life = request["half_life_days"]
        if isinstance(half_life, bool) or not isinstance(half_life, int | float) or half_life <= 0:
            raise FieldError("a positive number of days", "half_life_days")
        options["half_life_days"] = float(half_life)
    elif "half_life_days" in request:
        raise FieldError("only the time_decay model takes a half-life", "half_life_days")
    return models, options


def _paths(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise FieldError("a path, or a list of paths tried in turn", "value")
    return tuple(items)


def _known(request: Mapping[str, Any], keys: frozenset[str]) -> None:
    unknown = sorted(set(request) - keys)
    if unknown:
        raise FieldError(f"unknown field; known: {', '.join(sorted(keys))}", unknown[0])
