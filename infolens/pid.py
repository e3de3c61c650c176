"""``infolens.pid``: the I^sx partial information decomposition (bits).

The estimators live in :mod:`infolens.estimators.pid`; this module is their public face:
``infolens.pid.isx(sources, target)`` and
``infolens.pid.representational_complexity(sources, target)``.
"""

from infolens.estimators.pid import (
    Antichain,
    Atom,
    ComplexityResult,
    Lattice,
    PIDResult,
    ReingResult,
    ShannonInvariants,
    isx,
    nninfo_subsets,
    redundancy_lattice,
    reing_complexity,
    representational_complexity,
    shannon_invariants,
    union_information,
)

__all__ = [
    "Antichain",
    "Atom",
    "ComplexityResult",
    "Lattice",
    "PIDResult",
    "ReingResult",
    "ShannonInvariants",
    "isx",
    "nninfo_subsets",
    "redundancy_lattice",
    "reing_complexity",
    "representational_complexity",
    "shannon_invariants",
    "union_information",
]
