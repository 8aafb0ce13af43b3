"""Seven defects that bent learning, each pinned by a test that failed before its fix (issue 23):
the LSTM's training flag (cuDNN), one reward normalizer per run, the entropy of bounded
Gaussians, GA3C's normalizer order, the normalizer rows of GA3C trainers, Ray GA3C's skipped
updates, and recurrent memory across a lost life."""

import math

import numpy as np
import pytest
import torch

import a3c
from a3c.checkpoint import load_checkpoint
from a3c.distributions import DiagGaussian
from a3c.envs import make_env_group
from a3c.models import ActorCritic, lstm_over_episodes
from a3c.rollout import Rollout, RolloutCollector

# ----- 1. cuDNN refuses a backward pass through an LSTM run in inference mode -----


@pytest.mark.parametrize("starts_mid_rollout", [False, True])
def test_the_fused_lstm_runs_in_training_mode_whenever_autograd_records(monkeypatch, starts_mid_rollout):
    flags = []
    real_lstm = torch.lstm

    def recording_lstm(*args):
        flags.append(args[6])  # torch.lstm(input, hx, params, has_biases, layers, dropout, train, ...)
        return real_lstm(*args)

    monkeypatch.setattr(torch, "lstm", recording_lstm)
    cell = torch.nn.LSTMCell(3, 4)
    x = torch.randn(5, 2, 3)
    state = (torch.zeros(2, 4), torch.zeros(2, 4))
    starts = torch.zeros(5, 2)
    if starts_mid_rollout:
        starts[2, 1] = 1.0  # the packed path
    lstm_over_episodes(cell, x, state, starts).sum().backward()
    with torch.no_grad():
        lstm_over_episodes(cell, x, state, starts)
    assert flags == [True, False]


# ----- 2. one reward normalizer per run, saved and resumed -----


def test_every_writer_divides_by_the_runs_one_return_statistics():
    from a3c.normalization import ReturnNormalizer, ReturnScaler

    normalizer = ReturnNormalizer()
    normalizer.attach_writers(2)
    small = ReturnScaler(1, gamma=0.5, stats=normalizer.writer(0))
    large = ReturnScaler(1, gamma=0.5, stats=normalizer.writer(1))
    never = np.array([False])
    returns = []
    for _ in range(20):  # worker 0 earns 1 per step, worker 1 earns 10
        small(np.array([1.0]), never)
        returns.append(small.returns[0])
        large(np.array([10.0]), never)
        returns.append(large.returns[0])
    std = np.std(returns)
    # Both divide by the standard deviation of all 40 returns, not each by its own.
    assert small(np.array([1.0]), never)[0] == pytest.approx(1.0 / np.std(returns + [small.returns[0]]), rel=1e-6)
    returns.append(small.returns[0])
    assert large(np.array([1.0]), never)[0] == pytest.approx(1.0 / np.std(returns + [large.returns[0]]), rel=1e-6)
    assert std > 3  # the two streams' spread, far from either stream's own (~0 after a few steps)


def _pendulum(tmp_path, total_steps, **overrides):
    return a3c.Config.for_env(
        "Pendulum-v1", normalize_reward=True, reward_scale=1.0, workers=2, envs_per_worker=2, t_max=8,
        deterministic=True, target_return="off", progress=False, tensorboard=False, total_steps=total_steps,
        run_dir=str(tmp_path / "run"), **overrides)


def test_reward_statistics_are_one_set_saved_in_checkpoints_and_resumed(tmp_path):
    first = a3c.train(_pendulum(tmp_path, 1024))
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    # Every env step of both workers, once: one set for the run.
    assert tensors["reward_norm.count"].item() == first.env_steps == 1024
    assert tensors["reward_norm.m2"].item() > 0
    resumed = a3c.train(_pendulum(tmp_path, 2048), resume=tmp_path / "run")
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    assert tensors["reward_norm.count"].item() == resumed.env_steps == 2048  # continued, not restarted
    agent = a3c.load(tmp_path / "run")  # evaluation builds the same model and ignores the statistics
    assert agent.act(np.zeros(3, dtype=np.float32)).shape == (1,)


# ----- 3. the entropy bonus of a bounded Gaussian -----


def _params(mean: float, log_std: float) -> torch.Tensor:
    return torch.tensor([[mean, log_std]], dtype=torch.float32)


def _histogram_entropy(samples: np.ndarray, low: float, high: float, bins: int = 4000) -> float:
    """Differential entropy of samples on [low, high] from a fine histogram (a check that knows
    nothing of Gaussians or tanh)."""
    counts, edges = np.histogram(samples, bins=bins, range=(low, high))
    p = counts / counts.sum()
    width = edges[1] - edges[0]
    nonzero = p > 0
    return float(-(p[nonzero] * np.log(p[nonzero] / width)).sum())


def _quadrature_entropy(mean: float, std: float, half: float) -> float:
    """-E[log p(a)] for a = half * tanh(u), u ~ N(mean, std), by quadrature over u."""
    u = np.linspace(mean - 12 * std, mean + 12 * std, 400_001)
    density = np.exp(-0.5 * ((u - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    log_p_action = np.log(density + 1e-300) - np.log(half * (1 - np.tanh(u) ** 2) + 1e-300)
    return float(-(density * log_p_action).sum() * (u[1] - u[0]))


@pytest.mark.parametrize("log_std", [-1.0, 0.0, 1.0])
def test_the_tanh_entropy_is_that_of_the_squashed_actions(log_std):
    torch.manual_seed(0)
    dist = DiagGaussian(1, "tanh", np.array([-2.0]), np.array([2.0]))
    estimate = dist.entropy(_params(0.3, log_std).expand(200_000, 2)).mean().item()
    assert estimate == pytest.approx(_quadrature_entropy(0.3, math.exp(log_std), 2.0), abs=0.01)
    if log_std <= 0:  # a smooth density: a fine histogram of the actions agrees too
        u = 0.3 + math.exp(log_std) * np.random.default_rng(1).standard_normal(2_000_000)
        assert estimate == pytest.approx(_histogram_entropy(2.0 * np.tanh(u), -2.0, 2.0), abs=0.02)


def test_a_bounded_gaussians_entropy_stops_rewarding_spread_that_piles_onto_the_bounds():
    torch.manual_seed(0)
    tanh = DiagGaussian(1, "tanh", np.array([-1.0]), np.array([1.0]))
    entropies = [tanh.entropy(_params(0.0, s).expand(100_000, 2)).mean().item() for s in (-1.0, 0.0, 1.0, 2.0)]
    assert entropies[0] < entropies[1] and entropies[1] > entropies[2] > entropies[3]  # peaks, then falls
    clip = DiagGaussian(1, "clip", np.array([-1.0]), np.array([1.0]))
    at_half_width = clip.entropy(_params(0.0, 0.0)).item()  # std 1 = the half-width of [-1, 1]
    assert clip.entropy(_params(0.0, 2.0)).item() == pytest.approx(at_half_width)
    log_std = torch.tensor([[0.0, 3.0]], requires_grad=True)
    clip.entropy(log_std).sum().backward()
    assert log_std.grad[0, 1].item() == 0.0  # no push toward a wider spread
    unbounded = DiagGaussian(1, "clip", np.array([-np.inf]), np.array([np.inf]))
    assert unbounded.entropy(_params(0.0, 2.0)).item() == pytest.approx(2.0 + 0.5 * math.log(2 * math.pi * math.e))


# ----- 4. GA3C acts and trains on the same normalizer statistics -----


def test_a_serial_ga3c_update_at_zero_lag_is_on_policy(tmp_path):
    cfg = a3c.Config.for_env(
        "Pendulum-v1", algo="ga3c", normalize_obs=True, workers=1, envs_per_worker=4, t_max=8, train_batch=1,
        deterministic=True, total_steps=2048, log_interval_steps=256, target_return="off", progress=False,
        tensorboard=False, run_dir=str(tmp_path / "run"))
    a3c.train(cfg)
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    lags = [float(r["policy_lag"]) for r in rows if r["policy_lag"]]
    ratios = [float(r["importance_ratio"]) for r in rows if r["importance_ratio"]]
    assert lags and all(lag == 0.0 for lag in lags)  # one agent, one segment per update: no lag
    assert ratios and all(ratio == pytest.approx(1.0, abs=1e-5) for ratio in ratios)  # so pi == mu


# ----- 5. a normalizer row for every GA3C trainer, never shared -----


def test_many_fixed_trainers_each_have_a_normalizer_row(tmp_path):
    cfg = a3c.Config.for_env(
        "Pendulum-v1", algo="ga3c", normalize_obs=True, trainers=20, dynamic_adjust=False, workers=2,
        envs_per_worker=2, t_max=8, total_steps=4_000, target_return="off", progress=False, tensorboard=False,
        run_dir=str(tmp_path / "run"))
    result = a3c.train(cfg)
    assert result.stop_reason == "total_steps"


def test_a_replacement_trainer_takes_the_row_of_the_one_that_died(monkeypatch):
    from a3c.engines.ga3c import engine as ga3c_engine

    class QuietTrainer:
        def __init__(self, index, *args):
            self.index = index

        def start(self):
            pass

    monkeypatch.setattr(ga3c_engine, "Trainer", QuietTrainer)
    engine = ga3c_engine.GA3CEngine.__new__(ga3c_engine.GA3CEngine)
    engine.cfg = engine.pool = engine.shared = engine.dist = engine.counters = engine.stats = engine.device = None
    engine.trainers = []
    for _ in range(3):
        engine._start_trainer()
    engine.trainers.pop(1)  # the middle one died
    engine._start_trainer()
    assert sorted(trainer.index for trainer in engine.trainers) == [0, 1, 2]


# ----- 6. Ray GA3C: a skipped update measures no lag and no ratio -----


def test_a_skipped_ray_ga3c_update_does_not_pull_the_lag_and_ratio_down():
    from a3c.distributions import Categorical
    from a3c.engines.ga3c.stats import Stats
    from a3c.engines.ray.engine import RayGA3CEngine

    class ScriptedUpdate:
        """Applies an update of lag 2 and ratio 0.5, then skips one (NaN), as BatchUpdate.train does."""

        def __init__(self, stats):
            self.stats, self.calls = stats, 0

        def train(self, local, batch, versions):
            self.calls += 1
            if self.calls == 1:
                self.stats.trained(samples=1, lag=2.0, ratio=0.5, losses={})
                return True
            self.stats.skipped()
            return False

    engine = RayGA3CEngine.__new__(RayGA3CEngine)
    engine.cfg = a3c.Config(workers=1, train_batch=1, max_train_batch=1)
    engine.stats = Stats()
    engine.update = ScriptedUpdate(engine.stats)
    engine.local = None
    segment = Rollout.allocate(2, 1, (1,), torch.float32, Categorical(2))
    engine.pending = [(segment, torch.zeros(2, dtype=torch.int64))] * 2
    engine.waiting, engine.inbox, engine.nodes, engine.restarts = [], [], {}, 0
    engine._lag_sum, engine._lag_count, engine._ratio_sum, engine._ratio_count = 0.0, 0, 0.0, 0
    engine._after_drain()
    metrics = engine.extra_metrics()
    assert metrics["policy_lag"] == pytest.approx(2.0) and metrics["importance_ratio"] == pytest.approx(0.5)


# ----- 7. a lost life ends the bootstrap, not the recurrent memory -----


def test_a_lost_life_cuts_the_bootstrap_but_keeps_the_lstm_state_as_evaluation_does():
    cfg = a3c.Config.for_env("pixel_envs:LivesEnv", clip_rewards=True, episodic_life=True, recurrent=True)
    envs = make_env_group(cfg, 1, seed=0)
    from a3c.distributions import Categorical

    model = ActorCritic((1,), Categorical(2), recurrent=True, lstm_size=4)
    collector = RolloutCollector(envs, model, Categorical(2), t_max=6)
    rollout, finished = collector.collect()
    assert rollout.terminated[:, 0].tolist() == [0, 1, 0, 1, 0, 1]  # lives lost after steps 2 and 4
    # Memory resets only where a game begins: at its first step, and after the game ended at step 6.
    assert rollout.starts[:, 0].tolist() == [1, 0, 0, 0, 0, 0, 1]
    assert len(finished) == 1 and finished[0].ret == 30.0
