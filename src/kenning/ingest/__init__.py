"""The ingest pipeline: validate -> dedup -> store (identity, profiles and audiences follow)."""
