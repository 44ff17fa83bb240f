"""``python -m bench.attribution``: every attribution model over a million journeys, from raw
touch rows and from aggregated paths, beside ChannelAttribution on the same data in the same
run; written to RESULTS.md as ``attribution``.

Targets (2 cores): Markov attribution of 1M raw journeys in at most 2 s, exact; Shapley,
exact, for 20 channels over 1M journeys in at most 2 s.

Knobs: ``KENNING_BENCH_ATTRIBUTION_JOURNEYS`` (people, one journey each unless their touches
spread past the lookback; default 1000000; a quick run: 100000),
``KENNING_BENCH_ATTRIBUTION_RUNS`` (timed runs of each of Kenning's steps, the median
reported; default 3), ``KENNING_BENCH_ATTRIBUTION_REFERENCE=0`` to leave ChannelAttribution
out.
"""

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.attribution import reference
from bench.attribution.data import Rows, synthetic_rows
from bench.ingest.run import machine
from bench.results import write_section
from kenning.attribution import Credit, Journeys, Paths, attribute, build_journeys
from kenning.attribution.pathfile import read_path_file

JOURNEYS = int(os.environ.get("KENNING_BENCH_ATTRIBUTION_JOURNEYS", "1000000"))
RUNS = int(os.environ.get("KENNING_BENCH_ATTRIBUTION_RUNS", "3"))
REFERENCE = os.environ.get("KENNING_BENCH_ATTRIBUTION_REFERENCE", "1") != "0"
TARGET_SECONDS = 2.0
TARGET_JOURNEYS = 1_000_000
LOOKBACK_DAYS = 30
ORDERS = (1, 2, 3, 4)
HEURISTICS = (
    "first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based",
)  # fmt: skip


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """The median seconds of ``RUNS`` runs, and the last run's answer."""
    seconds, answer = [], None
    for _ in range(max(1, RUNS)):
        started = time.perf_counter()
        answer = work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), answer


@dataclass
class Row:
    what: str
    raw: float | None = None
    paths: float | None = None
    reference_raw: float | None = None
    reference_paths: float | None = None
    deviation_raw: tuple[float, str] | None = None
    deviation_paths: tuple[float, str] | None = None
    note: str = ""


@dataclass
class Dataset:
    channels: int
    people: int
    touches: int
    journeys: int
    converting: int
    paths: int
    build: float
    aggregate: float
    read_file: float
    rows: list[Row] = field(default_factory=list)
    markov_end_to_end: float = 0.0
    heuristics_agree: bool | None = None


def _journeys(rows: Rows) -> Journeys:
    return build_journeys(
        rows.touch_profile, rows.touch_time, rows.touch_channel,
        rows.conversion_profile, rows.conversion_time, rows.conversion_value,
        lookback_seconds=LOOKBACK_DAYS * 86_400, names=rows.names,
    )  # fmt: skip


def _write_path_file(paths: Paths, directory: Path) -> Path:
    file = directory / "paths.csv"
    table = reference.frame(paths)
    table.to_csv(file, index=False, sep=";")
    return file


def measure(rows: Rows, *, full: bool) -> Dataset:
    """Time Kenning's steps and models on ``rows`` (every model when ``full``, else Markov
    order 1 and Shapley), and ChannelAttribution beside them."""
    build, journeys = _timed(lambda: _journeys(rows))
    aggregate, paths = _timed(journeys.aggregate)
    with tempfile.TemporaryDirectory(prefix="kenning-attribution-") as directory:
        file = _write_path_file(paths, Path(directory))
        read_file, _ = _timed(
            lambda: read_path_file(
                file,
                conversions_column="conversions",
                nulls_column="nulls",
                value_column="value",
            )
        )
    data = Dataset(
        channels=len(rows.names), people=JOURNEYS,
        touches=len(rows.touch_profile), journeys=journeys.count,
        converting=int(journeys.total_conversions), paths=paths.count,
        build=build, aggregate=aggregate, read_file=read_file,
    )  # fmt: skip
    why_not = (
        reference.available() if REFERENCE else "left out (KENNING_BENCH_ATTRIBUTION_REFERENCE=0)"
    )
    tables = (reference.frame(journeys), reference.frame(paths)) if why_not is None else None

    def ours(model: str, **options: Any) -> tuple[float, float | None, Credit]:
        raw, _ = _timed(lambda: attribute(journeys, [model], **options))
        if model == "time_decay":
            credit = attribute(journeys, [model], **options)[model]
            return raw, None, credit
        on_paths, credits = _timed(lambda: attribute(paths, [model], **options))
        return raw, on_paths, credits[model]

    if full:
        credits: dict[str, Credit] = {}
        for model in HEURISTICS:
            raw, on_paths, credits[model] = ours(model)
            data.rows.append(Row(model, raw, on_paths))
        if tables is not None:
            heuristic_raw, from_raw = reference.heuristics(tables[0])
            heuristic_paths, from_paths = reference.heuristics(tables[1])
            data.rows.append(
                Row(
                    "ChannelAttribution `heuristic_models` (first, last, linear at once)",
                    reference_raw=heuristic_raw,
                    reference_paths=heuristic_paths,
                )
            )
            data.heuristics_agree = all(
                reference.deviation(answer[model], paths, credits[model].conversions)[0] < 1e-9
                for answer in (from_raw, from_paths)
                for model in answer
            )
    orders = ORDERS if full else (1,)
    for order in orders:
        first_states = ("prefixes", "windows") if order > 1 else ("prefixes",)
        for rule in first_states:
            raw, on_paths, credit = ours("markov", order=order, first_states=rule)
            label = f"markov, order {order}" + (f" ({rule})" if order > 1 else "")
            row = Row(label, raw, on_paths)
            if tables is not None and rule == first_states[-1]:
                answers = [reference.markov(table, order) for table in tables]
                row.reference_raw, row.reference_paths = (a.seconds for a in answers)
                row.deviation_raw, row.deviation_paths = (
                    reference.deviation(a.conversions, paths, credit.conversions) for a in answers
                )
                if order > 1:
                    row.note = "ChannelAttribution's first states are windows"
            data.rows.append(row)
            if tables is not None and order == 1:
                answers = [reference.markov(table, order, cores=2) for table in tables]
                data.rows.append(
                    Row(
                        "markov, order 1: ChannelAttribution on both cores (`ncore=2`)",
                        reference_raw=answers[0].seconds,
                        reference_paths=answers[1].seconds,
                        deviation_raw=reference.deviation(
                            answers[0].conversions, paths, credit.conversions
                        ),
                        deviation_paths=reference.deviation(
                            answers[1].conversions, paths, credit.conversions
                        ),
                    )
                )
    raw, on_paths, _ = ours("shapley")
    data.rows.append(Row("shapley", raw, on_paths, note="no Shapley model in ChannelAttribution"))
    data.markov_end_to_end, _ = _timed(lambda: attribute(_journeys(rows), ["markov"]))
    return data


def _s(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.3f}"


def _off(deviation: tuple[float, str] | None) -> str:
    return "" if deviation is None else f"{100 * deviation[0]:.1f}% ({deviation[1]})"


def _table(data: Dataset) -> str:
    lines = [
        "| step or model | Kenning, raw journeys s | Kenning, paths s | ChannelAttribution, "
        "raw s | ChannelAttribution, paths s | its largest deviation from the exact answer, "
        "raw | same, paths | |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| journeys from {data.touches:,} touch rows (`build_journeys`) | {_s(data.build)} "
        "| | | | | | |",
        f"| journeys to {data.paths:,} paths (`Journeys.aggregate`) | {_s(data.aggregate)} "
        "| | | | | | |",
        f"| read the {data.paths:,}-row path file (`read_path_file`) | | {_s(data.read_file)} "
        "| | | | | |",
    ]
    for row in data.rows:
        lines.append(
            f"| {row.what} | {_s(row.raw)} | {_s(row.paths)} | {_s(row.reference_raw)} "
            f"| {_s(row.reference_paths)} | {_off(row.deviation_raw)} "
            f"| {_off(row.deviation_paths)} | {row.note} |"
        )
    return "\n".join(lines)


def _verdict(seconds: float, data: Dataset) -> str:
    if data.journeys < TARGET_JOURNEYS * 0.99:
        return f"not measured at this size ({data.journeys:,} journeys; {seconds:.2f} s here)"
    return f"**{'met' if seconds <= TARGET_SECONDS else 'not met'}** ({seconds:.2f} s)"


def text(ten: Dataset, twenty: Dataset, load: tuple[float, float]) -> str:
    markov_raw = next(r for r in ten.rows if r.what == "markov, order 1")
    shapley_raw = next(r for r in twenty.rows if r.what == "shapley")
    assert markov_raw.raw is not None and shapley_raw.raw is not None
    agree = {
        None: "",
        True: " ChannelAttribution's first, last and linear touch agree with Kenning's to "
        "1e-9 on both inputs.",
        False: " **ChannelAttribution's first, last or linear touch differ from Kenning's.**",
    }[ten.heuristics_agree]
    sections = []
    for data in (ten, twenty):
        sections.append(
            f"**{data.channels} channels**: {data.touches:,} touch rows of {JOURNEYS:,} people "
            f"give {data.journeys:,} journeys ({data.converting:,} converting) under a "
            f"{LOOKBACK_DAYS}-day lookback, and {data.paths:,} distinct paths.\n\n" + _table(data)
        )
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}; load average {load[0]:.1f} "
        f"at the start, {load[1]:.1f} at the end (the machine is shared: Kenning and "
        "ChannelAttribution ran side by side, so their ratio holds better than either "
        "figure). "
        "`.venv/bin/python -m bench.attribution` (ChannelAttribution from `pip install -e "
        "'.[bench]'`); `KENNING_BENCH_ATTRIBUTION_JOURNEYS=100000` for a quick run.\n\n"
        "Data (`bench/attribution/data.py`, seeded): one person per journey, 1 + a geometric "
        "number of touches (mean 3.5) drawn by channel popularity, hours to days apart over a "
        "year; a person converts after their last touch with probability 1 - prod(1 - "
        "effect) over the channels they touched, each channel's effect planted between 0.5% "
        "and 5%; values log-normal. A second dataset has 20 channels.\n\n"
        "**Raw journeys**: Kenning's `attribute(journeys, [model])` from the journeys "
        "`build_journeys` made (Markov aggregates them into paths first, inside, so that time "
        "is included; the other models read the journeys as they are); ChannelAttribution "
        "from a DataFrame with one row per journey (path "
        "string, conversions 0 or 1, nulls 1 or 0, value). **Paths**: Kenning's "
        "`attribute(paths, [model])` on the aggregate; ChannelAttribution from a DataFrame "
        "with one row per distinct path. Making the DataFrames (Python strings) is not timed. "
        f"Kenning's figures are the median of {RUNS} runs; ChannelAttribution's one run, at "
        "its default settings (one core, and a row on both; `markov_model` simulates at "
        "least 100,000 walks "
        "until its runs agree within 5%). Its deviation is per channel, |its credited "
        "conversions - the exact ones| / the exact ones, the largest over channels; the exact "
        "ones are Kenning's, whose removal effects are solved, not simulated, and are tested "
        "against a dense solve. At order > 1 ChannelAttribution starts a path at its first "
        'full window of channels, so it is compared with Kenning\'s `first_states="windows"`; '
        f"Kenning's default (prefixes) is timed too.{agree}\n\n"
        + "\n\n".join(sections)
        + "\n\nTargets, on 2 cores:\n\n"
        f"- Markov attribution (order 1) of 1M raw journeys, exact, in at most "
        f"{TARGET_SECONDS:.0f} s: {_verdict(markov_raw.raw, ten)}; from touch rows to "
        f"credit (`build_journeys`, `aggregate`, `markov`) {ten.markov_end_to_end:.2f} s. "
        + (
            f"ChannelAttribution took {markov_raw.reference_raw:.2f} s on the same journeys "
            f"and deviated up to {_off(markov_raw.deviation_raw)} per channel."
            if markov_raw.reference_raw is not None
            else ""
        )
        + f"\n- Shapley, exact, 20 channels, 1M journeys, in at most {TARGET_SECONDS:.0f} s: "
        f"{_verdict(shapley_raw.raw, twenty)} from raw journeys "
        f"({_s(shapley_raw.paths)} s from paths)."
    )


def main() -> None:
    start_load = os.getloadavg()[0]
    ten = measure(synthetic_rows(JOURNEYS, 10, seed=7), full=True)
    print(_table(ten))
    twenty = measure(synthetic_rows(JOURNEYS, 20, seed=8), full=False)
    print(_table(twenty))
    write_section("attribution", text(ten, twenty, (start_load, os.getloadavg()[0])))


if __name__ == "__main__":
    main()
