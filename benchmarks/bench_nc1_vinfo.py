"""Benchmark: NC1 overhead per epoch, and batched DIB heads against heads trained one by one.

Usage (about 2 minutes on one CPU thread; ``--quick`` under 1 minute)::

    nice -n 19 .venv/bin/python benchmarks/bench_nc1_vinfo.py [--repeats 5] [--epochs 5] [--quick] [--only nc1|dib]

Both comparisons run in one process, single-threaded (``torch.set_num_threads(1)``), on CPU.
Every timing is repeated ``--repeats`` times with the contenders interleaved; the table shows
CPU-time minima and medians (``time.process_time``: robust on a shared machine), the wall-time
minimum, and ratios of CPU-time minima.

**NC1** (issue target: at most 1.3x a plain evaluation pass, on the zoo's MLP and CNN). Random
data, 10 classes, batch size 400 (the spec default), pre-batched in memory (no loader cost,
which would only dilute the overhead):

* the zoo models ``build_model("MLP")`` (default widths 10-7-5-4-3, ReLU) and
  ``build_model("MNISTNet")`` on 10,000 MNIST-shaped inputs, hooks at all their measurement
  points;
* MLP 784-256-128-10 (ReLU) on 10,000 MNIST-shaped inputs (1x28x28), hooks after both
  hidden ReLUs (``layer_1``, ``layer_2``; D = 256 and 128);
* CNN (the spec's MNISTNet layout on 3x32x32: conv5x5 3->24, pool, ReLU, conv3x3 24->32,
  pool, ReLU, FC 1152->256, ReLU, FC 256->10) on 2,000 inputs, hooks ``layer_1``
  (D = 4704), ``layer_2`` (D = 1152) and ``output`` (D = 256).

"plain" is one evaluation pass: ``model.eval()``, ``torch.inference_mode()``, logits, loss and
accuracy per batch. "nc1" is :func:`infolens.measures.nc1.measure_nc1` with its defaults (pass-1
features cached and replayed, so one forward sweep). "nc1, 2 sweeps" (``cache_memory=None``)
is shown for reference: it runs the model twice, so it costs at least 2x by construction.

**DIB** (issue target: batched at least 3x faster with 4 or more digit heads). One split point
of the MLP, 10,000 training and 2,000 test samples, labels uniform over 10 classes (max class
count > 1000, so 4 digits: 4 minimality heads + 1 sufficiency head), AdamW (lr 2e-3, weight
decay 1e-2), batch size 400, ``--epochs`` epochs for every head, evaluation on train and test.

* "batched" is :func:`infolens.decodable_information` (all heads one batched module);
* "sequential" trains the same heads one after another with an ordinary PyTorch loop:
  the same encoder outputs (computed once and cached), the same fresh heads (same seeds),
  the same mini-batch order (pre-shuffled index tensors, no DataLoader), one
  ``torch.optim.AdamW`` per head with the same settings and implementation flags, and the
  same evaluation. Both include the encoder pass and head construction ("end to end");
  the "training" rows time the two training loops alone on the same cached inputs.

Split points: ``"4"`` (the head is Linear 128->10) and ``"2"`` (Linear 256->128, ReLU,
Linear 128->10). The two runs agree (max |difference| of the reported values, in bits,
is printed; float32, so ~1e-5 rather than bit-identical).
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from infolens.measures import vinfo
from infolens.measures.nc1 import measure_nc1
from infolens.measures.vinfo import decodable_information, digit_labels
from infolens.models import build_model

NUM_CLASSES = 10
BATCH = 400
LR, WEIGHT_DECAY = 2e-3, 1e-2


# ------------------------------------------------------------------------------- models


def mlp(seed: int = 0) -> nn.Sequential:
    """MLP 784-256-128-10 with ReLU (the spec's MLP layout with wider hidden layers)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, NUM_CLASSES),
    )  # fmt: skip


def cnn(seed: int = 0) -> nn.Sequential:
    """The spec's MNISTNet layout on 3x32x32 inputs."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 24, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(24, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 6 * 6, 256), nn.ReLU(), nn.Linear(256, NUM_CLASSES),
    )  # fmt: skip


def random_data(n: int, shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g), torch.randint(0, NUM_CLASSES, (n,), generator=g)


# ------------------------------------------------------------------------------- timing


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[list, list]]:
    """(CPU s, wall s) of each function, ``repeats`` rounds, contenders interleaved; one warm-up.

    CPU time (``time.process_time``, one thread) is the primary measure: the machine may be
    shared, and CPU time does not count time spent waiting for a core.
    """
    for fn in fns.values():
        fn()
    times: dict[str, tuple[list, list]] = {name: ([], []) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            times[name][0].append(time.process_time() - cpu)
            times[name][1].append(time.perf_counter() - wall)
    return times


def table_rows(case: str, times: dict[str, tuple[list, list]], base: str) -> list[tuple]:
    """Rows (case, run, CPU min, CPU median, wall min, ratio of CPU minima to ``base``)."""
    ref = min(times[base][0])
    return [
        (case, label, min(cpu), statistics.median(cpu), min(wall), min(cpu) / ref)
        for label, (cpu, wall) in times.items()
    ]


# ------------------------------------------------------------------------------- NC1


def plain_eval(model: nn.Module, batches) -> tuple[float, float]:
    """One evaluation pass: mean loss and accuracy, eval mode, inference mode."""
    model.eval()
    loss = correct = 0.0
    with torch.inference_mode():
        for x, y in batches:
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += float((logits.argmax(1) == y).sum())
    n = sum(len(y) for _, y in batches)
    return loss / n, correct / n


def bench_nc1(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers, repeats: int):
    batches = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(x), BATCH)]
    fns = {
        "plain": lambda: plain_eval(model, batches),
        "nc1": lambda: measure_nc1(model, batches, layers, NUM_CLASSES),
        "nc1, 2 sweeps": lambda: measure_nc1(model, batches, layers, NUM_CLASSES, cache_memory=None),
    }
    return table_rows(f"NC1 {name}", interleaved(fns, repeats), "plain")


# ------------------------------------------------------------------------------- DIB


def train_one_by_one(
    heads, z: torch.Tensor, targets: torch.Tensor, epochs: int, seed: int, encoder=None
) -> None:
    """Train ``heads[h]`` on ``targets[h]`` in place, one head after another (ordinary loop).

    The same mini-batch order as the batched trainer (a generator seeded with ``seed``,
    pre-shuffled index tensors), mean CE per batch, one AdamW per head (the same settings and
    implementation flags as the batched heads). With ``encoder``, ``z`` holds raw inputs and
    every step runs the frozen encoder on its batch first (the thesis's way: a frozen encoder
    copy in front of each head), instead of reading cached encoder outputs.
    """
    n = z.shape[0]
    for h, head in enumerate(heads):
        head.train()
        optimiser = vinfo._adamw(head.parameters(), LR, WEIGHT_DECAY)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for idx in order.split(BATCH):
                inputs = z[idx]
                if encoder is not None:
                    with torch.no_grad():
                        inputs = encoder(inputs)
                loss = F.cross_entropy(head(inputs), targets[h, idx])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()


def sequential_dib(
    model, split_at, train, test, *, epochs: int, seed: int = 0, cache_encoder: bool = True
) -> dict:
    """The same heads as :func:`decodable_information`, trained one after another.

    ``cache_encoder=False`` runs the frozen encoder in front of every head at every training and
    evaluation step, as the thesis did (one frozen encoder + decoder copy per head).

    Returns ``{(eval_split, kind): value in bits}`` with the same definitions (sum over digits).
    """
    encoder, decoder = vinfo._split(model, split_at)
    point_seed = seed + 7919 * vinfo.split_points(model).index(split_at)
    model.eval()
    with torch.inference_mode():
        encoded = {split: (encoder(xs), ys) for split, (xs, ys) in {"train": train, "test": test}.items()}
    encoded = {k: (z.clone(), ys) for k, (z, ys) in encoded.items()}  # normal tensors
    z, y = encoded["train"]
    n_digits = digit_labels(y, NUM_CLASSES).shape[1]  # from the fit split, as the library does

    def all_targets(labels: torch.Tensor) -> torch.Tensor:  # (heads, N): labels, then digits
        digits = vinfo._make_digits(labels, NUM_CLASSES, n_digits, 0, None)[0]
        return torch.cat([labels[None], digits.T])

    targets = {split: all_targets(ys) for split, (_, ys) in encoded.items()}
    n_heads = 1 + n_digits
    head_seeds = torch.randint(
        0, 2**62, (n_heads,), generator=torch.Generator().manual_seed(point_seed)
    ).tolist()
    heads = vinfo._fresh_heads(decoder, split_at, head_seeds, None, z.device)
    if cache_encoder:
        train_one_by_one(heads, z, targets["train"], epochs, point_seed)
    else:
        train_one_by_one(heads, train[0], targets["train"], epochs, point_seed, encoder=encoder)
    raw = {"train": train[0], "test": test[0]}
    ce = {split: [] for split in encoded}
    for h, head in enumerate(heads):
        head.eval()
        with torch.no_grad():
            for split, (z_e, _) in encoded.items():
                t_e = targets[split][h]
                source = z_e if cache_encoder else raw[split]

                def logits(i, source=source, head=head):
                    inputs = source[i : i + BATCH]
                    return head(inputs if cache_encoder else encoder(inputs))

                total = sum(
                    float(F.cross_entropy(logits(i), t_e[i : i + BATCH], reduction="sum"))
                    for i in range(0, len(z_e), BATCH)
                )
                ce[split].append(total / len(z_e))
    out = {}
    for split in encoded:
        entropy = vinfo._entropy_bits(targets[split], NUM_CLASSES)
        info = [float(entropy[h]) - ce[split][h] / math.log(2) for h in range(n_heads)]
        out[(split, "sufficiency")] = info[0]
        out[(split, "minimality")] = sum(info[1:])
    return out


def bench_dib(split_at: str, epochs: int, repeats: int):
    model = mlp()
    train = random_data(10_000, (1, 28, 28), seed=1)
    test = random_data(2_000, (1, 28, 28), seed=2)
    common = {"epochs": epochs, "batch_size": BATCH, "lr": LR, "weight_decay": WEIGHT_DECAY}
    results = {}

    def batched():
        results["batched"] = decodable_information(
            model, split_at, train, eval_data={"train": train, "test": test}, **common
        )

    def sequential():
        results["sequential"] = sequential_dib(model, split_at, train, test, epochs=epochs)

    def thesis_style():
        results["thesis"] = sequential_dib(
            model, split_at, train, test, epochs=epochs, cache_encoder=False
        )

    times = interleaved(
        {"sequential": sequential, "seq., encoder/step": thesis_style, "batched": batched}, repeats
    )
    df = results["batched"]
    diff = max(
        abs(float(df[(df.eval_split == s) & (df.kind == k)].value.iloc[0]) - v)
        for run in ("sequential", "thesis")
        for (s, k), v in results[run].items()
    )
    n_digits = int(df[df.kind == "minimality"].n_heads.iloc[0])
    name = f"DIB {split_at!r} {n_digits}+1 heads"
    rows = table_rows(f"{name}, end to end", times, "batched")

    # the training loops alone, on the same cached encoder outputs, targets and fresh heads
    encoder, decoder = vinfo._split(model, split_at)
    with torch.inference_mode():
        z = encoder(train[0]).clone()
    z = z.clone()
    y = train[1]
    targets = torch.cat([y[None], digit_labels(y, NUM_CLASSES).T])
    heads = vinfo._fresh_heads(decoder, split_at, list(range(targets.shape[0])), None, z.device)
    budgets = [epochs] * len(heads)

    def batched_train():
        vinfo._train_heads(
            [copy.deepcopy(h) for h in heads], z, targets, budgets, batch_size=BATCH, lr=LR,
            weight_decay=WEIGHT_DECAY, seed=0,
        )  # fmt: skip

    def sequential_train():
        train_one_by_one([copy.deepcopy(h) for h in heads], z, targets, epochs, seed=0)

    times = interleaved({"sequential": sequential_train, "batched": batched_train}, repeats)
    rows += table_rows(f"{name}, training", times, "batched")
    return rows, diff


# ------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5, help="DIB epochs per head")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 1 DIB epoch")
    parser.add_argument("--only", choices=("nc1", "dib"), help="run one of the two comparisons")
    args = parser.parse_args()
    repeats, epochs = (2, 1) if args.quick else (args.repeats, args.epochs)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, repeats {repeats}")

    rows = []
    if args.only != "dib":
        x, y = random_data(10_000, (1, 28, 28), seed=0)
        for name, kwargs in (("MLP", {}), ("MNISTNet", {})):
            torch.manual_seed(0)
            zoo = build_model(name, input_shape=(1, 28, 28), num_classes=NUM_CLASSES, **kwargs)
            rows += bench_nc1(
                f"zoo {name} on 1x28x28, N=10k", zoo, x, y, zoo.measurement_points, repeats
            )
        rows += bench_nc1("MLP 784-256-128-10, N=10k", mlp(), x, y, ["2", "4"], repeats)
        x, y = random_data(2_000, (3, 32, 32), seed=0)
        rows += bench_nc1("CNN 3x32x32, N=2k", cnn(), x, y, ["2", "5", "8"], repeats)
    diffs = {}
    for split_at in ("4", "2") if args.only != "nc1" else ():
        dib_rows, diffs[split_at] = bench_dib(split_at, epochs, repeats)
        rows += dib_rows

    print()
    print(f"| {'case':<36} | {'run':<14} | {'CPU min s':>9} | {'CPU med s':>9} | "
          f"{'wall min s':>10} | {'ratio':>6} |")
    print(f"|{'-' * 38}|{'-' * 16}|{'-' * 11}|{'-' * 11}|{'-' * 12}|{'-' * 8}|")
    for case, label, best, median, wall, ratio in rows:
        print(f"| {case:<36} | {label:<14} | {best:9.3f} | {median:9.3f} | {wall:10.3f} | "
              f"{ratio:5.2f}x |")
    print()
    print("ratio = CPU-time minimum / that of the reference run of the case.")
    print("NC1: reference = plain evaluation pass (target <= 1.3x for 'nc1').")
    print(f"DIB: reference = batched heads (target: 'sequential' >= 3x); {epochs} epoch(s) per "
          "head; 'end to end' includes the encoder pass, head construction and evaluation on "
          "train and test, 'training' the training loops alone.")
    for split_at, diff in diffs.items():
        print(f"DIB split {split_at!r}: max |batched - sequential| of the reported values = "
              f"{diff:.2e} bits")


if __name__ == "__main__":
    main()
