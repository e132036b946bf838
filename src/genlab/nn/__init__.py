"""Shared building blocks. Models import from here, never from each other."""

from .activations import get_activation
from .adversarial import (ConvDiscriminator, ConvGenerator, VideoDiscriminator, collapse_warnings, discriminator_loss,
                          diversity, frozen, generator_loss, gradient_penalty)
from .audio_gan import PhaseShuffle, WaveCritic, WaveGenerator, phase_shuffle
from .attention import CausalSelfAttention, TransformerBlock
from .conv import ConvDecoder, ConvEncoder
from .convlstm import ConvLSTMCell, ConvLSTMStack
from .distributions import (
    discretized_gaussian_log_prob,
    discretized_logistic_log_prob,
    gaussian_kl_standard,
    gaussian_log_prob,
    sample_discretized_logistic,
)
from .flows import (ActNorm, AffineCoupling, FlowLayer, FlowSequential, InvConv1x1, MultiScaleFlow, Squeeze,
                    factor_out)
from .imaging import PatchDiscriminator, ResidualBlock, SRResNet, UNetGenerator, upsampler
from .masked_conv import GatedPixelCNNLayer, HorizontalConv, VerticalConv, gate
from .mlp import MLP
from .recurrent import GRU, LSTM
from .sampling import check_setting, sample_next
from .unet import UNet, norm_groups, timestep_embedding
from .wavenet import CausalConv1d, GatedResidualLayer, StepQueue

__all__ = [
    "MLP",
    "GRU",
    "LSTM",
    "ConvLSTMCell",
    "ConvLSTMStack",
    "ConvDiscriminator",
    "collapse_warnings",
    "discriminator_loss",
    "diversity",
    "frozen",
    "generator_loss",
    "ConvGenerator",
    "VideoDiscriminator",
    "GatedPixelCNNLayer",
    "HorizontalConv",
    "VerticalConv",
    "gate",
    "ActNorm",
    "AffineCoupling",
    "FlowLayer",
    "FlowSequential",
    "InvConv1x1",
    "MultiScaleFlow",
    "Squeeze",
    "factor_out",
    "CausalSelfAttention",
    "ConvDecoder",
    "ConvEncoder",
    "TransformerBlock",
    "discretized_gaussian_log_prob",
    "discretized_logistic_log_prob",
    "gaussian_kl_standard",
    "gaussian_log_prob",
    "get_activation",
    "sample_discretized_logistic",
    "check_setting",
    "sample_next",
    "PatchDiscriminator",
    "ResidualBlock",
    "SRResNet",
    "UNetGenerator",
    "upsampler",
    "UNet",
    "norm_groups",
    "timestep_embedding",
    "CausalConv1d",
    "PhaseShuffle",
    "WaveCritic",
    "WaveGenerator",
    "gradient_penalty",
    "phase_shuffle",
    "GatedResidualLayer",
    "StepQueue",
]
