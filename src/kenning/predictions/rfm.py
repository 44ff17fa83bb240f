"""RFM: recency, frequency and monetary scores from 1 to 5 by quintile, and the eleven named
segments marketers use.

Scores rank customers against each other: 5 is the most recent, most frequent, highest
spending fifth. Tied customers share the score of the lowest of them, so when most
customers bought once they all score frequency 1, as marketers read it. The segment reads the
recency score against the mean of the frequency and monetary scores (rounded half up), on
this grid:

====  ==============  ===================  ===================  ==========  ==========
R\\FM  1               2                    3                    4           5
====  ==============  ===================  ===================  ==========  ==========
5     New             Potential loyalists  Potential loyalists  Champions   Champions
4     Promising       Potential loyalists  Potential loyalists  Loyal       Champions
3     About to sleep  Need attention       Need attention       Loyal       Loyal
2     Hibernating     About to sleep       At risk              At risk     Can't lose
1     Lost            Hibernating          At risk              Can't lose  Can't lose
====  ==============  ===================  ===================  ==========  ==========
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from kenning.predictions.histories import Floats, Ints

SEGMENTS = (
    "Champions", "Loyal", "Potential loyalists", "New", "Promising", "Need attention",
    "About to sleep", "At risk", "Can't lose", "Hibernating", "Lost",
)  # fmt: skip
# GRID[recency - 1][frequency-monetary - 1]
GRID = (
    ("Lost", "Hibernating", "At risk", "Can't lose", "Can't lose"),
    ("Hibernating", "About to sleep", "At risk", "At risk", "Can't lose"),
    ("About to sleep", "Need attention", "Need attention", "Loyal", "Loyal"),
    ("Promising", "Potential loyalists", "Potential loyalists", "Loyal", "Champions"),
    ("New", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
)


@dataclass(frozen=True)
class Rfm:
    recency: Ints  # 1 to 5
    frequency: Ints
    monetary: Ints
    segment: np.ndarray[Any, np.dtype[np.object_]]

    def score_text(self, index: int) -> str:
        """The three scores as marketers write them: ``"545"``."""
        return f"{self.recency[index]}{self.frequency[index]}{self.monetary[index]}"


def quintile_scores(values: Floats) -> Ints:
    """1 for the lowest fifth of ``values`` to 5 for the highest; ties take the score of the
    lowest of them."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    below = rankdata(values, method="min") - 1  # how many values are lower
    scores: Ints = (below * 5 // len(values) + 1).astype(np.int64)
    return scores


def rfm(days_since_last: Floats, orders: Floats, spend: Floats) -> Rfm:
    """Scores and segments of customers from the days since their last order, their number
    of orders and what they spent."""
    recency = quintile_scores(-days_since_last)  # the most recent score 5
    frequency = quintile_scores(orders)
    monetary = quintile_scores(spend)
    combined = np.floor((frequency + monetary) / 2 + 0.5).astype(np.int64)
    grid = np.array(GRID, dtype=object)
    return Rfm(recency, frequency, monetary, grid[recency - 1, combined - 1])
