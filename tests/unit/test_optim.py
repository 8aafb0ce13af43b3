"""optim.py: the shared optimizers' arithmetic by hand, against torch's Adam, and their state
tensors. (Their statistics really shared between processes: engines/test_shared_across_processes.py.)"""

import math

import pytest
import torch

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
    for _ in range(5):
        x = torch.randn(4, 3)
        for model, opt in ((ours, opt_ours), (ref, opt_ref)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for mine, theirs in zip(ours.parameters(), ref.parameters(), strict=True):
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


def test_the_learning_rate_schedules_by_hand():
    import dataclasses

    from a3c.config import Config
    from a3c.optim import scheduled_lr

    linear = Config(lr=1e-3, lr_schedule="linear", total_steps=1000, time_limit=100.0)
    assert scheduled_lr(linear, 250, 90.0) == pytest.approx(7.5e-4)  # by steps only: the clock is ignored
    assert scheduled_lr(dataclasses.replace(linear, lr_schedule="constant"), 900, 90.0) == pytest.approx(1e-3)
    budget = dataclasses.replace(linear, lr_schedule="linear_budget")
    assert scheduled_lr(budget, 250, 50.0) == pytest.approx(5e-4)  # the clock is further along: half
    assert scheduled_lr(budget, 800, 50.0) == pytest.approx(2e-4)  # the steps are: a fifth
    assert scheduled_lr(budget, 0, 150.0) == 0.0  # past the end: 0, never negative
    no_limit = dataclasses.replace(budget, time_limit=None)  # only the steps can end the run
    assert scheduled_lr(no_limit, 250, 1e6) == pytest.approx(7.5e-4)
