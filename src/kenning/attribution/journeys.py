"""What attribution reads: journeys (one per conversion, with each touch's age) and paths
(distinct channel sequences with their conversions, non-conversions and value).

Both are flat numpy arrays in CSR form: the touches of sequence ``i`` are
``channels[offsets[i]:offsets[i + 1]]``, oldest first, each a code into ``names``. No object
per journey exists anywhere, so a million journeys cost a few arrays.

A journey with ``conversions == 0`` is a non-converting one (it ends in *null*); aggregated
into ``Paths`` it adds 1 to its path's ``nulls``.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

Ints = np.ndarray[Any, np.dtype[np.int64]]
Codes = np.ndarray[Any, np.dtype[np.int16]]
Floats = np.ndarray[Any, np.dtype[np.float64]]
Bools = np.ndarray[Any, np.dtype[np.bool_]]

# int16 channel codes: far beyond any channel taxonomy, and half the memory of int32.
MAX_CHANNELS = int(np.iinfo(np.int16).max) + 1


@dataclass(frozen=True, eq=False)
class Sequences:
    """Channel sequences with the conversions and value each one ends in."""

    offsets: Ints
    channels: Codes
    conversions: Floats
    values: Floats
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        count = len(self.conversions)
        if len(self.offsets) != count + 1 or len(self.values) != count:
            raise ValueError("offsets must have one more entry than conversions and values")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.channels):
            raise ValueError("offsets must run from 0 to the number of touches")
        if count and int(np.diff(self.offsets).min()) < 1:
            raise ValueError("every sequence needs at least one touch")
        if len(self.names) > MAX_CHANNELS:
            raise ValueError(f"at most {MAX_CHANNELS} channels")
        if len(self.channels) and (
            int(self.channels.min()) < 0 or int(self.channels.max()) >= len(self.names)
        ):
            raise ValueError("a channel code has no name")

    @property
    def count(self) -> int:
        return len(self.conversions)

    @property
    def lengths(self) -> Ints:
        lengths: Ints = np.diff(self.offsets)
        return lengths

    @property
    def starts(self) -> Ints:
        starts: Ints = self.offsets[:-1]
        return starts

    @property
    def ends(self) -> Ints:
        """Index of each sequence's last touch."""
        ends: Ints = self.offsets[1:] - 1
        return ends

    def sequence_of_touch(self) -> Ints:
        """For each touch, the index of the sequence it belongs to."""
        owner: Ints = np.repeat(np.arange(self.count, dtype=np.int64), self.lengths)
        return owner

    def position_of_touch(self) -> Ints:
        """For each touch, its position in its sequence (0 for the first)."""
        position: Ints = np.arange(len(self.channels), dtype=np.int64) - np.repeat(
            self.starts, self.lengths
        )
        return position

    def path_text(self, index: int, separator: str = " > ") -> str:
        codes = self.channels[self.offsets[index] : self.offsets[index + 1]]
        return separator.join(self.names[int(c)] for c in codes)

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.values.sum())


@dataclass(frozen=True, eq=False)
class Paths(Sequences):
    """Aggregated journeys: a channel sequence with how many journeys along it converted
    (``conversions``), how many did not (``nulls``) and the value converted. A sequence
    usually appears once, but need not: every model adds over rows."""

    nulls: Floats

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.nulls) != self.count:
            raise ValueError("nulls must have one entry per path")


@dataclass(frozen=True, eq=False)
class Journeys(Sequences):
    """One journey per conversion (and one per profile's trailing touches that did not
    convert), with ``ages``: seconds from each touch to the journey's end, its conversion or,
    for a non-converting journey, its last touch. ``ages`` is None when unknown (journeys read
    from a path file), and time decay then refuses them.

    ``untouched_conversions`` and ``untouched_value``: conversions with no touch in their
    window, which no model can credit to a channel (they are not in the arrays)."""

    ages: Floats | None = None
    untouched_conversions: float = 0.0
    untouched_value: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ages is not None and len(self.ages) != len(self.channels):
            raise ValueError("ages must have one entry per touch")

    def aggregate(self) -> Paths:
        """The distinct channel sequences with their summed conversions, nulls and value.

        Sequences are grouped by length, each group's codes packed into 64-bit words (a
        sequence of up to 16 touches of up to 16 channels is one integer), and the words
        sorted by ``np.unique``: no Python loop per journey, one per distinct length."""
        lengths = self.lengths
        bits = max(1, (len(self.names) - 1).bit_length())
        per_word = 64 // bits
        nulls = (self.conversions == 0).astype(np.float64)
        by_length = np.argsort(lengths, kind="stable")
        boundaries = np.flatnonzero(np.diff(lengths[by_length])) + 1
        chunks: list[tuple[int, Codes, Floats, Floats, Floats]] = []
        for group in np.split(by_length, boundaries):
            if not len(group):
                continue
            length = int(lengths[group[0]])
            touches = self.offsets[group][:, None] + np.arange(length)
            codes = self.channels[touches]
            words = -(-length // per_word)
            padded = np.zeros((len(group), words * per_word), dtype=np.uint64)
            padded[:, :length] = codes
            shifts = (np.arange(per_word, dtype=np.uint64) * np.uint64(bits))[None, None, :]
            keys = (padded.reshape(len(group), words, per_word) << shifts).sum(
                axis=2, dtype=np.uint64
            )
            if words == 1:
                _, first, inverse = np.unique(keys[:, 0], return_index=True, return_inverse=True)
            else:
                _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            size = len(first)
            chunks.append(
                (
                    length,
                    codes[first],
                    sum_by(inverse, self.conversions[group], size),
                    sum_by(inverse, nulls[group], size),
                    sum_by(inverse, self.values[group], size),
                )
            )
        path_lengths = np.concatenate(
            [np.full(len(c[1]), c[0], dtype=np.int64) for c in chunks] or [np.zeros(0, np.int64)]
        )
        return Paths(
            offsets=np.concatenate([[0], np.cumsum(path_lengths)]).astype(np.int64),
            channels=np.concatenate(
                [c[1].reshape(-1) for c in chunks] or [np.zeros(0, np.int16)]
            ).astype(np.int16),
            conversions=_floats([c[2] for c in chunks]),
            nulls=_floats([c[3] for c in chunks]),
            values=_floats([c[4] for c in chunks]),
            names=self.names,
        )


def sum_by(index: np.ndarray[Any, Any], weights: Floats, size: int) -> Floats:
    """``weights`` summed per ``index`` value in ``range(size)``."""
    sums: Floats = np.bincount(index, weights=weights, minlength=size).astype(np.float64)
    return sums


def _floats(parts: list[Floats]) -> Floats:
    joined: Floats = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    return joined


def paths_from_lists(
    paths: list[list[str]],
    conversions: list[float],
    nulls: list[float] | None = None,
    values: list[float] | None = None,
) -> Paths:
    """Paths from Python lists, channel names coded in sorted order: for small inputs and
    examples.

    >>> p = paths_from_lists([["search", "email"], ["email"]], [1, 0], nulls=[0, 2])
    >>> p.names, p.path_text(0)
    (('email', 'search'), 'search > email')
    """
    names = tuple(sorted({c for path in paths for c in path}))
    code = {name: i for i, name in enumerate(names)}
    count = len(paths)
    return Paths(
        offsets=np.concatenate([[0], np.cumsum([len(p) for p in paths])]).astype(np.int64),
        channels=np.array([code[c] for p in paths for c in p], dtype=np.int16),
        conversions=np.asarray(conversions, dtype=np.float64),
        nulls=np.zeros(count) if nulls is None else np.asarray(nulls, dtype=np.float64),
        values=np.zeros(count) if values is None else np.asarray(values, dtype=np.float64),
        names=names,
    )


MICROSECONDS = 1_000_000


def build_journeys(
    touch_profile: Ints,
    touch_time: Ints,
    touch_channel: Ints | Codes,
    conversion_profile: Ints,
    conversion_time: Ints,
    conversion_value: Floats,
    *,
    lookback_seconds: float,
    names: tuple[str, ...],
) -> Journeys:
    """Journeys from raw rows: touches (profile, time, channel code into ``names``) and
    conversions (profile, time, value). Times are int64 microseconds since the epoch (what
    ``kenning.journeys.touch_arrays`` reads from the log); rows need not be sorted, though
    touches already sorted by profile and time (as the log is read) skip a sort.

    A conversion's journey is its profile's touches in ``(max(previous conversion, time -
    lookback), time]``: a touch at the conversion's own instant counts, a touch at the
    previous conversion's instant belongs to that one, so no touch is credited twice. Touches
    after a profile's last conversion (within the lookback of its last touch) form one
    non-converting journey. A conversion with no touch in its window is left out of the
    journeys and counted in ``untouched_conversions``. Touches at the same instant keep their
    input order, and so do conversions: of two at one instant, the first takes the window and
    the second has no touch.

    No loop per profile: the touches sorted, each profile's touches are one block, and each
    conversion's window bounds are found in its profile's block by a bisection run for all
    conversions at once.
    """
    lookback = round(lookback_seconds * MICROSECONDS)
    if lookback <= 0:
        raise ValueError("the lookback must be positive")
    touch_profile = np.asarray(touch_profile, dtype=np.int64)
    touch_time = np.asarray(touch_time, dtype=np.int64)
    channel: np.ndarray[Any, Any] = np.asarray(touch_channel)
    conversion_profile = np.asarray(conversion_profile, dtype=np.int64)
    conversion_time = np.asarray(conversion_time, dtype=np.int64)
    conversion_value = np.asarray(conversion_value, dtype=np.float64)
    touches = len(touch_profile)

    if not _sorted_by_profile_and_time(touch_profile, touch_time):
        order = np.lexsort((touch_time, touch_profile))
        touch_profile, touch_time = touch_profile[order], touch_time[order]
        channel = channel[order]
    by_time = np.lexsort((conversion_time, conversion_profile))
    c_profile = conversion_profile[by_time]
    c_time = conversion_time[by_time]
    c_value = conversion_value[by_time]

    first_of_block = np.ones(touches, dtype=bool)
    first_of_block[1:] = touch_profile[1:] != touch_profile[:-1]
    block_start = np.flatnonzero(first_of_block)
    block_end = np.append(block_start[1:], touches) if touches else block_start
    block_profile = touch_profile[block_start]
    block = np.searchsorted(block_profile, c_profile)
    has_block = block < len(block_start)
    has_block[has_block] = block_profile[block[has_block]] == c_profile[has_block]
    found = np.where(has_block, block, 0)
    start = np.where(has_block, block_start[found] if touches else 0, 0)
    end = np.where(has_block, block_end[found] if touches else 0, 0)
    hi = _first_after(touch_time, start, end, c_time)
    lo = _first_after(touch_time, start, end, c_time - lookback)
    same_profile = np.zeros(len(c_profile), dtype=bool)
    same_profile[1:] = c_profile[1:] == c_profile[:-1]
    previous_hi = np.zeros(len(c_profile), dtype=np.int64)
    previous_hi[1:] = hi[:-1]
    lo = np.where(same_profile, np.maximum(lo, previous_hi), lo)
    touched = hi > lo

    # The trailing non-converting journey of each profile: its touches after its last
    # conversion's window end, within the lookback of its last touch.
    after = block_start.copy()
    last_conversion = np.ones(len(c_profile), dtype=bool)
    last_conversion[:-1] = ~same_profile[1:]
    chosen = last_conversion & has_block
    after[block[chosen]] = hi[chosen]
    last_time = touch_time[block_end - 1]
    null_lo = np.maximum(
        after, _first_after(touch_time, block_start, block_end, last_time - lookback)
    )
    trailing = null_lo < block_end
    null_lo, null_hi = null_lo[trailing], block_end[trailing]

    lo_all = np.concatenate([lo[touched], null_lo]).astype(np.int64)
    hi_all = np.concatenate([hi[touched], null_hi]).astype(np.int64)
    end_time = np.concatenate([c_time[touched], touch_time[null_hi - 1]])
    lengths = hi_all - lo_all
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    picked = np.repeat(lo_all, lengths) + within
    ages = (np.repeat(end_time, lengths) - touch_time[picked]) / MICROSECONDS
    nulls = len(null_lo)
    return Journeys(
        offsets=offsets,
        channels=channel[picked].astype(np.int16),
        conversions=np.concatenate([np.ones(int(touched.sum())), np.zeros(nulls)]),
        values=np.concatenate([c_value[touched], np.zeros(nulls)]),
        names=tuple(names),
        ages=ages.astype(np.float64),
        untouched_conversions=float((~touched).sum()),
        untouched_value=float(c_value[~touched].sum()),
    )


def _sorted_by_profile_and_time(profile: Ints, time: Ints) -> bool:
    if len(profile) < 2:
        return True
    step = np.diff(profile)
    return bool((step >= 0).all() and (np.diff(time)[step == 0] >= 0).all())


def _first_after(times: Ints, start: Ints, end: Ints, bound: Ints) -> Ints:
    """For each query, the first index in ``[start, end)`` whose time is after ``bound``
    (``end`` if none); ``times`` sorted within each range. A bisection of all queries at
    once: as many numpy passes as the longest range has bits."""
    lo, hi = start.astype(np.int64), end.astype(np.int64)
    if not len(times):
        return lo
    last = len(times) - 1
    active = lo < hi
    while active.any():
        mid = (lo + hi) // 2
        right = times[np.minimum(mid, last)] <= bound
        lo = np.where(active & right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
        active = lo < hi
    return lo
