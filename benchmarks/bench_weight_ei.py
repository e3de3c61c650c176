"""Benchmark: weight-graph EI of ResNet-18-shaped conv stacks on a 3×32×32 input.

infolens' sparse engine (``infolens.measures.weight_ei.weight_ei``) against a dense,
foresight-style construction written here (dense ``n_in × n_out`` matrix per layer, filled by
Python loops over output channels × output positions, then dense ``lin_norm``/entropy/column
sums in float32, as torch-foresight 0.1.2 did).

Networks (torchvision is not installed; ``resnet18`` below has torchvision's ResNet-18 shapes:
7×7/2 stem, 3×3/2 max-pool, BasicBlocks [2, 2, 2, 2] at 64/128/256/512 channels, 1×1/2
downsample convs, global average pool, fc 512→1000):

* ``resnet18``          -- torchvision ResNet-18 at width ×w on 3×32×32 (the target case);
* ``resnet18-cifar``    -- the CIFAR variant (3×3/1 stem, no max-pool), 15× more edges.

Each case runs in its own subprocess so that peak memory (``ru_maxrss``) is per case; the dense
construction gets a 120 s wall-clock limit and is skipped when its matrices alone would exceed
``--dense-mem-gb``.

Usage::

    .venv/bin/python benchmarks/bench_weight_ei.py            # full table
    .venv/bin/python benchmarks/bench_weight_ei.py --quick    # infolens rows only
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import torch
from torch import nn

DENSE_TIMEOUT_S = 120


# ----------------------------------------------------------------------------- networks


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class ResNet18(nn.Module):
    """torchvision ResNet-18 shapes (``cifar=True``: 3×3/1 stem without max-pool)."""

    def __init__(self, width: float = 1.0, cifar: bool = False, num_classes: int = 1000):
        super().__init__()
        c = [max(1, round(64 * width * 2**i)) for i in range(4)]
        if cifar:
            self.conv1 = nn.Conv2d(3, c[0], 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, c[0], 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        layers, c_prev = [], c[0]
        for i, ci in enumerate(c):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(c_prev, ci, stride), BasicBlock(ci, ci, 1)))
            c_prev = ci
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c[3], num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(name: str, width: float) -> nn.Module:
    torch.manual_seed(0)
    return ResNet18(width, cifar=(name == "resnet18-cifar")).eval()


# ----------------------------------------------------------------------------- dense, foresight-style


def _dense_conv(conv: nn.Conv2d, in_shape, out_shape) -> torch.Tensor:
    # foresight's construction: a padded dense block filled per output channel and position.
    # (Like foresight it ignores dilation and groups; the ResNets here use neither.)
    c_in, h, w = in_shape
    c_out, ho, wo = out_shape
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    weight = conv.weight.detach()
    m = torch.zeros(c_in, h + 2 * ph, w + 2 * pw, c_out, ho, wo)
    for co in range(c_out):
        for i in range(ho):
            for j in range(wo):
                m[:, i * sh:i * sh + kh, j * sw:j * sw + kw, co, i, j] = weight[co]
    return m[:, ph:ph + h, pw:pw + w].reshape(c_in * h * w, c_out * ho * wo)


def _dense_pool(pool: nn.AvgPool2d, in_shape, out_shape) -> torch.Tensor:
    c, h, w = in_shape
    _, ho, wo = out_shape
    k = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * 2
    s = pool.stride if isinstance(pool.stride, tuple) else (pool.stride,) * 2
    m = torch.zeros(c, h, w, c, ho, wo)
    for ch in range(c):
        for i in range(ho):
            for j in range(wo):
                m[ch, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1], ch, i, j] = 1 / (k[0] * k[1])
    return m.reshape(c * h * w, c * ho * wo)


def _lin_norm(w: torch.Tensor) -> torch.Tensor:
    w = w.clamp_min(0)
    s = w.sum(1, keepdim=True)
    return torch.where(s > 0, w / torch.where(s > 0, s, 1), 0)


def _H(p: torch.Tensor, dim: int) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(dim) / math.log(2)


def dense_foresight_ei(model: nn.Module, x: torch.Tensor) -> tuple[float, float, float]:
    shapes = {}

    def hook(m, inp, out):
        shapes[m] = (tuple(inp[0].shape[1:]), tuple(out.shape[1:]))

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if type(m) in (nn.Linear, nn.Conv2d, nn.AvgPool2d)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    h_sum, n_rows, cols = 0.0, 0, []
    for m, (si, so) in shapes.items():
        if isinstance(m, nn.Conv2d):
            w = _dense_conv(m, si, so)
        elif isinstance(m, nn.AvgPool2d):
            w = _dense_pool(m, si, so)
        else:
            w = m.weight.detach().T
        p = _lin_norm(w)
        del w
        h_sum += float(_H(p, 1).sum())
        n_rows += p.shape[0]
        cols.append(p.sum(0))
        del p
    v = torch.cat(cols)
    effect = float(_H(v / v.sum(), 0))
    noise = h_sum / n_rows
    return noise, effect, effect - noise


def dense_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the largest dense float32 matrix (plus its padded build buffer) of the model."""
    from infolens.nn.connectivity import get_shapes

    worst = 0
    for r in get_shapes(model, x, exact_types=True):
        n_in, n_out = math.prod(r.in_shape), math.prod(r.out_shape)
        pad = 1.0
        if isinstance(r.module, nn.Conv2d):
            (ph, pw), (_, h, w) = r.module.padding, r.in_shape
            pad = (h + 2 * ph) * (w + 2 * pw) / (h * w)
        worst = max(worst, int(4 * n_in * n_out * (1 + pad + 1)))  # build + normalised copy
    return worst


# ----------------------------------------------------------------------------- one case


def run_case(engine: str, name: str, width: float) -> dict:
    import infolens.measures.weight_ei as wei

    model = build(name, width)
    x = torch.randn(1, 3, 32, 32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    if engine == "infolens":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = wei.weight_ei(model, x)
        out = {"noise": res.noise, "effect": res.effect, "ei": res.ei, "layers": len(res.layers),
               "edges": sum(lay.n_edges for lay in res.layers)}
    else:
        noise, effect, ei = dense_foresight_ei(model, x)
        out = {"noise": noise, "effect": effect, "ei": ei}
    out["seconds"] = time.perf_counter() - t0
    out["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["baseline_bytes"] = base
    return out


def spawn(engine: str, name: str, width: float, timeout: float | None) -> dict:
    cmd = [sys.executable, __file__, "--case", engine, name, str(width)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"timeout >{timeout:.0f}s"}
    if proc.returncode != 0:
        return {"status": f"failed ({proc.stderr.strip().splitlines()[-1:]})"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["status"] = "ok"
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", nargs=3, metavar=("ENGINE", "NET", "WIDTH"))
    ap.add_argument("--quick", action="store_true", help="infolens rows only")
    ap.add_argument("--dense-mem-gb", type=float, default=6.0)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], args.case[1], float(args.case[2]))))
        return

    gib = 2**30
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, input 1×3×32×32, norm=lin\n")
    print("## infolens (sparse engine)\n")
    print("| network | width | layers | stored edges | time (s) | peak RSS (GiB) | EI (bits) |")
    print("|---|---|---|---|---|---|---|")
    ours = {}
    for name, width in [("resnet18", 1.0), ("resnet18-cifar", 1.0)]:
        r = spawn("infolens", name, width, None)
        ours[(name, width)] = r
        print(f"| {name} | {width:g} | {r['layers']} | {r['edges']:,} | {r['seconds']:.2f} | "
              f"{r['peak_bytes'] / gib:.2f} | {r['ei']:.6f} |", flush=True)
    if args.quick:
        return

    print("\n## dense foresight-style construction vs infolens (same network, same input)\n")
    print("| network | width | dense time (s) | dense peak (GiB) | infolens time (s) | "
          "infolens peak (GiB) | time ratio | memory ratio | abs diff EI |")
    print("|---|---|---|---|---|---|---|---|---|")
    ladder = [("resnet18-cifar", 0.125), ("resnet18", 0.5), ("resnet18-cifar", 0.25),
              ("resnet18", 1.0), ("resnet18-cifar", 0.5), ("resnet18-cifar", 1.0)]
    largest = None
    for name, width in ladder:
        need = dense_bytes(build(name, width), torch.zeros(1, 3, 32, 32))
        if need > args.dense_mem_gb * gib:
            print(f"| {name} | {width:g} | skipped: needs ≥ {need / gib:.1f} GiB dense | | | | | | |")
            continue
        d = spawn("dense", name, width, DENSE_TIMEOUT_S)
        if d["status"] != "ok":
            print(f"| {name} | {width:g} | {d['status']} | | | | | | |", flush=True)
            continue
        s = ours.get((name, width)) or spawn("infolens", name, width, None)
        largest = (name, width)
        print(f"| {name} | {width:g} | {d['seconds']:.2f} | {d['peak_bytes'] / gib:.2f} | "
              f"{s['seconds']:.2f} | {s['peak_bytes'] / gib:.2f} | "
              f"{d['seconds'] / s['seconds']:.1f}× | {d['peak_bytes'] / s['peak_bytes']:.1f}× | "
              f"{abs(d['ei'] - s['ei']):.1e} |", flush=True)
    print(f"\nlargest CNN the dense construction handled within {DENSE_TIMEOUT_S} s: {largest}")


if __name__ == "__main__":
    main()
