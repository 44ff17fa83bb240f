"""Which known records a new record could be: the batch run's blocking rules, as an index.

The batch run compares the pairs its blocking rules generate (same first and last name, same
birthday and postcode, ...); a new record is compared with the records that share one of
those keys with it, so real time and batch look at the same pairs. Each rule's key is a 64-bit
hash of its fields, kept as sorted numpy arrays: a lookup is a binary
search, and a million records cost 16 bytes per rule each, not a dictionary entry.

Records added since the index was built wait in a small dictionary until there are enough of
them to be worth merging into the arrays.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kenning.identity.matching.model import FIRST_NAME, LAST_NAME, PREDICTION_BLOCKS

# A rule that would yield more candidates than this is too common to say anything (a block of
# thousands of John Smiths): its candidates are not scored in real time.
MAX_BLOCK = 500
SWAPPED = "swapped names"  # first name of one is the last name of the other, and back


@dataclass(frozen=True)
class Block:
    """A blocking rule: the fields two records must share."""

    name: str
    fields: tuple[str, ...]
    probe: tuple[str, ...]  # the fields of the new record to look up, in the same order


def blocks(compared: Sequence[str], id_fields: Sequence[str] = ()) -> list[Block]:
    """The blocking rules the batch run uses, for the fields the records carry."""
    present = set(compared)
    rules = [
        Block("+".join(group), group, group)
        for group in (*PREDICTION_BLOCKS, *((name,) for name in id_fields))
        if all(name in present for name in group)
    ]
    if {FIRST_NAME, LAST_NAME} <= present:
        rules.append(Block(SWAPPED, (FIRST_NAME, LAST_NAME), (LAST_NAME, FIRST_NAME)))
    return rules


Keys = list[list[int | None]]  # for each rule, each record's key (None: a field is missing)


def keys(records: Mapping[str, Sequence[Any]], rules: Sequence[Block], *, probe: bool) -> Keys:
    """For each rule, the key of each record (``records`` as columns): of its ``fields`` to be
    found, of its ``probe`` fields to find others. Python's own hash: the index lives in one
    process, so only that process must agree with itself."""
    found: Keys = []
    for rule in rules:
        columns = [records[name] for name in (rule.probe if probe else rule.fields)]
        found.append([None if None in row else hash(row) for row in zip(*columns, strict=True)])
    return found


class BlockIndex:
    """Record positions by block key, for each rule."""

    def __init__(self, rules: Sequence[Block]) -> None:
        self.rules = list(rules)
        self._sorted: list[npt.NDArray[np.int64]] = [np.empty(0, np.int64) for _ in rules]
        self._rows: list[npt.NDArray[np.int64]] = [np.empty(0, np.int64) for _ in rules]
        self._pending: list[dict[int, list[int]]] = [{} for _ in rules]
        self.pending = 0

    def build(self, keyed: Keys, first_row: int = 0) -> None:
        """Index records whose keys (see ``keys``) are ``keyed``, numbered from
        ``first_row``, replacing what the index held."""
        for i, column in enumerate(keyed):
            valid = np.fromiter((key is not None for key in column), bool, len(column))
            # as integers throughout: a float has too few digits for a 64-bit hash
            values = np.fromiter((key or 0 for key in column), np.int64, len(column))
            rows = np.flatnonzero(valid).astype(np.int64) + first_row
            present = values[valid]
            order = np.argsort(present, kind="stable")
            self._sorted[i] = present[order]
            self._rows[i] = rows[order]
            self._pending[i] = {}
        self.pending = 0

    def add(self, keyed: Keys, first_row: int) -> None:
        """Index more records (numbered from ``first_row``) without rebuilding the arrays."""
        for i, column in enumerate(keyed):
            for offset, key in enumerate(column):
                if key is not None:
                    self._pending[i].setdefault(key, []).append(first_row + offset)
        self.pending += len(keyed[0]) if keyed else 0

    def lookup(self, probes: Keys) -> list[list[int]]:
        """For each probe (see ``keys``), the positions of the records sharing a key with it,
        without blocks too common to tell anything."""
        found: list[list[int]] = [[] for _ in range(len(probes[0]) if probes else 0)]
        for i, column in enumerate(probes):
            keys_sorted, rows = self._sorted[i], self._rows[i]
            for probe, key in enumerate(column):
                if key is None:
                    continue
                lo = int(np.searchsorted(keys_sorted, key, side="left"))
                hi = int(np.searchsorted(keys_sorted, key, side="right"))
                extra = self._pending[i].get(key, [])
                if hi - lo + len(extra) > MAX_BLOCK:
                    continue
                found[probe].extend(rows[lo:hi].tolist())
                found[probe].extend(extra)
        return [sorted(set(rows)) for rows in found]
