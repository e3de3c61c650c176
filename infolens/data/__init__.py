"""infolens.data."""
