"""Encryption at rest: a store opened with a key is a file nobody reads without it, not even
the bytes of its rows; every reader of the store uses it; a wrong key or a DuckDB that
cannot write encrypted files is one clear error, and nothing is written in the clear."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from kenning.ingest.pipeline import prepare_messages
from kenning.spec.limits import Limits
from kenning.store.store import EncryptionUnavailable, Store
from tests.cli.test_cli import kenning

KEY = "a passphrase nobody guesses"
EMAIL = "ada.encrypted@example.org"


def _write_person(store: Store) -> None:
    messages = [{"type": "identify", "userId": "ada", "traits": {"email": EMAIL}}]
    prepared = prepare_messages(messages, source_id="app", received_at=datetime.now(UTC),
                                limits=Limits())  # fmt: skip
    store.write_events(prepared.events).result()


def test_an_encrypted_store_is_unreadable_without_its_key(tmp_path: Path) -> None:
    path = tmp_path / "secret.duckdb"
    # DuckDB writes encrypted files with the httpfs extension's OpenSSL; this machine has no
    # network to install it, so the test forces DuckDB's own module, the same format.
    with Store.open(path, encryption_key=KEY, unsafe_test_crypto=True) as store:
        _write_person(store)
        seen: list[int] = []

        def count() -> None:  # a reader on another thread uses the encrypted file too
            with store.reader() as con:
                seen.append(con.execute("SELECT count(*) FROM __kenning_events").fetchall()[0][0])

        thread = threading.Thread(target=count)
        thread.start()
        thread.join()
        assert seen == [1]
        assert store.identity.graph.profile_count == 1
        store.writer.run(lambda con: con.execute("CHECKPOINT")).result()
    raw = path.read_bytes()
    assert EMAIL.encode() not in raw and b"__kenning_events" not in raw
    with duckdb.connect() as plain, pytest.raises(duckdb.Error):
        plain.execute(f"ATTACH '{path}' AS k (READ_ONLY)")
        plain.execute("SELECT count(*) FROM k.__kenning_events").fetchall()
    with pytest.raises(EncryptionUnavailable) as refused:
        Store.open(path, encryption_key="the wrong key", unsafe_test_crypto=True)
    assert "the wrong key" not in str(refused.value)
    with Store.open(path, encryption_key=KEY, unsafe_test_crypto=True) as again:
        assert again.stats()["events"] == 1 and again.stats()["profiles"] == 1


def test_without_the_crypto_extension_nothing_is_written_in_the_clear(tmp_path: Path) -> None:
    path = tmp_path / "wanted-encrypted.duckdb"
    try:
        with duckdb.connect() as probe:
            probe.execute("LOAD httpfs")
        has_openssl = True
    except duckdb.Error:
        has_openssl = False
    if has_openssl:  # a machine with httpfs installed writes the real thing
        with Store.open(path, encryption_key=KEY) as store:
            _write_person(store)
        assert EMAIL.encode() not in path.read_bytes()
        return
    with pytest.raises(EncryptionUnavailable, match="httpfs"):
        Store.open(path, encryption_key=KEY)
    assert not path.exists()
    ran = kenning("stats", "--db", str(path), cwd=tmp_path, env={"KENNING_ENCRYPTION_KEY": KEY})
    assert ran.returncode == 1 and len(ran.stderr.strip().splitlines()) == 1
    assert "httpfs" in ran.stderr and KEY not in ran.stderr
    assert not path.exists()
