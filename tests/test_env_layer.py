"""The env layer's semantics on small cases: layouts and dtypes, the learning signal
(clipping, episodic life) against the reported return, Atari builds, torsos, bad input."""

import numpy as np
import pytest
import torch

from a3c.cli import main
from a3c.config import Config
from a3c.distributions import Categorical, distribution_for
from a3c.envs import make_env_group, make_env_with_spec, probe
from a3c.models import ActorCritic, build_model
from a3c.rollout import RolloutCollector


def cfg_for(env_id: str, **overrides) -> Config:
    return Config.for_env(env_id, progress=False, tensorboard=False, **overrides)


# ----- what the model sees -----
def test_channels_last_uint8_images_become_channels_first_bytes():
    env, spec = make_env_with_spec(cfg_for("pixel_envs:ChannelsLastImageEnv"))
    obs, _ = env.reset(seed=0)
    assert spec.shape == (3, 12, 10) and obs.shape == (3, 12, 10) and obs.dtype == np.uint8
    assert spec.scale == pytest.approx(1 / 255) and spec.torch_dtype == torch.uint8
    c, h, w = 2, 7, 4
    assert obs[c, h, w] == h * 20 + w * 2 + c  # a transpose, not a reshape


def test_bool_grids_become_bytes_of_zero_and_one():
    env, spec = make_env_with_spec(cfg_for("pixel_envs:BoolGridEnv"))
    obs, _ = env.reset(seed=0)
    assert spec.shape == (3, 8, 8) and obs.dtype == np.uint8 and spec.scale == 1.0
    assert obs[1, 2, 5] == 1 and obs.sum() == 1


def test_layout_can_be_forced():
    _, spec = make_env_with_spec(cfg_for("pixel_envs:ChannelsLastImageEnv", obs_layout="chw"))
    assert spec.shape == (12, 10, 3)


def test_the_model_scales_bytes_on_its_own_device():
    dist = Categorical(2)
    model = ActorCritic((3, 8, 8), dist, torso="minatar", obs_scale=1 / 255)
    frames = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    params_bytes, values_bytes, _ = model(frames)
    params_float, values_float, _ = model(torch.ones(2, 3, 8, 8))
    assert torch.allclose(params_bytes, params_float) and torch.allclose(values_bytes, values_float)


# ----- the learning signal against the reported return -----
def _step_through(cfg, steps=6):
    # LivesEnv has no preset, so its family defaults normalize rewards: these tests follow the raw,
    # clipped and scaled rewards, so the normalization stays off.
    group = make_env_group(cfg.replace(normalize_reward=False), 1, seed=0)
    group.reset()
    results = [group.step(np.array([0])) for _ in range(steps)]
    return results


def test_clipping_and_life_loss_shape_learning_but_not_the_reported_return():
    results = _step_through(cfg_for("pixel_envs:LivesEnv", clip_rewards=True, episodic_life=True))
    assert [float(r.rewards[0]) for r in results] == [1.0] * 6
    assert [float(r.terminated[0]) for r in results] == [0, 1, 0, 1, 0, 1]  # lives lost after steps 2 and 4
    episodes = [ep for r in results for ep in r.episodes]
    assert len(episodes) == 1 and episodes[0].ret == 30.0 and episodes[0].length == 6


def test_without_them_learning_sees_the_raw_signal():
    results = _step_through(cfg_for("pixel_envs:LivesEnv"))
    assert [float(r.rewards[0]) for r in results] == [5.0] * 6
    assert [float(r.terminated[0]) for r in results] == [0, 0, 0, 0, 0, 1]


def test_reward_scale_applies_after_clipping():
    results = _step_through(cfg_for("pixel_envs:LivesEnv", clip_rewards=True, reward_scale=0.5))
    assert float(results[0].rewards[0]) == 0.5


def test_final_observation_of_a_truncated_episode_is_a_copy():
    group = make_env_group(cfg_for("pixel_envs:BufferReusingEnv"), 1, seed=0)
    group.reset()
    results = [group.step(np.array([0])) for _ in range(3)]
    assert results[2].truncated[0] == 1.0
    assert results[2].final_obs[0].tolist() == [3.0, 3.0]  # not the -1 that reset wrote over the buffer
    assert results[2].obs[0].tolist() == [-1.0, -1.0]


def test_an_env_that_raises_is_rebuilt_and_reported(monkeypatch):
    import pixel_envs

    monkeypatch.setattr(pixel_envs.FlakyEnv, "raised", 0)
    group = make_env_group(cfg_for("pixel_envs:FlakyEnv"), 2, seed=0)
    group.reset()
    results = [group.step(np.array([0, 0])) for _ in range(3)]
    assert results[2].truncated[0] == 1.0 and not results[2].episodes  # a fault is no episode
    errors = group.take_errors()
    assert len(errors) == 1 and "simulated emulator fault" in errors[0]
    assert group.take_errors() == []


def test_fail_fast_raises_instead(monkeypatch):
    import pixel_envs

    monkeypatch.setattr(pixel_envs.FlakyEnv, "raised", 0)
    group = make_env_group(cfg_for("pixel_envs:FlakyEnv", fail_fast=True), 1, seed=0)
    group.reset()
    with pytest.raises(RuntimeError, match="simulated"):
        for _ in range(3):
            group.step(np.array([0]))


def test_rollouts_keep_frames_as_bytes():
    cfg = cfg_for("pixel_envs:ChannelsLastImageEnv")
    group = make_env_group(cfg, 2, seed=0)
    dist = distribution_for(group.action_space)
    collector = RolloutCollector(group, build_model(cfg, group.spec, dist), dist, t_max=4)
    rollout, _ = collector.collect()
    assert rollout.obs.dtype == torch.uint8 and rollout.obs.shape == (5, 2, 3, 12, 10)


def test_ga3c_shared_buffers_keep_frames_as_bytes():
    from a3c.engines.ga3c.buffers import Mailboxes, SegmentPool
    from a3c.engines.processes import context

    spec, action_space = probe(cfg_for("pixel_envs:ChannelsLastImageEnv"))
    dist = distribution_for(action_space)
    mail = Mailboxes.allocate(2, 3, spec.shape, spec.torch_dtype, dist)
    pool = SegmentPool.allocate(2, 5, 3, spec.shape, spec.torch_dtype, dist, context())
    assert mail.obs.dtype == mail.final_obs.dtype == pool.rollout.obs.dtype == torch.uint8
    assert mail.obs.element_size() * mail.obs.nelement() == 2 * 3 * 3 * 12 * 10  # one byte a pixel


# ----- torsos -----
def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_torsos_are_the_papers_nets():
    dist = Categorical(6)
    # Counts worked out by hand: convs + fc + policy head (6) + value head.
    assert _params(ActorCritic((4, 84, 84), dist, torso="a3c")) == 677_943  # 16 8x8/4, 32 4x4/2, fc 256
    assert _params(ActorCritic((4, 84, 84), dist, torso="nature")) == 1_687_719  # 32/64/64, fc 512
    assert _params(ActorCritic((4, 10, 10), Categorical(3), torso="minatar")) == 132_308  # 16 3x3/1, fc 128
    # universe: four 32 3x3/2 convs padded by 1 (42 -> 21 -> 11 -> 6 -> 3: 288 features), no fc;
    # 320 + 3 x 9,248 conv weights, then an LSTM(288, 256) of 559,104 and heads of 1,542 + 257.
    universe = ActorCritic((1, 42, 42), dist, torso="universe", recurrent=True, lstm_size=256)
    assert _params(universe) == 588_967
    assert isinstance(universe.torso[1], torch.nn.ELU)
    params, values, state = universe(torch.zeros(2, 1, 42, 42, dtype=torch.uint8))
    assert params.shape == (2, 6) and state[0].shape == (2, 256)


def test_auto_torso_follows_the_observation_shape():
    dist = Categorical(2)
    assert ActorCritic((4, 84, 84), dist).torso_name == "a3c"
    assert ActorCritic((4, 10, 10), dist).torso_name == "minatar"
    assert ActorCritic((8,), dist).torso_name == "mlp"
    assert ActorCritic((4, 128), dist).torso_name == "mlp"


def test_lstm_goes_after_any_torso():
    model = ActorCritic((4, 84, 84), Categorical(6), torso="a3c", recurrent=True, lstm_size=256)
    params, values, state = model(torch.zeros(3, 4, 84, 84, dtype=torch.uint8))
    assert params.shape == (3, 6) and values.shape == (3,) and state[0].shape == (3, 256)


# ----- bad input: exit 2, one paragraph, no traceback -----
@pytest.mark.parametrize("argv, fragments", [
    (["train", "pixel_envs:DiscreteObsEnv"], ["Discrete(5)", "Allowed: a Box"]),
    (["train", "pixel_envs:DictObsEnv"], ["Dict(", "Allowed: a Box"]),
    (["train", "pixel_envs:VideoObsEnv"], ["(2, 3, 16, 16)", "Allowed: a vector"]),
    (["train", "pixel_envs:TinyImageEnv", "--set", "torso=a3c"], ["at least 36x36", "minatar"]),
    (["train", "CartPole-v1", "--set", "torso=nature"], ["image observations", "torso = mlp or auto"]),
    (["train", "CartPole-v1", "--set", "env_backend=ale_vector"], ["env_backend", "gymnasium"]),
    (["train", "ALE/Pong-v5", "--set", "frame_skip=0"], ["frame_skip", "1 to 64"]),
    (["train", "ALE/Pong-v5", "--set", "torso=resnet"], ["torso", "nature"]),
])
def test_bad_pixel_input_exits_2_with_a_message(argv, fragments, capsys, tmp_path):
    code = main([*argv, "--run-dir", str(tmp_path / "run"), "--set", "progress=false"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "run").exists()  # a refused run writes nothing


# ----- custom envs as Python users expect -----
def test_env_kwargs_reach_the_env_class():
    cfg = cfg_for("pixel_envs:ChannelsLastImageEnv", env_kwargs={"episode_steps": 2})
    group = make_env_group(cfg, 1, seed=0)
    group.reset()
    results = [group.step(np.array([0])) for _ in range(2)]
    assert results[0].terminated[0] == 0 and results[1].terminated[0] == 1


def test_env_kwargs_reach_gym_make():
    env, _ = make_env_with_spec(cfg_for("CartPole-v1", env_kwargs={"max_episode_steps": 7}))
    assert env.spec.max_episode_steps == 7


@pytest.mark.slow
def test_the_a3c_command_imports_custom_envs_from_the_current_directory(tmp_path):
    """`a3c train mymodule:Env` finds mymodule.py in the current directory, as `python -m` would,
    in the main process and in every worker, and eval passes the same env_kwargs."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "my_corridor.py").write_text(
        "import gymnasium as gym, numpy as np\n"
        "class Corridor(gym.Env):\n"
        "    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)\n"
        "    action_space = gym.spaces.Discrete(2)\n"
        "    def __init__(self, length=3):\n"
        "        self.length = length\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        super().reset(seed=seed); self.t = 0\n"
        "        return np.zeros(1, np.float32), {}\n"
        "    def step(self, action):\n"
        "        self.t += 1\n"
        "        return np.zeros(1, np.float32), 1.0, self.t >= self.length, False, {}\n")
    a3c_cmd = shutil.which("a3c", path=str(Path(sys.executable).parent)) or shutil.which("a3c")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    common = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    train = subprocess.run([a3c_cmd, "train", "my_corridor:Corridor", "--env-kwargs", '{"length": 4}',
                            "--total-steps", "400", "--workers", "1", "--run-dir", "run",
                            "--set", "progress=false", "--set", "tensorboard=false"], **common)
    assert train.returncode == 0, train.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["mean_return_100"] == 4.0
    evaluation = subprocess.run([a3c_cmd, "eval", "run", "--episodes", "2", "--json"], **common)
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout.strip().splitlines()[-1])["mean_return"] == 4.0
