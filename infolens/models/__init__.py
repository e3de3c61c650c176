"""The model zoo: reference networks with named measurement points.

Every model is a :class:`ZooModel`, an ``nn.Sequential`` whose top-level children are the
blocks ``layer_1`` … ``layer_K``, optionally ``output`` (the penultimate feature of CNNs), and
``head``. The output of each block but the head is a measurement point addressed by the block's
name, e.g. ``decodable_information(model, "layer_2", data, head_factory=model.head_factory)``.

>>> from infolens.models import build_model
>>> net = build_model("MNISTNet", input_shape=(1, 28, 28), num_classes=10)
>>> net.measurement_points
['layer_1', 'layer_2', 'output']
>>> net.feature_shapes()["layer_2"]
(32, 5, 5)
"""

from infolens.models.base import (
    ZooModel,
    activation_names,
    count_parameters,
    make_activation,
)
from infolens.models.cnn import CIFARNet, MNISTNet, ResidualStep
from infolens.models.mlp import MLP, BinaryLogits, DeepEIMLP, NNInfoMLP
from infolens.models.registry import (
    MODELS,
    available_models,
    build_model,
    model_from_config,
    model_options,
)
from infolens.models.vision import ConvNeXt, ResNet, convnext_blocks, resnet_blocks

__all__ = [
    "MLP",
    "MODELS",
    "BinaryLogits",
    "CIFARNet",
    "ConvNeXt",
    "DeepEIMLP",
    "MNISTNet",
    "NNInfoMLP",
    "ResNet",
    "ResidualStep",
    "ZooModel",
    "activation_names",
    "available_models",
    "build_model",
    "convnext_blocks",
    "count_parameters",
    "make_activation",
    "model_from_config",
    "model_options",
    "resnet_blocks",
]
