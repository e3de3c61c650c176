"""The causal plane of a network: sensitivity, EI_parts, degeneracy and integration per layer.

For each layer: sensitivity S, EI_parts, vector EI, degeneracy ``D = S − EI_parts``,
integration ``φ = vector EI − EI_parts`` and the rotated coordinates
``x' = (S − D)/√2 = EI_parts/√2`` and ``y' = (S + D)/√2``. All in bits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import nn

from infolens._validation import InfolensError, check_range
from infolens.measures.ei import AUTO_FALLBACK, EXACT_ESTIMATORS, ei, ei_parts, sensitivity
from infolens.nn.topology import topology_of

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_KINDS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d)

COLUMNS = [
    "layer", "kind", "n_in", "n_out", "sensitivity", "ei_parts", "ei", "degeneracy",
    "integration", "x_prime", "y_prime", "sensitivity_null", "ei_parts_null", "ei_null",
    "units", "estimator", "samples", "in_bins", "out_bins", "in_range", "out_range",
]


def causal_plane(
    model: nn.Module,
    input,
    *,
    layers=None,
    samples: int = 100_000,
    in_bins: int = 64,
    out_bins: int = 64,
    input_range=None,
    out_range=None,
    estimator: str = "auto",
    seed: int = 0,
    vector: bool = True,
    vector_bins: int | None = None,
    batch_size: int = 1000,
    max_memory=None,
    progress: bool = False,
    null: bool = True,
) -> pd.DataFrame:
    """Sensitivity, EI_parts, vector EI, degeneracy and (x', y') for every measurable layer.

    ``layers`` are module paths or modules (default: every Linear, Conv and pooling layer in
    forward order). ``input_range`` is the range of the model's input, used for layers
    that no bounded activation feeds (the first layer, typically); other ranges come from
    the activations. ``vector_bins`` sets the bins of vector EI (default ``in_bins``); vector
    EI of wide layers needs far more samples than states, so it saturates at ``log2 N``.
    The default ``estimator="auto"`` computes sensitivity and EI_parts exactly, without
    sampling, where the layer allows it (one affine map and a monotone activation, see
    :func:`infolens.ei_parts`) and with Miller–Madow sampling elsewhere, so sampling bias
    never passes for information; vector EI is always sampled (Miller–Madow under
    ``"exact"``/``"auto"``). The ``estimator`` column records the one used for EI_parts.
    Returns a tidy ``pandas.DataFrame``, one row per layer (columns in ``COLUMNS``), bits.
    """
    top = topology_of(model, input)
    if layers is None:
        infos = top.measurable(DEFAULT_KINDS)
        if not infos:
            kinds = ", ".join(k.__name__ for k in DEFAULT_KINDS)
            raise InfolensError(
                f"the model has no layer of a supported kind ({kinds}); pass layers= with "
                "module paths of single-tensor modules to measure."
            )
    else:
        infos = [top[layer] for layer in layers]
    in_default = check_range("input_range", input_range) if input_range is not None else None
    rows = []
    for info in infos:
        in_range = None
        if (info.in_activation is None or info.in_activation.range is None) and in_default:
            in_range = in_default
        common = dict(
            in_range=in_range, out_range=out_range, estimator=estimator, batch_size=batch_size,
            max_memory=max_memory, progress=progress, null=null,
        )
        s = sensitivity(info.path, top, samples=samples, in_bins=in_bins, out_bins=out_bins,
                        seed=seed, **common)
        p = ei_parts(info.path, top, samples=samples, in_bins=in_bins, out_bins=out_bins,
                     seed=seed, **common)
        v = None
        if vector:
            vb = vector_bins or in_bins
            vcommon = dict(common)
            if estimator in EXACT_ESTIMATORS:  # vector EI has no exact form: it is sampled
                vcommon["estimator"] = AUTO_FALLBACK
            v = ei(info.path, top, samples=samples, in_bins=vb, out_bins=vb, seed=seed, **vcommon)
        degeneracy = s.value - p.value
        rows.append({
            "layer": info.path,
            "kind": info.kind,
            "n_in": info.n_in,
            "n_out": info.n_out,
            "sensitivity": s.value,
            "ei_parts": p.value,
            "ei": v.value if v else math.nan,
            "degeneracy": degeneracy,
            "integration": (v.value - p.value) if v else math.nan,
            "x_prime": (s.value - degeneracy) / math.sqrt(2),
            "y_prime": (s.value + degeneracy) / math.sqrt(2),
            "sensitivity_null": s.null,
            "ei_parts_null": p.null,
            "ei_null": v.null if v else None,
            "units": "bits",
            "estimator": p.estimator,
            "samples": samples,
            "in_bins": in_bins,
            "out_bins": out_bins,
            "in_range": p.in_range,
            "out_range": p.out_range,
        })
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS)
