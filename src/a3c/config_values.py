"""A config value and its field's type: a command-line string or a TOML value turned into that type,
a value checked against it, and the type in words for an error. Functions of (field name, type,
value); a3c.config looks the type up in Config's annotations and passes it in. A leaf: it imports
only a3c.errors.
"""

from __future__ import annotations

import json
import math
import types
import typing
from typing import Any

from a3c.errors import ConfigError


def strip_optional(tp: Any) -> tuple[Any, bool]:
    """The type without its None, and whether it had one: (float, True) for `float | None`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def coerce_value(name: str, tp: Any, value: Any) -> Any:
    """Turn a value from the CLI (a string) or TOML into tp, the type of field `name`, or raise ConfigError."""
    tp, optional = strip_optional(tp)
    if name == "target_return" and isinstance(value, str):
        # An explicit none/off disables the early stop; auto (or nothing) is the env's threshold.
        text = value.strip().lower()
        if text in ("none", "off", "null"):
            return math.inf
        if text in ("auto", ""):
            return None
    if isinstance(value, str):
        text = value.strip()
        if typing.get_origin(tp) is dict:
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise ConfigError(name, value, f"{describe(tp)} (not valid JSON: {exc})") from None
            if not isinstance(parsed, dict):
                raise ConfigError(name, value, describe(tp))
            return parsed
        if optional and text.lower() in ("none", "null", ""):
            return None
        try:
            if tp is bool:
                lowered = text.lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if tp is int:
                number = float(text.replace("_", ""))
                if number != int(number):
                    raise ValueError
                return int(number)
            if tp is float:
                return float(text.replace("_", ""))
            if typing.get_origin(tp) is tuple:
                inner = typing.get_args(tp)[0]
                parts = [p for p in text.strip("[]() ").replace(" ", "").split(",") if p]
                return tuple(inner(p) for p in parts)
        except (ValueError, OverflowError):  # OverflowError: int("inf")
            raise ConfigError(name, value, describe(tp)) from None
        return text
    if value is None:
        if optional:
            return None
        raise ConfigError(name, value, describe(tp))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():  # False for inf and nan
        return int(value)
    if typing.get_origin(tp) is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def checked_value(name: str, tp: Any, value: Any) -> Any:
    """value if it is of type tp (an int stands for a float and becomes one), or ConfigError."""
    tp, optional = strip_optional(tp)
    if value is None:
        if not optional:
            raise ConfigError(name, value, describe(tp))
        return value
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }.get(tp, lambda v, tp=tp: isinstance(v, dict if typing.get_origin(tp) is dict else tuple))(value)
    if not ok:
        raise ConfigError(name, value, describe(tp))
    return float(value) if tp is float else value


def describe(tp: Any) -> str:
    """A type in words, for the 'Allowed:' of a ConfigError."""
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if typing.get_origin(tp) is tuple:
        return "a comma-separated list of numbers, e.g. 64,64"
    if typing.get_origin(tp) is dict:
        return "a JSON object such as '{\"key\": 1}' (a TOML table in a file)"
    return "a string"
