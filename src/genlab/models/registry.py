"""The model registry: ``@register_model``, :func:`create_model`, :func:`list_models`."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..lookup import Lookup

_MODELS: Lookup[type] = Lookup("model")


def register_model(name: str):
    """Class decorator that registers a :class:`GenerativeModel` subclass under ``name``."""

    def decorator(cls):
        cls.name = name
        return _MODELS.add(name, cls)

    return decorator


def get_model_class(name: str):
    return _MODELS.get(name)


def list_models() -> dict[str, dict[str, Any]]:
    """Registered models: ``{name: {"family", "likelihood", "data", "description"}}``."""
    return {
        name: {
            "family": cls.family,
            "likelihood": cls.likelihood,
            "data": list(cls.data_kinds),
            "description": (cls.__doc__ or "").strip().splitlines()[0],
        }
        for name, cls in sorted(_MODELS.items())
    }


def create_model(name: str, data=None, **overrides: Any):
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
        data: a :class:`~genlab.data.DataSet` or :class:`~genlab.data.DataInfo`; the model's
            data-dependent settings (image shape, levels, vocabulary) follow it. Without it
            the config's defaults are used.
        overrides: config fields, type-checked; an unknown key fails with the valid ones.
    """
    from ..data.core import DataInfo, DataSet

    cls = get_model_class(name)
    config = cls.config_class()
    info = data.info if isinstance(data, DataSet) else data
    if info is not None:
        if not isinstance(info, DataInfo):
            raise ConfigError(f"data must be a DataSet or DataInfo, got {type(data).__name__}")
        config = config.adapt_to_data(info)
    config = config.replace(**overrides)
    if info is None:
        info = cls.default_data_info(config)
    return cls(config, info)

