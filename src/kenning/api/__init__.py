"""The HTTP API: collection (Segment-compatible), admin."""
