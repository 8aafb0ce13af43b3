"""Continuous actions and normalization: the math against hand values, the statistics shared
across processes, their checkpoint round trip, and the bad inputs of this area."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import a3c
from a3c.checkpoint import load_checkpoint
from a3c.distributions import DiagGaussian, distribution_for, tanh_log_det, to_env_actions
from a3c.engines.processes import context
from a3c.envs import make_env_group
from a3c.envs.group import EnvGroup, LearningSignal, NonFiniteObservation
from a3c.envs.spaces import ObsSpec
from a3c.errors import UserError
from a3c.models import LOG_STD_MAX, LOG_STD_MIN, ActorCritic
from a3c.normalization import (
    ObsNormalizer,
    ReturnScaler,
    batch_moments,
    merge_moments,
    moments_to_mean_var,
)
from envs_for_tests import MatrixActionEnv, NaNObservationEnv
from extras import require

# ----- the Gaussian, clipped or squashed -----


def test_clipped_gaussian_log_prob_is_of_the_unclipped_sample():
    # The env gets 2.0 (the bound); learning scores the sample 3.0 that was drawn: mean 0, std 1
    # -> log N(3) = -4.5 - ln(2 pi) / 2.
    dist = DiagGaussian(1)
    params = torch.tensor([[0.0, 0.0]])
    sample = torch.tensor([[3.0]])
    assert dist.log_prob(params, sample).item() == pytest.approx(-4.5 - 0.5 * math.log(2 * math.pi), abs=1e-6)
    space = gym.spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    np.testing.assert_array_equal(to_env_actions(sample.numpy(), space), [[2.0]])
    np.testing.assert_array_equal(to_env_actions(np.array([[-0.5]]), space), [[-0.5]])


def test_tanh_gaussian_log_prob_has_the_change_of_variables_term():
    # u = 0.5 under N(0.2, e^-0.5): log N(u) - log(1 - tanh(u)^2), by hand with math.tanh.
    mean, log_std, u = 0.2, -0.5, 0.5
    std = math.exp(log_std)
    gaussian = -0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    expected = gaussian - math.log(1 - math.tanh(u) ** 2)
    dist = DiagGaussian(1, squash="tanh")
    got = dist.log_prob(torch.tensor([[mean, log_std]]), torch.tensor([[u]])).item()
    assert got == pytest.approx(expected, abs=1e-6)
    # the stable form stays finite where 1 - tanh(u)^2 underflows to 0 in float32
    assert torch.isfinite(tanh_log_det(torch.tensor([40.0, -40.0]))).all()
    assert tanh_log_det(torch.tensor([40.0])).item() == pytest.approx(2 * (math.log(2) - 40), abs=1e-4)


def test_tanh_squash_maps_samples_into_the_bounds():
    space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32))
    got = to_env_actions(np.array([[0.0, 0.0], [100.0, -100.0], [math.atanh(0.5), math.atanh(-0.5)]]), space, "tanh")
    # low + (tanh(u) + 1) / 2 * (high - low)
    np.testing.assert_allclose(got, [[0.0, 5.0], [2.0, 0.0], [1.0, 2.5]], atol=1e-6)


def test_box_actions_of_any_shape_are_flattened_for_the_head_and_reshaped_for_the_env():
    space = gym.spaces.Box(-1.0, 1.0, shape=(2, 3), dtype=np.float32)
    dist = distribution_for(space)
    assert dist.dim == 6 and dist.action_shape == (6,)
    flat = np.arange(12, dtype=np.float32).reshape(2, 6) / 10 - 0.5
    got = to_env_actions(flat, space)
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got[1], np.clip(flat[1].reshape(2, 3), -1, 1))


def test_infinite_bounds_clip_nothing_and_refuse_tanh():
    space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
    np.testing.assert_array_equal(to_env_actions(np.array([[1e6, -1e6]]), space), [[1e6, -1e6]])
    with pytest.raises(UserError, match="action_squash=tanh.*not finite.*Allowed: action_squash = clip"):
        distribution_for(space, squash="tanh")


def test_mean_bound_excess_by_hand():
    # bounds [-1, 1] and [-2, 2] (half-ranges 1 and 2), a third axis unbounded above
    space = gym.spaces.Box(np.array([-1, -2, 0], np.float32), np.array([1, 2, np.inf], np.float32))
    dist = distribution_for(space)
    log_std = torch.zeros(3, 3)
    means = torch.tensor([[1.5, -3.0, 1e6],  # (0.5 / 1)^2 + (1 / 2)^2 + 0 = 0.5
                          [0.9, 1.9, 0.0],  # inside: 0
                          [-1.0, 2.0, -0.5]])  # on the bounds: 0; 0.5 below 0, half-range taken as 1: 0.25
    got = dist.mean_bound_excess(torch.cat([means, log_std], dim=1))
    torch.testing.assert_close(got, torch.tensor([0.5, 0.0, 0.25]))
    # tanh squashing has no bounds on its means
    tanh = distribution_for(gym.spaces.Box(-1.0, 1.0, shape=(3,)), squash="tanh")
    assert tanh.mean_bound_excess(torch.cat([means, log_std], dim=1)).abs().sum() == 0


def test_the_bound_penalty_pulls_a_mean_back_from_beyond_the_bounds():
    # A mean at 4 on a [-1, 1] axis: every sample is clipped to 1, so the policy gradient has
    # nothing that pulls it back. With action_bound_coef the loss rises by coef * 3^2, and its
    # gradient points the mean back inside.
    from a3c.loss import rollout_loss
    from a3c.rollout import Rollout

    torch.manual_seed(0)
    dist = distribution_for(gym.spaces.Box(-1.0, 1.0, shape=(1,)))
    model = ActorCritic((2,), dist, hidden_sizes=(8,))
    with torch.no_grad():
        model.policy_head.weight.zero_()
        model.policy_head.bias.fill_(4.0)
    rollout = Rollout.allocate(3, 2, (2,), torch.float32, dist, 0)
    rollout.obs.normal_()
    rollout.actions.fill_(1.0)
    rollout.rewards.normal_()
    settings = dict(gamma=0.9, value_coef=0.5, entropy_coef=0.0)
    plain = rollout_loss(model, dist, rollout, **settings)
    bounded = rollout_loss(model, dist, rollout, **settings, action_bound_coef=0.1)
    torch.testing.assert_close(bounded.total - plain.total, torch.tensor(0.1 * 9.0))
    model.zero_grad()
    (bounded.total - plain.total).backward()
    torch.testing.assert_close(model.policy_head.bias.grad, torch.tensor([0.1 * 2 * 3.0]))  # d/dm c (m - 1)^2

def test_state_dependent_std_comes_from_the_head_and_is_bounded():
    dist = DiagGaussian(2)
    model = ActorCritic((3,), dist, hidden_sizes=(8,), state_dependent_std=True, log_std_init=-1.0)
    assert model.log_std is None and model.policy_head.out_features == 4
    params, _, _ = model(torch.zeros(5, 3))
    torch.testing.assert_close(params[:, 2:], torch.full((5, 2), -1.0))  # the initial log std, everywhere
    with torch.no_grad():
        model.policy_head.bias[2:] = 50.0
    params, _, _ = model(torch.zeros(1, 3))
    assert params[0, 2:].max().item() == LOG_STD_MAX and LOG_STD_MIN < LOG_STD_MAX
    free = ActorCritic((3,), dist, hidden_sizes=(8,), log_std_init=-2.0)
    torch.testing.assert_close(free.log_std.detach(), torch.full((2,), -2.0))


def test_a_separate_critic_shares_no_parameter_with_the_policy():
    torch.manual_seed(0)
    model = ActorCritic((3,), DiagGaussian(2), hidden_sizes=(8,), separate_critic=True)
    params, value, _ = model(torch.randn(4, 3))
    value.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.torso.parameters())
    assert model.policy_head.weight.grad is None and model.log_std.grad is None
    assert all(p.grad is not None and p.grad.any() for p in model.critic_torso.parameters())
    model.zero_grad()
    params.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.critic_torso.parameters())
    # The sequence path gives the values the step path does.
    obs = torch.randn(3, 2, 3)
    _, values = model.forward_sequence(obs, None, torch.zeros(3, 2))
    torch.testing.assert_close(values, model(obs.reshape(6, 3))[1].reshape(3, 2))
    shared = ActorCritic((3,), DiagGaussian(2), hidden_sizes=(8,))
    assert shared.critic_torso is None


def test_a_separate_critic_is_refused_where_it_cannot_be_built():
    with pytest.raises(UserError, match="separate_critic=true is for feed-forward MLP.*torso minatar"):
        ActorCritic((4, 10, 10), DiagGaussian(2), separate_critic=True)
    with pytest.raises(UserError, match="separate_critic=true.*recurrent=True"):
        ActorCritic((3,), DiagGaussian(2), recurrent=True, separate_critic=True)


# ----- running statistics -----


def test_moments_by_hand_and_merge_equals_the_concatenation():
    count, mean, m2 = batch_moments(np.array([[1.0], [2.0], [3.0], [6.0]]))
    assert (count, mean[0], m2[0]) == (4.0, 3.0, 14.0)  # deviations -2, -1, 0, 3
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, size=(7, 3)), rng.normal(-1, 5, size=(12, 3))
    merged = merge_moments(batch_moments(a), batch_moments(b))
    mean, var = moments_to_mean_var(merged)
    both = np.concatenate([a, b])
    np.testing.assert_allclose(mean, both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, both.var(0), rtol=1e-12)
    assert merge_moments((0.0, np.zeros(3), np.zeros(3)), batch_moments(a))[0] == 7.0


def _write_rows(normalizer: ObsNormalizer, writer: int, seed: int, batches: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(batches):
        normalizer.update(writer, rng.normal(seed, 1 + seed, size=(16, 2, 3)).astype(np.float32))
        normalizer.publish()


def test_statistics_merged_across_processes_equal_those_of_the_concatenated_data():
    normalizer = ObsNormalizer((2, 3))
    normalizer.attach_writers(3)
    normalizer.share_memory()
    ctx = context()
    procs = [ctx.Process(target=_write_rows, args=(normalizer, w, w, 5 + w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    normalizer.publish()
    data = []
    for w in range(3):  # the same draws, made here
        rng = np.random.default_rng(w)
        data += [rng.normal(w, 1 + w, size=(16, 2, 3)).astype(np.float32) for _ in range(5 + w)]
    data = np.concatenate(data).astype(np.float64)
    assert normalizer.count.item() == data.shape[0] == 16 * (5 + 6 + 7)
    torch.testing.assert_close(normalizer.mean, torch.from_numpy(data.mean(0)).float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(normalizer.var, torch.from_numpy(data.var(0)).float(), rtol=1e-5, atol=1e-6)


def test_normalizer_applies_clipped_standard_scores_and_a_resume_continues_its_statistics():
    normalizer = ObsNormalizer((2,), clip=3.0)
    with torch.no_grad():
        normalizer.mean.copy_(torch.tensor([1.0, -2.0]))
        normalizer.var.copy_(torch.tensor([4.0, 0.25]))
        normalizer.count.fill_(10.0)
    out = normalizer(torch.tensor([[3.0, -2.5], [101.0, -2.0]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, -1.0], [3.0, 0.0]]), atol=1e-6, rtol=0)
    # A checkpoint's statistics seed the base row: new data merges with them, not instead of them.
    normalizer.attach_writers(1)
    normalizer.update(0, np.array([[1.0, -2.0]] * 10))
    normalizer.publish()
    assert normalizer.count.item() == 20.0
    torch.testing.assert_close(normalizer.var, torch.tensor([2.0, 0.125]))  # M2 unchanged, count doubled


def test_return_scaler_by_hand():
    scaler = ReturnScaler(1, gamma=0.5)
    first = scaler(np.array([2.0]), np.array([False]))  # R = 2; one sample: var 0 -> 2 / sqrt(1e-8) clipped
    assert first[0] == pytest.approx(10.0)
    second = scaler(np.array([2.0]), np.array([True]))  # R = 0.5 * 2 + 2 = 3; returns {2, 3}: var 0.25
    assert second[0] == pytest.approx(2.0 / 0.5, rel=1e-6)
    assert scaler.returns[0] == 0.0  # the episode ended: the next return starts afresh


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


def test_normalize_obs_on_images_is_a_user_error():
    cfg = a3c.Config.for_env("CartPole-v1", normalize_obs=True)
    from a3c.models import build_model

    with pytest.raises(UserError, match="normalize_obs=true is for float observations.*uint8"):
        build_model(cfg, ObsSpec((4, 84, 84), np.uint8, 1 / 255), distribution_for(gym.spaces.Discrete(2)))


def test_reward_normalization_reaches_the_learning_signal():
    cfg = a3c.Config.for_env("Pendulum-v1", normalize_reward=True, envs_per_worker=2)
    group = make_env_group(cfg, 2, 0)
    group.reset()
    rewards = [group.step(np.zeros((2, 1), dtype=np.float32)).rewards for _ in range(50)]
    # Pendulum pays -16..0 per step; scaled by the std of a return of ~-100 they are ~-1.
    assert np.abs(np.concatenate(rewards[10:])).max() < 3.0


# ----- whole runs -----


def _pendulum(tmp_path, name, **overrides):
    return a3c.Config.for_env(
        "Pendulum-v1", normalize_obs=True, workers=1, envs_per_worker=2, t_max=8, deterministic=True,
        target_return="off", progress=False, tensorboard=False, run_dir=str(tmp_path / name), **overrides)


def test_obs_statistics_round_trip_through_checkpoint_resume_and_eval(tmp_path):
    result = a3c.train(_pendulum(tmp_path, "run", total_steps=1024))
    sidecar, tensors, _ = load_checkpoint(tmp_path / "run")
    # Every observation a rollout saw, once: the statistics' count is the run's env steps.
    assert tensors["obs_norm.count"].item() == result.env_steps == sidecar["counters"][0]
    assert tensors["obs_norm.var"].min().item() > 0 and tensors["obs_norm.mean"].abs().sum().item() > 0
    agent = a3c.load(tmp_path / "run")
    torch.testing.assert_close(agent.model.obs_norm.mean, tensors["obs_norm.mean"])
    before = agent.model.obs_norm.mean.clone()
    agent.act(np.array([5.0, 5.0, 5.0], dtype=np.float32))
    torch.testing.assert_close(agent.model.obs_norm.mean, before)  # frozen at evaluation
    resumed = a3c.train(_pendulum(tmp_path, "run", total_steps=2048), resume=tmp_path / "run")
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    assert tensors["obs_norm.count"].item() == resumed.env_steps == 2048  # continued, not restarted


def test_matrix_action_env_trains_from_the_cli(run_cli, tmp_path):
    proc = run_cli("train", "envs_for_tests:MatrixActionEnv", "--total-steps", "2000", "--workers", "1",
                   "--set", "normalize_obs=true", "--set", "action_squash=tanh", "--run-dir", tmp_path / "run",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "summary.json").is_file()


def test_tanh_on_unbounded_actions_exits_2(run_cli, tmp_path):
    proc = run_cli("train", "envs_for_tests:UnboundedActionEnv", "--set", "action_squash=tanh",
                   "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "action_squash=tanh" in proc.stderr and "not finite" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_ga3c_trainers_keep_the_observation_statistics(tmp_path):
    cfg = a3c.Config.for_env(
        "Pendulum-v1", algo="ga3c", normalize_obs=True, workers=2, envs_per_worker=4, t_max=8, total_steps=20_000,
        target_return="off", progress=False, tensorboard=False, run_dir=str(tmp_path / "run"))
    result = a3c.train(cfg)
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    count = tensors["obs_norm.count"].item()
    # What the trainers trained on: whole segments, at most every step taken.
    assert 0 < count <= result.env_steps and count % (8 * 4) == 0
    assert tensors["obs_norm.var"].min().item() > 0


@pytest.mark.parametrize("env_id, extra", [("HalfCheetah-v5", "mujoco"), ("LunarLanderContinuous-v3", "box2d")])
def test_a_missing_physics_extra_names_the_pip_command(env_id, extra, monkeypatch):
    from a3c.envs import families

    def missing(*args, **kwargs):
        raise gym.error.DependencyNotInstalled(f"{extra} is not installed")

    monkeypatch.setattr(families.gym, "make", missing)
    with pytest.raises(UserError, match=rf"needs a missing dependency.*pip install 'a3c\[{extra}\]'"):
        families.make_raw(env_id)


@pytest.mark.parametrize("env_id, module, obs_size, act_size", [
    ("MountainCarContinuous-v0", None, 2, 1), ("LunarLanderContinuous-v3", "Box2D", 8, 2),
    ("HalfCheetah-v5", "mujoco", 17, 6), ("Hopper-v5", "mujoco", 11, 3), ("Walker2d-v5", "mujoco", 17, 6),
])
def test_continuous_envs_build_and_step(env_id, module, obs_size, act_size):
    if module:
        require(module)
    cfg = a3c.Config.for_env(env_id, normalize_obs=True)
    group = make_env_group(cfg, 2, 0)
    obs = group.reset()
    assert obs.shape == (2, obs_size)
    step = group.step(np.zeros((2, act_size), dtype=np.float32))
    assert step.obs.shape == (2, obs_size) and step.rewards.shape == (2,)
    group.close()
