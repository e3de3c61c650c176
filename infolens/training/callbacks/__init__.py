"""Lightning callbacks that measure the network during training, one per measure family.

Every callback is a :class:`MeasureCallback`: it measures a frozen snapshot of the model at the
epochs of its :class:`Schedule` (epoch 0 = the initial network), keeps its records (rows of the
long results table, :func:`infolens.training.records.record`) in its checkpointed state, and
reduces its sums across DDP ranks. Names load on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

_EXPORTS = {
    "Dist": "infolens.training.callbacks._base",
    "MeasureCallback": "infolens.training.callbacks._base",
    "Schedule": "infolens.training.callbacks._base",
    "LossAccuracyCallback": "infolens.training.callbacks.loss_accuracy",
    "NC1Callback": "infolens.training.callbacks.nc1",
    "VInformationCallback": "infolens.training.callbacks.vinfo",
    # measure callbacks of the other families (EI, weight-graph EI, complexity, information
    # plane) register here as they land:
    "EICallback": "infolens.training.callbacks.ei",
    "WeightEICallback": "infolens.training.callbacks.weight_ei",
    "ComplexityCallback": "infolens.training.callbacks.complexity",
    "InfoPlaneCallback": "infolens.training.callbacks.info_plane",
}


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


__all__ = sorted(name for name, module in _EXPORTS.items() if _available(module))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        raise AttributeError(f"{name} is not available yet ({module} is missing)") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

