"""Recurrent models of piano rolls: ``lstm-roll`` and ``rnn-nade`` (Boulanger-Lewandowski et al. 2012).

Both read a roll ``[B, T, 88]`` with an LSTM over time: the input at step t is the frame of step
t - 1 (a silent frame before the first), so the LSTM's output ``h_t`` summarises the past steps.
They differ in the distribution of the frame ``v_t`` given ``h_t``:

* ``lstm-roll``: 88 independent Bernoulli keys with logits ``Linear(h_t)`` (the common baseline;
  it cannot say that notes sounding together depend on each other).
* ``rnn-nade``: a NADE (Larochelle & Murray 2011) over the keys in pitch order whose biases are
  linear functions of ``h_t``: ``p(v_td = 1 | v_t,<d, h_t) = sigmoid(b_d(h_t) + V_d . sigmoid(c(h_t)
  + W_<d^T v_t,<d))``, which models chords. All 88 conditionals of a frame are computed at once in
  training and scoring; sampling draws key by key.

The likelihood is exact: ``log_prob`` sums ``log p(v_t | v_<t)`` (over the keys for the NADE) over
every step of each piece in nats, padded steps (:data:`~genlab.data.modalities.pianoroll.PAD`)
left out; the data set's report divides by the number of time steps. Sampling continues a prompt
(the first bars of a piece) or starts from silence.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from ..data.core import DataInfo
from ..data.modalities.pianoroll import PAD, step_mask
from ..errors import ConfigError
from ..nn import LSTM
from .registry import register_model
from .base import GenerativeModel, ModelConfig, StepOutput


@dataclasses.dataclass
class RollConfig(ModelConfig):
    num_keys: int = 88
    seq_len: int = 128  # training window in time steps (a shorter piece is read whole)
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0  # on the LSTM's input frame, between layers and on its output
    nade_hidden: int = 128  # rnn-nade: hidden units of the NADE over the keys (unused by lstm-roll)

    def validate(self) -> None:
        if min(self.num_keys, self.seq_len, self.hidden_size, self.num_layers, self.nade_hidden) < 1:
            raise ConfigError("num_keys, seq_len, hidden_size, num_layers and nade_hidden must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}; e.g. --set dropout=0.3")


class RollRNN(GenerativeModel):
    """Shared body: the LSTM over time, scoring, training and sampling; subclasses model one frame."""

    config_class = RollConfig
    likelihood = "exact"
    data_kinds = ("pianoroll",)
    family = "autoregressive"

    def __init__(self, config: RollConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.drop = nn.Dropout(config.dropout)
        self.rnn = LSTM(config.num_keys, config.hidden_size, num_layers=config.num_layers,
                           dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        H = config.hidden_size
        with torch.no_grad():  # forget-gate bias 1 (Jozefowicz et al. 2015)
            for k in range(config.num_layers):
                getattr(self.rnn, f"bias_ih_l{k}")[H:2 * H].fill_(1.0)
                getattr(self.rnn, f"bias_hh_l{k}")[H:2 * H].zero_()

    @classmethod
    def default_data_info(cls, config: RollConfig) -> DataInfo:
        return DataInfo(name="none", kind="pianoroll", steps_per_quarter=1)

    @property
    def sequence_length(self) -> int:
        return self.config.seq_len

    # ---- one frame given h_t: subclasses ---------------------------------------------------------
    def frame_log_prob(self, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``[...]`` log p(v | h) in nats for frames ``v`` ``[..., K]`` (0./1.) given ``h`` ``[..., H]``."""
        raise NotImplementedError

    def sample_frame(self, h: torch.Tensor, generator, temperature: float) -> torch.Tensor:
        """A frame ``[N, K]`` (0./1.) drawn given ``h`` ``[N, H]``."""
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------
    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.size(-1) != self.config.num_keys or x.size(1) < 1:
            raise ConfigError(f"a piano roll must be [B, T, {self.config.num_keys}] with T >= 1, got {tuple(x.shape)}")

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``h`` ``[B, T, H]``: ``h_t`` has read the frames before step t (silence before the first)."""
        v = (x == 1).float()
        inp = torch.cat([torch.zeros_like(v[:, :1]), v[:, :-1]], dim=1)
        out, _ = self.rnn(self.drop(inp))
        return self.drop(out)

    def step_log_probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log p(v_t | v_<t) [B, T], mask [B, T])``; padded steps are 0 and False."""
        self._check(x)
        mask = step_mask(x)
        h = self.hidden(x)
        lp = torch.zeros(mask.shape, device=x.device)
        lp[mask] = self.frame_log_prob(h[mask], (x[mask] == 1).float()).float()  # padded steps cost nothing
        return lp, mask

    def training_step(self, batch, step, optimizer="model"):
        """Mean NLL per time step (nats, summed over the keys) over the batch's unpadded steps."""
        lp, mask = self.step_log_probs(batch["x"])
        loss = -lp.sum() / mask.sum().clamp(min=1)
        return StepOutput(loss, {"nats_per_step": loss.detach()})

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, **kwargs):
        """``[B]`` exact ``sum_t log p(v_t | v_<t)`` in nats over each roll's unpadded steps."""
        self.condition_for_scoring(condition, len(x))
        lp, _ = self.step_log_probs(x)
        return lp.sum(1)

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, prompt: torch.Tensor | None = None,
               num_steps: int = 64, temperature: float = 1.0):
        """``num_steps`` new frames after ``prompt``: uint8 rolls ``[N, T0 + num_steps, K]``.

        Args:
            prompt: a roll ``[T0, K]`` or ``[N, T0, K]`` (e.g. the first bars of a chorale) to
                continue; without one, generation starts from silence.
            temperature: divides the logits; 0 turns each key on when its probability is above 1/2.
        """
        self.condition_for_sampling(condition, num_samples)
        K = self.config.num_keys
        if num_steps < 1:
            raise ConfigError(f"num_steps (the new steps to draw) must be >= 1, got {num_steps}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        if prompt is None:
            prompt = torch.zeros(num_samples, 0, K, dtype=torch.uint8)
        prompt = torch.as_tensor(prompt, device=self.device)
        if prompt.dim() == 2:
            prompt = prompt.expand(num_samples, -1, -1)
        if prompt.dim() != 3 or prompt.size(0) != num_samples or prompt.size(-1) != K:
            raise ConfigError(f"prompt must be a roll [T0, {K}] or [{num_samples}, T0, {K}]")
        if prompt.numel() and ((prompt != 0) & (prompt != 1)).any():
            raise ConfigError("prompt rolls must hold 0 and 1 only")
        v = prompt.float()
        frames = [prompt.to(torch.uint8)]
        inp = torch.cat([torch.zeros(num_samples, 1, K, device=self.device), v], dim=1)
        out, state = self.rnn(inp)  # the prompt once; out[:, -1] conditions the first new frame
        for i in progress.steps(range(num_steps), unit="frame"):
            frame = self.sample_frame(out[:, -1], generator, temperature)  # [N, K]
            frames.append(frame.to(torch.uint8)[:, None])
            if i + 1 < num_steps:
                out, state = self.rnn(frame[:, None], state)
        return torch.cat(frames, dim=1)


def _draw(logits: torch.Tensor, generator, temperature: float) -> torch.Tensor:
    """0./1. Bernoulli draws from ``logits`` at ``temperature`` (0: on where the logit is > 0)."""
    logits = logits.float()
    if temperature == 0:
        return (logits > 0).float()
    u = torch.rand(logits.shape, generator=generator, device=logits.device)
    return (u < torch.sigmoid(logits / temperature)).float()


@register_model("lstm-roll")
class LSTMRoll(RollRNN):
    """Piano-roll LSTM with independent Bernoulli keys per time step (the common baseline)."""

    def __init__(self, config: RollConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.head = nn.Linear(config.hidden_size, config.num_keys)

    def frame_log_prob(self, h, v):
        logits = self.head(h).float()
        return -F.binary_cross_entropy_with_logits(logits, v, reduction="none").sum(-1)

    def sample_frame(self, h, generator, temperature):
        return _draw(self.head(h), generator, temperature)


@register_model("rnn-nade")
class RNNNADE(RollRNN):
    """RNN-NADE: an LSTM over time conditioning a NADE over the 88 keys of each step (notes sounding together)."""

    def __init__(self, config: RollConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        K, Hn = config.num_keys, config.nade_hidden
        self.visible_bias = nn.Linear(config.hidden_size, K)  # b(h_t)
        self.hidden_bias = nn.Linear(config.hidden_size, Hn)  # c(h_t)
        self.W = nn.Parameter(torch.randn(K, Hn) * 0.01)  # key d -> NADE hidden (read by keys > d)
        self.V = nn.Parameter(torch.randn(K, Hn) * 0.01)  # NADE hidden -> key d's logit

    def key_logits(self, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``[..., K]`` logit of each key given the keys below it in ``v`` and ``h``."""
        v = v.float()
        lead = v.shape[:-1]
        K = v.size(-1)
        b = self.visible_bias(h).float()  # [..., K]
        c = self.hidden_bias(h).float()  # [..., Hn]
        # a_d = c + sum_{j<d} v_j W_j for every key d at once: an exclusive cumulative sum over the keys
        vw = v.reshape(-1, K, 1) * self.W.float()  # [N, K, Hn]
        a = c.reshape(-1, 1, c.size(-1)) + torch.cat([torch.zeros_like(vw[:, :1]), vw[:, :-1].cumsum(1)], dim=1)
        logits = b.reshape(-1, K) + (torch.sigmoid(a) * self.V.float()).sum(-1)
        return logits.reshape(*lead, K)

    def frame_log_prob(self, h, v):
        logits = self.key_logits(h, v)
        return -F.binary_cross_entropy_with_logits(logits, v, reduction="none").sum(-1)

    def sample_frame(self, h, generator, temperature):
        b = self.visible_bias(h).float()  # [N, K]
        a = self.hidden_bias(h).float()  # [N, Hn]
        W, V = self.W.float(), self.V.float()
        keys = []
        for d in range(self.config.num_keys):
            logit = b[:, d] + torch.sigmoid(a) @ V[d]
            vd = _draw(logit, generator, temperature)  # [N]
            keys.append(vd)
            a = a + vd[:, None] * W[d]
        return torch.stack(keys, dim=1)


__all__ = ["LSTMRoll", "PAD", "RNNNADE", "RollConfig", "RollRNN"]
