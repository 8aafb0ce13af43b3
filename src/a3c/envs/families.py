"""Which family an env id belongs to, and making one raw env of it.

Families: registered Gymnasium ids; Atari (ale-py's ids, registered on first use);
MinAtar (registered on first use); the envs that ship with a3c (`a3c/...`); and
"module:Class" custom envs, imported from the current directory as `python -m` would.
A family whose package is missing is a UserError naming the pip command.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from typing import Any

import gymnasium as gym

from a3c.errors import UserError

EXTRAS = {  # family -> (import name, pip extra)
    "atari": ("ale_py", "atari"),
    "minatar": ("minatar", "minatar"),
}


def is_custom(env_id: str) -> bool:
    return ":" in env_id and "/" not in env_id.partition(":")[0]


def _missing_extra(env_id: str, family: str) -> UserError:
    module, extra = EXTRAS[family]
    return UserError(
        f"'{env_id}' is a {family} env and needs the '{module}' package, which is not installed. "
        f"Install it with: pip install 'a3c[{extra}]' (or pip install -e '.[{extra}]' in a checkout)."
    )


def register_family(env_id: str) -> None:
    """Import and register the package that provides env_id, if it is one we know."""
    if env_id.startswith("a3c/"):
        from a3c import toy_envs

        toy_envs.register()
    elif env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4"):
        try:
            import ale_py
        except ImportError:
            raise _missing_extra(env_id, "atari") from None
        gym.register_envs(ale_py)
    elif env_id.startswith("MinAtar/"):
        try:
            import minatar.gym
        except ImportError:
            raise _missing_extra(env_id, "minatar") from None
        if env_id not in gym.registry:
            minatar.gym.register_envs()


def ram_alias(env_id: str) -> tuple[str, dict]:
    """`ALE/Pong-ram-v5`, the RAM spelling users know from Gym, is `ALE/Pong-v5` with
    obs_type="ram" in ale-py >= 0.9, which registers no -ram ids."""
    if env_id.startswith("ALE/") and "-ram-" in env_id:
        return env_id.replace("-ram-", "-"), {"obs_type": "ram"}
    return env_id, {}


def atari_game(env_id: str) -> tuple[str, str] | None:
    """(ROM name, obs_type) when env_id is an ale-py Atari env, else None."""
    if is_custom(env_id):
        return None
    register_family(env_id)
    real_id, extra = ram_alias(env_id)
    try:
        spec = gym.spec(real_id)
    except gym.error.Error:
        return None
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    if not entry.startswith("ale_py"):
        return None
    return str(spec.kwargs.get("game")), str(extra.get("obs_type", spec.kwargs.get("obs_type", "rgb")))


def resolve_custom(env_id: str) -> Any:
    """A "module:Class" id names a custom env class (or factory); import it. The current
    directory is on the import path, as for `python -m`."""
    module_name, _, attr = env_id.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"cannot import module '{module_name}' for custom env '{env_id}': {exc}. "
            "The module must be importable from the current directory or PYTHONPATH."
        ) from None
    if not hasattr(module, attr):
        raise UserError(f"module '{module_name}' has no attribute '{attr}' (custom env '{env_id}')")
    return getattr(module, attr)


def make_raw(env_id: str, env_kwargs: dict | None = None, **make_kwargs: Any) -> gym.Env:
    """One unwrapped-by-us env from a registered id or a "module:Class" path."""
    kwargs = {**(env_kwargs or {}), **{k: v for k, v in make_kwargs.items() if v is not None}}
    if is_custom(env_id):
        entry = resolve_custom(env_id)
        try:
            env = entry(**kwargs)
        except TypeError as exc:
            raise UserError(f"custom env '{env_id}' could not be made with arguments {kwargs}: {exc}") from None
        if not isinstance(env, gym.Env):
            raise UserError(f"custom env '{env_id}' did not produce a gymnasium.Env (got {type(env).__name__})")
        return env
    register_family(env_id)
    env_id, alias_kwargs = ram_alias(env_id)
    kwargs.update(alias_kwargs)
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UserError(
            f"unknown environment id '{env_id}'.{hint} Use a registered Gymnasium id "
            "(see gymnasium.pprint_registry()), an Atari id such as ALE/Pong-v5 (pip install 'a3c[atari]'), "
            "a MinAtar id such as MinAtar/Breakout-v1 (pip install 'a3c[minatar]'), or module:Class for a custom env."
        )
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as exc:
        extra = _gymnasium_extra(env_id)
        how = (
            f" Install it with: pip install 'a3c[{extra}]' (or pip install -e '.[{extra}]' in a checkout)."
            if extra
            else ""
        )
        raise UserError(f"environment '{env_id}' needs a missing dependency: {exc}.{how}") from None
    except TypeError as exc:
        raise UserError(f"environment '{env_id}' does not accept the arguments {kwargs}: {exc}") from None


# Gymnasium's env families whose dependencies are our extras: entry-point package -> extra.
GYMNASIUM_EXTRAS = {"gymnasium.envs.mujoco": "mujoco", "gymnasium.envs.box2d": "box2d"}


def _gymnasium_extra(env_id: str) -> str | None:
    entry = gym.spec(env_id).entry_point
    entry = entry if isinstance(entry, str) else getattr(entry, "__module__", "")
    return next((extra for package, extra in GYMNASIUM_EXTRAS.items() if entry.startswith(package)), None)


def env_threshold(env_id: str) -> float | None:
    """The env's registered reward_threshold (the 'solved' level), if any."""
    if is_custom(env_id):
        return None
    register_family(env_id)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return None
    return None if spec.reward_threshold is None else float(spec.reward_threshold)
