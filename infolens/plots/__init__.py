"""infolens.plots."""
