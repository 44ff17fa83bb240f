"""The Splink model: comparisons for the configured fields, unsupervised training, prediction.

Runs on a private in-memory DuckDB (the store's engine, not the store's file): the writer keeps
the store's connection, and Splink's scratch tables have no place in the customer's database.

Training needs no labels: ``u`` (how often two different people agree by chance) from random
pairs; ``m`` (how one person's records differ) from the records the identity graph already
joined, else by expectation maximisation over blocked pairs; the prior (how likely two random
records are one person) from near-certain rules. Fields no record fills are left out of the
model; a comparison training cannot estimate keeps Splink's prior m values, and the run's notes
say so.
"""

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from kenning.identity.matching.features import PROFILE_ID, RECORD_ID, exclusive_column
from kenning.identity.matching.settings import MatchField, MatchSettings

# Address fields say one thing (where someone lives): compared as one, so that a shared street,
# postcode, city and country count once, not four times. Household members share them all.
ADDRESS_FIELDS = ("street", "postcode", "city", "state", "country")
FIRST_NAME, LAST_NAME = "first_name", "last_name"
FULL_NAME = "full_name"  # first and last together, for their joint frequency
# Jaro-Winkler, Splink's looser threshold for names: smith and smyth, not john and joan
NAME_SIMILARITY = 0.88
# Pairs of profiles generated for scoring: each true match should meet at least one rule.
PREDICTION_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name"),
    ("last_name", "birthday"),
    ("first_name", "birthday"),
    ("birthday", "postcode"),
    ("street", "postcode"),
    ("street", "city"),
    ("last_name", "postcode"),
    ("email",),
    ("phone",),
)
# Blocks for EM: each leaves the fields it blocks on unestimated, so two that complement.
TRAINING_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("birthday",),
    ("postcode",),
)
# Near-certain agreements, for the prior.
PRIOR_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name", "birthday"),
    ("email",),
)
PRIOR_RECALL = 0.7
U_PAIRS = 1_000_000
EM_PAIRS = 2_000_000
# Identifiers among the compared fields: the graph cannot teach their m (see _train); one
# person's records on two systems are taken to agree on them nine times in ten.
IDENTIFIER_KINDS = ("email", "phone")
IDENTIFIER_AGREEMENT = 0.9
# Records of one profile needed to learn m from the graph (else expectation maximisation).
MIN_LABELLED_PAIRS = 200

Step = Callable[[str], None]


@dataclass
class Pairs:
    """Scored pairs of profiles at or above the review probability."""

    left: list[int]
    right: list[int]
    probability: list[float]
    compared_fields: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.left)


def _comparison(f: MatchField) -> ComparisonCreator:
    column = f.name
    if f.kind == "name":
        return cl.NameComparison(column).configure(term_frequency_adjustments=True)
    if f.kind == "date":
        return cl.DateOfBirthComparison(column, input_is_string=False)
    if f.kind == "text":
        return cl.JaroWinklerAtThresholds(column, [0.95, 0.88])
    if f.kind == "postcode":
        return cl.DamerauLevenshteinAtThresholds(column, [1]).configure(
            term_frequency_adjustments=True
        )
    if f.kind == "id":
        return cl.DamerauLevenshteinAtThresholds(column, [1, 2])
    if f.kind in IDENTIFIER_KINDS:
        # Exact only: near-identical emails (jsmith1@, jsmith2@) are namesakes' as often
        # as one person's.
        return cl.ExactMatch(column)
    return cl.ExactMatch(column).configure(term_frequency_adjustments=True)


def _names() -> ComparisonCreator:
    """One comparison for the whole name, most specific agreement first: it sees names
    entered the wrong way round, and a typo in one part when the other differs."""
    first, last = FIRST_NAME, LAST_NAME

    def similar(left: str, right: str) -> str:
        return f"jaro_winkler_similarity({left}, {right}) >= {NAME_SIMILARITY}"

    levels: list[Any] = [
        cll.And(cll.NullLevel(first), cll.NullLevel(last)),
        cll.ExactMatchLevel(FULL_NAME).configure(tf_adjustment_column=FULL_NAME),
        cll.ColumnsReversedLevel(first, last, symmetrical=True),
        *(
            cll.And(cll.JaroWinklerLevel(first, t), cll.JaroWinklerLevel(last, t))
            for t in (0.92, NAME_SIMILARITY)
        ),
        cll.CustomLevel(
            f"{similar(f'{first}_l', f'{last}_r')} AND {similar(f'{last}_l', f'{first}_r')}",
            label_for_charts="names swapped, nearly the same",
        ),
        cll.ExactMatchLevel(last).configure(tf_adjustment_column=last),
        cll.JaroWinklerLevel(last, NAME_SIMILARITY).configure(
            label_for_charts="last name nearly the same"
        ),
        cll.ExactMatchLevel(first).configure(tf_adjustment_column=first),
        cll.JaroWinklerLevel(first, NAME_SIMILARITY).configure(
            label_for_charts="first name nearly the same"
        ),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name=f"{first}_{last}")


def _address(present: set[str]) -> ComparisonCreator:
    """One comparison for where someone lives, most specific agreement first."""
    has = {name: name in present for name in ADDRESS_FIELDS}

    def agree(name: str) -> str:
        return f"coalesce({name}_l = {name}_r, TRUE)" if has[name] else "TRUE"

    nulls = [
        f"({name}_l IS NULL OR {name}_r IS NULL)"
        for name in ("street", "postcode", "city")
        if has[name]
    ]
    levels: list[Any] = [cll.CustomLevel(" AND ".join(nulls)).configure(is_null_level=True)]
    if has["postcode"]:
        if has["street"]:
            levels += [
                cll.CustomLevel(
                    "street_l = street_r AND postcode_l = postcode_r",
                    label_for_charts="same street and postcode",
                ),
                cll.CustomLevel(
                    "damerau_levenshtein(street_l, street_r) <= 2 AND postcode_l = postcode_r",
                    label_for_charts="street nearly the same, same postcode",
                ),
                cll.CustomLevel(
                    "street_l = street_r AND damerau_levenshtein(postcode_l, postcode_r) <= 1",
                    label_for_charts="same street, postcode nearly the same",
                ),
            ]
        levels += [
            cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
            cll.DamerauLevenshteinLevel("postcode", 1),
        ]
    elif has["street"]:
        levels.append(
            cll.CustomLevel(
                f"street_l = street_r AND {agree('city')}", label_for_charts="same street"
            )
        )
    if has["city"]:
        levels.append(
            cll.CustomLevel(
                f"city_l = city_r AND {agree('state')} AND {agree('country')}",
                label_for_charts="same city",
            )
        )
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="address")


def _present(records: pa.Table, settings: MatchSettings) -> list[MatchField]:
    return [
        f
        for f in settings.fields
        if f.name in records.column_names
        and records[f.name].null_count < records.num_rows  # someone fills it
    ]


def _rule(fields: Sequence[str], condition: str = "") -> str:
    """A blocking rule on equal ``fields``, for records of different profiles only."""
    equal = [f"l.{name} = r.{name}" for name in fields]
    return " AND ".join([*equal, f"l.{PROFILE_ID} <> r.{PROFILE_ID}", *filter(None, [condition])])


def _blocks(groups: Sequence[Sequence[str]], present: set[str], condition: str = "") -> list[str]:
    return [_rule(group, condition) for group in groups if all(n in present for n in group)]


def _settings(
    present: list[MatchField], exclusive: Sequence[str]
) -> tuple[SettingsCreator, set[str]]:
    names = {f.name for f in present}
    both_names = {FIRST_NAME, LAST_NAME} <= names
    comparisons: list[ComparisonCreator | dict[str, Any]] = [
        _comparison(f)
        for f in present
        if f.name not in ADDRESS_FIELDS and not (both_names and f.name in (FIRST_NAME, LAST_NAME))
    ]
    if both_names:
        comparisons.insert(0, _names())
    if names & {"street", "postcode", "city"}:
        comparisons.append(_address(names))
    # pairs the graph would refuse (two different user_ids) are not worth scoring
    compatible = " AND ".join(
        f"(l.{c} IS NULL OR r.{c} IS NULL OR l.{c} = r.{c})"
        for c in map(exclusive_column, exclusive)
    )
    groups = [*PREDICTION_BLOCKS, *([f.name] for f in present if f.kind == "id")]
    rules = _blocks(groups, names, compatible)
    if both_names:
        # names entered the wrong way round
        swapped = "l.first_name = r.last_name AND l.last_name = r.first_name"
        rules.append(_rule([], " AND ".join(filter(None, [swapped, compatible]))))
    return (
        SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name=RECORD_ID,
            comparisons=comparisons,
            blocking_rules_to_generate_predictions=[{"blocking_rule": r} for r in rules],
            additional_columns_to_retain=[PROFILE_ID],
            retain_matching_columns=False,
            retain_intermediate_calculation_columns=False,
        ),
        names,
    )


def _quietly(action: Callable[[], object]) -> str | None:
    """Run a training step; its failure (no pairs to learn from, say) is a note, not an end."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    except Exception as error:  # Splink raises bare Exceptions for "nothing to learn from"
        return str(error).splitlines()[0][:200]
    return None


def _train(
    linker: Linker, records: pa.Table, settings: MatchSettings, present: list[MatchField], say: Step
) -> tuple[dict[str, Any], list[str]]:
    """The trained model (Splink's settings with every parameter) and notes on what training
    could not estimate."""
    notes: list[str] = []
    names = {f.name for f in present}

    def attempt(what: str, action: Callable[[], object]) -> bool:
        note = _quietly(action)
        if note:
            notes.append(f"{what}: {note}")
        return note is None

    say("training: u from random pairs")
    attempt(
        "u",
        lambda: linker.training.estimate_u_using_random_sampling(
            max_pairs=U_PAIRS,
            seed=settings.seed,
            # In one pass of all the pairs per comparison. Splink's default probes 1% of them
            # and then walks ten chunks, stopping once every level has been seen 100 times;
            # the rarest levels (one random pair in a million) never are, so every chunk ran,
            # for the same u values in 2.7 s rather than 1.8 (100k records).
            num_chunks=1,
        ),
    )
    labelled = records.num_rows - len(pa.compute.unique(records[PROFILE_ID]))
    from_graph = labelled >= MIN_LABELLED_PAIRS
    if from_graph:
        # The deterministic graph already knows which records are one person: how they
        # differ is m, learnt from them directly, with no guessing which pairs match.
        say("training: m from records the identity graph joined")
        attempt("m", lambda: linker.training.estimate_m_from_label_column(PROFILE_ID))
    else:
        sample = min(1.0, settings.training_sample / records.num_rows)
        for group in TRAINING_BLOCKS:
            if not all(name in names for name in group):
                continue
            say("training: m by expectation maximisation")

            def em(group: tuple[str, ...] = group) -> None:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*group),
                    estimate_without_term_frequencies=True,
                    max_pairs=EM_PAIRS,
                    record_sample_proportion=sample,
                )

            attempt("m", em)
    say("training: the prior")
    ids = [f.name for f in present if f.kind == "id"]
    prior: list[str | BlockingRuleCreator] = [*_blocks([*PRIOR_RULES, *([i] for i in ids)], names)]
    estimated = bool(prior) and attempt(
        "prior",
        lambda: linker.training.estimate_probability_two_random_records_match(
            prior, recall=PRIOR_RECALL
        ),
    )
    model: dict[str, Any] = linker.misc.save_model_to_json()
    if not estimated or not 0 < model["probability_two_random_records_match"] < 1:
        # nothing near-certain to count (or nothing left: an earlier run merged those):
        # at most one match among each record's pairs
        model["probability_two_random_records_match"] = 1 / records.num_rows
    if from_graph:
        identifiers = {f.name for f in present if f.kind in IDENTIFIER_KINDS}
        for comparison in model["comparisons"]:
            if comparison["output_column_name"] in identifiers:
                # The graph joined these records by this very identifier, so they always
                # agree on it: they cannot show how often one person's records differ.
                levels = [
                    lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")
                ]
                levels[0]["m_probability"] = IDENTIFIER_AGREEMENT
                for level in levels[1:]:
                    level["m_probability"] = (1 - IDENTIFIER_AGREEMENT) / (len(levels) - 1)
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        if any(not isinstance(lv.get("m_probability"), float | int) for lv in levels):
            # Nothing to learn this comparison's m from: Splink's prior (one person's records
            # agree exactly 95% of the time), written out so the model says what it used.
            notes.append(f"m: {comparison['output_column_name']} uses the prior m values")
            for level, m in zip(levels, _prior_m(len(levels)), strict=True):
                if not isinstance(level.get("m_probability"), float | int):
                    level["m_probability"] = m
    return model, notes


def _prior_m(levels: int) -> list[float]:
    """Splink's default m values: 0.95 for the first (exact) level, the rest shared."""
    rest = 0.05 / (levels - 1) if levels > 1 else 0.0
    return [0.95] + [rest] * (levels - 1)


def weights(model: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """Each comparison level's match weight (log2 m/u): what agreeing that way is worth."""
    rows: list[tuple[str, str, float | None]] = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            usable = isinstance(m, float | int) and isinstance(u, float | int) and m > 0 and u > 0
            rows.append(
                (
                    comparison["output_column_name"],
                    level["label_for_charts"],
                    math.log2(m / u) if usable else None,
                )
            )
    return rows


def score_pairs(
    records: pa.Table,
    settings: MatchSettings,
    *,
    exclusive: Sequence[str] = (),
    threads: int = 2,
    step: Step | None = None,
) -> Pairs:
    """Train a model on ``records`` (see features.py) and score the pairs of profiles their
    records make: a pair's probability is that of its best-matching records."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    present = _present(records, settings)
    say = step or (lambda _: None)
    if records.num_rows < 2 or not present:
        return Pairs([], [], [], tuple(f.name for f in present))
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {threads}")
    try:
        if FIRST_NAME in records.column_names and LAST_NAME in records.column_names:
            full = pa.compute.binary_join_element_wise(records[FIRST_NAME], records[LAST_NAME], " ")
            records = records.append_column(FULL_NAME, full)
        db = DuckDBAPI(connection=con)
        frame = db.register(records, table_name="kenning_match_records")
        creator, names = _settings(present, exclusive)
        linker = Linker(frame, creator, log_level=logging.ERROR)
        model, notes = _train(linker, records, settings, present, say)
        linker = Linker(frame, model, log_level=logging.ERROR)
        say("scoring pairs")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predictions = linker.inference.predict(
                threshold_match_probability=settings.review_probability, warning_mode="never"
            )
        rows = (
            predictions.as_duckdbpyrelation()
            .aggregate(
                f"least({PROFILE_ID}_l, {PROFILE_ID}_r) AS a,"
                f" greatest({PROFILE_ID}_l, {PROFILE_ID}_r) AS b,"
                " max(match_probability) AS p",
                "ALL",
            )
            .order("a, b")
            .fetchall()
        )
        return Pairs(
            [int(r[0]) for r in rows],
            [int(r[1]) for r in rows],
            [float(r[2]) for r in rows],
            tuple(sorted(names)),
            notes,
            model,
        )
    finally:
        con.close()
