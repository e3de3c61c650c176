"""infolens.training."""
