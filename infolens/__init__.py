"""infolens: information theory and geometry for looking inside neural networks."""

__version__ = "0.1.0"
