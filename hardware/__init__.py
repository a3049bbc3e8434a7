"""Mosaic chip model: spec, geometry, exact one-turn router, memory model and proxy (numpy only)."""
