"""State shared between the processes of a run: the optimizers' parameters and statistics, the
normalization statistics' rows, and the step counters, written by real child processes."""

import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from a3c.engines.processes import context
from a3c.normalization import ObsNormalizer, ReturnNormalizer, Statistics, StatisticsWriter, batch_moments
from a3c.optim import SharedAdam, SharedRMSprop

# ----- two processes, one set of shared parameters and statistics -----
LR, ALPHA, EPS = 0.1, 0.9, 0.1


def _worker(rank, rms_model, rms_state, adam_model, adam_state, grad, my_turn, next_turn):
    """What engines/hogwild.worker_main does with the optimizer, then one step."""
    torch.set_num_threads(1)
    rms = SharedRMSprop(rms_model.parameters(), lr=LR, alpha=ALPHA, eps=EPS)
    rms.adopt_state_tensors(rms_state)
    adam = SharedAdam(adam_model.parameters(), lr=LR)
    adam.adopt_state_tensors(adam_state)
    # Take turns, so the expected numbers do not depend on which process is faster.
    assert my_turn.wait(60), f"process {rank} never got its turn"
    for model, opt in ((rms_model, rms), (adam_model, adam)):
        for p in model.parameters():
            p.grad = torch.full_like(p, grad)
        opt.step()
    next_turn.set()


def test_two_processes_update_the_same_parameters_and_statistics():
    ctx = context()  # the engines' own start method
    rms_model, adam_model = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    for model in (rms_model, adam_model):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(1.0)
        model.share_memory()
    rms = SharedRMSprop(rms_model.parameters(), lr=LR, alpha=ALPHA, eps=EPS).share_memory()
    adam = SharedAdam(adam_model.parameters(), lr=LR).share_memory()
    turns = [ctx.Event() for _ in range(3)]
    procs = [
        ctx.Process(target=_worker, args=(rank, rms_model, rms.state_tensors(), adam_model, adam.state_tensors(),
                                          grad, turns[rank], turns[rank + 1]))
        for rank, grad in ((0, 1.0), (1, 2.0))
    ]
    for proc in procs:
        proc.start()
    turns[0].set()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0]

    for p in rms_model.parameters():
        state = rms.state[p]
        assert state["step"].item() == 2
        # g = 0.9 * (0.1 * 1^2) + 0.1 * 2^2 = 0.49: both processes' gradients in one statistic
        assert state["square_avg"].item() == pytest.approx(0.49)
        # theta = 1 - 0.1 * 1 / sqrt(0.1 + 0.1) - 0.1 * 2 / sqrt(0.49 + 0.1) = 0.516015
        expected = 1 - 0.1 / math.sqrt(0.2) - 0.2 / math.sqrt(0.59)
        assert p.item() == pytest.approx(expected, abs=1e-6)
        assert expected == pytest.approx(0.516015, abs=1e-6)

    for p in adam_model.parameters():
        state = adam.state[p]
        assert state["step"].item() == 2
        # process 0 (grad 1, step 1): m = 0.1, v = 0.001, bias-corrected both 1 -> theta = 1 - 0.1
        # process 1 (grad 2, step 2 because the count is shared):
        #   m = 0.9 * 0.1 + 0.1 * 2 = 0.29, v = 0.999 * 0.001 + 0.001 * 4 = 0.004999
        #   theta -= 0.1 * (0.29 / 0.19) / (sqrt(0.004999 / 0.001999) + 1e-8)
        assert state["exp_avg"].item() == pytest.approx(0.29)
        assert state["exp_avg_sq"].item() == pytest.approx(0.004999)
        expected = 0.9 - 0.1 * (0.29 / 0.19) / (math.sqrt(0.004999 / 0.001999) + 1e-8)
        assert p.item() == pytest.approx(expected, abs=1e-5)


# ----- Hogwild workers stepping at the same time -----
CONCURRENT_STEPS = 100


def _stepping_worker(rank, cfg, model, optim_state, update_lock, counters, start):
    """A Hogwild worker's learner (engines/hogwild.worker_learner) stepping as fast as it can."""
    from a3c.engines.hogwild import worker_learner

    torch.set_num_threads(1)
    learner = worker_learner(cfg, model, optim_state, update_lock, counters)
    grads = [torch.ones_like(p) for p in model.parameters()]
    assert start.wait(60)
    for _ in range(CONCURRENT_STEPS):
        assert learner.apply(grads, finite=True, env_steps=1)


def test_hogwild_workers_stepping_at_once_lose_no_part_of_any_step():
    """Two workers step the shared Adam at the same time; the result must be that of 200 steps one
    after another. Lock-free, their writes to the moments overlap and some are lost (a step whose
    g^2 was overwritten divides by too small a denominator: what blew up MinAtar runs)."""
    from a3c import Config
    from a3c.engines.counters import SharedCounters
    from a3c.engines.update_lock import UpdateLock
    from a3c.optim import build_optimizer

    ctx = context()
    cfg = Config(env_id="CartPole-v1", optimizer="adam", lr=1e-3)
    model = torch.nn.Linear(1000, 1000)  # a million weights: each step's writes take long enough to overlap
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    model.share_memory()
    optimizer = build_optimizer(cfg, model.parameters()).share_memory()
    update_lock, counters, start = UpdateLock.create(), SharedCounters(ctx, ranks=2), ctx.Event()
    procs = [
        ctx.Process(target=_stepping_worker, args=(rank, cfg, model, optimizer.state_tensors(), update_lock,
                                                   counters.for_rank(rank), start))
        for rank in range(2)
    ]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(120)
    update_lock.remove()
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert counters.read()[:2] == (2 * CONCURRENT_STEPS, 2 * CONCURRENT_STEPS)

    n = 2 * CONCURRENT_STEPS
    for p in model.parameters():
        state = optimizer.state[p]
        assert state["step"].item() == n
        # A constant gradient of 1, n steps: m = 1 - 0.9^n, v = 1 - 0.999^n, and every step moves
        # theta by exactly lr (both moments bias-corrected to 1).
        assert torch.allclose(state["exp_avg"], torch.full_like(p, 1 - 0.9**n), atol=1e-6)
        assert torch.allclose(state["exp_avg_sq"], torch.full_like(p, 1 - 0.999**n), atol=1e-6)
        assert torch.allclose(p.detach(), torch.full_like(p, -n * 1e-3), atol=1e-5)


def _write_rows(statistics: StatisticsWriter, seed: int, batches: int) -> None:
    """What a Hogwild worker does with its writer: each rollout's observations, and the returns."""
    rng = np.random.default_rng(seed)
    for _ in range(batches):
        statistics.observe(rng.normal(seed, 1 + seed, size=(16, 2, 3)).astype(np.float32))
        statistics.returns.add(batch_moments(np.full((4, 1), float(seed))))


def test_statistics_merged_across_processes_equal_those_of_the_concatenated_data():
    model = SimpleNamespace(obs_norm=ObsNormalizer((2, 3)), reward_norm=ReturnNormalizer())
    model.obs_norm.share_memory()
    workers = {"worker": 3}
    statistics = Statistics(model, observations=workers, returns=workers)
    ctx = context()
    procs = [ctx.Process(target=_write_rows, args=(statistics.writer("worker", w), w, 5 + w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    normalizer = model.obs_norm
    assert normalizer.count.item() > 0  # the children published into the shared buffers themselves
    statistics.publish()
    data = []
    for w in range(3):  # the same draws, made here
        rng = np.random.default_rng(w)
        data += [rng.normal(w, 1 + w, size=(16, 2, 3)).astype(np.float32) for _ in range(5 + w)]
    data = np.concatenate(data).astype(np.float64)
    assert normalizer.count.item() == data.shape[0] == 16 * (5 + 6 + 7)
    torch.testing.assert_close(normalizer.mean, torch.from_numpy(data.mean(0)).float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(normalizer.var, torch.from_numpy(data.var(0)).float(), rtol=1e-5, atol=1e-6)
    returns = np.concatenate([np.full(4 * (5 + w), float(w)) for w in range(3)])
    assert model.reward_norm.count.item() == returns.size
    assert model.reward_norm.m2.item() == pytest.approx(((returns - returns.mean()) ** 2).sum())


def _exit_unless_clock_reads(counters, seconds: float) -> None:
    sys.exit(0 if counters.wall_seconds == seconds else 1)


def test_counters_are_a_row_per_writer_summed_by_readers():
    from a3c.engines.counters import SharedCounters
    from a3c.engines.processes import context

    ctx = context()
    counters = SharedCounters(ctx, (100, 10, 1), ranks=2)
    counters.add(env_steps=5, updates=1)  # the main process's row (resumed counts, trainer threads)
    assert counters.for_rank(0).add(env_steps=20, episodes=2) == 125
    worker_1 = ctx.Process(target=counters.for_rank(1).add, kwargs=dict(env_steps=5, updates=1, episodes=1))
    worker_1.start()  # a child gets the same memory, and adds to its own row
    worker_1.join(30)
    assert worker_1.exitcode == 0
    assert counters.read() == (130, 12, 4) and counters.env_steps == 130
    counters.set_wall_seconds(12.5)  # the main process's clock, read by every writer's learner
    reader = ctx.Process(target=_exit_unless_clock_reads, args=(counters.for_rank(1), 12.5))
    reader.start()
    reader.join(30)
    assert reader.exitcode == 0
    with pytest.raises(ValueError):
        counters.for_rank(2)
