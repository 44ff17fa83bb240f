"""The Segment-compatible message spec: message fields, limits and timestamp rules."""
