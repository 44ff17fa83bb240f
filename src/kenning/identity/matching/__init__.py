"""Probabilistic matching: profiles that no identifier joins, linked by what they say about
their owner (name, birthday, address, email, phone) with a Splink model trained unsupervised.
"""
