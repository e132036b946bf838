"""What a request may hold: the JSON bodies, the checks of the sample arguments, and the error answer."""

from __future__ import annotations

import math
from typing import Any

from ...errors import ConfigError

try:
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as e:  # pragma: no cover - the message is what a user without the extra sees
    raise ConfigError("genlab serve needs the 'serve' extra: pip install 'genlab[serve]'") from e

from .. import service
from .served import sample_arg_specs


class APIError(Exception):
    """An answer other than 200: ``status``, the message (the problem and the fix) and the field it is about."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers


class GenerateRequest(BaseModel):
    """What to draw: the CLI's `genlab sample` options, plus the model's own sampling settings."""

    model_config = ConfigDict(extra="forbid")
    num: int | None = Field(None, ge=1, description="how many samples (default: the kind's, capped by the server)")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seeds the sampler: the same seed gives the same samples")
    prompt: str | None = Field(None, description="what a sequence model continues: text; for a piano-roll model "
                                                 "the notes of each step as MIDI pitches (\"60 64 67; 62 65\") or a "
                                                 "MIDI file as data:audio/midi;base64,...")
    max_new_tokens: int | None = Field(None, ge=1, description="tokens to generate (sequence models)")
    temperature: float | None = Field(None, ge=0, description="divides the logits (or scales the prior's noise)")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    condition: int | None = Field(None, ge=0, description="class label of a class-conditional model")
    sample_args: dict[str, bool | int | float | str] = Field(default_factory=dict, description=(
        "the model's own sampling settings, e.g. {\"guidance\": 3, \"steps\": 50} (GET /api/models lists them)"))
    tags: list[str] = Field(default_factory=list, max_length=16, description="tags recorded with the samples")
    score: bool = Field(False, description="score the batch's sample quality against the test split (noisy for a "
                                           "small batch) and record the scores with it")


class TagsRequest(BaseModel):
    """Tags to add to a stored sample."""

    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(..., min_length=1, max_length=16)


class EvaluateRequest(BaseModel):
    """What to score: the likelihood (or the restoration / prediction metrics) on a split."""

    model_config = ConfigDict(extra="forbid")
    split: str | None = Field(None, pattern="^(val|test)$", description="val or test (default test)")
    max_examples: int = Field(100, ge=1, description="examples scored (capped by the server)")
    iw_samples: int | None = Field(None, ge=1, description="importance samples K for a bound (VAE)")
    seed: int = Field(0, ge=0, le=2**63 - 1)


SEQUENCE_FIELDS = ("max_new_tokens", "temperature", "top_k", "top_p")
LENGTH_ARGS = ("length", "num_steps")  # sample settings that size a sample's memory up front (audio, piano rolls)
OWN_FIELDS = ("num", "seed", "prompt", "condition")  # request fields only (SEQUENCE_FIELDS may be either)
RESERVED_NAMES = ("model", "progress", *service.RESERVED_SAMPLE_ARGS)  # names the service itself takes


def coerce_sample_args(model, given: dict[str, Any]) -> dict[str, Any]:
    """The sample arguments as the types of the model's defaults: ``"50"`` for an int setting is 50; a
    value of another type is a 422 naming the setting."""
    specs = sample_arg_specs(model)
    out = {}
    for name, value in given.items():
        kind = specs.get(name, {}).get("type", "any")
        field = f"sample_args.{name}"
        if name in OWN_FIELDS:
            raise APIError(422, f"{name} is a field of its own, not a sample argument; give it as \"{name}\"", field)
        if name in RESERVED_NAMES:
            raise APIError(422, f"{name} is not a sample argument; see GET /api/models for those this model takes",
                           field)
        try:
            if kind == "any" and isinstance(value, str):  # a setting without a typed default: a number if it reads as one
                value = _number(value)
            if kind == "bool":
                if isinstance(value, str) and value.lower() in ("true", "false"):
                    value = value.lower() == "true"
                elif not isinstance(value, bool):
                    raise ValueError
            elif kind == "int":
                number = float(value)
                if isinstance(value, bool) or not number.is_integer():
                    raise ValueError
                value = int(number)
            elif kind == "float":
                if isinstance(value, bool):
                    raise ValueError
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
        except (TypeError, ValueError, OverflowError):
            shown = repr(value)[:40]
            raise APIError(422, f"{field} must be a{'n' if kind == 'int' else ''} {kind}, got {shown}", field) from None
        out[name] = value
    return out


def _number(text: str) -> int | float | str:
    """``"5"`` as 5, ``"0.5"`` as 0.5, any other text as it is."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def score_bounds(values: list[str] | None, field: str) -> dict[str, float] | None:
    """``["fid=20", ...]`` as ``{"fid": 20.0}``; a 422 naming ``field`` for a malformed one."""
    if not values:
        return None
    bounds = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            bounds[name.strip()] = float(number)
            if not sep or not name.strip() or not math.isfinite(bounds[name.strip()]):
                raise ValueError
        except ValueError:
            raise APIError(422, f"{field} must be NAME=NUMBER (e.g. fid=20), got {value!r}", field) from None
    return bounds


def form_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]
