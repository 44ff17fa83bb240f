"""Predictions: what each customer is likely to do next, fitted on first-party data.

- ``histories``: purchase histories (frequency, recency, age, average spend) from transactions;
- ``bgnbd``, ``paretonbd``, ``gammagamma``: the buy-till-you-die models and the spend model,
  fitted by maximum likelihood (``fitting``);
- ``clv``: probability alive, expected purchases and spend, lifetime value, holdout checks;
- ``transactions``: transactions from a file;
- ``rfm``, ``lifecycle``, ``propensity`` (on ``features``), ``lookalike``, ``next_channel``:
  the other models;
- ``run``: every model on a store (``context``, ``customers``, ``scoring``), the scores kept
  per profile (``scores``); ``lookalike_audience``: a lookalike made on a store;
- ``analysis``: what the API and the CLI ask.

Importing this package is light: scipy and scikit-learn come with the modules that use them.
"""
