"""Activation functions by name, so configs can choose them with a string."""

from torch import nn

from ..errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU,
               "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU}


def get_activation(name: str) -> nn.Module:
    """A fresh activation module: relu, sigmoid, tanh, gelu, silu, leaky_relu (slope 0.2) or elu."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
