"""The fused recurrent path equals the step-by-step LSTMCell loop it replaces.

`lstm_over_episodes` packs the segments between episode starts into one torch.lstm call;
the reference below is the plain definition: one cell step per t, the state zeroed where
an episode starts. Outputs and every gradient must agree: in float64 to 1e-9 (a packing
mistake is off by ~1e-1), in float32, the training dtype, to float32 rounding.

And the fused LSTM runs in training mode whenever autograd records (cuDNN refuses a backward pass
through an LSTM run in inference mode).
"""

import pytest
import torch
from torch import nn

from a3c.distributions import Categorical
from a3c.models import ActorCritic, lstm_over_episodes


def step_loop(cell, x, state, starts):
    h, c = state
    outputs = []
    for t in range(x.shape[0]):
        keep = (1.0 - starts[t]).unsqueeze(-1)
        h, c = cell(x[t], (h * keep, c * keep))
        outputs.append(h)
    return torch.stack(outputs)


def _starts(kind, steps, batch, gen):
    if kind == "none":
        return torch.zeros(steps, batch)
    if kind == "first_row_only":
        s = torch.zeros(steps, batch)
        s[0, ::2] = 1.0
        return s
    if kind == "every_step":
        return torch.ones(steps, batch)
    if kind == "one_env_resets":
        s = torch.zeros(steps, batch)
        s[min(3, steps - 1), batch - 1] = 1.0
        return s
    return (torch.rand(steps, batch, generator=gen) < 0.3).float()


def _grads(tensors):
    return [t.grad.clone() for t in tensors]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-5)])
@pytest.mark.parametrize("kind", ["none", "first_row_only", "every_step", "one_env_resets", "random"])
@pytest.mark.parametrize("steps,batch", [(1, 3), (9, 1), (9, 8), (21, 5)])
def test_fused_sequence_equals_step_loop_with_resets(kind, steps, batch, dtype, tol):
    gen = torch.Generator().manual_seed(steps * 100 + batch)
    torch.manual_seed(0)
    cell = nn.LSTMCell(6, 7).to(dtype)
    starts = _starts(kind, steps, batch, gen).to(dtype)
    x = torch.randn(steps, batch, 6, generator=gen, dtype=dtype)
    h0 = torch.randn(batch, 7, generator=gen, dtype=dtype)
    c0 = torch.randn(batch, 7, generator=gen, dtype=dtype)
    weight = torch.randn(steps, batch, 7, generator=gen, dtype=dtype)  # weighs every output differently

    results = []
    for fn in (step_loop, lstm_over_episodes):
        cell.zero_grad(set_to_none=True)
        xs, hs, cs = (t.clone().requires_grad_(True) for t in (x, h0, c0))
        out = fn(cell, xs, (hs, cs), starts)
        (out * weight).sum().backward()
        results.append((out.detach(), _grads([xs, hs, cs]), _grads(list(cell.parameters()))))
    (ref_out, ref_in, ref_w), (out, grad_in, grad_w) = results
    assert out.shape == (steps, batch, 7)
    torch.testing.assert_close(out, ref_out, atol=tol, rtol=0)
    for got, want in zip(grad_in + grad_w, ref_in + ref_w, strict=True):
        torch.testing.assert_close(got, want, atol=tol, rtol=0)


def test_reset_really_cuts_the_past():
    """A start at t makes outputs from t on independent of everything before t."""
    torch.manual_seed(1)
    cell = nn.LSTMCell(3, 4)
    starts = torch.zeros(6, 2)
    starts[3, 0] = 1.0
    x = torch.randn(6, 2, 3)
    state = (torch.randn(2, 4), torch.randn(2, 4))
    changed = x.clone()
    changed[:3] += 5.0
    a = lstm_over_episodes(cell, x, state, starts)
    b = lstm_over_episodes(cell, changed, state, starts)
    torch.testing.assert_close(a[3:, 0], b[3:, 0], atol=1e-7, rtol=0)  # env 0 reset at t = 3
    assert (a[3:, 1] - b[3:, 1]).abs().max() > 1e-3  # env 1 did not: its past still matters


def test_model_sequence_equals_acting_step_by_step():
    """forward_sequence (learning) gives the same outputs as forward one step at a time (acting)."""
    torch.manual_seed(2)
    model = ActorCritic((4,), Categorical(2), (16,), recurrent=True, lstm_size=8)
    steps, batch = 12, 4
    obs = torch.randn(steps, batch, 4)
    starts = (torch.rand(steps, batch) < 0.25).float()
    state = (torch.randn(batch, 8), torch.randn(batch, 8))
    params, values = model.forward_sequence(obs, state, starts)
    h, c = state
    for t in range(steps):
        keep = (1.0 - starts[t]).unsqueeze(-1)
        p, v, (h, c) = model(obs[t], (h * keep, c * keep))
        torch.testing.assert_close(params[t], p, atol=1e-6, rtol=0)
        torch.testing.assert_close(values[t], v, atol=1e-6, rtol=0)


def test_starts_are_left_as_they_were():
    cell = nn.LSTMCell(3, 4)
    starts = torch.zeros(5, 2, dtype=torch.long)
    starts[2, 1] = 1
    before = starts.clone()
    lstm_over_episodes(cell, torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(2, 4)), starts)
    assert torch.equal(starts, before)

# ----- cuDNN refuses a backward pass through an LSTM run in inference mode (issue 23) -----


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


# ----- the recurrence stays float32 under the loss's bfloat16 autocast (loss_precision, issue 40) -----


@pytest.mark.parametrize("starts_mid_rollout", [False, True])
def test_the_lstm_runs_in_float32_under_bfloat16_autocast(starts_mid_rollout):
    torch.manual_seed(0)
    cell = nn.LSTMCell(6, 8)
    x, state = torch.randn(12, 3, 6), (torch.randn(3, 8), torch.randn(3, 8))
    starts = torch.zeros(12, 3)
    if starts_mid_rollout:
        starts[5, 1] = 1.0  # the packed path
    expected = lstm_over_episodes(cell, x, state, starts)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        # a bfloat16 torso hands the LSTM bfloat16 features; only their rounding may differ
        got = lstm_over_episodes(cell, x.to(torch.bfloat16), state, starts)
        exact = lstm_over_episodes(cell, x, state, starts)
    assert got.dtype == exact.dtype == torch.float32
    torch.testing.assert_close(exact, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(got, expected, atol=2e-2, rtol=0)
