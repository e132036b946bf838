"""Dataclass configs with strict, type-checked overrides.

Every model config and the training config derive from :class:`Config`. Overrides come from
Python keyword arguments, the command line (strings such as ``"3e-4"`` or ``"[256,256]"``) and
YAML/JSON files; all go through :meth:`Config.replace`, which rejects unknown keys with the list
of valid ones and values of the wrong type with the expected type.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .errors import ConfigError

_NONE_STRINGS = {"none", "null"}
_TRUE_STRINGS = {"true", "yes", "on", "1"}
_FALSE_STRINGS = {"false", "no", "off", "0"}


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = _describe(args[0]) if args else "any"
        return f"a list of {inner}"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to type ``tp`` or raise a ConfigError naming ``key`` and the type.

    Strings (from the command line) are parsed: numbers, booleans, ``none``, and lists written
    as JSON (``[256,256]``) or with commas (``256,256``).
    """
    origin = get_origin(tp)
    fail = ConfigError(f"config key '{key}' expects {_describe(tp)}, got {value!r}")

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in _NONE_STRINGS)):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except ConfigError:
                pass
        raise fail
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise fail
    if origin in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
            except json.JSONDecodeError as e:
                raise fail from e
        if not isinstance(value, (list, tuple)):
            raise fail
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = args[0] if args else Any
        try:
            items = [coerce(v, inner, key) for v in value]
        except ConfigError:
            raise fail from None  # name the list type, not just the item type
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE_STRINGS | _FALSE_STRINGS:
            return value.lower() in _TRUE_STRINGS
        raise fail
    if tp is int:
        if isinstance(value, bool):
            raise fail
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                as_float = float(value)
            except ValueError:
                raise fail from None
            if as_float.is_integer():
                return int(as_float)
        raise fail
    if tp is float:
        if isinstance(value, bool):
            raise fail
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail from None
        raise fail
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise fail
    raise ConfigError(f"config key '{key}' has an unsupported type {tp!r}")


def unknown_key_error(key: str, valid: list[str], what: str) -> ConfigError:
    """A ConfigError for a misspelt key: the closest match first, then every valid key."""
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"unknown {what} key '{key}'.{hint} Valid keys: {', '.join(sorted(valid))}")


@dataclasses.dataclass
class Config:
    """Base class of every genlab config: a dataclass with strict overrides."""

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **overrides: Any) -> "Config":
        """A copy with ``overrides`` applied, each checked against the field's type."""
        types_ = self.field_types()
        values = {}
        for key, value in overrides.items():
            if key not in types_:
                raise unknown_key_error(key, list(types_), self.__class__.__name__)
            values[key] = coerce(value, types_[key], key)
        new = dataclasses.replace(self, **values)
        new.validate()
        return new

    def validate(self) -> None:
        """Check values together; subclasses raise ConfigError for impossible settings."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        return cls().replace(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a flat YAML or JSON mapping of overrides from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # both parsers raise their own error types
        raise ConfigError(f"config file '{path}' could not be parsed ({e}); fix its syntax") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of key: value, not {type(data).__name__}")
    return data
