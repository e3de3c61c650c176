"""infolens: information theory and geometry for looking inside neural networks.

The measures by their paper names, ``topology_of``, and the accumulators. Everything else
is reachable by module path (``infolens.estimators``, ``infolens.compat.deep_ei``, ...).
Names load on first use, so ``import infolens`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    # effective information of layers (deep-ei)
    "topology_of": "infolens.nn.topology",
    "ei": "infolens.measures.ei",
    "ei_parts": "infolens.measures.ei",
    "ei_parts_matrix": "infolens.measures.ei",
    "sensitivity": "infolens.measures.ei",
    "sensitivity_matrix": "infolens.measures.ei",
    "eis_between_groups": "infolens.measures.ei",
    "vector_and_pairwise_ei": "infolens.measures.ei",
    "EIResult": "infolens.measures.ei",
    "causal_plane": "infolens.measures.causal_plane",
    # effective information of the weight graph (foresight)
    "weight_ei": "infolens.measures.weight_ei",
    "WeightEIResult": "infolens.measures.weight_ei",
    # neural collapse and decodable information
    "NC1": "infolens.measures.nc1",
    "nc1": "infolens.measures.nc1",
    "digit_labels": "infolens.measures.vinfo",
    "decodable_information": "infolens.measures.vinfo",
    # PID: representational complexity of a layer (nninfo)
    "representational_complexity": "infolens.measures.complexity",
}
_MODULES = {"pid": "infolens.pid"}

__all__ = [
    "NC1",
    "EIResult",
    "WeightEIResult",
    "causal_plane",
    "decodable_information",
    "digit_labels",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "eis_between_groups",
    "nc1",
    "pid",
    "representational_complexity",
    "sensitivity",
    "sensitivity_matrix",
    "topology_of",
    "vector_and_pairwise_ei",
    "weight_ei",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'infolens' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from infolens import pid
    from infolens.measures.causal_plane import causal_plane
    from infolens.measures.complexity import representational_complexity
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
    from infolens.measures.nc1 import NC1, nc1
    from infolens.measures.vinfo import decodable_information, digit_labels
    from infolens.measures.weight_ei import WeightEIResult, weight_ei
    from infolens.nn.topology import topology_of
