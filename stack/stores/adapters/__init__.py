"""One module per vector store; each imports its client library lazily (inside methods)."""
