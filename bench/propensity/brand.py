"""``python -m bench propensity_brand``: the purchase-propensity model beside BG/NBD's
expected purchases on the synthetic brand (``demo/people.py``: each person buys at their own
BG/NBD rate until they drop out, and browses and opens emails only while still active), at a
size where the held-out AUCs are known to about 0.01; written to RESULTS.md as
``propensity_brand``.

Each brand is generated and loaded through the API as ``kenning demo --no-serve`` does (kept
in ``KENNING_BENCH_PROPENSITY_BRANDS``, a folder, for the next run), then ``kenning predict
run``'s propensity model runs on it: trained on features as of one window before the last
event, judged on a held-out quarter of the people who grant the profiling category, where
BG/NBD (fitted on the orders up to the same cutoff) is judged too. Each AUC's standard error
is Hanley and McNeil's (1982); their difference's is DeLong's, paired, from the model card.

Knobs: ``KENNING_BENCH_PROPENSITY_BRAND_PEOPLE`` (default 20000),
``KENNING_BENCH_PROPENSITY_BRAND_SEEDS`` (default ``1,2``).
"""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.ingest.run import machine
from bench.results import write_section
from kenning.journeys.settings import JourneySettings
from kenning.predictions.run import run_predictions
from kenning.predictions.settings import PredictionSettings
from kenning.store.store import Store

PEOPLE = int(os.environ.get("KENNING_BENCH_PROPENSITY_BRAND_PEOPLE", "20000"))
SEEDS = [int(s) for s in os.environ.get("KENNING_BENCH_PROPENSITY_BRAND_SEEDS", "1,2").split(",")]
BRANDS = Path(os.environ.get("KENNING_BENCH_PROPENSITY_BRANDS", "/tmp/kenning-bench-brands"))


def brand(people: int, seed: int) -> Path:
    """The store of the brand of ``people`` drawn with ``seed``, loaded once."""
    folder = BRANDS / f"brand-{people}-{seed}"
    store = folder / "kenning.duckdb"
    if not store.exists():
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "kenning", "demo", "--people", str(people), "--seed",
             str(seed), "--dir", str(folder), "--no-serve"],
            env={**os.environ, "KENNING_ADMIN_TOKEN": "kn_bench_brand"}, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            store.unlink(missing_ok=True)
            raise SystemExit(f"loading the brand of {people:,} people (seed {seed}) failed")
    return store


def standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's standard error of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)  # fmt: skip
    return math.sqrt(max(variance, 0.0))


def main() -> None:
    rows = []
    differences: list[tuple[float, float]] = []
    for seed in SEEDS:
        path = brand(PEOPLE, seed)
        with Store.open(path) as store:
            started = time.perf_counter()
            ran = run_predictions(
                store, PredictionSettings(), JourneySettings(), models=["propensity"]
            )
            seconds = time.perf_counter() - started
        card = ran["models"]["propensity"]["purchase"]
        holdout = card["holdout"]
        held = int(holdout["rows"])
        buyers = round(sum(b["observed"] * b["rows"] for b in holdout["calibration"]))
        model, bgnbd = holdout["auc"], holdout["bgnbd_expected_purchases_auc"]
        se_model = standard_error(model, buyers, held - buyers)
        se_bgnbd = standard_error(bgnbd, buyers, held - buyers)
        paired = holdout["difference_from_bgnbd_expected_purchases"]
        differences.append((paired["auc"], paired["standard_error"]))
        rows.append(
            f"| {seed} | {card['rows']:,} | {held:,} ({buyers:,} buyers) "
            f"| **{model:.3f}** ± {se_model:.3f} | {bgnbd:.3f} ± {se_bgnbd:.3f} "
            f"| **{paired['auc']:+.3f}** ± {paired['standard_error']:.3f} "
            f"| {paired['auc'] / paired['standard_error']:.1f} "
            f"| {holdout['top_decile_lift']:.2f} | {seconds:.1f} |"
        )
    table = "\n".join(
        [
            "| seed | people trained and judged on | held out | purchase model AUC "
            "| BG/NBD AUC | difference (paired) | in standard errors | top-decile lift | run s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    ahead = sum(d > 0 for d, _ in differences)
    clear = sum(d > 2 * e for d, e in differences)
    verdict = (
        f"**{'met' if ahead == len(differences) else 'not met'}**: ahead on {ahead} of "
        f"{len(differences)} brands, by more than two standard errors on {clear}"
    )
    body = f"""The synthetic brand of {PEOPLE:,} people per seed, loaded through the API
(`kenning demo --no-serve`), then the propensity model of `kenning predict run` (a 30-day
window). {machine()}. `python -m bench propensity_brand`. Both models are judged on the same
held-out quarter of the people who grant profiling (those seen by the cutoff); ± is Hanley and
McNeil's standard error of each AUC, and DeLong's of their difference, paired on the same
people (`propensity.paired_auc_difference`, in the model card).

{table}

Target: purchase propensity beats BG/NBD's expected purchases on the same holdout (AUC):
{verdict}."""
    write_section("propensity_brand", body)
    print(body)


if __name__ == "__main__":
    main()
