"""stack: developer task toolkit for a Dify-style multi-service platform.

Layers (each imports only the ones before it):
errors/paths -> env -> compose -> images -> engine -> dev -> stores -> app -> tasks
"""

__version__ = "0.1.0"
