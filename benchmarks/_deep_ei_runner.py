"""Run one deep-ei 0.7.0 measurement and print the result as one JSON line.

Executed with the reference venv's python (.bench/deepei-venv, built by
benchmarks/setup_reference_env.sh), never imported by infolens. benchmarks/reference.py calls it.

    python _deep_ei_runner.py '{"function": "ei_parts", "n_in": 20, "n_out": 10,
        "samples": 100000, "in_bins": 64, "out_bins": 64, "threads": 1}'

Case keys: function (ei_parts, ei_parts_matrix, sensitivity, sensitivity_matrix, ei), n_in, n_out;
samples, or threshold for the adaptive ei_parts / ei (deep-ei's default 0.05 when neither is
given); in_bins, out_bins (64); threads (torch.set_num_threads; torch's default when absent or
null); batch_size (1000); seed (0); linear ("native", or "float64": see below).

The setup is that of specs/reference/deep_ei_0.7.0.json: torch.manual_seed(seed), then
nn.Linear(n_in, n_out, bias=False), and sampling continues from that RNG stream. The layer is
measured as a bare module with activation=nn.Sigmoid() and both ranges (0, 1). Building the
topology runs one forward pass on zeros, which draws nothing from the RNG. Only the measure call
is timed.

linear="float64" replaces the layer's forward by x @ W.T accumulated in float64 and rounded to
float32 (in effect the correctly rounded float32 product). MKL's float32 sgemm (torch's default for
batches > 1) rounds some entries one ulp differently; in the 20x10 ei_parts reference case one
(sample, output) pair sits that close to a bin edge, so the native path gives 9.140828629510379
on an AVX-512 Xeon, while the reference 9.14083093334704 needs the correctly rounded product.
"""

from __future__ import annotations

import json
import resource
import sys
import time

FUNCTIONS = ("ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix", "ei")


def run(case: dict) -> dict:
    import deep_ei
    import numpy as np
    import torch
    from torch import nn

    function = case["function"]
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {FUNCTIONS}")
    threads = case.get("threads")
    if threads is not None:
        torch.set_num_threads(int(threads))

    torch.manual_seed(int(case.get("seed", 0)))
    layer = nn.Linear(int(case["n_in"]), int(case["n_out"]), bias=False)
    top = deep_ei.topology_of(layer, input=torch.zeros((1, int(case["n_in"]))))
    linear = case.get("linear", "native")
    if linear == "float64":
        weight64 = layer.weight.detach().double().T
        layer.forward = lambda x: (x.double() @ weight64).float()
    elif linear != "native":
        raise ValueError(f"unknown linear {linear!r}; expected 'native' or 'float64'")

    kwargs = dict(
        batch_size=int(case.get("batch_size", 1000)),
        in_range=(0, 1),
        in_bins=int(case.get("in_bins", 64)),
        out_range=(0, 1),
        out_bins=int(case.get("out_bins", 64)),
        activation=nn.Sigmoid(),
        device="cpu",
    )
    if case.get("samples") is not None:
        kwargs["samples"] = int(case["samples"])
    elif function.startswith("sensitivity") or function == "ei_parts_matrix":
        raise ValueError(f"{function} needs 'samples'")
    if case.get("threshold") is not None:
        if function not in ("ei_parts", "ei"):
            raise ValueError(f"{function} takes no 'threshold'")
        kwargs["threshold"] = float(case["threshold"])

    measure = getattr(deep_ei, function)
    t0, c0 = time.perf_counter(), time.process_time()
    value = measure(layer, top, **kwargs)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0

    out = {"function": function, "linear": linear}
    if function.endswith("_matrix"):
        matrix = np.asarray(value, dtype=np.float64)
        out["value"] = float(matrix.sum())
        out["shape"] = list(matrix.shape)
    else:
        out["value"] = float(value)
    weight = layer.weight.detach()
    out.update(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        threads=torch.get_num_threads(),
        weight_sum=float(weight.sum()),
        weight_w00=float(weight[0, 0]),
        versions={
            "deep_ei": _version("deep-ei"),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        case=case,
    )
    return out


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(run(json.loads(argv[1]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
