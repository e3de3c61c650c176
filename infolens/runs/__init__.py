"""infolens.runs."""
