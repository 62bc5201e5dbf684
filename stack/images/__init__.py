"""Image catalog (pinned upstream refs), mirror rewriting, offline stand-in builds."""
