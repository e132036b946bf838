"""Multi-layer perceptron."""

from __future__ import annotations

from torch import nn

from .activations import get_activation


class MLP(nn.Sequential):
    """``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``, activation between layers.

    Input ``[..., in_features]``, output ``[..., out_features]``; no activation after the last layer.
    """

    def __init__(self, in_features: int, hidden: list[int] | tuple[int, ...], out_features: int,
                 activation: str = "relu", dropout: float = 0.0):
        layers: list[nn.Module] = []
        widths = [in_features, *hidden]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), get_activation(activation)]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-1], out_features))
        super().__init__(*layers)
