"""optim.py: the shared optimizers' arithmetic by hand, against torch's Adam, and their
statistics really shared between processes (the A3C workers' setup)."""

import math

import pytest
import torch

from a3c.engines.processes import context
from a3c.optim import SharedAdam, SharedRMSprop


def test_shared_rmsprop_two_steps_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SharedRMSprop([p], lr=0.1, alpha=0.9, eps=0.1)
    grad = torch.tensor([0.5, -1.0])
    p.grad = grad.clone()
    opt.step()
    # g = 0.9 * 0 + 0.1 * grad^2 = (0.025, 0.1)
    # theta = theta - 0.1 * grad / sqrt(g + 0.1) = (1 - 0.05 / sqrt(0.125), -2 + 0.1 / sqrt(0.2))
    torch.testing.assert_close(opt.state[p]["square_avg"], torch.tensor([0.025, 0.1]))
    step1 = torch.tensor([1 - 0.05 / math.sqrt(0.125), -2 + 0.1 / math.sqrt(0.2)])  # (0.858579, -1.776393)
    torch.testing.assert_close(p.detach(), step1)
    p.grad = grad.clone()
    opt.step()
    # g = 0.9 * (0.025, 0.1) + (0.025, 0.1) = (0.0475, 0.19)
    torch.testing.assert_close(opt.state[p]["square_avg"], torch.tensor([0.0475, 0.19]))
    step2 = step1 - torch.tensor([0.05 / math.sqrt(0.1475), -0.1 / math.sqrt(0.29)])
    torch.testing.assert_close(p.detach(), step2)
    assert opt.state[p]["step"].item() == 2


def test_parameters_without_gradient_are_left_alone():
    a = torch.nn.Parameter(torch.tensor([1.0]))
    b = torch.nn.Parameter(torch.tensor([2.0]))
    opt = SharedRMSprop([a, b], lr=0.1)
    a.grad = torch.tensor([1.0])
    opt.step()
    assert b.item() == 2.0 and opt.state[b]["step"].item() == 0 and opt.state[b]["square_avg"].item() == 0.0
    assert a.item() != 1.0


def test_shared_adam_matches_torch_adam():
    torch.manual_seed(0)
    ours = torch.nn.Linear(3, 2)
    ref = torch.nn.Linear(3, 2)
    ref.load_state_dict(ours.state_dict())
    opt_ours = SharedAdam(ours.parameters(), lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    for step in range(5):
        x = torch.randn(4, 3)
        for model, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for mine, theirs in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=1e-5)
    assert not torch.equal(ours.weight, torch.nn.Linear(3, 2).weight)


def test_state_tensors_round_trip_and_adopt_shares_storage():
    p = torch.nn.Parameter(torch.ones(3))
    opt = SharedAdam([p])
    p.grad = torch.ones(3)
    opt.step()
    assert sorted(opt.state_tensors()) == ["0.exp_avg", "0.exp_avg_sq", "0.step"]
    fresh = SharedAdam([torch.nn.Parameter(torch.ones(3))])
    fresh.load_state_tensors(opt.state_tensors())
    for key, tensor in opt.state_tensors().items():
        assert torch.equal(fresh.state_tensors()[key], tensor)
    with pytest.raises(KeyError):
        fresh.load_state_tensors({"0.step": torch.zeros(1)})
    # adopt: the very same tensors, so one optimizer's update is the other's
    joined = SharedAdam([p])
    joined.adopt_state_tensors(opt.state_tensors())
    p.grad = torch.ones(3)
    joined.step()
    assert opt.state[p]["step"].item() == 2


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
