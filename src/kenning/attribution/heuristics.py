"""The rule-based models: each gives every touch a fixed share of its journey's conversion.

Shares are computed for all touches at once from their position and their journey's length
(or age), and summed per channel with ``np.bincount``. A channel touched twice in a journey
gets both touches' shares (as ChannelAttribution's linear model does).
"""

import numpy as np

from kenning.attribution.credit import Credit, credit_from_chosen_touch, credit_from_touch_shares
from kenning.attribution.journeys import Floats, Journeys, Sequences
from kenning.errors import FieldError

DIRECT = "direct"
DAY_SECONDS = 86_400.0
DEFAULT_HALF_LIFE_DAYS = 7.0


def first_touch(data: Sequences) -> Credit:
    """All of a journey's conversion to its first touch."""
    return credit_from_chosen_touch("first_touch", data, data.starts)


def last_touch(data: Sequences) -> Credit:
    """All of a journey's conversion to its last touch."""
    return credit_from_chosen_touch("last_touch", data, data.ends)


def last_non_direct(data: Sequences, *, direct: str = DIRECT) -> Credit:
    """All of a journey's conversion to its last touch whose channel is not ``direct`` (a
    visit typed straight in says little about what brought the person); when every touch is
    direct, to the last one, so direct keeps what only it touched."""
    if direct not in data.names:
        return credit_from_chosen_touch("last_non_direct", data, data.ends)
    direct_code = data.names.index(direct)
    index = np.arange(len(data.channels), dtype=np.int64)
    candidate = np.where(data.channels != direct_code, index, -1)
    last = np.maximum.reduceat(candidate, data.starts) if data.count else candidate[:0]
    chosen = np.where(last >= 0, last, data.ends)
    return credit_from_chosen_touch("last_non_direct", data, chosen)


def linear(data: Sequences) -> Credit:
    """An equal share to every touch."""
    shares = 1.0 / np.repeat(data.lengths, data.lengths)
    return credit_from_touch_shares("linear", data, shares)


def position_based(data: Sequences, *, first: float = 0.4, last: float = 0.4) -> Credit:
    """``first`` of a journey to its first touch, ``last`` to its last, the rest shared by
    the touches between (40/20/40 by default). A single touch takes everything; two touches
    share it in proportion ``first : last`` (50/50 by default), as there is no middle."""
    if first < 0 or last < 0 or first + last > 1:
        raise FieldError("first and last must be shares summing to at most 1", "position_based")
    lengths = np.repeat(data.lengths, data.lengths)
    position = data.position_of_touch()
    middle = (1.0 - first - last) / np.maximum(lengths - 2, 1)
    shares = np.where(position == 0, first, np.where(position == lengths - 1, last, middle))
    shares = np.where(lengths == 1, 1.0, shares)
    pair = first + last
    if pair > 0:
        shares = np.where(lengths == 2, shares / pair, shares)
    else:
        shares = np.where(lengths == 2, 0.5, shares)
    return credit_from_touch_shares("position_based", data, shares)


def time_decay(data: Sequences, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> Credit:
    """Shares in proportion to ``2 ** (-age / half_life)``: a touch a half-life older than
    another counts half as much. Needs each touch's age, so journeys built from touches, not
    a path file."""
    ages = data.ages if isinstance(data, Journeys) else None
    if ages is None:
        raise FieldError(
            "time decay needs each touch's time; paths read from a path file have none",
            "time_decay",
        )
    if not half_life_days > 0:
        raise FieldError("the half-life must be a positive number of days", "half_life_days")
    owner = data.sequence_of_touch()
    # Ages measured from the journey's most recent touch, so the largest weight is 1 and a
    # journey whose touches are all years old does not underflow to no weight at all.
    newest = np.minimum.reduceat(ages, data.starts) if data.count else ages[:0]
    weights: Floats = np.exp2(-(ages - newest[owner]) / (half_life_days * DAY_SECONDS))
    totals = np.add.reduceat(weights, data.starts) if data.count else weights[:0]
    return credit_from_touch_shares("time_decay", data, weights / totals[owner])
