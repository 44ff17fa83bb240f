from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kenning.ingest.files import FileFormatError, read_rows

ROWS = [{"id": "1", "name": "Ann"}, {"id": "2", "name": "Bob"}]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_format_reads_the_same_rows(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        path.write_text("\ufeffid,name\n1,Ann\n2,Bob\n")
    elif suffix == ".jsonl":
        path.write_bytes(b"\n".join(orjson.dumps(r) for r in ROWS) + b"\n\n")
    else:
        pq.write_table(pa.Table.from_pylist(ROWS), path)
    seen: list[int] = []
    assert list(read_rows(path, progress=seen.append)) == ROWS
    assert seen and seen[-1] == path.stat().st_size


def test_rows_are_streamed_not_loaded_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("id,value\n")
        for i in range(200_000):
            handle.write(f"{i},{'x' * 40}\n")
    rows = read_rows(path)
    first = next(rows)
    assert first == {"id": "0", "value": "x" * 40}  # available before the file is read


def test_bad_files_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(FileFormatError, match="line 2: not a JSON object"):
        list(read_rows(bad))
    with pytest.raises(FileFormatError, match="cannot tell the format"):
        list(read_rows(tmp_path / "x.xlsx"))
