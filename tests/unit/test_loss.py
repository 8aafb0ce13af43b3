"""loss.py: the actor-critic terms by hand, what carries gradient, and that a step of the
policy gradient moves the policy the right way."""

import pytest
import torch

from a3c.distributions import Categorical
from a3c.loss import actor_critic_loss, rollout_loss, value_loss
from a3c.models import ActorCritic
from fakes import filled_rollout, loss_settings


def test_actor_critic_loss_terms_by_hand():
    log_probs = torch.tensor([-1.0, -2.0])
    advantages = torch.tensor([2.0, 1.0])
    values = torch.tensor([1.0, 3.0])
    targets = torch.tensor([2.0, 1.0])
    entropy = torch.tensor([0.5, 0.7])
    total, policy, value, mean_entropy = actor_critic_loss(
        log_probs, entropy, values, advantages, targets, value_coef=0.5, entropy_coef=0.1
    )
    # policy  = -mean(A * logp) = -mean(-2, -2) = 2
    # value   = 0.5 * mean((R - V)^2) = 0.5 * mean(1, 4) = 1.25
    # entropy = mean(0.5, 0.7) = 0.6
    # total   = 2 + 0.5 * 1.25 - 0.1 * 0.6 = 2.565
    assert policy.item() == pytest.approx(2.0)
    assert value.item() == pytest.approx(1.25)
    assert mean_entropy.item() == pytest.approx(0.6)
    assert total.item() == pytest.approx(2.565)


def test_gradients_of_each_term_by_hand():
    log_probs = torch.tensor([-1.0, -2.0], requires_grad=True)
    values = torch.tensor([1.0, 3.0], requires_grad=True)
    entropy = torch.tensor([0.5, 0.7], requires_grad=True)
    total, *_ = actor_critic_loss(log_probs, entropy, values, torch.tensor([2.0, 1.0]),
                                  torch.tensor([2.0, 1.0]), value_coef=0.5, entropy_coef=0.1)
    total.backward()
    # d/dlogp = -A / n = (-1, -0.5); d/dV = c_v (V - R) / n = 0.5 * (-1, 2) / 2; d/dH = -c_e / n = -0.05
    torch.testing.assert_close(log_probs.grad, torch.tensor([-1.0, -0.5]))
    torch.testing.assert_close(values.grad, torch.tensor([-0.25, 0.5]))
    torch.testing.assert_close(entropy.grad, torch.tensor([-0.05, -0.05]))


def test_advantages_and_targets_carry_no_gradient():
    # Advantages and targets built from the values themselves, as an engine would:
    # if either leaked gradient, d total / dV would pick up extra terms.
    values = torch.tensor([1.0, 3.0], requires_grad=True)
    returns = torch.tensor([2.0, 1.0])
    advantages = returns - values  # (1, -2), still attached to values
    targets = returns + 0.0 * values  # attached too
    log_probs = torch.tensor([-1.0, -2.0], requires_grad=True)
    total, *_ = actor_critic_loss(log_probs, torch.zeros(2), values, advantages, targets,
                                  value_coef=1.0, entropy_coef=0.0)
    total.backward()
    # only the value term reaches V: d/dV 0.5 * mean((R - V)^2) = (V - R) / n = (-0.5, 1)
    torch.testing.assert_close(values.grad, torch.tensor([-0.5, 1.0]))
    # and the policy term sees the advantages as constants: -A / n = (-0.5, 1)
    torch.testing.assert_close(log_probs.grad, torch.tensor([-0.5, 1.0]))


@pytest.mark.parametrize("advantage, direction", [(1.0, +1), (-1.0, -1)])
def test_one_sgd_step_moves_the_chosen_action_probability_with_the_advantage_sign(advantage, direction):
    torch.manual_seed(0)
    dist = Categorical(3)
    model = ActorCritic((4,), dist, hidden_sizes=(16,))
    obs = torch.tensor([[0.1, -0.2, 0.3, 0.05]])
    action = torch.tensor([1])

    def prob() -> float:
        with torch.no_grad():
            params, _, _ = model(obs)
            return dist.log_prob(params, action).exp().item()

    before = prob()
    params, value, _ = model(obs)
    total, policy, _, _ = actor_critic_loss(
        dist.log_prob(params, action), dist.entropy(params), value,
        advantages=torch.tensor([advantage]), value_targets=value.detach(), value_coef=0.0, entropy_coef=0.0,
    )
    model.zero_grad()
    total.backward()
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    after = prob()
    assert (after - before) * direction > 1e-4, (before, after)


def test_rollout_loss_trains_a_recurrent_model_through_the_lstm():
    torch.manual_seed(0)
    dist = Categorical(2)
    model = ActorCritic((3,), dist, hidden_sizes=(8,), recurrent=True, lstm_size=8)
    rollout = filled_rollout(dist)
    # on-policy: the behaviour log-probs are the model's own
    with torch.no_grad():
        params, _ = model.forward_sequence(rollout.obs, rollout.initial_state(), rollout.starts)
        rollout.behaviour_log_probs.copy_(dist.log_prob(params[:-1], rollout.actions))
    terms = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, gae_lambda=0.95))
    for term in (terms.total, terms.policy, terms.value, terms.entropy):
        assert term.dim() == 0 and torch.isfinite(term)
    assert terms.log_ratio_mean.abs().item() < 1e-6
    model.zero_grad()
    terms.total.backward()
    # gradient flows back through time: the recurrent weights get some
    assert model.lstm.weight_hh.grad is not None and model.lstm.weight_hh.grad.abs().sum() > 0
    assert model.lstm.weight_ih.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_rollout_loss_nstep_equals_gae_with_lambda_one():
    # The two estimators are documented as equal at lambda = 1; so must be the losses.
    torch.manual_seed(0)
    dist = Categorical(2)
    model = ActorCritic((3,), dist, hidden_sizes=(8,))
    rollout = filled_rollout(dist, lstm_size=0)
    gae = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="gae", gae_lambda=1.0))
    nstep = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="nstep"))
    torch.testing.assert_close(gae.total, nstep.total)
    torch.testing.assert_close(gae.value, nstep.value)
    lam_half = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="gae", gae_lambda=0.5))
    assert not torch.allclose(lam_half.policy, nstep.policy)


def test_value_loss_by_hand():
    aux = torch.tensor([[1.0, 3.0]], requires_grad=True)
    targets = torch.tensor([[2.0, 1.0]], requires_grad=True)
    loss = value_loss(aux, targets)
    assert loss.item() == pytest.approx(0.5 * (1.0 + 4.0) / 2)  # 0.5 * mean((2-1)^2, (1-3)^2)
    loss.backward()
    torch.testing.assert_close(aux.grad, torch.tensor([[-0.5, 1.0]]))  # (aux - target) / n
    assert targets.grad is None  # the critic's targets are not trained by the auxiliary head


def test_the_auxiliary_value_trains_the_policy_s_features_and_leaves_the_advantages_alone():
    dist = Categorical(2)
    rollout = filled_rollout(dist, lstm_size=0)

    def terms(coef):
        torch.manual_seed(0)  # both models built alike, head included: the same weights
        model = ActorCritic((3,), dist, hidden_sizes=(8,), separate_critic=True, aux_value=True)
        settings = loss_settings(gamma=0.9, separate_critic=True, aux_value_coef=coef)
        return model, rollout_loss(model, dist, rollout, settings)

    plain_model, plain = terms(0.0)
    model, with_aux = terms(0.5)
    # The policy and value terms are the critic's alone: the aux head changes only the total.
    torch.testing.assert_close(with_aux.policy, plain.policy)
    torch.testing.assert_close(with_aux.value, plain.value)
    params, values, aux = model.forward_sequence_aux(rollout.obs, None, rollout.starts)
    torch.testing.assert_close((params, values), model.forward_sequence(rollout.obs, None, rollout.starts))
    assert aux is not None and aux.shape == values.shape
    assert with_aux.total.item() > plain.total.item()  # 0.5 * a positive squared error on top
    # Its gradient reaches the policy's torso and never the critic.
    model.zero_grad()
    with_aux.total.backward()
    plain_model.zero_grad()
    plain.total.backward()
    torso_delta = sum(
        (p.grad - q.grad).abs().sum().item()
        for p, q in zip(model.torso.parameters(), plain_model.torso.parameters(), strict=True)
    )
    critic_delta = sum(
        (p.grad - q.grad).abs().sum().item()
        for p, q in zip(model.critic_parameters(), plain_model.critic_parameters(), strict=True)
    )
    assert torso_delta > 1e-6 and critic_delta < 1e-6
    assert model.aux_value_head.weight.grad.abs().sum() > 0 and plain_model.aux_value_head.weight.grad is None


def test_bfloat16_loss_runs_the_network_in_bfloat16_and_keeps_the_gradient():
    # The recurrent model of the Pong preset's shape, small: a bfloat16 pass must change the numbers
    # (autocast took effect) by no more than bfloat16's rounding, and leave float32 gradients.
    torch.manual_seed(0)
    dist = Categorical(2)
    model = ActorCritic((3,), dist, hidden_sizes=(32,), recurrent=True, lstm_size=32)
    rollout = filled_rollout(dist, lstm_size=32)
    grads = {}
    for precision in ("float32", "bfloat16"):
        terms = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, loss_precision=precision))
        assert terms.total.dtype == terms.params.dtype == torch.float32
        model.zero_grad()
        terms.total.backward()
        grads[precision] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    difference = (grads["bfloat16"] - grads["float32"]).norm() / grads["float32"].norm()
    assert 0 < difference < 0.05
    assert torch.nn.functional.cosine_similarity(grads["bfloat16"], grads["float32"], dim=0) > 0.99


@pytest.mark.parametrize(
    "precision, device, bf16_units, expected",
    [
        ("auto", "cpu", True, True),
        ("auto", "cpu", False, False),
        ("auto", "cuda", True, False),  # not measured on a GPU: auto keeps float32 there
        ("bfloat16", "cpu", False, True),
        ("float32", "cpu", True, False),
    ],
)
def test_loss_precision_auto_chooses_bfloat16_only_on_a_cpu_with_its_units(
    monkeypatch, precision, device, bf16_units, expected
):
    from a3c import device as device_module
    from a3c.config import Config
    from a3c.loss import LossSettings

    monkeypatch.setattr(device_module, "cpu_has_bfloat16_units", lambda: bf16_units)
    assert LossSettings.from_config(Config(loss_precision=precision), device).bfloat16 is expected
