"""``python -m bench.predict``: BG/NBD, Pareto/NBD and Gamma-Gamma fitted on the CDNOW sample
and on a million synthetic customers, beside the ``lifetimes`` package fitting the same
per-customer arrays in the same run; written to RESULTS.md as ``predict``.

Targets (2 cores): BG/NBD fitted on 1M customers in at most 6 s, end to end from the
per-customer arrays, and at least 3x faster than lifetimes on the same data.

Knobs: ``KENNING_BENCH_PREDICT_CUSTOMERS`` (synthetic customers; default 1000000; a quick
run: 100000), ``KENNING_BENCH_PREDICT_RUNS`` (timed runs of each fit, the median reported;
default 3), ``KENNING_BENCH_PREDICT_REFERENCE=0`` to leave lifetimes out.
"""

import os
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import numpy as np

from bench.ingest.run import machine
from bench.predict.data import BGNBD, GAMMAGAMMA, MAX_AGE_DAYS, Customers, cdnow, synthetic
from bench.results import write_section
from kenning.predictions import bgnbd, gammagamma, paretonbd
from kenning.predictions.bgnbd import BetaGeo
from kenning.predictions.fitting import Fit
from kenning.predictions.gammagamma import GammaGamma, SpendRows
from kenning.predictions.histories import Collapsed
from kenning.predictions.paretonbd import ParetoNBD

CUSTOMERS = int(os.environ.get("KENNING_BENCH_PREDICT_CUSTOMERS", "1000000"))
RUNS = int(os.environ.get("KENNING_BENCH_PREDICT_RUNS", "3"))
REFERENCE = os.environ.get("KENNING_BENCH_PREDICT_REFERENCE", "1") != "0"
TARGET_SECONDS = 6.0
TARGET_RATIO = 3.0
TARGET_CUSTOMERS = 1_000_000
# a lifetimes fit slower than this is timed once: its Pareto/NBD on a million customers
# takes minutes a run
LONG_SECONDS = 120.0
# lifetimes' Pareto/NBD starts from a point drawn from numpy's global generator
PARETO_SEED = 0
MODELS = ("bgnbd", "paretonbd", "gammagamma")
LABELS = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "gammagamma": "Gamma-Gamma"}


def _timed(work: Callable[[], Any], *, cap: float | None = None) -> tuple[float, Any, int]:
    """The median seconds of ``RUNS`` runs (fewer once a run takes longer than ``cap``), the
    last run's answer and how many runs there were."""
    seconds: list[float] = []
    answer = None
    for _ in range(max(1, RUNS)):
        started = time.perf_counter()
        answer = work()
        seconds.append(time.perf_counter() - started)
        if cap is not None and seconds[-1] > cap:
            break
    return statistics.median(seconds), answer, len(seconds)


@dataclass
class Ours:
    seconds: float
    collapse: float  # of which collapsing identical rows
    rows: int  # distinct rows the likelihood sums over
    customers: int  # customers the model is fitted on
    params: dict[str, float]
    log_likelihood: float
    converged: bool


@dataclass
class Theirs:
    seconds: float | None = None
    runs: int = 0
    hessian: float | None = None  # of which the Hessian for standard errors, timed alone
    params: dict[str, float] | None = None
    log_likelihood: float | None = None  # by Kenning's formula, at lifetimes' parameters
    failure: str = ""


@dataclass
class Row:
    model: str
    ours: Ours
    theirs: Theirs | None

    @property
    def ratio(self) -> float | None:
        if self.theirs is None or self.theirs.seconds is None:
            return None
        return self.theirs.seconds / self.ours.seconds

    @property
    def difference(self) -> tuple[float, str] | None:
        """The largest |lifetimes - Kenning| / Kenning over the parameters, and which."""
        if self.theirs is None or self.theirs.params is None:
            return None
        return max(
            (abs(theirs - self.ours.params[name]) / abs(self.ours.params[name]), name)
            for name, theirs in self.theirs.params.items()
        )


@dataclass
class Dataset:
    customers: Customers
    rows: list[Row] = field(default_factory=list)

    def row(self, model: str) -> Row:
        return next(row for row in self.rows if row.model == model)


def log_likelihood(model: str, params: dict[str, float], data: Customers) -> float:
    """The model's log-likelihood of all ``data`` at ``params``, by Kenning's formulas."""
    values = np.asarray(list(params.values()), dtype=np.float64)
    with np.errstate(all="ignore"):
        if model == "gammagamma":
            spend = SpendRows.of(data.frequency, data.monetary)
            return float(np.dot(spend.weight, gammagamma.log_likelihood(values, spend)))
        rows = Collapsed.of(data.frequency, data.recency, data.age)
        module = bgnbd if model == "bgnbd" else paretonbd
        return float(np.dot(rows.weight, module.log_likelihood(values, rows)))


def ours(model: str, data: Customers) -> Ours:
    """Kenning's fit, end to end from the per-customer arrays."""
    f, t_x, age, m = data.frequency, data.recency, data.age, data.monetary
    fit: Fit
    if model == "gammagamma":
        collapse, spend, _ = _timed(lambda: SpendRows.of(f, m))
        seconds, (_, fit), _ = _timed(lambda: GammaGamma.fit(f, m))
        rows = len(spend.weight)
    else:
        model_class = BetaGeo if model == "bgnbd" else ParetoNBD
        collapse, collapsed, _ = _timed(lambda: Collapsed.of(f, t_x, age))
        seconds, (_, fit), _ = _timed(lambda: model_class.fit(Collapsed.of(f, t_x, age)))
        rows = collapsed.rows
    return Ours(
        seconds, collapse, rows, fit.customers, fit.params,
        log_likelihood(model, fit.params, data), fit.converged,
    )  # fmt: skip


def lifetimes_missing() -> str | None:
    """None when lifetimes can be imported, else why not."""
    try:
        import lifetimes  # noqa: F401
    except ImportError as error:
        return f"lifetimes is not installed ({error}; pip install -e '.[bench]')"
    return None


@contextmanager
def _lifetimes_quiet() -> Iterator[None]:
    """lifetimes' own warnings (autograd evaluates its formulas, so the numpy warnings of
    its steps are raised from autograd's frames), and no one else's."""
    with warnings.catch_warnings():
        for module in ("lifetimes", "autograd"):
            warnings.filterwarnings("ignore", module=rf"{module}(\..*)?$")
        yield


def _repeat(data: Customers) -> Any:
    # the customers Gamma-Gamma is fitted on; lifetimes refuses a zero spend
    return (data.frequency > 0) & (data.monetary > 0)


def _lifetimes_fit(model: str, data: Customers) -> Any:
    """A lifetimes fitter fitted as its documentation calls it: the per-customer arrays,
    no weights, default settings."""
    import lifetimes

    f, t_x, age = data.frequency, data.recency, data.age
    if model == "bgnbd":
        return lifetimes.BetaGeoFitter().fit(f, t_x, age)
    if model == "paretonbd":
        np.random.seed(PARETO_SEED)
        return lifetimes.ParetoNBDFitter().fit(f, t_x, age)
    repeat = _repeat(data)
    return lifetimes.GammaGammaFitter().fit(f[repeat], data.monetary[repeat])


def _lifetimes_hessian(model: str, fitter: Any, data: Customers) -> float | None:
    """Seconds of the Hessian lifetimes computes after its BG/NBD and Gamma-Gamma fits
    (autograd, for standard errors; Kenning's fit has no such step): the same call on the
    fitted parameters, once. Its Pareto/NBD computes none."""
    from autograd import hessian

    if model == "paretonbd":
        return None
    params = fitter.params_
    if model == "bgnbd":
        # lifetimes fits in time scaled so the oldest customer's age is 1
        scale = fitter._scale
        point = np.log([params["r"], params["alpha"] * scale, params["a"], params["b"]])
        arguments: tuple[Any, ...] = (
            data.frequency.astype(int), data.recency * scale, data.age * scale,
            np.ones(data.count, dtype=int), 0.0,
        )  # fmt: skip
    else:
        repeat = _repeat(data)
        point = np.log([params["p"], params["q"], params["v"]])
        arguments = (
            data.frequency[repeat], data.monetary[repeat],
            np.ones(int(repeat.sum()), dtype=int), 0.0,
        )  # fmt: skip
    started = time.perf_counter()
    hessian(fitter._negative_log_likelihood)(point, *arguments)
    return time.perf_counter() - started


def theirs(model: str, data: Customers, names: tuple[str, ...]) -> Theirs:
    """lifetimes on the same arrays; its parameters under Kenning's names (same order)."""
    with _lifetimes_quiet():
        try:
            seconds, fitter, runs = _timed(lambda: _lifetimes_fit(model, data), cap=LONG_SECONDS)
        except Exception as error:  # a fit that does not converge raises
            return Theirs(failure=f"{type(error).__name__}: {' '.join(str(error).split())}")
        hessian_seconds = _lifetimes_hessian(model, fitter, data)
    params = dict(zip(names, (float(v) for v in fitter.params_), strict=True))
    return Theirs(
        seconds, runs, hessian_seconds, params, log_likelihood(model, params, data)
    )  # fmt: skip


def measure(data: Customers) -> Dataset:
    why_not = lifetimes_missing() if REFERENCE else "left out"
    dataset = Dataset(data)
    for model in MODELS:
        print(f"{data.name}: {LABELS[model]}", flush=True)
        mine = ours(model, data)
        other = theirs(model, data, tuple(mine.params)) if why_not is None else None
        dataset.rows.append(Row(model, mine, other))
    return dataset


def _s(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def _params(params: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in params.items())


def _note(row: Row) -> str:
    notes = []
    if not row.ours.converged:
        notes.append("Kenning's fit did not converge")
    if row.theirs is not None:
        if row.theirs.failure:
            notes.append(f"lifetimes failed: {row.theirs.failure}")
        elif row.theirs.runs < max(1, RUNS):
            notes.append(f"lifetimes timed once (its run took more than {LONG_SECONDS:.0f} s)")
    return "; ".join(notes)


def table(dataset: Dataset) -> str:
    lines = [
        "| model | Kenning s | of which collapsing s | distinct rows | lifetimes s "
        "| of which its Hessian s | lifetimes / Kenning | Kenning's parameters "
        "| lifetimes' largest difference | log-likelihood, Kenning | lifetimes - Kenning | |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in dataset.rows:
        mine, other = row.ours, row.theirs
        ratio = "" if row.ratio is None else f"{row.ratio:.1f}x"
        off = row.difference
        difference = "" if off is None else f"{100 * off[0]:.2g}% ({off[1]})"
        gap = (
            ""
            if other is None or other.log_likelihood is None
            else f"{other.log_likelihood - mine.log_likelihood:+.3g}"
        )
        lines.append(
            f"| {LABELS[row.model]} | {_s(mine.seconds)} | {_s(mine.collapse)} "
            f"| {mine.rows:,} of {mine.customers:,} | {_s(other.seconds if other else None)} "
            f"| {_s(other.hessian if other else None)} | {ratio} | {_params(mine.params)} "
            f"| {difference} | {mine.log_likelihood:,.2f} | {gap} | {_note(row)} |"
        )
    return "\n".join(lines)


def _verdicts(big: Dataset) -> list[str]:
    row = big.row("bgnbd")
    seconds = row.ours.seconds
    if big.customers.count < TARGET_CUSTOMERS * 0.99:
        here = f"not measured at this size ({big.customers.count:,} customers"
        return [
            f"{here}; {seconds:.2f} s here)",
            f"{here}; {row.ratio:.1f}x here)" if row.ratio else f"{here})",
        ]
    speed = f"**{'met' if seconds <= TARGET_SECONDS else 'not met'}** ({seconds:.2f} s)"
    if row.ratio is None:
        return [speed, "not measured (lifetimes left out or failed)"]
    assert row.theirs is not None and row.theirs.seconds is not None
    ratio = (
        f"**{'met' if row.ratio >= TARGET_RATIO else 'not met'}** ({row.ratio:.1f}x: "
        f"lifetimes {row.theirs.seconds:.2f} s against {seconds:.2f} s"
    )
    if row.theirs.hessian is not None:
        without = (row.theirs.seconds - row.theirs.hessian) / seconds
        ratio += f"; {without:.1f}x leaving its Hessian out"
    return [speed, ratio + ")"]


def text(small: Dataset, big: Dataset, load: tuple[float, float]) -> str:
    data = big.customers
    repeat = data.frequency > 0
    same_day = int((repeat & (data.recency == 0)).sum())
    missing = lifetimes_missing() if REFERENCE else "lifetimes left out"
    reference = missing or (
        f"lifetimes {version('lifetimes')} (autograd {version('autograd')}, pandas "
        f"{version('pandas')})"
    )
    speed, ratio = _verdicts(big)
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}; numpy {np.__version__}, "
        f"scipy {version('scipy')}; {reference}. Load average {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end (the machine is shared: Kenning and lifetimes ran side by "
        "side on the same arrays, so their ratio holds better than either figure). "
        "`.venv/bin/python -m bench.predict` (lifetimes from `pip install -e '.[bench]'`); "
        "`KENNING_BENCH_PREDICT_CUSTOMERS=100000` for a quick run.\n\n"
        f"Data: **CDNOW**, the sample's {small.customers.count:,} customers "
        f"({small.customers.repeat_buyers:,} with a repeat purchase), calibration to "
        "1997-09-30 in weeks, as the papers summarise it. **Synthetic** "
        f"(`bench/predict/data.py`, seeded): {data.count:,} customers drawn exactly from "
        "BG/NBD with CDNOW's estimates ("
        + ", ".join(f"{k} {v}" for k, v in BGNBD.items())
        + f"), ages whole days uniform over 1 to {MAX_AGE_DAYS} and the last purchase "
        "floored to its day, both in weeks, as daily data would give them "
        f"({int(repeat.sum()):,} repeat buyers, {same_day:,} of them floored to recency 0); "
        "their mean repeat spends drawn from Gamma-Gamma with CDNOW's estimates ("
        + ", ".join(f"{k} {v}" for k, v in GAMMAGAMMA.items())
        + ") and rounded to cents. Pareto/NBD is fitted on the same BG/NBD draws.\n\n"
        "**Kenning** is timed end to end from the per-customer arrays: "
        "`Collapsed.of(frequency, recency, age)` then `BetaGeo.fit` or `ParetoNBD.fit`; "
        "`GammaGamma.fit(frequency, monetary)` collapses the repeat buyers' (x, m) pairs "
        "inside. *Of which collapsing* is that step alone; *distinct rows* are what the "
        "likelihood sums over. **lifetimes** is called as its documentation does, at its "
        "defaults, on the same arrays and without `weights`: "
        "`BetaGeoFitter().fit(frequency, recency, T)`, `ParetoNBDFitter().fit(frequency, "
        "recency, T)` (Nelder-Mead from a random start, numpy's global generator seeded "
        f"{PARETO_SEED}), `GammaGammaFitter().fit(frequency, monetary)` on the repeat buyers. "
        "Its BG/NBD and Gamma-Gamma fits end by computing the Hessian of the likelihood "
        "(autograd) for standard errors, which Kenning's fits do not; that step is timed "
        "alone, once, on the fitted parameters, so it can be taken out. Each figure is the "
        f"median of {RUNS} run{'' if RUNS == 1 else 's'}, except that a lifetimes fit "
        f"whose run takes more than {LONG_SECONDS:.0f} s is timed once. *lifetimes' largest "
        "difference* is |lifetimes - Kenning| / Kenning, the largest over the model's "
        "parameters. Both "
        "log-likelihoods are over all customers by Kenning's formulas (weeks, dollars): "
        "*lifetimes - Kenning* is the log-likelihood at lifetimes' parameters less that at "
        "Kenning's (lifetimes reports its own per customer, in rescaled time).\n\n"
        f"**CDNOW** ({small.customers.count:,} customers)\n\n"
        + table(small)
        + f"\n\n**Synthetic** ({data.count:,} customers)\n\n"
        + table(big)
        + "\n\nTargets, on 2 cores:\n\n"
        f"- BG/NBD fitted on 1M customers in at most {TARGET_SECONDS:.0f} s, end to end "
        f"from the per-customer arrays: {speed}.\n"
        f"- At least {TARGET_RATIO:.0f}x faster than lifetimes on the same data: {ratio}."
    )


def main() -> None:
    start_load = os.getloadavg()[0]
    small = measure(cdnow())
    print(table(small))
    big = measure(synthetic(CUSTOMERS))
    print(table(big))
    write_section("predict", text(small, big, (start_load, os.getloadavg()[0])))


if __name__ == "__main__":
    main()
