"""Predictions: what each customer is likely to do next, fitted on first-party data.

- ``histories``: purchase histories (frequency, recency, age, average spend) from transactions;
- ``bgnbd``, ``paretonbd``, ``gammagamma``: the buy-till-you-die models and the spend model,
  fitted by maximum likelihood (``fitting``);
- ``clv``: probability alive, expected purchases and spend, lifetime value, holdout checks;
- ``transactions``: transactions from a file or from the event log.
"""
