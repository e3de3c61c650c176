"""infolens.models."""
