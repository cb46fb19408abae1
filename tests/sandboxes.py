"""Test fixtures (filled in by its area)."""
