"""``infolens.pid``: the I^sx partial information decomposition (bits).

The estimators live in :mod:`infolens.estimators.pid`; this module is their public face:
``infolens.pid.isx(sources, target)`` and
``infolens.pid.representational_complexity(sources, target)``.
"""

from infolens.estimators.pid import *  # noqa: F403  (the public face re-exports all of it)
from infolens.estimators.pid import __all__  # noqa: F401
