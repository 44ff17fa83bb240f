"""The file destination: audience snapshots and deltas as CSV or Parquet files in a folder.

Layout, one folder per audience (its name made safe for a file name)::

    <folder>/<audience>/deltas/<UTC time>-<first id>-<last id>.<csv|parquet>
    <folder>/<audience>/snapshots/<UTC time of the snapshot>.<csv|parquet>

``send_many`` writes the ``audience`` deliveries of one call as one delta file per audience,
in the call's order, with the columns ``at, event, audience_id, audience, profile_id,
idempotency_key`` and then one column per trait, nested traits flattened to dotted names
(``traits.address.city``), each cell the trait's value as JSON text (so ``"1"`` and ``1``
stay apart; an empty cell is a trait the profile does not have). ``write_snapshot`` writes a
whole audience the same way (``at, audience, profile_id, entered_at`` and the traits).

Every file is written under a hidden temporary name (``.<name>.<random>.tmp``) in its final
folder, flushed to disk and renamed into place, so a reader never sees half a file. A delivery
retried after a crash may appear in two deltas: ``idempotency_key`` tells them apart.

A relative ``folder`` lives inside the context's ``data_dir`` and may not leave it (``..``,
or a symlink out of it); an absolute one is used as configured.
"""

import csv
import errno
import hashlib
import io
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from kenning.activation.destinations.base import (
    ConfigModel,
    Delivery,
    DestinationConfigError,
    DestinationContext,
    Outcome,
    config_schema_of,
    parse_config,
)

Format = Literal["csv", "parquet"]
TRAIT_PREFIX = "traits."
DELTA_COLUMNS = (
    ("at", pa.timestamp("us", tz="UTC")),
    ("event", pa.string()),
    ("audience_id", pa.string()),
    ("audience", pa.string()),
    ("profile_id", pa.int64()),
    ("idempotency_key", pa.string()),
)
SNAPSHOT_COLUMNS = (
    ("at", pa.timestamp("us", tz="UTC")),
    ("audience", pa.string()),
    ("profile_id", pa.int64()),
    ("entered_at", pa.timestamp("us", tz="UTC")),
)
_BATCH_ROWS = 10_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FileConfig(ConfigModel):
    folder: str = Field(
        min_length=1, description="relative to Kenning's data folder (and inside it), or absolute"
    )
    format: Format = Field(description="csv or parquet")


def safe_name(name: str) -> str:
    """An audience's name as one file name: no separators, no leading dot, no traversal.
    A name that had to change gets a short hash of the original, so two names never meet.

    >>> safe_name("vip-customers"), safe_name("../../etc"), safe_name("a/b")
    ('vip-customers', 'etc-74ccf3c5', 'a_b-c14cddc0')
    """
    cleaned = _UNSAFE.sub("_", name).strip("._")[:100]
    if cleaned == name:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{cleaned or 'audience'}-{digest}"


def resolve_folder(folder: str, data_dir: Path) -> Path:
    path = Path(folder).expanduser()
    if path.is_absolute():
        return path.resolve()
    base = data_dir.resolve()
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base):
        raise DestinationConfigError(
            "a relative folder stays inside Kenning's data folder", "config.folder"
        )
    return resolved


class FileExport:
    """Audience deltas (``send_many``) and snapshots (``write_snapshot``) as files."""

    kind: ClassVar[str] = "file"

    def __init__(self, name: str, config: Mapping[str, Any], context: DestinationContext) -> None:
        self.name = name
        self.config = parse_config(FileConfig, config)
        self.folder = resolve_folder(self.config.folder, context.data_dir)
        self.format: Format = self.config.format

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return config_schema_of(FileConfig)

    def audience_folder(self, audience: str) -> Path:
        return self.folder / safe_name(audience)

    def send_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        groups: dict[str, list[tuple[int, Delivery, tuple[Any, ...], dict[str, str]]]] = {}
        for i, delivery in enumerate(deliveries):
            checked = _delta_row(delivery)
            if isinstance(checked, Outcome):
                outcomes[i] = checked
                continue
            audience, fixed, traits = checked
            groups.setdefault(audience, []).append((i, delivery, fixed, traits))
        for audience, group in groups.items():
            name = f"{_stamp(datetime.now(UTC))}-{group[0][1].id}-{group[-1][1].id}"
            path = self.audience_folder(audience) / "deltas" / f"{name}.{self.format}"
            try:
                write_table(path, DELTA_COLUMNS, ((f, t) for _, _, f, t in group), self.format)
                outcome = Outcome.delivered(None, f"written {path.name}")
            except OSError as error:
                outcome = Outcome.retry(f"could not write ({_errno_name(error)})")
            for i, *_ in group:
                outcomes[i] = outcome
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def write_snapshot(
        self, audience: str, rows: Iterable[Mapping[str, Any]], at: datetime
    ) -> Path:
        """Write every member of ``audience``: rows of ``profile_id``, and optionally
        ``entered_at`` and ``traits``. Rows are streamed (spooled to a temporary file, not
        held in memory). Returns the snapshot's path; the same ``at`` replaces it."""
        at = _utc(at)
        path = self.audience_folder(audience) / "snapshots" / f"{_stamp(at)}.{self.format}"

        def records() -> Iterator[tuple[tuple[Any, ...], dict[str, str]]]:
            for n, row in enumerate(rows):
                unknown = set(row) - {"profile_id", "entered_at", "traits"}
                if unknown:
                    raise ValueError(f"row {n}: unknown keys {sorted(unknown)}")
                entered = row.get("entered_at")
                entered_at = None if entered is None else _as_time(entered)
                if entered is not None and entered_at is None:
                    raise ValueError(f"row {n}: entered_at is not a time")
                fixed = (at, audience, int(row["profile_id"]), entered_at)
                yield fixed, flatten_traits(row.get("traits"))

        write_table(path, SNAPSHOT_COLUMNS, records(), self.format)
        return path

    def close(self) -> None:
        pass


def _delta_row(delivery: Delivery) -> tuple[str, tuple[Any, ...], dict[str, str]] | Outcome:
    if delivery.kind != "audience":
        return Outcome.failed("file exports audience deliveries only")
    payload = delivery.payload
    audience = payload.get("audience")
    if not isinstance(audience, str) or not audience:
        return Outcome.failed("delivery names no audience")
    at = _as_time(payload.get("at", delivery.created_at))
    if at is None:
        return Outcome.failed("at is not a time")
    traits = payload.get("traits")
    if traits is not None and not isinstance(traits, Mapping):
        return Outcome.failed("traits is not an object")
    audience_id = payload.get("audience_id")
    profile_id = payload.get("profile_id", delivery.profile_id)
    fixed = (
        at,
        _text(payload.get("event")),
        None if audience_id is None else str(audience_id),
        audience,
        profile_id if isinstance(profile_id, int) else None,
        delivery.idempotency_key,
    )
    try:
        return audience, fixed, flatten_traits(traits)
    except orjson.JSONEncodeError:
        return Outcome.failed("traits are not JSON")


def flatten_traits(traits: Mapping[str, Any] | None) -> dict[str, str]:
    """Column name -> the value's JSON text, nested objects flattened.

    >>> flatten_traits({"name": "Ada", "address": {"city": "Leeds"}, "vip": None})
    {'traits.name': '"Ada"', 'traits.address.city': '"Leeds"', 'traits.vip': 'null'}
    """
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Mapping[str, Any]) -> None:
        for key, item in value.items():
            column = f"{prefix}{key}"
            if isinstance(item, Mapping) and item:
                walk(f"{column}.", item)
            else:
                flat[column] = orjson.dumps(item, option=_JSON_OPTIONS).decode()

    if traits:
        walk(TRAIT_PREFIX, traits)
    return flat


_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def write_table(
    path: Path,
    fixed: Sequence[tuple[str, pa.DataType]],
    records: Iterable[tuple[tuple[Any, ...], dict[str, str]]],
    format: Format,
) -> int:
    """Write rows of fixed columns and trait columns to ``path``, atomically; returns the
    number of rows. The trait columns (sorted) are known only after the last row, so rows are
    first spooled to a temporary file beside the result, then written in batches."""
    path.parent.mkdir(parents=True, exist_ok=True)
    times = {i for i, (_, kind) in enumerate(fixed) if pa.types.is_timestamp(kind)}
    columns: set[str] = set()
    count = 0
    with tempfile.TemporaryFile(dir=path.parent) as spool:
        for values, traits in records:
            row = [_micros(v) if i in times else v for i, v in enumerate(values)]
            spool.write(orjson.dumps([row, traits]) + b"\n")
            columns.update(traits)
            count += 1
        spool.seek(0)
        trait_columns = sorted(columns)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with temporary.open("wb") as out:
                batches = _batches(spool, len(fixed), trait_columns)
                if format == "parquet":
                    _write_parquet(out, fixed, trait_columns, batches)
                else:
                    _write_csv(out, fixed, trait_columns, batches, times)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    _fsync_folder(path.parent)
    return count


def _batches(spool: IO[bytes], width: int, traits: list[str]) -> Iterator[list[list[Any]]]:
    """Rows from the spool as columns (fixed ones first), ``_BATCH_ROWS`` rows at a time."""
    while True:
        lines = [line for _, line in zip(range(_BATCH_ROWS), spool, strict=False)]
        if not lines:
            return
        columns: list[list[Any]] = [[] for _ in range(width + len(traits))]
        for line in lines:
            values, row_traits = orjson.loads(line)
            for i, value in enumerate(values):
                columns[i].append(value)
            for j, name in enumerate(traits, start=width):
                columns[j].append(row_traits.get(name))
        yield columns


def _write_parquet(
    out: IO[bytes],
    fixed: Sequence[tuple[str, pa.DataType]],
    traits: list[str],
    batches: Iterator[list[list[Any]]],
) -> None:
    fields = [pa.field(name, kind) for name, kind in fixed]
    fields += [pa.field(name, pa.string()) for name in traits]
    schema = pa.schema(fields)
    with pq.ParquetWriter(out, schema) as writer:
        for columns in batches:
            arrays = [
                pa.array(values, type=pa.int64()).cast(field.type)
                if pa.types.is_timestamp(field.type)
                else pa.array(values, type=field.type)
                for values, field in zip(columns, fields, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _write_csv(
    out: IO[bytes],
    fixed: Sequence[tuple[str, pa.DataType]],
    traits: list[str],
    batches: Iterator[list[list[Any]]],
    times: set[int],
) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow([name for name, _ in fixed] + traits)
    for columns in batches:
        for row in zip(*columns, strict=True):
            writer.writerow([_csv_cell(v, i in times) for i, v in enumerate(row)])
    text.flush()
    text.detach()


def _fsync_folder(folder: Path) -> None:
    # The rename is durable once the folder's entry is on disk too (POSIX; not on Windows).
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _micros(value: datetime | None) -> int | None:
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _csv_cell(value: Any, is_time: bool) -> Any:
    if value is None:
        return ""
    return _csv_time(value) if is_time else value


def _csv_time(micros: int) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y%m%dT%H%M%S.%fZ")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _errno_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, type(error).__name__)
