"""Lowest layer: errors a user can fix, the tested stack, Ray's start and stop."""
