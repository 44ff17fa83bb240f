"""Who may be profiled: the people who granted the profiling category (``personalisation``
by default). Predictions train on and score only them; a lookalike takes its seed and its
candidates only from them; the Profile API shows predictions only for them."""

from typing import Any

import duckdb
import numpy as np


def profiled_people(con: duckdb.DuckDBPyConnection, category: str) -> np.ndarray[Any, Any]:
    """The current profiles that grant ``category`` now, sorted."""
    rows = con.execute(
        "SELECT profile_id FROM kenning_consent WHERE category = ? AND granted ORDER BY 1",
        [category],
    ).fetchall()
    return np.array([int(p) for (p,) in rows], dtype=np.int64)


def may_profile(con: duckdb.DuckDBPyConnection, profile_ids: list[int], category: str) -> bool:
    """Whether the person whose profiles are ``profile_ids`` (current first) grants it now."""
    row = con.execute(
        """SELECT arg_max(granted, (rank, observed_at, seq)) FROM __kenning_consent
           WHERE profile_id = ANY(?) AND category = ?""",
        [profile_ids, category],
    ).fetchone()
    return bool(row and row[0])
