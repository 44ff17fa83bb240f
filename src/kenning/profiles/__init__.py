"""Unified profiles: what the events say about each resolved person (traits, consent)."""
