"""The Gamma-Gamma model of spend per transaction (Fader and Hardie 2013, "The Gamma-Gamma
model of monetary value"; Colombo and Jiang 1999).

A customer's transaction values are gamma with shape p and a rate ν of their own; ν is gamma
across customers (shape q, rate γ). Fitted on the customers with at least one repeat
transaction, from their number of repeat transactions x and mean repeat value m.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln

from kenning.errors import FieldError
from kenning.predictions.fitting import Fit, Floats, maximise

NAMES = ("p", "q", "gamma")


@dataclass(frozen=True)
class SpendRows:
    """Distinct (x, m) pairs of customers with repeat transactions, with how many share each."""

    frequency: Floats
    monetary: Floats
    weight: Floats

    @classmethod
    def of(cls, frequency: Floats, monetary: Floats) -> "SpendRows":
        repeat = (frequency > 0) & (monetary > 0)
        rows = np.column_stack([frequency[repeat], monetary[repeat]])
        unique, counts = np.unique(rows, axis=0, return_counts=True)
        return cls(unique[:, 0].copy(), unique[:, 1].copy(), counts.astype(np.float64))


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    name = "gammagamma"

    @classmethod
    def fit(cls, frequency: Floats, monetary: Floats) -> tuple["GammaGamma", Fit]:
        rows = SpendRows.of(frequency, monetary)
        if not len(rows.weight):
            raise FieldError("no customer has a repeat transaction with a value", "amount")

        fit = maximise(
            lambda params: log_likelihood_and_gradient(params, rows), NAMES, (1.0, 1.0, 1.0),
            model=cls.name, customers=int(rows.weight.sum()), rows=len(rows.weight),
            gradient=True,
        )  # fmt: skip
        return cls(**fit.params), fit

    @property
    def mean_spend(self) -> float:
        """What an unknown customer is expected to spend per transaction (needs q > 1)."""
        return self.p * self.gamma / (self.q - 1)

    def expected_spend(self, frequency: Floats, monetary: Floats) -> Floats:
        """Each customer's expected spend per transaction: their own mean weighed against the
        population's by how many transactions it rests on (equation 5)."""
        p, q, gamma = self.p, self.q, self.gamma
        x = np.where(monetary > 0, frequency, 0.0)
        return np.asarray((p * (gamma + x * monetary)) / (p * x + q - 1), dtype=np.float64)

    def as_dict(self) -> dict[str, Any]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


def log_likelihood(params: Floats, rows: SpendRows) -> Floats:
    """Each row's log-likelihood of the mean repeat value m given x."""
    p, q, gamma = (float(v) for v in params)
    x, m = rows.frequency, rows.monetary
    result: Floats = (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma)
        + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(gamma + m * x)
    )  # fmt: skip
    return result


def log_likelihood_and_gradient(params: Floats, rows: SpendRows) -> tuple[float, Floats]:
    """The weighted sum of the rows' log-likelihoods and its gradient in (p, q, γ)."""
    p, q, gamma = (float(v) for v in params)
    x, m, weight = rows.frequency, rows.monetary, rows.weight
    log_total = np.log(gamma + m * x)
    psi_all = digamma(p * x + q)
    gradient = np.array([
        x * (psi_all - digamma(p * x) + np.log(m) + np.log(x) - log_total),
        psi_all - digamma(q) + np.log(gamma) - log_total,
        q / gamma - (p * x + q) / (gamma + m * x),
    ])  # fmt: skip
    return float(np.dot(weight, log_likelihood(params, rows))), gradient @ weight
