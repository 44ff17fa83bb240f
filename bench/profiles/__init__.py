"""The profiles benchmark: a million profiles, looked up at fixed request rates."""
