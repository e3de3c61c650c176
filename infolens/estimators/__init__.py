"""infolens.estimators."""
