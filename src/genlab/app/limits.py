"""What one request to ``genlab serve`` may ask for, and how much work runs at once."""

from __future__ import annotations

import dataclasses
import math

from ..errors import ConfigError


@dataclasses.dataclass
class Limits:
    """What one request may ask for, and how much work runs at once; every one is a ``genlab serve`` option."""

    max_samples: int = 16  # samples per generation request
    max_new_tokens: int = 512  # tokens a text sample may generate
    max_length: int = 160_000  # time steps a sample may have (audio samples, piano-roll steps): ``length``, ``num_steps``
    max_prompt_chars: int = 2_000
    max_upload_bytes: int = 4 * 2**20  # one uploaded file
    max_image_pixels: int = 1024 * 1024  # width x height of an uploaded picture
    max_eval_examples: int = 1_000  # examples one evaluation request scores
    max_iw_samples: int = 1_000  # importance samples per example for a bound
    timeout_s: float = 120.0  # the work of one request, from when it starts
    concurrency: int = 1  # pieces of work at once (sampling is already multi-threaded within one)
    queue: int = 8  # requests that may wait for a slot; beyond this, 503

    def check(self) -> Limits:
        """The limits, or a one-line error naming the first that is not a number in range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name == "queue" else 1
            if f.name == "timeout_s":
                ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
            if not ok:
                wanted = "a number > 0" if f.name == "timeout_s" else f"a whole number >= {low}"
                raise ConfigError(f"the limit {f.name} must be {wanted}, got {value!r}; set --{f.name.replace('_', '-')}")
        return self
