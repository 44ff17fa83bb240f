"""The Pareto/NBD model (Schmittlein, Morrison and Colombo 1987), with the likelihood as
Fader, Hardie and Lee derive it in "A note on deriving the Pareto/NBD model" (2005).

While active, a customer buys at a Poisson rate λ (gamma: shape r, rate α); they stay active
for an exponential time of rate μ (gamma: shape s, rate β). Unlike BG/NBD, a customer can
leave at any moment, also before a repeat purchase.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

from kenning.predictions.fitting import Fit, Floats, maximise
from kenning.predictions.histories import Collapsed

NAMES = ("r", "alpha", "s", "beta")


@dataclass(frozen=True)
class ParetoNBD:
    r: float
    alpha: float
    s: float
    beta: float

    name = "paretonbd"

    @classmethod
    def fit(cls, rows: Collapsed) -> tuple["ParetoNBD", Fit]:
        def total(params: Floats) -> float:
            return float(np.dot(rows.weight, log_likelihood(params, rows)))

        fit = maximise(
            total, NAMES, (1.0, 1.0, 1.0, 1.0),
            model=cls.name, customers=rows.customers, rows=rows.rows,
        )  # fmt: skip
        return cls(**fit.params), fit

    def p_alive(self, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """The probability that a customer with this history is still active."""
        return np.asarray(expit(-self._log_left_odds(x, t_x, age)), dtype=np.float64)

    def conditional_expected_purchases(
        self, t: float | Floats, x: Floats, t_x: Floats, age: Floats
    ) -> Floats:
        """Purchases expected in the next ``t`` time units from a customer with this history."""
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        t = np.asarray(t, dtype=np.float64)
        # the mean of an active customer's rate times their expected remaining active time
        # within t; (1 − (…)^(s−1)) / (s − 1) tends to log(…) as s → 1, which s never is exactly
        rate = (r + x) / (alpha + age)
        horizon = (beta + age) / (s - 1) * (1 - ((beta + age) / (beta + age + t)) ** (s - 1))
        return np.asarray(rate * horizon * self.p_alive(x, t_x, age), dtype=np.float64)

    def expected_purchases(self, t: float | Floats) -> Floats:
        """Purchases a new customer is expected to make in ``t`` time units."""
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        t = np.asarray(t, dtype=np.float64)
        return np.asarray(
            r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1)), dtype=np.float64
        )

    def _log_left_odds(self, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """log of s/(r+s+x)·(α+T)^(r+x)·(β+T)^s·A₀: the odds that the customer has left."""
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        return np.asarray(
            np.log(s / (r + s + x))
            + (r + x) * np.log(alpha + age)
            + s * np.log(beta + age)
            + _log_a0(r, alpha, s, beta, x, t_x, age),
            dtype=np.float64,
        )

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}


def log_likelihood(params: Floats, rows: Collapsed) -> Floats:
    """Each row's log-likelihood (the note's equation 22)."""
    r, alpha, s, beta = (float(p) for p in params)
    x, t_x, age = rows.frequency, rows.recency, rows.age
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    stayed = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    left = np.log(s / (r + s + x)) + _log_a0(r, alpha, s, beta, x, t_x, age)
    result: Floats = head + np.logaddexp(stayed, left)
    return result


def _log_a0(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, age: Floats
) -> Floats:
    """log A₀, the integral over the moment of leaving between t_x and T. The hypergeometric
    form converges only with the larger of α and β in the denominator, so the note gives two
    forms; both are the same quantity."""
    total = r + s + x
    larger = max(alpha, beta)
    second = np.full(x.shape, s + 1) if alpha >= beta else r + x
    gap = abs(alpha - beta)

    def term(y: Floats) -> Floats:
        return np.asarray(
            np.log(hyp2f1(total, second, total + 1, gap / (larger + y)))
            - total * np.log(larger + y),
            dtype=np.float64,
        )

    at_last, at_end = term(t_x), term(age)
    # log(e^at_last − e^at_end), at_last ≥ at_end; −inf when the customer bought at the end
    with np.errstate(divide="ignore"):
        return np.asarray(at_last + np.log1p(-np.exp(at_end - at_last)), dtype=np.float64)
