"""The activation benchmark: event to webhook in real time, and fifty audiences in batch."""
