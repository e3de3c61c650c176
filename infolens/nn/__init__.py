"""infolens.nn."""
