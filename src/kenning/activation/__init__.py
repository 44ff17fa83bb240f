"""Activation: acting on profiles. So far its destinations (``destinations/``): where
deliveries from the outbox go, and how each answer is classified."""
