"""What a model answers: each channel's credited conversions and value."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kenning.attribution.journeys import Floats, Sequences, sum_by

# Credits are sums of up to millions of float shares; this is far above their rounding and
# far below any real imbalance.
BALANCE_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class Credit:
    """Per channel (indexed like ``names``) the conversions and value a model credits it.

    ``total_conversions`` and ``total_value`` are the data's; a model's credit sums to them
    (``balanced``). ``details`` holds what a model can say beyond its credit (the Markov
    model's removal effects), per channel, by name."""

    model: str
    names: tuple[str, ...]
    conversions: Floats
    values: Floats
    total_conversions: float
    total_value: float
    details: dict[str, Floats] = field(default_factory=dict)

    def balanced(self) -> bool:
        """Whether the credit sums to the totals, conversions and value alike."""
        return _close(float(self.conversions.sum()), self.total_conversions) and _close(
            float(self.values.sum()), self.total_value
        )

    def by_channel(self) -> dict[str, tuple[float, float]]:
        """``{channel: (conversions, value)}``: the form ``roi.returns`` takes."""
        return {
            name: (float(c), float(v))
            for name, c, v in zip(self.names, self.conversions, self.values, strict=True)
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "total_conversions": self.total_conversions,
            "total_value": self.total_value,
            "channels": [
                {
                    "channel": name,
                    "conversions": float(self.conversions[i]),
                    "value": float(self.values[i]),
                    **{key: float(detail[i]) for key, detail in self.details.items()},
                }
                for i, name in enumerate(self.names)
            ],
        }


def _close(total: float, expected: float) -> bool:
    return abs(total - expected) <= BALANCE_TOLERANCE * max(1.0, abs(expected))


def credit_from_touch_shares(model: str, data: Sequences, shares: Floats) -> Credit:
    """Credit when each touch takes ``shares[i]`` of its sequence's conversions and value
    (a sequence's shares summing to 1)."""
    owner = data.sequence_of_touch()
    size = len(data.names)
    return Credit(
        model=model,
        names=data.names,
        conversions=sum_by(data.channels, shares * data.conversions[owner], size),
        values=sum_by(data.channels, shares * data.values[owner], size),
        total_conversions=data.total_conversions,
        total_value=data.total_value,
    )


def credit_from_chosen_touch(model: str, data: Sequences, chosen: np.ndarray[Any, Any]) -> Credit:
    """Credit when one touch per sequence (``chosen[i]``, an index into the touches) takes
    all of it."""
    size = len(data.names)
    channel = data.channels[chosen]
    return Credit(
        model=model,
        names=data.names,
        conversions=sum_by(channel, data.conversions, size),
        values=sum_by(channel, data.values, size),
        total_conversions=data.total_conversions,
        total_value=data.total_value,
    )
