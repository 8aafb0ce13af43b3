"""Which defaults an env takes: its preset, or its family's, chosen from its spaces.

It sits above the env layer and the presets, so that config.py stays a leaf: choosing a family
for an env no preset names means building that env once (envs.probe), and the answer is kept for
the run's own probe. `Config.for_env` is this module's `for_env`.
"""

from __future__ import annotations

from typing import Any

from a3c.config import Config, coerce
from a3c.presets import RULED_OUT_BY, describe_defaults, has_preset, preset_for


def for_env(env_id: str, **overrides: Any) -> Config:
    """The config for env_id: defaults, then that env's preset, then overrides. An env with no
    preset of its own gets its family's defaults, chosen from its spaces."""
    return config_for_env(env_id, overrides)[0]


def config_for_env(env_id: str, overrides: dict[str, Any]) -> tuple[Config, str]:
    """for_env(env_id, **overrides) and, in words, what it took beneath the user's settings, from
    one choice of defaults: an env with no preset is built (probed) once, not once for each."""
    choice = defaults_for(env_id, overrides)
    return config_from_choice(env_id, choice, overrides), describe_defaults(env_id, *choice)


def config_from_choice(env_id: str, choice: tuple[str, str | None, bool], overrides: dict[str, Any]) -> Config:
    """The config of env_id on the defaults that `choice`, defaults_for's (algo, family, memory),
    picks, then overrides: for a caller that knows an env's family without building the env."""
    preset = without_ruled_out(preset_for(env_id, *choice), overrides)
    return Config.from_dict({**preset, **overrides, "env_id": env_id})


def without_ruled_out(preset: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """preset less each value that the user's settings rule out (RULED_OUT_BY), in its order, so
    that a value dropped first rules out those after it: recurrent=true drops a preset's separate
    critic, and with it the critic's auxiliary head and gradient clip."""
    preset = dict(preset)
    defaults = Config()
    for key, (setting, ruling_out) in RULED_OUT_BY.items():
        if key not in preset or key in overrides:
            continue
        value = overrides[setting] if setting in overrides else preset.get(setting, getattr(defaults, setting))
        if coerce(setting, value) == ruling_out:
            del preset[key]
    return preset


def defaults_for(env_id: str, overrides: dict[str, Any]) -> tuple[str, str | None, bool]:
    """(algo, family, memory) that pick env_id's preset: family is chosen from the env's spaces
    when its id names no preset (images; vectors with discrete or Box actions), memory is whether
    the user asked for recurrent=true."""
    if has_preset(env_id):  # the overrides are validated with the preset beneath them, not here
        return overrides.get("algo", "a3c"), None, bool(coerce("recurrent", overrides.get("recurrent", False)))
    plain = Config.from_dict({**overrides, "env_id": env_id})
    return plain.algo, family_from_spaces(plain), plain.recurrent


def family_from_spaces(cfg: Config) -> str | None:
    """One probe, kept for the run's own (envs.probe); None when the env cannot be built here."""
    import gymnasium as gym  # gymnasium and torch load only when a preset is to be chosen

    from a3c.envs import probe

    try:
        spec, action_space = probe(cfg)
    except Exception:  # a bad id or a broken env: training probes it again and reports what is wrong
        return None
    if spec.is_image:
        return "image"
    return "vector-continuous" if isinstance(action_space, gym.spaces.Box) else "vector"
