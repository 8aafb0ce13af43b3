"""Agent.act on one observation and on a batch from a vector env, as SB3's predict does."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c.agent import Agent
from a3c.config import Config
from a3c.distributions import distribution_for
from a3c.envs import make_env_with_spec
from a3c.errors import UserError
from a3c.models import build_model


def make_agent(env_id="CartPole-v1", **overrides):
    cfg = Config.for_env(env_id, **overrides)
    env, spec = make_env_with_spec(cfg)
    dist = distribution_for(env.action_space)
    torch.manual_seed(0)
    model = build_model(cfg, spec, dist)
    return Agent(cfg, model, dist, env.action_space)


def test_one_observation_gives_one_action_and_a_batch_gives_a_batch():
    agent = make_agent()
    envs = gym.make_vec("CartPole-v1", num_envs=3)
    obs, _ = envs.reset(seed=0)
    actions = agent.act(obs)
    assert isinstance(actions, np.ndarray) and actions.shape == (3,)
    singles = [agent.act(o) for o in obs]
    assert all(isinstance(a, int) for a in singles)
    assert list(actions) == singles  # greedy: row i of the batch acts as obs i alone
    envs.step(actions)  # what the vector env takes
    envs.close()


def test_continuous_batches_are_clipped_to_the_action_space():
    agent = make_agent("Pendulum-v1")
    obs = np.zeros((5, 3), dtype=np.float64)
    actions = agent.act(obs, deterministic=False)
    assert actions.shape == (5, 1)
    assert np.all(actions <= 2.0) and np.all(actions >= -2.0)
    assert agent.act(obs[0]).shape == (1,)


def test_a_recurrent_agent_keeps_one_state_per_row():
    agent = make_agent(recurrent=True)
    assert agent.act(np.zeros((4, 4), dtype=np.float32)).shape == (4,)
    assert agent.state[0].shape[0] == 4
    assert isinstance(agent.act(np.zeros(4, dtype=np.float32)), int)  # back to one: a fresh state
    assert agent.state[0].shape[0] == 1


def test_an_observation_of_the_wrong_rank_is_a_user_error():
    with pytest.raises(UserError, match=r"one observation of shape \(4,\), or a batch of them"):
        make_agent().act(np.zeros((2, 3, 4)))


def test_a_loaded_agent_acts_on_observations_straight_from_the_users_env(tmp_path):
    """The user makes the env by its id and hands its observations over as they come: [8, 8, 3]
    bool grids, which the model takes as [3, 8, 8] bytes (issue 39's MinAtar case)."""
    from a3c.checkpoint import save_checkpoint
    from fakes import BoolGridEnv

    cfg = Config.for_env("fakes:BoolGridEnv")
    env, spec = make_env_with_spec(cfg)
    assert spec.shape == (3, 8, 8)
    torch.manual_seed(0)
    model = build_model(cfg, spec, distribution_for(env.action_space))
    save_checkpoint(tmp_path, model, {}, {"config": cfg.to_dict(), "counters": [0, 0, 0]}, 0)
    agent = Agent.load(tmp_path, "latest")
    grid, _ = BoolGridEnv().reset()
    as_the_model_takes_it = grid.transpose(2, 0, 1).astype(np.uint8)
    assert agent.act(grid) == agent.act(as_the_model_takes_it)
    assert agent.act(np.stack([grid, grid])).shape == (2,)  # a batch of raw observations
    trained_env = agent.make_env()  # the env as training saw it: its observations fit as they are
    obs, _ = trained_env.reset(seed=0)
    assert obs.shape == (3, 8, 8) and isinstance(agent.act(obs), int)
    with pytest.raises(UserError, match=r"agent.make_env\(\)"):
        agent.act(np.zeros((5, 5), dtype=bool))
