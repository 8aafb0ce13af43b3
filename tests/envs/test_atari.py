"""Atari and MinAtar through the env layer: the papers' protocol, the C++ vector env used
for training against the Gymnasium env used for evaluation, life loss, RAM ids, extras, and a
probe of an Atari id that builds no vector env."""

import sys

import numpy as np
import pytest
import torch

from a3c.cli import main
from a3c.config import Config
from a3c.distributions import distribution_for
from a3c.envs import make_env_group, make_env_with_spec, probe
from a3c.models import build_model
from fakes import require

require("ale_py")
require("minatar")


def cfg_for(env_id: str, **overrides) -> Config:
    return Config.for_env(env_id, progress=False, tensorboard=False, **overrides)


def test_atari_defaults_are_the_papers_protocol():
    cfg = cfg_for("ALE/Breakout-v5")
    assert (cfg.frame_skip, cfg.frame_stack, cfg.screen_size, cfg.noop_max) == (4, 4, 84, 30)
    assert cfg.clip_rewards and cfg.episodic_life and not cfg.sticky_actions
    assert cfg.max_episode_frames == 108_000
    assert not cfg_for("CartPole-v1").clip_rewards  # other envs keep their rewards


def test_training_and_evaluation_envs_see_the_same_frames():
    """Training steps ale-py's C++ vector env; eval steps Gymnasium's wrappers. The same game
    and actions must give the same frames (the resize kernels differ on a few edge pixels)."""
    from a3c.envs.atari import atari_vector_env

    cfg = cfg_for("ALE/Breakout-v5", noop_max=0)
    env, spec = make_env_with_spec(cfg)
    vec = atari_vector_env("breakout", 1, cfg)
    single, _ = env.reset(seed=3)
    batch, _ = vec.reset(seed=3)
    assert spec.shape == single.shape == batch.shape[1:] == (4, 84, 84)
    rng = np.random.default_rng(0)
    for _ in range(40):
        action = int(rng.integers(0, 4))
        single, *_ = env.step(action)
        batch, *_ = vec.step(np.array([action]))
        differing = np.mean(np.abs(single.astype(int) - batch[0].astype(int)) > 8)
        assert differing < 0.01, differing
    vec.close()


def test_atari_vector_group_reports_whole_games_and_cuts_the_bootstrap_at_lost_lives():
    cfg = cfg_for("ALE/Breakout-v5")
    group = make_env_group(cfg, 4, seed=1)
    assert type(group).__name__ == "AtariVectorGroup" and group.spec.shape == (4, 84, 84)
    obs = group.reset()
    assert obs.dtype == np.uint8
    rng = np.random.default_rng(0)
    cut_without_episode, episodes = 0, []
    while not episodes:
        result = group.step(rng.integers(0, 4, size=4))
        assert result.rewards.max() <= 1.0
        cut_without_episode += int(result.terminated.sum()) - len(result.episodes)
        episodes += result.episodes
    assert cut_without_episode >= 4  # Breakout has 5 lives: at least 4 lost before the first game over
    assert episodes[0].length > 20
    group.close()


def test_ram_ids_train_on_bytes():
    spec, action_space = probe(cfg_for("ALE/Pong-ram-v5"))
    assert spec.shape == (4, 128) and spec.dtype == np.uint8 and spec.scale == pytest.approx(1 / 255)
    model = build_model(cfg_for("ALE/Pong-ram-v5"), spec, distribution_for(action_space))
    assert model.torso_name == "mlp"
    params, _, _ = model(torch.randint(0, 255, (2, 4, 128), dtype=torch.uint8))
    assert params.shape == (2, action_space.n)


def test_minatar_ids_register_on_first_use():
    spec, action_space = probe(cfg_for("MinAtar/SpaceInvaders-v1"))
    assert spec.shape == (6, 10, 10) and spec.dtype == np.uint8 and spec.scale == 1.0
    model = build_model(cfg_for("MinAtar/SpaceInvaders-v1"), spec, distribution_for(action_space))
    assert model.torso_name == "minatar"


@pytest.mark.parametrize("env_id, module, extra", [("MinAtar/Breakout-v1", "minatar", "minatar"),
                                                    ("ALE/Pong-v5", "ale_py", "atari")])
def test_a_missing_extra_names_the_pip_command(env_id, module, extra, capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    if module == "minatar":
        monkeypatch.setitem(sys.modules, "minatar.gym", None)
    code = main(["train", env_id, "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"pip install 'a3c[{extra}]'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_probing_an_atari_id_builds_no_vector_env(monkeypatch):
    """The frames an ale-py vector env gives follow from the config; only the actions need the game."""
    require("ale_py")
    import a3c.envs

    def refuse(*args, **kwargs):
        raise AssertionError("probe built an AtariVectorEnv")

    monkeypatch.setattr(a3c.envs, "atari_vector_env", refuse)
    monkeypatch.setattr(a3c.envs, "_last_probe", None)
    cfg = a3c.Config.for_env("ALE/Breakout-v5", screen_size=42)
    spec, action_space = a3c.envs.probe(cfg)
    assert spec.shape == (4, 42, 42) and np.dtype(spec.dtype) == np.uint8
    assert action_space.n == 4  # Breakout's minimal action set: NOOP, FIRE, RIGHT, LEFT
