"""The env layer's semantics on small cases, in this process: layouts and dtypes, the learning
signal (clipping, episodic life) against the reported return, env faults and NaN observations,
Box actions in the env's shape, torsos, env kwargs. (Input it refuses: envs/test_env_refusals.py;
Atari builds: envs/test_atari.py.)"""

import numpy as np
import pytest
import torch

import a3c
from a3c.config import Config
from a3c.distributions import Categorical, distribution_for
from a3c.engines.a3c_step import local_collector
from a3c.envs import make_env_group, make_env_with_spec, probe
from a3c.envs.group import EnvGroup, LearningSignal, NonFiniteObservation
from a3c.envs.spaces import ObsSpec
from a3c.models import ActorCritic, build_model
from fakes import MatrixActionEnv, NaNObservationEnv


def cfg_for(env_id: str, **overrides) -> Config:
    return Config.for_env(env_id, progress=False, tensorboard=False, **overrides)


# ----- what the model sees -----
def test_channels_last_uint8_images_become_channels_first_bytes():
    env, spec = make_env_with_spec(cfg_for("fakes:ChannelsLastImageEnv"))
    obs, _ = env.reset(seed=0)
    assert spec.shape == (3, 12, 10) and obs.shape == (3, 12, 10) and obs.dtype == np.uint8
    assert spec.scale == pytest.approx(1 / 255) and spec.torch_dtype == torch.uint8
    c, h, w = 2, 7, 4
    assert obs[c, h, w] == h * 20 + w * 2 + c  # a transpose, not a reshape


def test_bool_grids_become_bytes_of_zero_and_one():
    env, spec = make_env_with_spec(cfg_for("fakes:BoolGridEnv"))
    obs, _ = env.reset(seed=0)
    assert spec.shape == (3, 8, 8) and obs.dtype == np.uint8 and spec.scale == 1.0
    assert obs[1, 2, 5] == 1 and obs.sum() == 1


def test_layout_can_be_forced():
    _, spec = make_env_with_spec(cfg_for("fakes:ChannelsLastImageEnv", obs_layout="chw"))
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
    results = _step_through(cfg_for("fakes:LivesEnv", clip_rewards=True, episodic_life=True))
    assert [float(r.rewards[0]) for r in results] == [1.0] * 6
    assert [float(r.terminated[0]) for r in results] == [0, 1, 0, 1, 0, 1]  # lives lost after steps 2 and 4
    episodes = [ep for r in results for ep in r.episodes]
    assert len(episodes) == 1 and episodes[0].ret == 30.0 and episodes[0].length == 6


def test_without_them_learning_sees_the_raw_signal():
    results = _step_through(cfg_for("fakes:LivesEnv"))
    assert [float(r.rewards[0]) for r in results] == [5.0] * 6
    assert [float(r.terminated[0]) for r in results] == [0, 0, 0, 0, 0, 1]


def test_reward_scale_applies_after_clipping():
    results = _step_through(cfg_for("fakes:LivesEnv", clip_rewards=True, reward_scale=0.5))
    assert float(results[0].rewards[0]) == 0.5


def test_final_observation_of_a_truncated_episode_is_a_copy():
    group = make_env_group(cfg_for("fakes:BufferReusingEnv"), 1, seed=0)
    group.reset()
    results = [group.step(np.array([0])) for _ in range(3)]
    assert results[2].truncated[0] == 1.0
    assert results[2].final_obs[0].tolist() == [3.0, 3.0]  # not the -1 that reset wrote over the buffer
    assert results[2].obs[0].tolist() == [-1.0, -1.0]


def test_an_env_that_raises_is_rebuilt_and_reported(monkeypatch):
    import fakes

    monkeypatch.setattr(fakes.FlakyEnv, "raised", 0)
    group = make_env_group(cfg_for("fakes:FlakyEnv"), 2, seed=0)
    group.reset()
    results = [group.step(np.array([0, 0])) for _ in range(3)]
    assert results[2].truncated[0] == 1.0 and not results[2].episodes  # a fault is no episode
    errors = group.take_errors()
    assert len(errors) == 1 and "simulated emulator fault" in errors[0]
    assert group.take_errors() == []


def test_fail_fast_raises_instead(monkeypatch):
    import fakes

    monkeypatch.setattr(fakes.FlakyEnv, "raised", 0)
    group = make_env_group(cfg_for("fakes:FlakyEnv", fail_fast=True), 1, seed=0)
    group.reset()
    with pytest.raises(RuntimeError, match="simulated"):
        for _ in range(3):
            group.step(np.array([0]))


def test_rollouts_keep_frames_as_bytes():
    cfg = cfg_for("fakes:ChannelsLastImageEnv")
    group = make_env_group(cfg, 2, seed=0)
    dist = distribution_for(group.action_space)
    collector = local_collector(group, build_model(cfg, group.spec, dist), dist, t_max=4)
    rollout, _ = collector.collect()
    assert rollout.obs.dtype == torch.uint8 and rollout.obs.shape == (5, 2, 3, 12, 10)


def test_ga3c_shared_buffers_keep_frames_as_bytes():
    from a3c.engines.ga3c.buffers import Mailboxes, SegmentPool
    from a3c.engines.processes import context

    spec, action_space = probe(cfg_for("fakes:ChannelsLastImageEnv"))
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


# ----- custom envs as Python users expect -----
def test_env_kwargs_reach_the_env_class():
    cfg = cfg_for("fakes:ChannelsLastImageEnv", env_kwargs={"episode_steps": 2})
    group = make_env_group(cfg, 1, seed=0)
    group.reset()
    results = [group.step(np.array([0])) for _ in range(2)]
    assert results[0].terminated[0] == 0 and results[1].terminated[0] == 1


def test_env_kwargs_reach_gym_make():
    env, _ = make_env_with_spec(cfg_for("CartPole-v1", env_kwargs={"max_episode_steps": 7}))
    assert env.spec.max_episode_steps == 7


# ----- the env side -----


def _group(env_cls, n=2, fail_fast=False):
    spec = ObsSpec(env_cls.observation_space.shape, np.float32, 1.0)
    return EnvGroup(env_cls, spec, n, 0, LearningSignal(n, False, False, 1.0), fail_fast)


def test_matrix_actions_reach_the_env_in_its_shape_and_bounds():
    group = _group(MatrixActionEnv)
    group.reset()
    group.step(np.array([[0.1, 0.2, 5.0, -7.0]] * 2, dtype=np.float32))
    np.testing.assert_allclose(MatrixActionEnv.last_action, [[0.1, 0.2], [1.0, -1.0]], rtol=1e-6)


def test_a_nan_observation_counts_as_an_env_fault_or_stops_with_fail_fast():
    NaNObservationEnv.count = 0
    group = _group(NaNObservationEnv, n=1)
    group.reset()
    for _ in range(30):
        step = group.step(np.array([1]))
    assert np.isfinite(step.obs).all()  # the rebuilt env's first observation, not the NaN
    assert step.truncated[0] == 1.0  # its episode is cut, bootstrapping from the last good state
    assert np.isfinite(step.final_obs[0]).all()
    errors = group.take_errors()
    assert len(errors) == 1 and "NaN or inf" in errors[0]
    NaNObservationEnv.count = 0
    strict = _group(NaNObservationEnv, n=1, fail_fast=True)
    strict.reset()
    with pytest.raises(NonFiniteObservation, match="NaN or inf"):
        for _ in range(30):
            strict.step(np.array([1]))


# ----- a lost life ends the bootstrap, not the recurrent memory (issue 23) -----


def test_a_lost_life_cuts_the_bootstrap_but_keeps_the_lstm_state_as_evaluation_does():
    cfg = a3c.Config.for_env("fakes:LivesEnv", clip_rewards=True, episodic_life=True, recurrent=True)
    envs = make_env_group(cfg, 1, seed=0)
    from a3c.distributions import Categorical

    model = ActorCritic((1,), Categorical(2), recurrent=True, lstm_size=4)
    collector = local_collector(envs, model, Categorical(2), t_max=6)
    rollout, finished = collector.collect()
    assert rollout.terminated[:, 0].tolist() == [0, 1, 0, 1, 0, 1]  # lives lost after steps 2 and 4
    # Memory resets only where a game begins: at its first step, and after the game ended at step 6.
    assert rollout.starts[:, 0].tolist() == [1, 0, 0, 0, 0, 0, 1]
    assert len(finished) == 1 and finished[0].ret == 30.0


# ----- the probe's cache key: the fields marked env in Config (issue 38) -----

def _fields_the_probe_reads() -> set[str]:
    """cfg.<name> read by envs.probe or any env-layer function it calls (followed by name), as ast sees it."""
    import ast
    from pathlib import Path

    functions: dict[str, ast.FunctionDef] = {}
    for path in Path(a3c.envs.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                functions.setdefault(node.name, node)
    reads: set[str] = set()
    todo, seen = ["probe"], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cfg":
                reads.add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
                todo.append(node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
    return reads


def test_every_field_the_probe_reads_keys_its_answer():
    """A field that shapes the env but is not marked env=True would let the probe hand one config's
    spaces to another. (make_env_group's learning-signal fields, gamma or reward_scale, are not
    marked: they change no space, and keying on them would build the env twice.)"""
    from a3c.config import ENV_FIELDS

    reads = _fields_the_probe_reads()
    assert {"env_id", "frame_skip", "obs_layout", "env_kwargs"} <= reads  # the walk sees atari.py and spaces
    assert sorted(reads - set(ENV_FIELDS)) == []
    assert sorted(set(ENV_FIELDS) - reads) == []  # and nothing is marked that the probe never reads


def test_a_probe_answers_again_from_its_key(monkeypatch):
    import a3c.envs

    built = []
    make = a3c.envs.make_env_with_spec
    monkeypatch.setattr(a3c.envs, "make_env_with_spec", lambda cfg: built.append(cfg.env_id) or make(cfg))
    monkeypatch.setattr(a3c.envs, "_last_probe", None)
    cfg = Config(env_id="fakes:ChannelsLastImageEnv")
    first = probe(cfg)
    assert probe(cfg.replace(gamma=0.9, lr=1e-3)) is first  # no env field changed: the kept answer
    assert probe(cfg.replace(obs_layout="hwc")) is not first
    assert built == ["fakes:ChannelsLastImageEnv"] * 2
