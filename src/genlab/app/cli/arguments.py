"""Parsing of the ``KEY=VALUE`` arguments the commands share: settings, sample and data arguments."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError


def parse_overrides(pairs: list[str], extra: list[str]) -> dict[str, str]:
    """``--set key=value`` pairs plus leftover ``--key value`` / ``--key=value`` flags -> dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set takes key=value, got '{pair}'")
        key, value = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = value
    i = 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument '{token}'")
        if "=" in token:
            key, value = token[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(extra) or extra[i + 1].startswith("--"):
                raise ConfigError(f"option '{token}' needs a value")
            key, value = token[2:], extra[i + 1]
            i += 2
        out[key.replace("-", "_")] = value
    return out


from ...training.setup import split_overrides  # noqa: E402,F401  (its old import path: genlab.cli re-exports it)


def read_overrides_file(path: str) -> dict[str, Any]:
    """A YAML/JSON file: either flat ``key: value`` or ``{model: {...}, train: {...}}``."""
    from ...config import read_config_file

    data = read_config_file(path)
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("model", "train") and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def key_values(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """``KEY=VALUE`` strings -> ``{key: "value"}`` (values kept as text, typed by whoever takes them)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"{flag} takes key=value, got '{pair}'")
        key, value = (part.strip() for part in pair.split("=", 1))
        out[key.replace("-", "_")] = value
    return out


def parse_sample_args(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` settings for ``model.sample`` (``sampler=ddim``, ``steps=50``...), typed by their look."""
    out: dict[str, Any] = {}
    for key, value in key_values(pairs, "--sample-arg").items():
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        for kind in (int, float):
            try:
                out[key] = kind(value)
                break
            except ValueError:
                pass
        else:
            out[key] = value
    return out


def add_sample_arg(parser, help_text: str = "setting for the model's sampler, e.g. sampler=ddim, steps=50 "
                                            "(repeatable)") -> None:
    parser.add_argument("--sample-arg", action="append", metavar="KEY=VALUE", help=help_text)
