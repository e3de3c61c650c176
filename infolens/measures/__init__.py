"""infolens.measures."""
