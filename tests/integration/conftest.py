"""Engine-tier hooks: under CI=true no skip for want of an engine; no test dev state left
behind in the checkout (see stack/testing.py)."""

from stack.testing import (  # noqa: F401 (pytest finds the hooks by name)
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
    remember_state_dirs,
)

remember_state_dirs()
