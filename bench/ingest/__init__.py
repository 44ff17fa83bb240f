"""Ingest: events/s and acknowledgement latency against a null endpoint on the same stack."""
