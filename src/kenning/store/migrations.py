"""Schema migrations, applied in order on open; each runs once, in its own transaction.

Internal tables carry the ``__kenning_`` prefix so a user's own tables never collide.
Never edit a released migration: add a new one.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Sequence[str]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "event log, sources, quarantine, tokens",
        (
            """CREATE TABLE __kenning_sources (
                id VARCHAR PRIMARY KEY,
                name VARCHAR NOT NULL UNIQUE,
                write_key_hash VARCHAR NOT NULL UNIQUE,
                write_key_prefix VARCHAR NOT NULL,
                rate_limit DOUBLE,
                created_at TIMESTAMPTZ NOT NULL
            )""",
            # The event log, the source of truth. The primary key is the dedup guarantee: a
            # retried message is refused by the same transaction that would store it twice.
            """CREATE TABLE __kenning_events (
                seq BIGINT NOT NULL,
                source_id VARCHAR NOT NULL,
                message_id VARCHAR NOT NULL,
                type VARCHAR NOT NULL,
                event VARCHAR,
                user_id VARCHAR,
                anonymous_id VARCHAR,
                timestamp TIMESTAMPTZ NOT NULL,
                original_timestamp TIMESTAMPTZ,
                sent_at TIMESTAMPTZ,
                received_at TIMESTAMPTZ NOT NULL,
                flags VARCHAR[] NOT NULL,
                -- JSON text. Not DuckDB's JSON type: its validating cast costs more per event
                -- than the whole insert, and the writer only ever stores orjson output.
                payload VARCHAR NOT NULL,
                PRIMARY KEY (source_id, message_id)
            )""",
            """CREATE TABLE __kenning_quarantine (
                id BIGINT PRIMARY KEY,
                source_id VARCHAR NOT NULL,
                received_at TIMESTAMPTZ NOT NULL,
                code VARCHAR NOT NULL,
                message VARCHAR NOT NULL,
                field VARCHAR,
                payload VARCHAR NOT NULL,
                status VARCHAR NOT NULL,
                attempts INTEGER NOT NULL,
                resolved_at TIMESTAMPTZ
            )""",
            """CREATE TABLE __kenning_tokens (
                id VARCHAR PRIMARY KEY,
                name VARCHAR NOT NULL,
                token_hash VARCHAR NOT NULL UNIQUE,
                scopes VARCHAR[] NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                revoked_at TIMESTAMPTZ
            )""",
        ),
    ),
    Migration(
        2,
        "identity graph: identifiers, profiles, event profiles, merge log",
        (
            # Identifiers keep the profile they were first attached to; a merge writes one
            # redirect per absorbed profile instead of rewriting every identifier. No key
            # constraints: the writer's in-memory graph is the single authority on uniqueness,
            # and keeping varchar keys costs more per event than the rest of the insert.
            """CREATE TABLE __kenning_identifiers (
                type VARCHAR NOT NULL,
                value VARCHAR NOT NULL,
                profile_id BIGINT NOT NULL,
                source_id VARCHAR NOT NULL,
                first_seen TIMESTAMPTZ NOT NULL,
                first_seq BIGINT NOT NULL
            )""",
            """CREATE TABLE __kenning_profile_redirects (
                profile_id BIGINT NOT NULL,
                canonical_id BIGINT NOT NULL
            )""",
            # Which profile each event was stitched to (derived; rebuilt from the log).
            """CREATE TABLE __kenning_event_profiles (
                seq BIGINT NOT NULL,
                profile_id BIGINT NOT NULL
            )""",
            # Append-only: every merge, with the event that caused it and the rule.
            """CREATE TABLE __kenning_merges (
                id BIGINT NOT NULL,
                merged_at TIMESTAMPTZ NOT NULL,
                seq BIGINT,
                kept BIGINT NOT NULL,
                merged BIGINT NOT NULL,
                identifiers VARCHAR[] NOT NULL,
                rule VARCHAR NOT NULL,
                score DOUBLE
            )""",
            """CREATE VIEW kenning_identifiers AS
                SELECT coalesce(r.canonical_id, i.profile_id) AS profile_id, i.type, i.value,
                       i.source_id, i.first_seen
                FROM __kenning_identifiers i
                LEFT JOIN __kenning_profile_redirects r USING (profile_id)""",
            """CREATE VIEW kenning_events AS
                SELECT e.*, coalesce(r.canonical_id, ep.profile_id) AS profile_id
                FROM __kenning_events e
                LEFT JOIN __kenning_event_profiles ep USING (seq)
                LEFT JOIN __kenning_profile_redirects r ON r.profile_id = ep.profile_id""",
        ),
    ),
    Migration(
        3,
        "identity overrides: never join, detach",
        (
            # Inputs, like the event log: a rebuild obeys them and never deletes them. Lifting
            # one marks it removed, so what was decided, and when, stays on record.
            """CREATE TABLE __kenning_identity_overrides (
                id BIGINT PRIMARY KEY,
                kind VARCHAR NOT NULL,
                a VARCHAR NOT NULL,
                b VARCHAR,
                reason VARCHAR,
                created_at TIMESTAMPTZ NOT NULL,
                removed_at TIMESTAMPTZ
            )""",
        ),
    ),
    Migration(
        4,
        "households",
        (
            # Derived: recomputed whole by `kenning identity households`.
            """CREATE TABLE __kenning_households (
                profile_id BIGINT NOT NULL,
                household_id VARCHAR NOT NULL
            )""",
            # Profiles merged since the computation are shown under their current id.
            """CREATE VIEW kenning_households AS
                WITH current AS (
                    SELECT DISTINCT ON (coalesce(r.canonical_id, h.profile_id))
                           coalesce(r.canonical_id, h.profile_id) AS profile_id, h.household_id
                    FROM __kenning_households h
                    LEFT JOIN __kenning_profile_redirects r USING (profile_id)
                    ORDER BY coalesce(r.canonical_id, h.profile_id), h.household_id
                )
                SELECT household_id, profile_id,
                       count(*) OVER (PARTITION BY household_id) AS size
                FROM current""",
        ),
    ),
    Migration(
        5,
        "probabilistic matching: links, review queue, runs",
        (
            # Inputs, like overrides: decisions that two identifiers' profiles are one person
            # (a match run's, or a reviewer's). A rebuild replays them after the log.
            """CREATE TABLE __kenning_identity_links (
                id BIGINT PRIMARY KEY,
                a VARCHAR NOT NULL,
                b VARCHAR NOT NULL,
                probability DOUBLE,
                decided_by VARCHAR NOT NULL,
                run_id BIGINT,
                created_at TIMESTAMPTZ NOT NULL,
                removed_at TIMESTAMPTZ
            )""",
            # Pairs a person should decide: pending, then accepted (a link) or rejected.
            """CREATE TABLE __kenning_match_reviews (
                id BIGINT PRIMARY KEY,
                a VARCHAR NOT NULL,
                b VARCHAR NOT NULL,
                probability DOUBLE NOT NULL,
                reason VARCHAR NOT NULL,
                status VARCHAR NOT NULL,
                run_id BIGINT,
                created_at TIMESTAMPTZ NOT NULL,
                decided_at TIMESTAMPTZ
            )""",
            # Every match run with what it did and the model it used (its weights explain a
            # merge it made).
            """CREATE TABLE __kenning_match_runs (
                id BIGINT PRIMARY KEY,
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ NOT NULL,
                summary JSON NOT NULL,
                model JSON
            )""",
        ),
    ),
    Migration(
        6,
        "household composition",
        (
            "ALTER TABLE __kenning_households ADD COLUMN birthday DATE",
            """CREATE OR REPLACE VIEW kenning_households AS
                WITH current AS (
                    SELECT DISTINCT ON (coalesce(r.canonical_id, h.profile_id))
                           coalesce(r.canonical_id, h.profile_id) AS profile_id,
                           h.household_id, h.birthday
                    FROM __kenning_households h
                    LEFT JOIN __kenning_profile_redirects r USING (profile_id)
                    ORDER BY coalesce(r.canonical_id, h.profile_id), h.household_id
                )
                SELECT household_id, profile_id,
                       count(*) OVER (PARTITION BY household_id) AS size, birthday
                FROM current""",
            # Each profile's household as traits (adults: 18 or over today).
            """CREATE VIEW kenning_household_traits AS
                SELECT p.profile_id, p.household_id, p.size AS household_size,
                       list(m.profile_id ORDER BY m.profile_id)
                           FILTER (WHERE m.profile_id <> p.profile_id) AS household_others,
                       count(*) FILTER (
                           WHERE date_sub('year', m.birthday, current_date) >= 18
                       ) AS household_adults,
                       count(*) FILTER (
                           WHERE date_sub('year', m.birthday, current_date) < 18
                       ) AS household_children,
                       count(*) FILTER (WHERE m.birthday IS NULL) AS household_age_unknown
                FROM kenning_households p
                JOIN kenning_households m USING (household_id)
                GROUP BY p.profile_id, p.household_id, p.size""",
        ),
    ),
    Migration(
        7,
        "profile id high-water mark",
        (
            # A rebuild can retire the highest id handed out, leaving no row that names it;
            # this keeps it, so the id is never handed to someone else.
            "CREATE TABLE __kenning_profile_ids (highest BIGINT NOT NULL)",
            """INSERT INTO __kenning_profile_ids SELECT greatest(
                   (SELECT coalesce(max(profile_id), 0) FROM __kenning_identifiers),
                   (SELECT coalesce(max(profile_id), 0) FROM __kenning_event_profiles),
                   (SELECT coalesce(max(greatest(profile_id, canonical_id)), 0)
                    FROM __kenning_profile_redirects),
                   (SELECT coalesce(max(greatest(kept, merged)), 0) FROM __kenning_merges))""",
        ),
    ),
    Migration(
        8,
        "links replayed in place",
        (
            "ALTER TABLE __kenning_identity_links ADD COLUMN after_seq BIGINT",
            # Links made before this were replayed after the whole log: keep them there.
            """UPDATE __kenning_identity_links
               SET after_seq = (SELECT coalesce(max(seq), 0) FROM __kenning_events)""",
        ),
    ),
    Migration(
        9,
        "profile state",
        (
            # Keyed by the profile each event was stitched to; redirects lead to the current
            # one (see profiles/state.py). rank: the source's priority.
            """CREATE TABLE __kenning_profile_traits (
                profile_id BIGINT NOT NULL, trait VARCHAR NOT NULL, value JSON,
                observed_at TIMESTAMPTZ NOT NULL, source_id VARCHAR NOT NULL,
                seq BIGINT NOT NULL, rank SMALLINT NOT NULL,
                PRIMARY KEY (profile_id, trait)
            )""",
            # The key's index does not serve a lookup by profile alone.
            """CREATE INDEX __kenning_profile_traits_profile
               ON __kenning_profile_traits (profile_id)""",
            """CREATE TABLE __kenning_consent (
                profile_id BIGINT NOT NULL, category VARCHAR NOT NULL, granted BOOLEAN NOT NULL,
                observed_at TIMESTAMPTZ NOT NULL, source_id VARCHAR NOT NULL,
                seq BIGINT NOT NULL, rank SMALLINT NOT NULL,
                PRIMARY KEY (profile_id, category)
            )""",
            "CREATE INDEX __kenning_consent_profile ON __kenning_consent (profile_id)",
            # Every consent statement, in log order: the history of a person's choices.
            """CREATE TABLE __kenning_consent_log (
                seq BIGINT NOT NULL, profile_id BIGINT NOT NULL, category VARCHAR NOT NULL,
                granted BOOLEAN NOT NULL, observed_at TIMESTAMPTZ NOT NULL,
                source_id VARCHAR NOT NULL
            )""",
            "CREATE INDEX __kenning_consent_log_profile ON __kenning_consent_log (profile_id)",
            # Current state per current profile: the winning row among the profile's own and
            # those of the profiles merged into it.
            """CREATE VIEW kenning_profile_traits AS
                SELECT coalesce(r.canonical_id, t.profile_id) AS profile_id, t.trait,
                       arg_max(t.value, (t.rank, t.observed_at, t.seq)) AS value,
                       arg_max(t.source_id, (t.rank, t.observed_at, t.seq)) AS source_id,
                       arg_max(t.observed_at, (t.rank, t.observed_at, t.seq)) AS observed_at
                FROM __kenning_profile_traits t
                LEFT JOIN __kenning_profile_redirects r USING (profile_id)
                GROUP BY ALL""",
            """CREATE VIEW kenning_consent AS
                SELECT coalesce(r.canonical_id, c.profile_id) AS profile_id, c.category,
                       arg_max(c.granted, (c.rank, c.observed_at, c.seq)) AS granted,
                       arg_max(c.observed_at, (c.rank, c.observed_at, c.seq)) AS observed_at
                FROM __kenning_consent c
                LEFT JOIN __kenning_profile_redirects r USING (profile_id)
                GROUP BY ALL""",
        ),
    ),
    Migration(
        10,
        "computed traits",
        (
            # Definitions declared through the admin API (built-ins and configuration ones
            # live in code and in the configuration file).
            """CREATE TABLE __kenning_computed_traits (
                name VARCHAR PRIMARY KEY, definition JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL
            )""",
            # What the tallies of each trait were computed from, and when.
            """CREATE TABLE __kenning_trait_state (
                name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
                computed_at TIMESTAMPTZ NOT NULL
            )""",
            # Tallies per profile an event was stitched to, combined over merged profiles when
            # read (see profiles/computed/tally.py). Values are canonical JSON text. Appended
            # by each group and compacted now and then, not upserted: an upsert costs several
            # times an append, and a read combines rows anyway.
            """CREATE TABLE __kenning_trait_tallies (
                profile_id BIGINT NOT NULL, trait VARCHAR NOT NULL, n BIGINT NOT NULL,
                total DOUBLE, low DOUBLE, high DOUBLE,
                first_value VARCHAR, first_at TIMESTAMPTZ, first_seq BIGINT,
                last_value VARCHAR, last_at TIMESTAMPTZ, last_seq BIGINT
            )""",
            """CREATE INDEX __kenning_trait_tallies_profile
               ON __kenning_trait_tallies (profile_id)""",
            """CREATE TABLE __kenning_trait_values (
                profile_id BIGINT NOT NULL, trait VARCHAR NOT NULL, value VARCHAR NOT NULL,
                n BIGINT NOT NULL, last_at TIMESTAMPTZ NOT NULL, last_seq BIGINT NOT NULL
            )""",
            """CREATE INDEX __kenning_trait_values_profile
               ON __kenning_trait_values (profile_id)""",
        ),
    ),
    Migration(
        11,
        "profiles merged into a profile, by index",
        (
            # A profile read starts from the profiles merged into it: a scan of the redirects
            # cost 0.6 ms a read on 1M profiles, the index 0.3 ms.
            """CREATE INDEX __kenning_profile_redirects_canonical
               ON __kenning_profile_redirects (canonical_id)""",
        ),
    ),
    Migration(
        12,
        "profile documents",
        (
            # Each person's state in one value, for the Profile API (profiles/documents.py):
            # derived, deleted whenever the state changes, rebuilt when the writer is idle.
            # No primary key: a key is checked on every insert and this table is only ever
            # deleted from and appended to.
            """CREATE TABLE __kenning_profile_documents (
                profile_id BIGINT NOT NULL, document BLOB NOT NULL
            )""",
            """CREATE INDEX __kenning_profile_documents_profile
               ON __kenning_profile_documents (profile_id)""",
        ),
    ),
    Migration(
        13,
        "audiences",
        (
            # Definitions are inputs (declared through the API); members, changes and sizes
            # are derived from the profiles (audiences/membership.py).
            """CREATE TABLE __kenning_audiences (
                name VARCHAR PRIMARY KEY, description VARCHAR NOT NULL,
                condition JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL
            )""",
            """CREATE TABLE __kenning_audience_members (
                audience VARCHAR NOT NULL, profile_id BIGINT NOT NULL,
                entered_at TIMESTAMPTZ NOT NULL
            )""",
            """CREATE INDEX __kenning_audience_members_profile
               ON __kenning_audience_members (profile_id)""",
            """CREATE SEQUENCE __kenning_audience_change_ids""",
            """CREATE TABLE __kenning_audience_changes (
                id BIGINT NOT NULL DEFAULT nextval('__kenning_audience_change_ids'),
                audience VARCHAR NOT NULL, profile_id BIGINT NOT NULL,
                change VARCHAR NOT NULL, changed_at TIMESTAMPTZ NOT NULL, cause VARCHAR NOT NULL
            )""",
            """CREATE INDEX __kenning_audience_changes_profile
               ON __kenning_audience_changes (profile_id)""",
            """CREATE TABLE __kenning_audience_sizes (
                audience VARCHAR NOT NULL, measured_at TIMESTAMPTZ NOT NULL, size BIGINT NOT NULL,
                entered BIGINT NOT NULL, exited BIGINT NOT NULL, cause VARCHAR NOT NULL
            )""",
        ),
    ),
    Migration(
        14,
        "activation: destinations, campaigns, the outbox, delivery attempts and dead letters",
        (
            # An audience a campaign keeps for its trigger (a threshold, a date): evaluated as
            # any audience is, listed with none (activation/triggers.py).
            "ALTER TABLE __kenning_audiences ADD COLUMN owner VARCHAR",
            """CREATE TABLE __kenning_destinations (
                name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, config JSON NOT NULL,
                consent VARCHAR[] NOT NULL, audiences VARCHAR[] NOT NULL,
                events JSON, enabled BOOLEAN NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL
            )""",
            """CREATE TABLE __kenning_campaigns (
                name VARCHAR PRIMARY KEY, spec JSON NOT NULL, enabled BOOLEAN NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL
            )""",
            # Written in the transaction of the change that caused it; status is scheduled (a
            # campaign's message, its channel not chosen yet), pending, delivered, dead (see
            # __kenning_dead_letters), suppressed or holdout. Per-profile order per destination
            # follows (scheduled_at, id); a retry moves next_attempt_at.
            "CREATE SEQUENCE __kenning_outbox_ids",
            """CREATE TABLE __kenning_outbox (
                id BIGINT PRIMARY KEY DEFAULT nextval('__kenning_outbox_ids'),
                idempotency_key VARCHAR NOT NULL UNIQUE, destination VARCHAR NOT NULL,
                profile_id BIGINT, kind VARCHAR NOT NULL,
                campaign VARCHAR, channel VARCHAR, payload JSON NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, scheduled_at TIMESTAMPTZ NOT NULL,
                status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
                next_attempt_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
                code INTEGER, detail VARCHAR
            )""",
            """CREATE TABLE __kenning_delivery_attempts (
                delivery_id BIGINT NOT NULL, attempt INTEGER NOT NULL,
                attempted_at TIMESTAMPTZ NOT NULL, status VARCHAR NOT NULL, code INTEGER,
                detail VARCHAR NOT NULL, milliseconds DOUBLE NOT NULL
            )""",
            """CREATE TABLE __kenning_dead_letters (
                delivery_id BIGINT NOT NULL, destination VARCHAR NOT NULL,
                dead_at TIMESTAMPTZ NOT NULL, code INTEGER, detail VARCHAR NOT NULL,
                response VARCHAR, replayed_at TIMESTAMPTZ
            )""",
        ),
    ),
    Migration(
        15,
        "attribution: marketing spend per day, channel and campaign",
        (
            # Imported from the brand's ad platforms (CSV); one row per day, channel and
            # campaign ('' for spend on the channel as a whole); a re-import replaces.
            """CREATE TABLE __kenning_spend (
                day DATE NOT NULL, channel VARCHAR NOT NULL, campaign VARCHAR NOT NULL,
                spend DOUBLE NOT NULL, currency VARCHAR, imported_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (day, channel, campaign)
            )""",
        ),
    ),
    Migration(
        16,
        "predictions: scores per profile and the runs that computed them",
        (
            # Each run of a model replaces its rows. Keyed by the profile the person had at
            # the run; a read combines a profile and those merged into it (the newest wins).
            # Values are canonical JSON text, as traits' are.
            """CREATE TABLE __kenning_predictions (
                profile_id BIGINT NOT NULL, name VARCHAR NOT NULL, value VARCHAR NOT NULL,
                model VARCHAR NOT NULL, computed_at TIMESTAMPTZ NOT NULL
            )""",
            """CREATE INDEX __kenning_predictions_profile ON __kenning_predictions (profile_id)""",
            # A run's report: the fit, its diagnostics, what it wrote (the model card).
            """CREATE TABLE __kenning_prediction_runs (
                model VARCHAR NOT NULL, computed_at TIMESTAMPTZ NOT NULL, report JSON NOT NULL
            )""",
        ),
    ),
    Migration(
        17,
        "privacy: audit log, regulation receipts, suppressions, retention",
        (
            # Append-only: nothing in Kenning updates or deletes a row. Holds no personal
            # data: the actor is a token's id and name, the target a profile number or a name.
            "CREATE SEQUENCE __kenning_audit_ids",
            """CREATE TABLE __kenning_audit (
                id BIGINT PRIMARY KEY DEFAULT nextval('__kenning_audit_ids'),
                "at" TIMESTAMPTZ NOT NULL, actor_id VARCHAR NOT NULL, actor VARCHAR NOT NULL,
                action VARCHAR NOT NULL, target VARCHAR, status INTEGER, detail JSON
            )""",
            # A regulation request and, once done, its receipt: counts per table, never the
            # identifiers it named (see privacy/regulations.py).
            """CREATE TABLE __kenning_regulations (
                id VARCHAR PRIMARY KEY, type VARCHAR NOT NULL, identifiers INTEGER NOT NULL,
                status VARCHAR NOT NULL, requested_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ, actor_id VARCHAR NOT NULL, receipt JSON
            )""",
            # Suppressed identifiers as salted hashes: an event carrying one is not stored.
            """CREATE TABLE __kenning_suppressions (
                identifier_hash VARCHAR PRIMARY KEY, regulation_id VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL
            )""",
            # Written once, from Python's secrets, when the store first opens after this.
            "CREATE TABLE __kenning_privacy_salt (salt VARCHAR NOT NULL)",
            # Days a source's events are kept (NULL: for ever); see privacy/retention.py.
            "ALTER TABLE __kenning_sources ADD COLUMN retention_days INTEGER",
        ),
    ),
    Migration(
        18,
        "computed traits: tallied from the log after the acknowledgement, up to a watermark",
        (
            # One row: the log position up to which every event is in the tallies (see
            # profiles/computed/catchup.py). Stores before this tallied each event on ingest.
            "CREATE TABLE __kenning_trait_watermark (seq BIGINT NOT NULL)",
            """INSERT INTO __kenning_trait_watermark
               SELECT coalesce(max(seq), 0) FROM __kenning_events""",
        ),
    ),
    Migration(
        19,
        "events: whether a payload carries identifiers beyond the two id columns",
        (
            # Set at ingest (identity/identifiers.holds_other_identifiers): a rebuild parses
            # only the payloads that do. NULL for the events stored before: parsed.
            "ALTER TABLE __kenning_events ADD COLUMN other_identifiers BOOLEAN",
            # The public view keeps its columns: the flag is the rebuild's business.
            """CREATE OR REPLACE VIEW kenning_events AS
                SELECT e.* EXCLUDE (other_identifiers),
                       coalesce(r.canonical_id, ep.profile_id) AS profile_id
                FROM __kenning_events e
                LEFT JOIN __kenning_event_profiles ep USING (seq)
                LEFT JOIN __kenning_profile_redirects r ON r.profile_id = ep.profile_id""",
        ),
    ),
)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        """CREATE TABLE IF NOT EXISTS __kenning_migrations (
            version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL
        )"""
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM __kenning_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration newer than the store's version; returns the versions applied."""
    applied: list[int] = []
    version = current_version(con)
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        con.begin()
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO __kenning_migrations VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
            con.commit()
        except Exception:
            con.rollback()
            raise
        applied.append(migration.version)
    return applied
