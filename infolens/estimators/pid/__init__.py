"""I^sx partial information decomposition and representational complexity (bits).

Public entry points:

* :func:`isx` -- full I^sx PID (n <= 5 sources; average, pointwise, target modes).
* :func:`representational_complexity` -- C and Pi_m (lattice, union shortcut up to n = 6,
  coarse-graining and seeded subsampling).
* :func:`shannon_invariants`, :func:`reing_complexity` -- MI-only summaries.
* :func:`redundancy_lattice` -- the lattice A_n (generated in code, cached).
"""

from ._complexity import (
    ComplexityResult,
    nninfo_subsets,
    representational_complexity,
    union_information,
)
from ._isx import Atom, PIDResult, antichain_label, isx
from ._lattice import Antichain, Lattice, canonical_antichain, redundancy_lattice
from ._summaries import ReingResult, ShannonInvariants, reing_complexity, shannon_invariants

__all__ = [
    "Antichain",
    "Atom",
    "ComplexityResult",
    "Lattice",
    "PIDResult",
    "ReingResult",
    "ShannonInvariants",
    "antichain_label",
    "canonical_antichain",
    "isx",
    "nninfo_subsets",
    "redundancy_lattice",
    "reing_complexity",
    "representational_complexity",
    "shannon_invariants",
    "union_information",
]
