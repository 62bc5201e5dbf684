"""Docker engine: find/ensure it, talk to it, label and sweep what we create."""
