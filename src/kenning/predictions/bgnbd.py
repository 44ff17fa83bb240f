"""The BG/NBD model (Fader, Hardie and Lee 2005, "Counting your customers the easy way").

While active, a customer buys at a Poisson rate λ (gamma across customers, shape r and rate
α); after each repeat purchase they leave for good with probability p (beta across customers,
a and b). The formulas are the paper's equations (6) to (11), in logarithms where they would
overflow.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from kenning.predictions.fitting import Fit, Floats, maximise
from kenning.predictions.histories import Collapsed

NAMES = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class BetaGeo:
    r: float
    alpha: float
    a: float
    b: float

    name = "bgnbd"

    @classmethod
    def fit(cls, rows: Collapsed) -> tuple["BetaGeo", Fit]:
        fit = maximise(
            lambda params: log_likelihood_and_gradient(params, rows), NAMES, (1.0, 1.0, 1.0, 1.0),
            model=cls.name, customers=rows.customers, rows=rows.rows, gradient=True,
        )  # fmt: skip
        return cls(**fit.params), fit

    def p_alive(self, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """The probability that a customer with this history is still active."""
        return np.asarray(expit(-self._log_dropout_odds(x, t_x, age)), dtype=np.float64)

    def expected_purchases(self, t: float | Floats) -> Floats:
        """Purchases a new customer is expected to make in ``t`` time units (equation 9)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = np.asarray(t, dtype=np.float64)
        z = t / (alpha + t)
        return np.asarray(
            (a + b - 1)
            / (a - 1)
            * (1 - np.exp(r * np.log(alpha / (alpha + t))) * hyp2f1(r, b, a + b - 1, z)),
            dtype=np.float64,
        )

    def conditional_expected_purchases(
        self, t: float | Floats, x: Floats, t_x: Floats, age: Floats
    ) -> Floats:
        """Purchases expected in the next ``t`` time units from a customer with this history
        (equation 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = t / (alpha + age + t)
            decay = np.exp((r + x) * np.log((alpha + age) / (alpha + age + t)))
            later = decay * hyp2f1(r + x, b + x, a + b + x - 1, z)
            growth = (a + b + x - 1) / (a - 1) * (1 - later)
        expected = growth * expit(-self._log_dropout_odds(x, t_x, age))
        return np.asarray(np.where(t > 0, expected, 0.0), dtype=np.float64)

    def _log_dropout_odds(self, x: Floats, t_x: Floats, age: Floats) -> Floats:
        """log of δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x): −inf for x = 0 (a customer with
        no repeat purchase cannot have left)."""
        repeat = x > 0
        xs = x[repeat]
        out = np.full(x.shape, -np.inf)
        out[repeat] = (
            np.log(self.a)
            - np.log(self.b + xs - 1)
            + (self.r + xs) * (np.log(self.alpha + age[repeat]) - np.log(self.alpha + t_x[repeat]))
        )
        return out

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def log_likelihood(params: Floats, rows: Collapsed) -> Floats:
    """Each row's log-likelihood (equation 6)."""
    r, alpha, a, b = (float(p) for p in params)
    x, t_x, age = rows.frequency, rows.recency, rows.age
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    stayed = -(r + x) * np.log(alpha + age)
    repeat = x > 0
    left = np.full(x.shape, -np.inf)
    left[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    result: Floats = head + np.logaddexp(stayed, left)
    return result


def log_likelihood_and_gradient(params: Floats, rows: Collapsed) -> tuple[float, Floats]:
    """The weighted sum of the rows' log-likelihoods and its gradient in (r, α, a, b).

    With S the log-likelihood of still being active and L of having left after the last
    purchase, each row is A + B + log(e^S + e^L); the gradient of the last term weighs the
    two by their shares of e^S + e^L."""
    r, alpha, a, b = (float(p) for p in params)
    x, t_x, age, weight = rows.frequency, rows.recency, rows.age, rows.weight
    repeat = x > 0
    log_active = np.log(alpha + age)
    log_last = np.log(alpha + t_x)
    stayed = -(r + x) * log_active
    left = np.full(x.shape, -np.inf)
    left[repeat] = np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * log_last[repeat]
    both = np.logaddexp(stayed, left)
    share_left = np.exp(left - both)
    share_stayed = 1 - share_left
    value = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(b + x) - gammaln(a + b + x) - gammaln(b) + gammaln(a + b)
        + both
    )  # fmt: skip
    psi_abx = digamma(a + b + x)
    inverse_b = np.zeros(x.shape)
    inverse_b[repeat] = 1 / (b + x[repeat] - 1)
    gradient = np.array([
        digamma(r + x) - digamma(r) + np.log(alpha)
        - share_stayed * log_active - share_left * log_last,
        r / alpha - (r + x) * (share_stayed / (alpha + age) + share_left / (alpha + t_x)),
        digamma(a + b) - psi_abx + share_left / a,
        digamma(b + x) - psi_abx - digamma(b) + digamma(a + b) - share_left * inverse_b,
    ])  # fmt: skip
    return float(np.dot(weight, value)), gradient @ weight
