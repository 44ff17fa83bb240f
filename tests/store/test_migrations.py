from pathlib import Path

import duckdb

from kenning.store.migrations import MIGRATIONS, current_version, migrate


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    assert migrate(con) == [m.version for m in MIGRATIONS]
    assert migrate(con) == []
    assert current_version(con) == MIGRATIONS[-1].version
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {
        "__kenning_events",
        "__kenning_sources",
        "__kenning_quarantine",
        "__kenning_tokens",
        "__kenning_migrations",
    } <= tables


def test_versions_are_strictly_increasing() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions))
