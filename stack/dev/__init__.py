"""Dev middleware lifecycle: derive, start, wait, report, stop."""
