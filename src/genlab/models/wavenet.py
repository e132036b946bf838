"""WaveNet (van den Oord et al. 2016): an exact autoregressive likelihood over 8-bit mu-law audio codes.

``p(x) = prod_t p(x_t | x_<t)``, each factor a 256-way softmax over the mu-law codes (the data's
``x``). The network reads the codes shifted one step right, the first sample given silence
(code 128), through stacks of dilated causal convolutions (dilations 1, 2, ..., 2^(L-1), repeated)
with gated activations ``tanh * sigmoid``, residual and skip connections. With ``conditional=true``
every layer adds an embedding of the class label (the spoken digit) to its gate: global conditioning.

Generation is Fast WaveNet: each layer keeps a queue of its past inputs, so one new audio sample costs
one step per layer (:meth:`WaveNet.sample`); ``cache=False`` runs the whole network over the clip so
far at every step instead (the slow reference the cached path is tested against).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from ..data.core import DataInfo
from ..data.modalities.audio import DEFAULT_RATE, LEVELS, SILENCE
from ..errors import ConfigError
from ..nn import GatedResidualLayer, sample_next
from .registry import register_model
from .base import GenerativeModel, ModelConfig, StepOutput


@dataclasses.dataclass
class WaveNetConfig(ModelConfig):
    length: int = 8192  # audio samples per clip (from the data); sampling may ask for other lengths
    levels: int = LEVELS  # mu-law codes 0 .. 255
    num_classes: int = 0
    conditional: bool = False  # global conditioning on the class label (the spoken digit)
    channels: int = 64  # residual channels
    gate_channels: int = 64  # channels of each half of the gate (tanh and sigmoid)
    skip_channels: int = 128
    kernel_size: int = 2
    layers_per_stack: int = 10  # dilations 1, 2, ..., 2^(layers_per_stack - 1)
    stacks: int = 2  # the dilation pattern repeated this many times
    train_window: int = 0  # train on random crops of this many samples (0: whole clips); evaluation scores whole clips

    def validate(self) -> None:
        if self.length < 2:
            raise ConfigError(f"length must be >= 2 audio samples, got {self.length}")
        if self.levels != LEVELS:
            raise ConfigError(f"levels must be {LEVELS} (8-bit mu-law codes), got {self.levels}")
        if min(self.channels, self.gate_channels, self.skip_channels) < 1:
            raise ConfigError("channels, gate_channels and skip_channels must be >= 1")
        if self.kernel_size < 2:
            raise ConfigError(f"kernel_size must be >= 2, got {self.kernel_size}")
        if self.layers_per_stack < 1 or self.stacks < 1:
            raise ConfigError("layers_per_stack and stacks must be >= 1")
        if self.layers_per_stack > 16:
            raise ConfigError(f"layers_per_stack must be <= 16 (dilation up to 32768), got {self.layers_per_stack}")
        if self.train_window < 0 or self.train_window == 1:
            raise ConfigError(f"train_window must be 0 (whole clips) or >= 2 audio samples, got {self.train_window}")
        if self.conditional and self.num_classes < 1:
            raise ConfigError("conditional=true needs data with class labels (num_classes >= 1)")

    @property
    def dilations(self) -> list[int]:
        return [2 ** i for i in range(self.layers_per_stack)] * self.stacks

    @property
    def receptive_field(self) -> int:
        """Past codes one prediction sees: the shifted input plus ``(k - 1) * sum(dilations)`` before it."""
        return (self.kernel_size - 1) * sum(self.dilations) + 1


@register_model("wavenet")
class WaveNet(GenerativeModel):
    """WaveNet: dilated causal convolutions, gated units, 256-way mu-law softmax; exact likelihood, cached sampling."""

    config_class = WaveNetConfig
    likelihood = "exact"
    data_kinds = ("audio",)
    family = "autoregressive"

    def __init__(self, config: WaveNetConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        num_classes = config.num_classes if config.conditional else 0
        self.embed = nn.Embedding(config.levels, config.channels)  # = a 1x1 convolution of the one-hot codes
        self.layers = nn.ModuleList(
            GatedResidualLayer(config.channels, config.gate_channels, config.skip_channels, config.kernel_size, d,
                               num_classes=num_classes)
            for d in config.dilations)
        self.head1 = nn.Conv1d(config.skip_channels, config.skip_channels, 1)
        self.head2 = nn.Conv1d(config.skip_channels, config.levels, 1)

    @property
    def sequence_length(self) -> int | None:
        """Audio samples per training crop (``train_window``), or None to train on whole clips.

        A crop is scored as if it began a clip (its first sample given silence, zeros before it in
        every layer), so its first ``receptive_field`` predictions see less past than at generation
        time; evaluation always scores whole clips."""
        return self.config.train_window or None

    @classmethod
    def default_data_info(cls, config: WaveNetConfig) -> DataInfo:
        return DataInfo(name="none", kind="audio", shape=(config.length,), levels=config.levels,
                        num_classes=config.num_classes, rate=DEFAULT_RATE)

    def _label(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        if not self.config.conditional:
            return None
        if condition is None:
            raise ConfigError("this WaveNet is conditional: pass condition= (class labels)")
        return condition

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Input features ``[B, T, C]`` (channels last, as every layer takes them): the codes shifted
        one step right (silence first), embedded.

        ``x`` is integer codes ``[B, T]`` or one-hot floats ``[B, T, levels]`` (to take gradients with
        respect to the input)."""
        if x.is_floating_point():
            first = F.one_hot(torch.full_like(x[:, :1, 0], SILENCE, dtype=torch.long), self.config.levels).to(x)
            h = torch.cat([first, x[:, :-1]], 1) @ self.embed.weight
        else:
            first = torch.full_like(x[:, :1], SILENCE, dtype=torch.long)
            h = self.embed(torch.cat([first, x[:, :-1].long()], 1))
        return h

    def _head(self, skip: torch.Tensor) -> torch.Tensor:
        """Skip sum ``[..., S]`` -> logits ``[..., levels]`` (two 1x1 convolutions, channels last)."""
        h = F.linear(F.relu(skip), self.head1.weight[:, :, 0], self.head1.bias)
        return F.linear(F.relu(h), self.head2.weight[:, :, 0], self.head2.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, T, levels]``: row ``t`` is ``p(x_t | x_<t)`` (row 0 given silence only)."""
        label = self._label(condition)
        h = self._inputs(x)
        skip = 0
        for layer in self.layers:
            h, s = layer(h, label)
            skip = skip + s
        return self._head(skip).float()

    def nll(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[B]`` negative log-likelihood in nats of the codes ``x`` ``[B, T]`` (summed over samples)."""
        logits = self(x, condition)
        return F.cross_entropy(logits.transpose(1, 2), x.long(), reduction="none").sum(1)

    # ---- the contract ---------------------------------------------------------------------
    def training_step(self, batch, step, optimizer="model"):
        """Mean NLL per audio sample (nats); metrics ``nll`` (per sample) and ``bits_per_sample``."""
        x = batch["x"]
        nll = self.nll(x, self.condition_from_batch(batch)).mean() / x.shape[1]
        return StepOutput(nll, {"nll": nll.detach(), "bits_per_sample": nll.detach() / math.log(2)})

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, **kwargs):
        """Exact ``log p(x)``, ``[B]`` nats, of mu-law codes ``x`` ``[B, T]`` (one forward pass)."""
        condition = self.condition_for_scoring(condition, len(x))
        return -self.nll(x.to(self.device), condition)

    @torch.no_grad()
    def step_logits(self, codes: torch.Tensor, queues: list, label: torch.Tensor | None) -> torch.Tensor:
        """Logits ``[B, levels]`` of the next code given the previous code ``codes`` ``[B]`` and the
        layers' queues (which hold everything before it)."""
        h = self.embed(codes)
        skip = 0
        for layer, queue in zip(self.layers, queues):
            h, s = layer.step(h, queue, label)
            skip = skip + s
        return self._head(skip).float()

    def new_queues(self, batch: int) -> list:
        """Empty queues (zeros, as the full network's causal padding) for :meth:`step_logits`."""
        p = self.embed.weight
        return [layer.conv.new_queue(batch, p.device, p.dtype) for layer in self.layers]

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, length: int | None = None,
               temperature: float = 1.0, cache: bool = True):
        """``[N, length]`` long mu-law codes drawn one audio sample at a time.

        Args:
            num_samples: N.
            condition: class labels (``[N]`` or one for all); a conditional model without them draws
                the classes ``0, 1, ..., num_classes - 1, 0, ...``.
            generator: torch RNG for reproducible samples.
            length: audio samples per clip (default: the training clips' length).
            temperature: divides the logits; 0 takes the most likely code.
            cache: Fast WaveNet (one step per layer per sample); False reruns the whole network over
                the clip so far for every sample (the reference; cost grows with the square of length).
        """
        condition = self.condition_for_sampling(condition, num_samples)
        label = self._label(condition)
        length = self.config.length if length is None else int(length)
        if length < 1:
            raise ConfigError(f"length must be >= 1 audio samples, got {length}")
        x = torch.zeros(num_samples, length, dtype=torch.long, device=self.device)
        if cache:
            queues = self.new_queues(num_samples)
            prev = torch.full((num_samples,), SILENCE, dtype=torch.long, device=self.device)
            for t in progress.steps(range(length), unit="sample"):
                logits = self.step_logits(prev, queues, label)
                prev = sample_next(logits, temperature, generator=generator)[:, 0]
                x[:, t] = prev
            return x
        for t in progress.steps(range(length), unit="sample"):
            logits = self(x[:, : t + 1], condition if self.config.conditional else None)[:, t]
            x[:, t] = sample_next(logits, temperature, generator=generator)[:, 0]
        return x
