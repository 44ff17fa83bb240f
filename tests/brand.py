"""The synthetic brand loaded through the API into a store file, for the tests that check
what the models find in it against its ground truth (``<folder>/brand/truth``)."""

import os
import subprocess
import sys
from pathlib import Path

from tests.live import free_port


def load_brand(folder: Path, people: int, seed: int) -> Path:
    """Generate and load a brand of ``people`` into ``folder``; the store file's path."""
    done = subprocess.run(
        [sys.executable, "-m", "kenning", "demo", "--people", str(people), "--seed", str(seed),
         "--dir", str(folder), "--port", str(free_port()), "--no-serve"],
        env={**os.environ, "KENNING_ADMIN_TOKEN": "kn_brand_test"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "kenning.duckdb"
