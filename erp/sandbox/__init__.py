"""Sandbox marketplaces: real HTTP servers speaking the platforms' protocols, for demo and tests."""
