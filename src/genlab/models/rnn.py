"""Recurrent language models: LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014).

Token embedding -> a stack of ``torch.nn.LSTM`` / ``torch.nn.GRU`` layers (batch first) -> a linear
output layer over the vocabulary, optionally tied to the embedding (Press & Wolf 2017). Training
uses windows of ``block_size + 1`` tokens, each started from a fresh zero state (truncated
backpropagation through time with no state carried between windows). ``log_prob`` is exact and,
unlike a transformer's, takes sequences of any length. Generation runs the prompt once and then
feeds one token at a time, carrying the recurrent state, so no prefix is ever recomputed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import GRU, LSTM, sample_next
from .registry import register_model
from .base import GenerativeModel, ModelConfig, StepOutput

# The recurrent state: (h, c) for an LSTM, h for a GRU; each [num_layers, B, hidden_size].
State = Any


@dataclasses.dataclass
class RNNConfig(ModelConfig):
    vocab_size: int = 65
    block_size: int = 64  # training context: tokens per window (the state is reset for each window)
    embedding_dim: int = 128
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0  # on the embeddings, between recurrent layers and on the last layer's output
    tie_weights: bool = False  # share the embedding with the output layer; needs embedding_dim == hidden_size

    def validate(self) -> None:
        if min(self.vocab_size, self.block_size, self.embedding_dim, self.hidden_size, self.num_layers) < 1:
            raise ConfigError("vocab_size, block_size, embedding_dim, hidden_size and num_layers must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}; e.g. --set dropout=0.1")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ConfigError(f"tie_weights needs embedding_dim ({self.embedding_dim}) == hidden_size "
                              f"({self.hidden_size}); set tie_weights=false or make them equal")


class RNNLanguageModel(GenerativeModel):
    """Shared body of the recurrent language models; subclasses choose the recurrent layer."""

    config_class = RNNConfig
    likelihood = "exact"
    data_kinds = ("text",)
    family = "autoregressive"
    rnn_class: ClassVar[type[nn.RNNBase]] = LSTM

    def __init__(self, config: RNNConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.tok_emb = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.drop = nn.Dropout(config.dropout)
        # torch applies its dropout only between layers (and warns when num_layers == 1)
        self.rnn = self.rnn_class(config.embedding_dim, config.hidden_size, num_layers=config.num_layers,
                                  dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self._init_weights()
        if config.tie_weights:
            self.head.weight = self.tok_emb.weight  # [vocab, embedding_dim == hidden_size]

    def _init_weights(self) -> None:
        # small embeddings and output layer (torch's N(0, 1) embedding makes the first logits large);
        # the recurrent weights keep torch's U(-1/sqrt(H), 1/sqrt(H))
        nn.init.uniform_(self.tok_emb.weight, -0.1, 0.1)
        nn.init.uniform_(self.head.weight, -0.1, 0.1)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def default_data_info(cls, config: RNNConfig) -> DataInfo:
        return DataInfo(name="none", kind="text", vocab=None)

    @property
    def sequence_length(self) -> int:
        return self.config.block_size + 1  # T inputs and the T next tokens they predict

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits ``[B, T, vocab]`` for token ids ``idx`` ``[B, T]``, and the state after the last token.

        ``state`` is the one returned by a previous call (continue that sequence), or None for a
        fresh zero state. Any ``T >= 1`` works: there is no context limit.
        """
        x = self.drop(self.tok_emb(idx))  # [B, T, E]
        out, state = self.rnn(x, state)  # [B, T, H]
        return self.head(self.drop(out)), state

    def training_step(self, batch, step, optimizer="model"):
        """Mean next-token cross-entropy over a window ``[B, T + 1]``, from a fresh state."""
        x = batch["x"]  # [B, T + 1]
        logits, _ = self(x[:, :-1])  # [B, T, V]: predictions of x[:, 1:]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        return StepOutput(loss, {"nats_per_token": loss.detach()})

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, **kwargs):
        """``[B]`` exact ``sum_{t>=1} log p(x_t | x_<t)`` in nats; the first token is context.

        ``x`` is ``[B, T]`` with any ``T >= 2`` (longer than ``block_size`` is fine: the whole
        sequence is read with one carried state).
        """
        self.condition_for_scoring(condition, len(x))  # unconditional: refuses a condition
        if x.dim() != 2 or x.size(1) < 2:
            raise ConfigError("log_prob needs [B, T] token ids with T >= 2 (the first is context)")
        logits, _ = self(x[:, :-1])
        logits = logits.float()  # [B, T - 1, V]
        return -F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").sum(1)

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, prompt: torch.Tensor | None = None,
               max_new_tokens: int = 200, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None):
        """Generate ``max_new_tokens`` after ``prompt``: ids ``[N, len(prompt) + max_new_tokens]``.

        Args:
            prompt: token ids ``[T0]`` or ``[N, T0]``; without one, generation starts from id 0
                (the newline in a sorted character vocabulary of text with line breaks).
            temperature: divides the logits; 0 picks the most likely token.
            top_k: keep the k most likely tokens. top_p: keep the smallest set with mass >= p.

        The prompt is read once; each new token is then fed alone with the carried state.
        """
        self.condition_for_sampling(condition, num_samples)  # refuses a condition: it takes a prompt=
        if prompt is None:
            prompt = torch.zeros(1, dtype=torch.long)
        prompt = torch.as_tensor(prompt, dtype=torch.long, device=self.device)
        idx = prompt.expand(num_samples, -1) if prompt.dim() == 1 else prompt
        if idx.dim() != 2 or idx.size(0) != num_samples or idx.size(1) < 1:
            raise ConfigError(f"prompt must be [T0] or [{num_samples}, T0] token ids with T0 >= 1")
        if int(idx.max()) >= self.config.vocab_size or int(idx.min()) < 0:
            raise ConfigError(f"prompt token ids must be in [0, {self.config.vocab_size})")
        if max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        if max_new_tokens <= 0:
            return idx.clone()
        logits, state = self(idx)  # [N, T0, V]: the whole prompt once
        new = []
        for i in progress.steps(range(max_new_tokens), unit="token"):
            next_id = sample_next(logits[:, -1].float(), temperature, top_k, top_p, generator)  # [N, 1]
            new.append(next_id)
            if i + 1 < max_new_tokens:  # the last token needs no forward pass
                logits, state = self(next_id, state)  # [N, 1, V]
        return torch.cat([idx, *new], dim=1)


@register_model("lstm")
class LSTMLanguageModel(RNNLanguageModel):
    """LSTM language model: embedding, stacked torch.nn.LSTM layers, linear output; stateful generation."""

    rnn_class = LSTM

    def _init_weights(self) -> None:
        super()._init_weights()
        # forget-gate bias 1 (Jozefowicz et al. 2015): remember by default early in training.
        # torch orders the gates (input, forget, cell, output), each of size H, in bias_ih_l{k}.
        H = self.config.hidden_size
        with torch.no_grad():
            for k in range(self.config.num_layers):
                getattr(self.rnn, f"bias_ih_l{k}")[H:2 * H].fill_(1.0)
                getattr(self.rnn, f"bias_hh_l{k}")[H:2 * H].zero_()


@register_model("gru")
class GRULanguageModel(RNNLanguageModel):
    """GRU language model: embedding, stacked torch.nn.GRU layers, linear output; stateful generation."""

    rnn_class = GRU
