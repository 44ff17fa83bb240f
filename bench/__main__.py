"""``python -m bench``: run every benchmark and rewrite its section of bench/RESULTS.md."""

import sys

from bench.activation import run as activation
from bench.attribution import run as attribution
from bench.funnels import run as funnels
from bench.identity import run as identity
from bench.ingest import run as ingest
from bench.matching import realtime
from bench.matching import run as matching
from bench.predict import run as predict
from bench.privacy import run as privacy
from bench.profiles import run as profiles
from bench.profiles import traits
from bench.propensity import brand as propensity_brand
from bench.propensity import run as propensity

BENCHMARKS = {
    "ingest": ingest.main,
    "identity": identity.main,
    "matching": matching.main,
    "realtime": realtime.main,
    "profiles": profiles.main,
    "traits": traits.main,
    "activation": activation.main,
    "attribution": attribution.main,
    "funnels": funnels.main,
    "predict": predict.main,
    "propensity": propensity.main,
    "propensity_brand": propensity_brand.main,
    "privacy": privacy.main,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have {', '.join(BENCHMARKS)}")
        return 2
    for name in chosen:
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
