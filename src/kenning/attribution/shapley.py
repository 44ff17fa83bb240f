"""The Shapley value over channel sets, exact, through its closed form.

The game: a coalition ``S`` of channels is worth ``v(S)``, the conversions (or value) of the
journeys whose set of channels is a subset of ``S``. Writing ``R(T)`` for the conversions of
journeys whose channel set is exactly ``T``, ``v(S) = sum of R(T) over T within S``: a sum of
unanimity games, whose Shapley value is ``phi(c) = sum of R(T) / |T| over the sets T holding
c`` (Zhao et al. 2018, "Shapley value methods for attribution modeling in online
advertising"). So no coalition is ever enumerated: each distinct channel set is found once
(a bitmask per journey, ``np.unique``) and its conversions split evenly between its channels.
Order and repeats within a journey do not matter, only which channels it touched.
"""

import numpy as np

from kenning.attribution.credit import Credit
from kenning.attribution.journeys import Floats, Sequences
from kenning.errors import FieldError

MAX_CHANNELS = 64  # a channel set is one uint64 bitmask


def channel_sets(data: Sequences) -> np.ndarray[tuple[int], np.dtype[np.uint64]]:
    """Each sequence's set of channels, as a bitmask (bit ``c`` for channel code ``c``)."""
    if len(data.names) > MAX_CHANNELS:
        raise FieldError(
            f"the Shapley model takes at most {MAX_CHANNELS} channels; these journeys have "
            f"{len(data.names)} (attribute by a coarser label, or to fewer channels)",
            "shapley",
        )
    bits = np.left_shift(np.uint64(1), data.channels.astype(np.uint64))
    if not data.count:
        return np.zeros(0, dtype=np.uint64)
    masks: np.ndarray[tuple[int], np.dtype[np.uint64]] = np.bitwise_or.reduceat(bits, data.starts)
    return masks


def shapley(data: Sequences) -> Credit:
    """Each journey's conversions and value shared evenly by the distinct channels it
    touched, which is the exact Shapley value of the channel-set game."""
    masks = channel_sets(data)
    distinct, inverse = np.unique(masks, return_inverse=True)
    inverse = inverse.reshape(-1)
    conversions = np.bincount(inverse, weights=data.conversions, minlength=len(distinct))
    values = np.bincount(inverse, weights=data.values, minlength=len(distinct))
    size = len(data.names)
    members = [(distinct >> np.uint64(c)) & np.uint64(1) for c in range(size)]
    sizes = np.sum(members, axis=0, dtype=np.float64) if size else np.zeros(len(distinct))
    per_member_conversions = np.divide(
        conversions, sizes, where=sizes > 0, out=np.zeros_like(sizes)
    )
    per_member_values = np.divide(values, sizes, where=sizes > 0, out=np.zeros_like(sizes))
    credited_conversions: Floats = np.array(
        [float(per_member_conversions[m == 1].sum()) for m in members]
    )
    credited_values: Floats = np.array([float(per_member_values[m == 1].sum()) for m in members])
    return Credit(
        model="shapley",
        names=data.names,
        conversions=credited_conversions.reshape(size),
        values=credited_values.reshape(size),
        total_conversions=data.total_conversions,
        total_value=data.total_value,
    )
