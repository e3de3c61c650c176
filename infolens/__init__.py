"""infolens: information theory and geometry for looking inside neural networks.

The measures by their paper names, ``topology_of``, and the accumulators. Everything else
is reachable by module path (``infolens.estimators``, ``infolens.compat.deep_ei``, ...).
"""

from infolens.measures.causal_plane import causal_plane
from infolens.measures.ei import (
    EIResult,
    ei,
    ei_parts,
    ei_parts_matrix,
    eis_between_groups,
    sensitivity,
    sensitivity_matrix,
    vector_and_pairwise_ei,
)
from infolens.nn.topology import topology_of

__version__ = "0.1.0"

__all__ = [
    "EIResult",
    "causal_plane",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "eis_between_groups",
    "sensitivity",
    "sensitivity_matrix",
    "topology_of",
    "vector_and_pairwise_ei",
]
