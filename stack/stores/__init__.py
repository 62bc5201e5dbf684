"""Vector stores: catalog (:mod:`.catalog`), contract (:mod:`.contract`), adapters
(:mod:`.adapters`) and the test-container runtime (:mod:`.runtime`).

Nothing here imports docker, testcontainers or a client library at import time.
"""
