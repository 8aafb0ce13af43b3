"""Tuned Stable-Baselines3 hyperparameters for the peers, per env.

Source: RL Baselines3 Zoo (github.com/DLR-RM/rl-baselines3-zoo), hyperparams/a2c.yml and
hyperparams/ppo.yml, copied by hand. "lin_X" means a linear schedule from X to 0 over
n_timesteps, as the zoo reads it. `normalize: true` is VecNormalize with its defaults
(observations and rewards), applied above the episode Monitor, so reported returns are raw.
An env missing here runs with SB3's defaults (n_envs 1, n_timesteps 1e6) and is noted as such.
"""

from __future__ import annotations

from typing import Any, Callable, Union

ZOO: dict[str, dict[str, dict[str, Any]]] = {
    "a2c": {
        "CartPole-v1": dict(n_envs=8, n_timesteps=5e5, ent_coef=0.0),
        "Acrobot-v1": dict(normalize=True, n_envs=16, n_timesteps=5e5, ent_coef=0.0),
    },
    "ppo": {
        "CartPole-v1": dict(n_envs=8, n_timesteps=1e5, n_steps=32, batch_size=256, gae_lambda=0.8,
                            gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate="lin_0.001",
                            clip_range="lin_0.2"),
        "Acrobot-v1": dict(normalize=True, n_envs=16, n_timesteps=1e6, n_steps=256, gae_lambda=0.94,
                           gamma=0.99, n_epochs=4, ent_coef=0.0),
    },
}

DEFAULTS = dict(n_envs=1, n_timesteps=1e6)  # what an env without zoo hyperparameters gets


def _schedule(value: Union[str, float]) -> Union[float, Callable[[float], float]]:
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[len("lin_"):])
        return lambda progress_remaining: progress_remaining * start  # SB3 counts progress 1 -> 0
    return value


def sb3_settings(algo: str, env_id: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(run settings: n_envs, n_timesteps, normalize; model kwargs; source note)."""
    tuned = ZOO[algo].get(env_id)
    source = f"rl-baselines3-zoo {algo}.yml" if tuned else "SB3 defaults (no zoo hyperparameters for this env)"
    params = dict(DEFAULTS, **(tuned or {}))
    run = {k: params.pop(k) for k in ("n_envs", "n_timesteps")}
    run["normalize"] = params.pop("normalize", False)
    kwargs = {k: _schedule(v) if k in ("learning_rate", "clip_range") else v for k, v in params.items()}
    return run, kwargs, source
