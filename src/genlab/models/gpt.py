"""GPT: a decoder-only transformer language model (Radford et al. 2018/2019).

Token and learned position embeddings, pre-norm blocks with causal self-attention, a final
layer norm and an output layer tied to the token embedding. ``log_prob`` is exact.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import TransformerBlock, sample_next
from .registry import register_model
from .base import GenerativeModel, ModelConfig, StepOutput


@dataclasses.dataclass
class GPTConfig(ModelConfig):
    vocab_size: int = 65
    block_size: int = 64  # context length
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False  # biases in linear layers and layer norms

    def validate(self) -> None:
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head, self.n_embd) < 1:
            raise ConfigError("vocab_size, block_size, n_layer, n_head and n_embd must be >= 1")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}; e.g. --set dropout=0.1")


@register_model("gpt")
class GPT(GenerativeModel):
    """GPT-style decoder-only transformer over tokens, with key/value-cached generation."""

    config_class = GPTConfig
    likelihood = "exact"
    data_kinds = ("text",)
    family = "autoregressive"

    def __init__(self, config: GPTConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(config.n_embd, config.n_head, config.dropout, config.bias)
                                    for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(self._init_weights)
        # residual projections scaled by 1/sqrt(2 * n_layer) (GPT-2)
        for name, p in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @classmethod
    def default_data_info(cls, config: GPTConfig) -> DataInfo:
        return DataInfo(name="none", kind="text", vocab=None)

    @property
    def sequence_length(self) -> int:
        return self.config.block_size + 1  # T inputs and the T next tokens they predict

    def forward(self, idx: torch.Tensor, caches: list[dict] | None = None, start: int = 0) -> torch.Tensor:
        """Logits ``[B, T, vocab]`` for token ids ``idx`` ``[B, T]`` at positions ``start .. start+T-1``."""
        T = idx.size(1)
        if start + T > self.config.block_size:
            raise ConfigError(f"sequence of {start + T} tokens is longer than the context ({self.config.block_size})")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.ln_f(x))

    def training_step(self, batch, step, optimizer="model"):
        x = batch["x"]  # [B, T + 1]
        logits = self(x[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        return StepOutput(loss, {"nats_per_token": loss.detach()})

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, **kwargs):
        """``[B]`` exact ``sum_{t>=1} log p(x_t | x_<t)`` in nats; the first token is context.

        ``x`` is ``[B, T]`` with ``T <= block_size + 1``.
        """
        self.condition_for_scoring(condition, len(x))  # GPT is unconditional: refuses a condition
        if x.size(1) < 2:
            raise ConfigError("log_prob needs sequences of at least 2 tokens (the first is context)")
        logits = self(x[:, :-1]).float()
        return -F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").sum(1)

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, prompt: torch.Tensor | None = None,
               max_new_tokens: int = 200, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, use_cache: bool = True):
        """Generate ``max_new_tokens`` after ``prompt``: ids ``[N, len(prompt) + max_new_tokens]``.

        Args:
            prompt: token ids ``[T0]`` or ``[N, T0]``; without one, generation starts from id 0
                (the newline in a sorted character vocabulary of text with line breaks).
            temperature: divides the logits; 0 picks the most likely token.
            top_k: keep the k most likely tokens. top_p: keep the smallest set with mass >= p.
            use_cache: feed one token at a time through the key/value cache (same result, faster).
        """
        self.condition_for_sampling(condition, num_samples)  # refuses a condition: GPT takes a prompt=
        if prompt is None:
            prompt = torch.zeros(1, dtype=torch.long)
        prompt = torch.as_tensor(prompt, dtype=torch.long, device=self.device)
        idx = prompt.expand(num_samples, -1) if prompt.dim() == 1 else prompt
        if idx.size(0) != num_samples or idx.size(1) < 1:
            raise ConfigError(f"prompt must be [T0] or [{num_samples}, T0] token ids with T0 >= 1")
        if int(idx.max()) >= self.config.vocab_size or int(idx.min()) < 0:
            raise ConfigError(f"prompt token ids must be in [0, {self.config.vocab_size})")
        if max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        block = self.config.block_size
        caches: list[dict] | None = None
        for _ in progress.steps(range(max_new_tokens), unit="token"):
            if use_cache and caches is not None and caches[0]["k"].size(2) < block:
                logits = self(idx[:, -1:], caches, start=caches[0]["k"].size(2))
            else:  # first step, or the context is full: (re)compute from the last `block` tokens
                caches = [{} for _ in self.blocks] if use_cache else None
                logits = self(idx[:, -block:], caches)
            next_id = sample_next(logits[:, -1].float(), temperature, top_k, top_p, generator)
            idx = torch.cat([idx, next_id], dim=1)
        return idx
