"""Sequence encoders (registry.ENCODERS) and the backbone that embeds and encodes."""
