"""Shared env definitions: parse, model, validate (the lowest layer above errors)."""
