"""infolens.compat.deep_ei reproduces deep-ei 0.7.0's recorded values (tests/data)."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import infolens.compat.deep_ei as deep_ei

REF = json.loads((Path(__file__).parent / "data" / "deep_ei_0.7.0.json").read_text())
KW = dict(batch_size=1000, in_range=(0, 1), out_range=(0, 1), activation=nn.Sigmoid(), device="cpu")


def _layer(n_in, n_out):
    torch.manual_seed(0)
    return nn.Linear(n_in, n_out, bias=False)


def test_weight_checksums_match_the_recording():
    for key, want in REF["weight_checksums_after_manual_seed_0"].items():
        n_in, n_out = (int(v) for v in key.split("x"))
        w = _layer(n_in, n_out).weight.detach()
        assert float(w.sum()) == pytest.approx(want["sum"], abs=1e-6)
        assert float(w[0, 0]) == want["w00"]


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["function"])
def test_reference_values_to_1e_9(case):
    layer = _layer(case["n_in"], case["n_out"])
    top = deep_ei.topology_of(layer, torch.zeros(1, case["n_in"]))
    fn = getattr(deep_ei, case["function"])
    value = fn(layer, top, samples=case["samples"], in_bins=case["in_bins"],
               out_bins=case["out_bins"], **KW)
    assert value == pytest.approx(case["value"], abs=1e-9)


def test_matrix_functions_and_vector_pairwise_are_consistent():
    layer = _layer(5, 3)
    top = deep_ei.topology_of(layer, torch.zeros(1, 5))
    torch.manual_seed(1)
    m = deep_ei.ei_parts_matrix(layer, top, samples=20_000, **KW)
    torch.manual_seed(1)
    total = deep_ei.ei_parts(layer, top, samples=20_000, **KW)
    assert m.shape == (5, 3) and float(m.sum()) == pytest.approx(total, abs=1e-12)
    torch.manual_seed(2)
    v, p = deep_ei.vector_and_pairwise_ei(layer, top, samples=20_000, in_bins=4, out_bins=4,
                                          **{k: v for k, v in KW.items()})
    torch.manual_seed(2)
    assert v == pytest.approx(deep_ei.ei(layer, top, samples=20_000, in_bins=4, out_bins=4, **KW))
    torch.manual_seed(2)
    (g,) = deep_ei.eis_between_groups(layer, top, [((0, 1, 2, 3, 4), (0, 1, 2))], samples=20_000,
                                      in_bins=4, out_bins=4, **KW)
    assert g == pytest.approx(v, abs=1e-12)
    assert p > 0


def test_compat_defaults_and_clamp():
    # deep-ei's activation-derived default ranges, and EI_parts below 0.01 bits returns 0.0
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    with torch.no_grad():
        model[0].weight.mul_(1e-4)
    top = deep_ei.topology_of(model, torch.zeros(1, 3))
    assert deep_ei.ei_parts(model[0], top, samples=2_000) == 0.0
    x = torch.rand(1000)
    assert deep_ei.MI(x, x, bins=8) == pytest.approx(3.0, abs=0.01)
    assert deep_ei.nats_to_bits(1.0) == pytest.approx(1.4426950408889634)
