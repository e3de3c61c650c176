"""Tests of the model zoo: block structure, splits, fresh copies, configs, inits and errors."""

from __future__ import annotations

import itertools
import math
import sys
from collections import OrderedDict
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from infolens._validation import InfolensError, InfolensWarning
from infolens.models import (
    MLP,
    BinaryLogits,
    CIFARNet,
    ConvNeXt,
    DeepEIMLP,
    MNISTNet,
    NNInfoMLP,
    ResNet,
    ZooModel,
    activation_names,
    available_models,
    build_model,
    convnext_blocks,
    count_parameters,
    make_activation,
    model_from_config,
    resnet_blocks,
)
from infolens.models import vision as vision_module
from infolens.nn.quantization import QuantizedLayer, quantized_layers

# small instances of every torchvision-free model: (name, kwargs, input shape)
SMALL = [
    ("MLP", {"input_shape": (12,), "num_classes": 2}),
    ("MLP", {"input_shape": (1, 6, 6), "num_classes": 3, "widths": (8, 4), "nonlinearity": "tanh"}),
    (
        "NNInfoMLP",
        {"input_shape": (12,), "num_classes": 2, "widths": (12, 4, 4, 4), "output": "sigmoid"},
    ),
    ("NNInfoMLP", {"input_shape": (20,), "num_classes": 10, "widths": (10, 5, 5)}),
    (
        "NNInfoMLP",
        {"input_shape": (20,), "num_classes": 10, "widths": (6, 5), "output": "binary_code"},
    ),
    ("DeepEIMLP", {"input_shape": (4,), "num_classes": 3}),
    (
        "DeepEIMLP",
        {"input_shape": (25,), "num_classes": 5, "widths": (6, 6, 6), "activation": "Tanh"},
    ),
    ("MNISTNet", {"input_shape": (1, 28, 28), "num_classes": 10}),
    ("CIFARNet", {"input_shape": (3, 16, 16), "num_classes": 10, "widths": (4, 8, 8)}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SMALL)]


def _build(name, kwargs, seed=0):
    torch.manual_seed(seed)
    return build_model(name, **kwargs)


def _x(model, n=5, seed=1):
    return torch.rand((n, *model.input_shape), generator=torch.Generator().manual_seed(seed))


def _outputs(name, kwargs):
    if name == "NNInfoMLP" and kwargs.get("output") == "binary_code":
        return (kwargs["num_classes"] - 1).bit_length()
    return kwargs["num_classes"]


# --------------------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), SMALL, ids=IDS)
def test_forward_shapes_and_named_blocks(name, kwargs):
    model = _build(name, kwargs).eval()
    assert isinstance(model, ZooModel) and isinstance(model, nn.Sequential)
    assert model.name == name
    out = model(_x(model))
    assert out.shape == (5, _outputs(name, kwargs))
    children = [n for n, _ in model.named_children()]
    assert children == [*model.measurement_points, "head"]
    k = model.num_layers
    assert model.measurement_points[:k] == [f"layer_{i}" for i in range(1, k + 1)]
    assert model.measurement_points[k:] in ([], ["output"])
    # every measurement point is a module path, and the split points are decodable_information's
    from infolens.measures.vinfo import split_points

    assert split_points(model) == model.split_points == ["input", *model.measurement_points]
    for point in model.measurement_points:
        assert model.get_submodule(point) is getattr(model, point)


@pytest.mark.parametrize(("name", "kwargs"), SMALL, ids=IDS)
def test_split_composes_back_to_the_model(name, kwargs):
    model = _build(name, kwargs).eval()
    x = _x(model)
    full = model(x)
    feats = {}
    hooks = [
        getattr(model, p).register_forward_hook(lambda m, i, o, p=p: feats.__setitem__(p, o))
        for p in model.measurement_points
    ]
    model(x)
    for h in hooks:
        h.remove()
    for depth, point in enumerate(model.split_points):
        for key in (depth, point):
            encoder, decoder = model.split(key)
            assert type(encoder) is nn.Sequential and type(decoder) is nn.Sequential
            assert len(encoder) == depth and len(encoder) + len(decoder) == len(model)
            z = encoder(x)
            torch.testing.assert_close(decoder(z), full, rtol=0, atol=0)
            if depth:
                torch.testing.assert_close(z, feats[point], rtol=0, atol=0)
            else:
                assert torch.equal(z, x)
    # the parts share the model's modules
    encoder, decoder = model.split(1)
    assert encoder.layer_1 is model.layer_1 and decoder.head is model.head


def test_slicing_gives_plain_sequential():
    model = _build("MLP", SMALL[0][1])
    part = model[1:3]
    assert type(part) is nn.Sequential and list(part._modules) == ["layer_2", "layer_3"]
    assert model[0] is model.layer_1


def test_block_names_are_validated():
    with pytest.raises(InfolensError, match=r"layer_1..layer_K"):
        ZooModel(OrderedDict(layer_2=nn.Linear(2, 2), head=nn.Linear(2, 2)),
                 input_shape=(2,), num_classes=2, kwargs={})  # fmt: skip
    with pytest.raises(InfolensError, match="then 'head'"):
        ZooModel(OrderedDict(layer_1=nn.Linear(2, 2)), input_shape=(2,), num_classes=2, kwargs={})


# --------------------------------------------------------------------------------------
# fresh copies, head factory, config
# --------------------------------------------------------------------------------------


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(("name", "kwargs"), SMALL, ids=IDS)
def test_fresh_copy_is_seeded_and_new(name, kwargs):
    model = _build(name, kwargs, seed=0)
    with torch.no_grad():  # "train" the model a little: its weights are no longer an init
        for p in model.parameters():
            p.add_(0.01)
    state = torch.random.get_rng_state()
    a, b, c = model.fresh_copy(5), model.fresh_copy(5), model.fresh_copy(6)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    assert type(a) is type(model) and a.config == model.config
    for pa, pb, pc, pm in zip(_params(a), _params(b), _params(c), _params(model), strict=True):
        assert torch.equal(pa, pb)
        if pa.numel() > 1 and pa.std() > 0:  # BN weights are constant inits, equal by design
            assert not torch.equal(pa, pc)
        assert not torch.equal(pa, pm)
    # same as seeding and building from the config
    torch.manual_seed(5)
    direct = model_from_config(model.config)
    for pa, pd in zip(_params(a), _params(direct), strict=True):
        assert torch.equal(pa, pd)
    with pytest.raises(InfolensError, match="seed"):
        model.fresh_copy(1.5)


def test_fresh_copy_follows_dtype():
    model = _build("MLP", SMALL[0][1]).double()
    fresh = model.fresh_copy(0)
    assert all(p.dtype == torch.float64 for p in fresh.parameters())


@pytest.mark.parametrize(("name", "kwargs"), SMALL, ids=IDS)
def test_head_factory_is_the_fresh_tail(name, kwargs):
    model = _build(name, kwargs).eval()
    x = _x(model)
    for point in model.split_points:
        head = model.head_factory(point, 11)
        assert type(head) is nn.Sequential
        _, tail = model.fresh_copy(11).split(point)
        fresh_tail = _params(tail)
        assert len(_params(head)) == len(fresh_tail)
        for ph, pt in zip(_params(head), fresh_tail, strict=True):
            assert torch.equal(ph, pt)
        encoder, decoder = model.split(point)
        z = encoder(x)
        torch.testing.assert_close(head.eval()(z), tail.eval()(z), rtol=0, atol=0)
        assert head(z).shape == decoder(z).shape
    with pytest.raises(InfolensError, match="split point"):
        model.head_factory("head", 0)


@pytest.mark.parametrize(("name", "kwargs"), SMALL, ids=IDS)
def test_config_round_trip_through_yaml(name, kwargs):
    model = _build(name, kwargs, seed=3)
    text = yaml.safe_dump(model.config)
    config = yaml.safe_load(text)
    assert config == model.config and config["name"] == name
    torch.manual_seed(3)
    again = model_from_config(config)
    assert again.config == model.config
    sd, sd2 = model.state_dict(), again.state_dict()
    assert list(sd) == list(sd2)
    for key in sd:
        assert torch.equal(sd[key], sd2[key]), key


def test_build_model_is_case_insensitive_and_canonical():
    a = build_model("mlp", input_shape=12, num_classes=2, nonlinearity="tanh")
    assert a.name == "MLP" and a.config["nonlinearity"] == "Tanh" and a.input_shape == (12,)
    assert isinstance(a.layer_1[2], nn.Tanh)
    assert available_models() == [
        "MLP", "NNInfoMLP", "DeepEIMLP", "MNISTNet", "CIFARNet", "ResNet", "ConvNeXt",
    ]  # fmt: skip
    for spelled in ("nninfomlp", "DEEPEIMLP", "mnistnet", "cifarnet"):
        assert (
            build_model(spelled, input_shape=(3, 32, 32), num_classes=4).name.lower()
            == spelled.lower()
        )


# --------------------------------------------------------------------------------------
# individual architectures
# --------------------------------------------------------------------------------------


def test_mlp_layout_and_parameter_count():
    model = MLP((12,), 2)
    assert isinstance(model.layer_1[0], nn.Flatten) and isinstance(model.layer_1[2], nn.ReLU)
    outs = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert outs == [10, 7, 5, 4, 3, 2]
    dims = [12, 10, 7, 5, 4, 3, 2]
    assert count_parameters(model) == sum(a * b + b for a, b in itertools.pairwise(dims))
    model.head.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - (3 * 2 + 2)


def test_mnistnet_flatten_size():
    model = MNISTNet((1, 28, 28), 10)
    assert model.output[1].in_features == 800
    assert model.feature_shapes()["layer_2"] == (32, 5, 5)
    # inferred for other sizes: 32 -> 28 -> 14 -> 12 -> 6; 20x36 -> (16x32 -> 8x16 -> 6x14 -> 3x7)
    assert MNISTNet((1, 32, 32), 10).output[1].in_features == 32 * 6 * 6
    rect = MNISTNet((3, 20, 36), 4)
    assert rect.output[1].in_features == 32 * 3 * 7
    assert rect(torch.rand(2, 3, 20, 36)).shape == (2, 4)
    assert MNISTNet((1, 12, 12), 2)(torch.rand(2, 1, 12, 12)).shape == (2, 2)
    with pytest.raises(InfolensError, match="at least 12×12"):
        MNISTNet((1, 11, 28), 10)
    blocks = [type(m) for m in model.layer_1]
    assert blocks == [nn.Conv2d, nn.MaxPool2d, nn.ReLU]
    assert model.layer_1[0].kernel_size == (5, 5) and model.layer_2[0].kernel_size == (3, 3)


def test_cifarnet_spatial_sizes_and_blocks():
    model = CIFARNet((3, 32, 32), 10)
    shapes = model.feature_shapes()
    assert shapes["layer_1"] == (64, 16, 16)
    assert shapes["layer_2"] == (128, 8, 8)
    assert shapes["layer_3"] == (256, 4, 4)
    assert shapes["output"] == (256,) and shapes["head"] == (10,)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            assert m.bias is None and m.padding == (1, 1) and m.kernel_size == (3, 3)
    assert model.head.bias is not None
    # block = residual step, then NL(MaxPool2(BN(Conv))); output = global max pool
    block = model.layer_2.eval()
    model.eval()
    x = torch.randn(2, 64, 16, 16)
    r = block.residual
    step = torch.relu(x + r.bn(r.conv(x)))
    expected = torch.relu(F.max_pool2d(block.bn(block.conv(step)), 2))
    torch.testing.assert_close(block(x), expected)
    z = torch.randn(2, 256, 4, 4)
    torch.testing.assert_close(model.output(z), z.amax(dim=(2, 3)))


def test_cifarnet_bn_running_stats_flag():
    thesis = CIFARNet((3, 8, 8), 3, widths=(4, 4, 4), bn_running_stats=False).eval()
    bns = [m for m in thesis.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.track_running_stats and m.running_mean is None for m in bns)
    x = torch.randn(4, 3, 8, 8)
    # batch statistics in eval mode: a sample's output depends on the rest of the batch
    assert not torch.allclose(thesis(x)[:2], thesis(x[:2]))
    ours = CIFARNet((3, 8, 8), 3, widths=(4, 4, 4)).eval()
    torch.testing.assert_close(ours(x)[:2], ours(x[:2]))
    with pytest.raises(InfolensError, match="at least 8×8"):
        CIFARNet((3, 7, 8), 3)


TANH8 = torch.tensor([-1 + 2 * k / 7 for k in range(8)])


def _hidden(model, x):
    feats = {}
    hooks = [
        getattr(model, f"layer_{k}").register_forward_hook(
            lambda m, i, o, k=k: feats.__setitem__(k, o)
        )
        for k in range(1, model.num_layers + 1)
    ]
    model(x)
    for h in hooks:
        h.remove()
    return feats


def _on_grid(t, grid):
    return bool((t.unsqueeze(-1) - grid).abs().min(-1).values.max() < 1e-6)


def test_nninfo_hidden_layers_are_quantized():
    model = NNInfoMLP((12,), 2, widths=(12, 4, 4, 4), output="sigmoid")
    layers = quantized_layers(model)
    assert list(layers) == ["layer_1", "layer_2", "layer_3", "layer_4"]
    assert all(q.levels == 8 and q.limits == (-1.0, 1.0) for q in layers.values())
    assert isinstance(model.layer_1, QuantizedLayer)
    x = torch.randint(0, 2, (300, 12)).float()
    eval_feats = _hidden(model.eval(), x)
    for k, t in eval_feats.items():
        assert _on_grid(t, TANH8), k
        # nearest level of the unquantized tanh output
        inner = getattr(model, f"layer_{k}").module
        prev = x if k == 1 else eval_feats[k - 1]
        assert torch.equal(t, model.get_submodule(f"layer_{k}").quantizer(inner(prev)))
    # the head is not quantized: sigmoid-as-two-logits output
    logits = model(x)
    assert torch.all(logits[:, 0] == 0) and not _on_grid(logits[:, 1], TANH8)
    # unquantized variant: continuous hidden values
    plain = NNInfoMLP((12,), 2, widths=(12, 4, 4, 4), output="sigmoid", quantize=False).eval()
    assert not quantized_layers(plain)
    assert not _on_grid(_hidden(plain, x)[1], TANH8)
    four = NNInfoMLP((12,), 2, widths=(5,), levels=4).eval()
    assert _on_grid(_hidden(four, x)[1], torch.tensor([-1, -1 / 3, 1 / 3, 1]))


def test_nninfo_stochastic_rounding_is_seeded():
    x = torch.rand(200, 12) * 2 - 1

    def train_pass(model):
        return _hidden(model.train(), x)

    torch.manual_seed(0)
    a = NNInfoMLP((12,), 2, widths=(12, 4), rounding_seed=7)
    b = a.fresh_copy(0)  # same weights (same seed as a's construction), same rounding seed
    torch.manual_seed(0)
    c = NNInfoMLP((12,), 2, widths=(12, 4), rounding_seed=8)
    fa, fb, fc = train_pass(a), train_pass(b), train_pass(c)
    for k in (1, 2):
        assert _on_grid(fa[k], TANH8)
        assert torch.equal(fa[k], fb[k])
    assert not torch.equal(fa[1], fc[1])
    # stochastic: differs from nearest rounding on some values, and the stream advances
    near = _hidden(a.eval(), x)
    assert not torch.equal(fa[1], near[1])
    assert not torch.equal(train_pass(a)[1], fa[1])
    # unbiased: the mean of many stochastic roundings approaches the tanh value
    layer = a.layer_1
    pre = layer.module(x)
    mean = torch.stack([layer.quantizer.train()(pre) for _ in range(400)]).mean(0)
    assert (mean - pre).abs().max() < 0.15


def test_nninfo_xavier_init_statistics():
    torch.manual_seed(0)
    model = NNInfoMLP((784,), 10)
    w = model.layer_1.module[1].weight.detach()
    assert w.shape == (50, 784)
    bound = 5 / 3 * math.sqrt(6 / (784 + 50))
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.99 * bound
    assert abs(float(w.var()) / (bound**2 / 3) - 1) < 0.03  # U(-b, b) variance b²/3
    assert abs(float(w.mean())) < 0.01 * bound
    # every Linear: Xavier bound; biases: PyTorch default U(±1/sqrt(fan_in))
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.requires_grad_(False)
            b = 5 / 3 * math.sqrt(6 / (m.in_features + m.out_features))
            assert float(m.weight.abs().max()) <= b
            assert m.bias is not None and float(m.bias.abs().max()) <= 1 / math.sqrt(m.in_features)
    wide_bias = model.layer_1.module[1].bias.detach()
    assert float(wide_bias.abs().max()) > 0.8 / math.sqrt(784)  # not zero-initialised
    gain2 = NNInfoMLP((784,), 10, gain=1.0, quantize=False).requires_grad_(False)
    assert float(gain2.layer_1[1].weight.abs().max()) <= math.sqrt(6 / 834)


def test_nninfo_outputs():
    torch.manual_seed(0)
    sig = NNInfoMLP((12,), 2, widths=(4,), output="sigmoid").eval()
    x = torch.rand(7, 12)
    logits = sig(x)
    z = sig.head[0](sig.layer_1(x))
    torch.testing.assert_close(logits.softmax(-1)[:, 1:], torch.sigmoid(z))
    assert sig.output_kind == "sigmoid"
    code = NNInfoMLP((12,), 10, widths=(4,), output="binary_code")
    assert (
        code.head.out_features == 4
        and NNInfoMLP((12,), 8, widths=(4,), output="binary_code").head.out_features == 3
    )
    with pytest.raises(InfolensError, match="num_classes=2"):
        NNInfoMLP((12,), 3, output="sigmoid")
    with pytest.raises(InfolensError, match="output"):
        NNInfoMLP((12,), 3, output="tanh")


def test_binary_logits_cross_entropy_is_bce():
    z = torch.randn(50, 1, dtype=torch.float64)
    y = torch.randint(0, 2, (50,))
    ce = F.cross_entropy(BinaryLogits()(z), y)
    bce = F.binary_cross_entropy_with_logits(z[:, 0], y.double())
    torch.testing.assert_close(ce, bce)


def test_deep_ei_mlp_bias_free_uniform_init():
    torch.manual_seed(0)
    iris = DeepEIMLP((4,), 3)
    linears = [m for m in iris.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 5), (5, 5), (5, 3)]
    assert all(m.bias is None for m in linears)
    assert all(isinstance(getattr(iris, n)[-1], nn.Sigmoid) for n in ("layer_1", "layer_2", "head"))
    out = iris(torch.rand(6, 4))
    assert out.shape == (6, 3) and bool(((out > 0) & (out < 1)).all())
    wide = DeepEIMLP((400,), 5, widths=(300,))
    for m in (m for m in wide.modules() if isinstance(m, nn.Linear)):
        bound = 1 / math.sqrt(m.in_features)
        w = m.weight.detach()
        assert float(w.abs().max()) <= bound
        assert float(w.abs().max()) > 0.99 * bound
    w = wide.layer_1[1].weight.detach()
    assert abs(float(w.var()) / ((1 / 400) / 3) - 1) < 0.03
    # per-layer activations, the last for the output ("Identity": a bare Linear head)
    mixed = DeepEIMLP((25,), 5, widths=(6, 6), activation=["Tanh", "relu", "Identity"])
    assert isinstance(mixed.layer_1[2], nn.Tanh) and isinstance(mixed.layer_2[1], nn.ReLU)
    assert isinstance(mixed.head, nn.Linear)
    assert mixed.config["activation"] == ["Tanh", "ReLU", "Identity"]
    with pytest.raises(InfolensError, match="len\\(widths\\) \\+ 1 = 3"):
        DeepEIMLP((25,), 5, widths=(6, 6), activation=["Tanh", "Tanh"])


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


def test_bad_names_and_arguments():
    with pytest.raises(InfolensError, match=r"unknown model 'VGG'.*MLP, NNInfoMLP, DeepEIMLP"):
        build_model("VGG", input_shape=(3, 32, 32), num_classes=10)
    with pytest.raises(InfolensError, match=r"unknown argument.*'widht'.*widths, nonlinearity"):
        build_model("MLP", input_shape=(12,), num_classes=2, widht=(3,))
    with pytest.raises(
        InfolensError, match="options besides input_shape and num_classes are: none"
    ):
        build_model("ResNet", input_shape=(3, 32, 32), num_classes=10, widths=(3,))
    with pytest.raises(InfolensError, match=r"'Relux' is not a torch.nn activation.*ReLU.*Tanh"):
        build_model("MLP", input_shape=(12,), num_classes=2, nonlinearity="Relux")
    with pytest.raises(InfolensError, match=r"not a torch.nn activation"):
        MLP((12,), 2, nonlinearity="MultiheadAttention")  # needs arguments
    with pytest.raises(InfolensError, match="unbounded"):
        NNInfoMLP((12,), 2, nonlinearity="ReLU")
    assert NNInfoMLP((12,), 2, widths=(3,), nonlinearity="ReLU", quantize=False)
    with pytest.raises(InfolensError, match="3 dimensions"):
        MNISTNet((28, 28), 10)
    with pytest.raises(InfolensError, match="input_shape"):
        MLP((12, 0), 2)
    with pytest.raises(InfolensError, match="widths"):
        MLP((12,), 2, widths=())
    with pytest.raises(InfolensError, match="num_classes"):
        MLP((12,), 0)
    with pytest.raises(InfolensError, match="levels"):
        NNInfoMLP((12,), 2, levels=1)
    with pytest.raises(InfolensError, match="bn_running_stats"):
        CIFARNet((3, 32, 32), 10, bn_running_stats="no")
    with pytest.raises(InfolensError, match="lacks 'input_shape'"):
        model_from_config({"name": "MLP", "num_classes": 2})
    with pytest.raises(InfolensError, match="unknown argument"):
        model_from_config({**MLP((12,), 2).config, "dropout": 0.5})
    model = MLP((12,), 2)
    with pytest.raises(InfolensError, match=r"0\.\.5.*'input', 'layer_1'"):
        model.split(6)
    with pytest.raises(InfolensError, match="not a split point"):
        model.split("head")
    with pytest.raises(InfolensError, match="not a split point"):
        model.split(True)


def test_activation_lookup():
    names = activation_names()
    assert {"ReLU", "Tanh", "Sigmoid", "GELU", "Softplus"} <= set(names)
    assert "MultiheadAttention" not in names and "Threshold" not in names
    assert isinstance(make_activation("softplus"), nn.Softplus)


# --------------------------------------------------------------------------------------
# description
# --------------------------------------------------------------------------------------


def test_describe_and_repr():
    model = MNISTNet((1, 28, 28), 10)
    text = model.describe()
    for point, width in (("layer_1", 3456), ("layer_2", 800), ("output", 256), ("head", 10)):
        line = next(li for li in text.splitlines() if li.strip().startswith(point))
        assert str(width) in line.split()
    assert f"{count_parameters(model):,} parameters" in text
    with pytest.raises(InfolensError, match="cannot run on input_shape=\\(1, 32, 32\\)"):
        model.describe((1, 32, 32))
    cifar = CIFARNet((3, 32, 32), 10, widths=(4, 8))
    assert cifar.feature_shapes((3, 64, 48))["layer_2"] == (8, 16, 12)
    assert model.training  # describe restores the mode
    assert "input_shape=[1, 28, 28], num_classes=10, nonlinearity='ReLU'" in repr(model)


# --------------------------------------------------------------------------------------
# measures on zoo models
# --------------------------------------------------------------------------------------


def test_decodable_information_runs_with_head_factory():
    from infolens.measures.vinfo import decodable_information

    torch.manual_seed(0)
    model = MLP((6,), 3, widths=(8, 5), nonlinearity="Tanh")
    x = torch.rand(60, 6)
    y = torch.arange(60) % 3
    df = decodable_information(
        model, "layer_1", (x, y), head_factory=model.head_factory, epochs=1, batch_size=20
    )
    assert df["kind"].tolist() == ["sufficiency", "minimality"]
    assert df["value"].notna().all()
    both = decodable_information(
        model,
        ["input", "layer_2"],
        (x, y),
        head_factory=model.head_factory,
        epochs=1,
        batch_size=20,
    )
    assert both["split_at"].tolist() == ["input", "input", "layer_2", "layer_2"]
    # nninfo's Tishby net with the two-logit sigmoid head, probed after its last hidden layer
    tishby = NNInfoMLP((12,), 2, widths=(12, 4, 4, 4), output="sigmoid")
    xb = torch.randint(0, 2, (64, 12)).float()
    yb = (xb.sum(1) > 6).long()
    df = decodable_information(
        tishby, "layer_4", (xb, yb), head_factory=tishby.head_factory, epochs=1, batch_size=32
    )
    assert df["value"].notna().all()


def test_representational_complexity_reads_the_zoo_quantizers():
    from infolens.measures.complexity import representational_complexity

    torch.manual_seed(0)
    model = NNInfoMLP((12,), 2, widths=(12, 4, 4, 4), output="sigmoid")
    x = torch.randint(0, 2, (256, 12)).float()
    y = (x.sum(1) > 6).long()
    with pytest.warns(InfolensWarning, match="biased upward"):
        result = representational_complexity(model, (x, y), "layer_2")
    assert result.n_samples == 256 and 0 <= result.mutual_information <= 1


# --------------------------------------------------------------------------------------
# torchvision models: re-blocking without torchvision, the real models with it
# --------------------------------------------------------------------------------------


class _FakeResNet(nn.Module):
    """A tiny module laid out like torchvision's ResNet, with its forward."""

    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(nn.Conv2d(64, 4, 3, padding=1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(4, 6, 3, 2, 1), nn.ReLU())
        self.layer3 = nn.Sequential(nn.Conv2d(6, 6, 3, 2, 1), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(6, 8, 3, 2, 1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class _FakeConvNeXt(nn.Module):
    """A tiny module laid out like torchvision's ConvNeXt, with its forward."""

    def __init__(self, num_classes):
        super().__init__()
        dims = [5, 6, 7, 8]
        layers = [nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), nn.GroupNorm(1, dims[0]))]
        for i, d in enumerate(dims):
            layers.append(nn.Sequential(nn.Conv2d(d, d, 3, padding=1), nn.GELU()))
            if i < 3:
                layers.append(nn.Sequential(nn.GroupNorm(1, d), nn.Conv2d(d, dims[i + 1], 2, 2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.GroupNorm(1, 8), nn.Flatten(1), nn.Linear(8, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


@pytest.fixture
def fake_torchvision(monkeypatch):
    fake = SimpleNamespace(
        resnet18=lambda weights, num_classes: _FakeResNet(num_classes),
        convnext_tiny=lambda weights, num_classes: _FakeConvNeXt(num_classes),
    )
    monkeypatch.setattr(vision_module, "torchvision_models", lambda model="": fake)
    return fake


def test_reblocking_computes_the_original_forward():
    torch.manual_seed(0)
    for net, reblock, x in (
        (_FakeResNet(3), resnet_blocks, torch.randn(2, 3, 32, 32)),
        (_FakeConvNeXt(3), convnext_blocks, torch.randn(2, 3, 32, 32)),
    ):
        net.eval()
        seq = nn.Sequential(reblock(net)).eval()
        assert list(seq._modules) == ["layer_1", "layer_2", "layer_3", "layer_4", "output", "head"]
        torch.testing.assert_close(seq(x), net(x))
    blocks = convnext_blocks(_FakeConvNeXt(3))
    assert list(blocks["layer_2"]._modules) == ["downsample", "stage"]


def test_vision_models_with_a_torchvision_like_backend(fake_torchvision):
    for cls, shape in ((ResNet, (3, 32, 32)), (ResNet, (1, 28, 28)), (ConvNeXt, (1, 32, 32))):
        torch.manual_seed(0)
        model = cls(shape, 7).eval()
        assert model.measurement_points == ["layer_1", "layer_2", "layer_3", "layer_4", "output"]
        x = torch.rand(2, *shape)
        assert model(x).shape == (2, 7)
        for depth in range(6):
            enc, dec = model.split(depth)
            torch.testing.assert_close(dec(enc(x)), model(x))
        assert model.config == {"name": cls.name, "input_shape": list(shape), "num_classes": 7}
        again = model.fresh_copy(1)
        assert type(again) is cls and not torch.equal(again.head.weight, model.head.weight)
    resnet = ResNet((1, 28, 28), 7)
    assert resnet.layer_1.conv1.in_channels == 1 and resnet.layer_1.conv1.bias is None
    assert resnet.layer_1.conv1.kernel_size == (7, 7) and resnet.layer_1.conv1.stride == (2, 2)
    convnext = ConvNeXt((1, 32, 32), 7)
    stem = convnext.layer_1.stem[0]
    assert (stem.in_channels, stem.kernel_size, stem.stride) == (1, (4, 4), (4, 4))
    assert torch.all(stem.bias == 0) and float(stem.weight.detach().std()) < 0.03
    assert build_model("resnet", input_shape=(3, 32, 32), num_classes=2).name == "ResNet"


def test_convnext_rejects_small_inputs_before_importing_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(
        InfolensError, match=r"at least 32×32.*28→7→3→1→0.*pad\(x, \(2, 2, 2, 2\)\)"
    ):
        ConvNeXt((1, 28, 28), 10)


def test_missing_torchvision_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    for name in ("ResNet", "ConvNeXt"):
        with pytest.raises(
            ImportError, match=r'pip install "infolens\[vision\]".*torchvision==0\.29\.1'
        ):
            build_model(name, input_shape=(3, 32, 32), num_classes=10)


def test_real_resnet18():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = ResNet((3, 32, 32), 10).eval()
    torch.manual_seed(0)
    reference = tv.models.resnet18(weights=None, num_classes=10).eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x))
    shapes = model.feature_shapes()
    assert shapes["layer_4"] == (512, 1, 1) and shapes["output"] == (512,)
    gray = ResNet((1, 28, 28), 10)
    assert gray(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_real_convnext_tiny():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = ConvNeXt((3, 32, 32), 10).eval()
    torch.manual_seed(0)
    reference = tv.models.convnext_tiny(weights=None, num_classes=10).eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x))
    assert model.feature_shapes()["output"] == (768,)
    assert model.layer_3.stage[-1] is model.layer_3.stage[8]
    gray = ConvNeXt((1, 32, 32), 10)
    assert gray(torch.rand(2, 1, 32, 32)).shape == (2, 10)
