"""Network-level measures, each with a functional form (and an accumulator where it streams).

``infolens.measures.measure_nc1`` runs both NC1 passes on a frozen model over a dataloader.
"""

from infolens.measures.nc1 import measure_nc1

__all__ = ["measure_nc1"]
