"""Benchmarks: one per capability with a cost. ``make bench`` runs them all."""
