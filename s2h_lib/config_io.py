"""Dataclass configs to and from plain dicts and YAML, with errors that name the bad key.

Unknown keys and values of the wrong type raise `ConfigError` naming the dotted path
(`train.stages[1].lr`), so a typo in a YAML file or a papermill parameter never passes silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key is invalid."""


def to_dict(config: Any) -> Any:
    """A dataclass (nested ones too) as plain dicts, lists and scalars; tuples become lists."""
    if dataclasses.is_dataclass(config):
        if hasattr(config, "to_dict"):
            return config.to_dict()
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: to_dict(v) for k, v in config.items()}
    return config


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def _convert(kind: Any, value: Any, where: str) -> Any:
    origin = get_origin(kind)
    if kind is Any:
        return value
    if origin is Literal:
        if value not in get_args(kind):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(kind))}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in get_args(kind):
            with contextlib.suppress(ConfigError):
                return _convert(option, value, where)
        raise ConfigError(f"{where}: {value!r} does not fit {_type_name(kind)}")
    if kind is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = get_args(kind)[0] if get_args(kind) else Any
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (int, str, bool) and type(value) is kind:
        return value
    if kind is float or kind in (int, str, bool):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass `cls` from a plain mapping; missing keys keep their defaults."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {data!r}")
    if hasattr(cls, "from_dict"):
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from error
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    values = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from error


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file as a dict; clear errors when missing or not a mapping."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def dump_yaml(config: Any) -> str:
    """YAML text of a dataclass config, readable back with `from_dict`."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
