"""Shared building blocks. Models import from here, never from each other."""

from .activations import get_activation
from .attention import CausalSelfAttention, TransformerBlock
from .conv import ConvDecoder, ConvEncoder
from .distributions import (
    discretized_logistic_log_prob,
    gaussian_kl_standard,
    gaussian_log_prob,
    sample_discretized_logistic,
)
from .mlp import MLP
from .sampling import sample_next

__all__ = [
    "MLP",
    "CausalSelfAttention",
    "ConvDecoder",
    "ConvEncoder",
    "TransformerBlock",
    "discretized_logistic_log_prob",
    "gaussian_kl_standard",
    "gaussian_log_prob",
    "get_activation",
    "sample_discretized_logistic",
    "sample_next",
]
