"""Evaluate a trained agent: returns over N episodes, greedy or sampled, optional MP4 video."""

from __future__ import annotations

import numpy as np

from a3c.agent import Agent
from a3c.envs import make_env
from a3c.errors import UserError


def evaluate(
    agent: Agent, episodes: int = 10, seed: int = 0, deterministic: bool = True, video_dir: str | None = None
) -> dict:
    if episodes < 1:
        raise UserError(f"invalid value for '--episodes': {episodes}. Allowed: a whole number >= 1.")
    env = make_env(agent.config, render_mode="rgb_array" if video_dir else None)
    if video_dir:
        from gymnasium.wrappers import RecordVideo

        env = RecordVideo(
            env,
            video_folder=str(video_dir),
            episode_trigger=lambda _: True,
            name_prefix=agent.config.env_id.replace("/", "_"),
            disable_logger=True,
        )
    returns, lengths = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        agent.reset()
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, deterministic=deterministic))
            total += float(reward)
            length += 1
            done = terminated or truncated
        returns.append(total)
        lengths.append(length)
    env.close()
    return dict(
        episodes=episodes,
        mean_return=float(np.mean(returns)),
        std_return=float(np.std(returns)),
        returns=returns,
        mean_length=float(np.mean(lengths)),
        deterministic=deterministic,
    )
