"""Compose documents: render the production file, derive dev selections, validate."""
