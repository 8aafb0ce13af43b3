"""Tuned Stable-Baselines3 hyperparameters for the peers, per env.

Source: RL Baselines3 Zoo (github.com/DLR-RM/rl-baselines3-zoo), hyperparams/a2c.yml and
hyperparams/ppo.yml, copied by hand. "lin_X" means a linear schedule from X to 0 over
n_timesteps, as the zoo reads it. `normalize: true` is VecNormalize with its defaults
(observations and rewards), applied above the episode Monitor, so reported returns are raw.
An env missing here runs with SB3's defaults (n_envs 1, n_timesteps 1e6) and is noted as such.
The zoo's "atari" entry covers every `ALE/<game>-v5` id: its AtariWrapper (noop starts, max-pooled
frame skip of 4, 84x84 grey frames, a lost life ends the agent's episode, clipped rewards), 4 stacked
frames and the CNN policy.
"""

from __future__ import annotations

from typing import Any, Callable, Union

ZOO: dict[str, dict[str, dict[str, Any]]] = {
    "a2c": {
        "atari": dict(n_envs=16, n_timesteps=1e7, ent_coef=0.01, vf_coef=0.25,
                      policy_kwargs=dict(optimizer_class="RMSpropTFLike", optimizer_kwargs=dict(eps=1e-5))),
        "CartPole-v1": dict(n_envs=8, n_timesteps=5e5, ent_coef=0.0),
        "Acrobot-v1": dict(normalize=True, n_envs=16, n_timesteps=5e5, ent_coef=0.0),
        # Continuous control ("# Almost tuned" / "# Tuned" in the zoo): gSDE exploration, RMSProp.
        "Pendulum-v1": dict(normalize=True, n_envs=8, n_timesteps=1e6, ent_coef=0.0, max_grad_norm=0.5, n_steps=8,
                            gae_lambda=0.9, vf_coef=0.4, gamma=0.9, use_rms_prop=True, normalize_advantage=False,
                            learning_rate="lin_7e-4", use_sde=True,
                            policy_kwargs=dict(log_std_init=-2, ortho_init=False)),
        "LunarLanderContinuous-v3": dict(normalize=True, n_envs=4, n_timesteps=5e6, ent_coef=0.0, max_grad_norm=0.5,
                                         n_steps=8, gae_lambda=0.9, vf_coef=0.4, gamma=0.99, use_rms_prop=True,
                                         normalize_advantage=False, learning_rate="lin_7e-4", use_sde=True,
                                         policy_kwargs=dict(log_std_init=-2, ortho_init=False)),
        # The zoo's HalfCheetah-v4 entry (mujoco-defaults: VecNormalize, SB3's A2C defaults); v5 is the same task.
        "HalfCheetah-v5": dict(normalize=True, n_timesteps=1e6),
    },
    "ppo": {
        "atari": dict(n_envs=8, n_timesteps=1e7, n_steps=128, n_epochs=4, batch_size=256,
                      learning_rate="lin_2.5e-4", clip_range="lin_0.1", vf_coef=0.5, ent_coef=0.01),
        "CartPole-v1": dict(n_envs=8, n_timesteps=1e5, n_steps=32, batch_size=256, gae_lambda=0.8,
                            gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate="lin_0.001",
                            clip_range="lin_0.2"),
        "Acrobot-v1": dict(normalize=True, n_envs=16, n_timesteps=1e6, n_steps=256, gae_lambda=0.94,
                           gamma=0.99, n_epochs=4, ent_coef=0.0),
        "Pendulum-v1": dict(n_envs=4, n_timesteps=1e5, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10,
                            ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4),
        "LunarLanderContinuous-v3": dict(n_envs=16, n_timesteps=1e6, n_steps=1024, batch_size=64, gae_lambda=0.98,
                                         gamma=0.999, n_epochs=4, ent_coef=0.01),
        "HalfCheetah-v5": dict(normalize=True, n_envs=1, n_timesteps=1e6, batch_size=64, n_steps=512, gamma=0.98,
                               learning_rate=2.0633e-05, ent_coef=0.000401762, clip_range=0.1, n_epochs=20,
                               gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096,
                               policy_kwargs=dict(log_std_init=-2, ortho_init=False, activation_fn="relu",
                                                  net_arch=dict(pi=[256, 256], vf=[256, 256]))),
    },
}

DEFAULTS = dict(n_envs=1, n_timesteps=1e6)  # what an env without zoo hyperparameters gets


def schedule(value: Union[str, float]) -> Union[float, Callable[[float], float]]:
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[len("lin_"):])
        return lambda progress_remaining: progress_remaining * start  # SB3 counts progress 1 -> 0
    return value


def zoo_key(env_id: str) -> str:
    """The zoo's entry for env_id: its own, or "atari" for an ALE game."""
    return "atari" if env_id.startswith("ALE/") else env_id


def sb3_settings(algo: str, env_id: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(run settings: n_envs, n_timesteps, normalize, atari; model kwargs; source note)."""
    key = zoo_key(env_id)
    tuned = ZOO[algo].get(key)
    entry = f"rl-baselines3-zoo {algo}.yml" + (" (atari)" if key == "atari" else "")
    source = entry if tuned else "SB3 defaults (no zoo hyperparameters for this env)"
    params = dict(DEFAULTS, **(tuned or {}))
    run = {k: params.pop(k) for k in ("n_envs", "n_timesteps")}
    run["normalize"] = params.pop("normalize", False)
    run["atari"] = key == "atari"
    kwargs = {k: schedule(v) if k in ("learning_rate", "clip_range") else v for k, v in params.items()}
    if "policy_kwargs" in kwargs:  # the zoo writes nn.ReLU; kept here as a name so this file imports no torch
        policy_kwargs = dict(kwargs["policy_kwargs"])
        if policy_kwargs.get("activation_fn") == "relu":
            import torch.nn as nn

            policy_kwargs["activation_fn"] = nn.ReLU
        if policy_kwargs.get("optimizer_class") == "RMSpropTFLike":
            from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

            policy_kwargs["optimizer_class"] = RMSpropTFLike
        kwargs["policy_kwargs"] = policy_kwargs
    return run, kwargs, source
