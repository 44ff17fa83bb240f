"""What each source says about each profile's owner: the records matching compares.

A record is one profile as one source knows it (the web shop's account, the CRM's customer, the
loyalty programme's member): for each field, the most recent value that source's events carried
(identify ``traits``, ``context.traits``, imported customer records). Values are normalised by
the field's kind so that the model compares like with like: names lower-cased without accents
or punctuation, dates as dates, street types spelled out, postcodes without spaces, phones as
their last ten digits (so ``+44 7700 900123`` and ``07700 900123`` agree).

A profile known to several sources has several records: pairs of them show how one person's
records differ, which is what the model learns ``m`` from.
"""

from collections.abc import Sequence

from kenning.identity.households import STREET_TYPES
from kenning.identity.matching.settings import MatchField, MatchSettings

RECORD_ID = "record_id"
PROFILE_ID = "profile_id"
REPRESENTATIVE = "representative"


def _path(trait: str) -> str:
    return "$." + ".".join(f'"{part}"' for part in trait.split("."))


def _normalised(kind: str, raw: str) -> str:
    """SQL normalising the text ``raw`` for a field of ``kind``; NULL when nothing is left."""
    text = f"lower(trim({raw}))"
    if kind == "name":
        return f"nullif(trim(regexp_replace(strip_accents({text}), '[^a-z'' -]', '', 'g')), '')"
    if kind == "date":
        return (
            f"coalesce(try_cast({raw} AS DATE), try_strptime({raw}, '%Y%m%d')::DATE,"
            f" try_strptime({raw}, '%d/%m/%Y')::DATE)"
        )
    if kind == "street":
        words = f"trim(regexp_replace(strip_accents({text}), '[^a-z0-9]+', ' ', 'g'))"
        # the street type, as the last word, spelled out: "12 oak st" = "12 oak street"
        for short, full in STREET_TYPES.items():
            words = f"regexp_replace({words}, ' {short}$', ' {full}')"
        return f"nullif({words}, '')"
    if kind == "text":
        return f"nullif(trim(regexp_replace(strip_accents({text}), '[^a-z0-9]+', ' ', 'g')), '')"
    if kind in ("postcode", "id"):
        return f"nullif(regexp_replace({text}, '[^a-z0-9]', '', 'g'), '')"
    if kind == "phone":
        digits = f"regexp_replace({raw}, '[^0-9]', '', 'g')"
        return f"CASE WHEN length({digits}) >= 7 THEN right({digits}, 10) END"
    return f"nullif({text}, '')"  # exact, email


def reads_full_name(settings: MatchSettings) -> tuple[MatchField | None, MatchField | None]:
    """The first- and last-name fields a full ``name`` trait can fill in."""
    first = next((f for f in settings.fields if f.trait == "firstName"), None)
    last = next((f for f in settings.fields if f.trait == "lastName"), None)
    return first, last


def exclusive_column(type_: str) -> str:
    return f"only_{type_}"


def features_sql(settings: MatchSettings, events: str = "kenning_events") -> str:
    """Each profile as each source knows it: ``profile_id``, ``source_id`` and the normalised
    fields, from the relation ``events`` (``profile_id``, ``source_id``, ``timestamp``,
    ``payload``: the log, or a group of new events)."""
    fields = settings.fields
    first, last = reads_full_name(settings)
    traits = [f.trait for f in fields] + (["name"] if first or last else [])
    paths = ", ".join(f"'{_path(t)}'" for t in traits)
    latest = ",\n".join(
        f"arg_max(v[{i + 1}], timestamp) FILTER (WHERE v[{i + 1}] IS NOT NULL) AS raw_{i}"
        for i in range(len(traits))
    )
    name_index = len(fields)  # raw_{name_index} is the full name, when read
    columns = []
    for i, f in enumerate(fields):
        raw = f"raw_{i}"
        if f is first:
            raw = f"coalesce(raw_{i}, nullif(split_part(trim(raw_{name_index}), ' ', 1), ''))"
        elif f is last:
            raw = (
                f"coalesce(raw_{i}, CASE WHEN contains(trim(raw_{name_index}), ' ')"
                f" THEN regexp_extract(trim(raw_{name_index}), '(\\S+)$', 1) END)"
            )
        columns.append(f"{_normalised(f.kind, raw)} AS {f.name}")
    return f"""
        WITH traits AS (
            SELECT profile_id, source_id, timestamp,
                   json_extract_string(
                       coalesce(json_extract(payload, '$.traits'),
                                json_extract(payload, '$.context.traits')),
                       [{paths}]) AS v
            FROM {events}
            WHERE profile_id IS NOT NULL AND contains(payload, '"traits"')
        ),
        latest AS (
            SELECT profile_id, source_id, {latest}
            FROM traits GROUP BY profile_id, source_id
        )
        SELECT profile_id, source_id, {", ".join(columns)} FROM latest
    """


def populated_sql(settings: MatchSettings) -> str:
    """How many of a record's fields are filled."""
    return " + ".join(f"({f.name} IS NOT NULL)::INT" for f in settings.fields)


def match_records_sql(settings: MatchSettings, exclusive: Sequence[str] = ()) -> str:
    """One row per profile and source with enough populated fields: a record id, the profile,
    its representative identifier (the oldest: links are stored by identifier, which outlives
    profile ids), the profile's value of each ``exclusive`` identifier type (types a profile
    holds one value of, such as user_id: two profiles with different ones never merge), and
    the fields."""
    exclusives = "".join(
        f"""
        {exclusive_column(t)} AS (
            SELECT coalesce(r.canonical_id, i.profile_id) AS profile_id, min(i.value) AS value
            FROM __kenning_identifiers i
            LEFT JOIN __kenning_profile_redirects r USING (profile_id)
            WHERE i.type = '{t}'
            GROUP BY ALL
        ),"""
        for t in exclusive
    )
    exclusive_columns = "".join(
        f", {exclusive_column(t)}.value AS {exclusive_column(t)}" for t in exclusive
    )
    exclusive_joins = "".join(
        f" LEFT JOIN {exclusive_column(t)} USING (profile_id)" for t in exclusive
    )
    return f"""
        WITH features AS ({features_sql(settings)}),{exclusives}
        representatives AS (
            SELECT coalesce(r.canonical_id, i.profile_id) AS profile_id,
                   arg_min(i.type || ':' || i.value, i.first_seq) AS {REPRESENTATIVE}
            FROM __kenning_identifiers i
            LEFT JOIN __kenning_profile_redirects r USING (profile_id)
            GROUP BY ALL
        )
        SELECT row_number() OVER (ORDER BY f.profile_id, f.source_id) AS {RECORD_ID},
               f.{PROFILE_ID}, r.{REPRESENTATIVE}{exclusive_columns},
               f.* EXCLUDE (profile_id, source_id)
        FROM features f JOIN representatives r USING (profile_id){exclusive_joins}
        WHERE {populated_sql(settings)} >= {settings.min_fields}
        ORDER BY f.profile_id, f.source_id
    """
