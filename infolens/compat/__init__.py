"""infolens.compat."""
