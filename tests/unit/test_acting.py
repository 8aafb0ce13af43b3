"""One actor step (issue 38): the one rollout writer fills every field of a rollout from what its
link answered, the local link answers as its model does, and the GA3C mailbox link, answered by a
real predictor thread over fork-context pipes and semaphores, gives the writer the very same
rollouts as a local link to the same network. No process is started."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

from a3c.acting import Acted, LocalModelLink
from a3c.distributions import Categorical
from a3c.engines.ga3c.agent import MailboxLink
from a3c.engines.ga3c.buffers import Mailboxes
from a3c.engines.ga3c.predictor import AgentLine, Predictor, RequestBoard
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats
from a3c.models import ActorCritic
from a3c.rollout import Rollout, RolloutCollector, RolloutWriter
from fakes import ScriptedEnvBatch, ScriptedLink, thread_ipc

T = 4


def scripted_rollout() -> Rollout:
    return Rollout.allocate(T, 3, (2,), torch.float32, Categorical(3), lstm_size=1)


# ----- the writer, against a scripted link -----


def test_the_writer_fills_every_field_from_the_env_and_the_link():
    envs, link = ScriptedEnvBatch(), ScriptedLink(3)
    writer = RolloutWriter(envs, link)
    first, second = scripted_rollout(), scripted_rollout()
    versions = np.zeros((2, T), dtype=np.int64)
    finished = writer.fill(first.numpy(), versions[0])
    # Post p (1 at start-up) answers step p - 1: actions 10 p + env, log-probs -(p + env / 10), version p.
    k = [[0, 0, 0], [1, 1, 1], [0, 2, 2], [1, 0, 3], [0, 1, 4]]  # step within the episode, rows 0..T
    assert first.obs.tolist() == [[[env, k[t][env]] for env in range(3)] for t in range(T + 1)]
    assert first.starts.tolist() == [[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert first.actions.tolist() == [[10 * p + env for env in range(3)] for p in range(1, T + 1)]
    assert [a.tolist() for a in envs.given] == first.actions.tolist()  # the env got the actions written
    assert torch.equal(first.rewards, first.actions.float())  # the scripted env pays the action
    assert torch.equal(first.behaviour_log_probs, -(torch.arange(1, T + 1)[:, None] + torch.arange(3) / 10))
    assert versions[0].tolist() == [1, 2, 3, 4]
    # env 0 terminates after steps 1 and 3; env 1 is cut after step 2, its final obs [1, 3] valued 103
    assert first.terminated.tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0], [1, 0, 0]]
    assert first.truncated.tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert first.truncation_values.tolist() == [[0, 0, 0], [0, 0, 0], [0, 103, 0], [0, 0, 0]]
    assert link.posts[3][2].keys() == {1} and link.posts[3][2][1].tolist() == [1, 3]  # rode with obs[3]
    # the state obs[0] went in with: zero at start-up
    assert first.h0.tolist() == [[0]] * 3 and first.c0.tolist() == [[0.5]] * 3
    assert [(ep.ret, ep.length) for ep in finished] == [(30, 2), (63, 3), (70, 2)]

    assert writer.fill(second.numpy(), versions[1]) is not None
    # The next rollout starts where this one ended, with the state read before obs[T] was posted
    # (4 posts by then; env 0's obs[0] starts an episode: zero).
    assert torch.equal(second.obs[0], first.obs[T]) and torch.equal(second.starts[0], first.starts[T])
    assert second.h0.tolist() == [[0], [4], [4]] and second.c0.tolist() == [[0.5], [4.5], [4.5]]
    assert second.actions[0].tolist() == [50, 51, 52] and versions[1].tolist() == [5, 6, 7, 8]
    assert second.truncation_values[1].tolist() == [0, 103, 0]  # env 1 cut again after 3 steps


def test_a_link_told_to_stop_ends_the_rollout_and_the_writer():
    envs, link = ScriptedEnvBatch(), ScriptedLink(3, stop_at=3)
    writer = RolloutWriter(envs, link)
    assert writer.acting
    assert writer.fill(scripted_rollout().numpy()) is None  # stopped at the second step's post
    assert not writer.acting and writer.fill(scripted_rollout().numpy()) is None
    assert len(envs.given) == 2  # no step after the stop
    assert not RolloutWriter(ScriptedEnvBatch(), ScriptedLink(3, stop_at=1)).acting  # told at start-up


def test_the_collector_refills_its_own_buffer_and_shows_each_rollouts_observations():
    seen = []
    collector = RolloutCollector(ScriptedEnvBatch(), ScriptedLink(3), Categorical(3), T, observe=seen.append)
    rollout, finished = collector.collect()
    assert rollout is collector.buffer and len(finished) == 3
    assert rollout.actions[0].tolist() == [10, 11, 12]  # written through the numpy views
    assert len(seen) == 1 and torch.equal(seen[0], rollout.obs[:T].flatten(0, 1))  # rows 0..T-1: [T*N, 2]
    assert collector.collect()[0].actions[0].tolist() == [50, 51, 52]


# ----- the local link -----


def _forward(model, obs, state):
    with torch.no_grad():
        return model(torch.as_tensor(obs), state)


def test_the_local_link_answers_as_its_model_does():
    torch.manual_seed(0)
    dist = Categorical(3)
    model = ActorCritic((2,), dist, (8,), recurrent=True, lstm_size=4)
    link = LocalModelLink(model, dist, 3)
    rng = np.random.default_rng(0)
    obs = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(3)]
    starts = [np.ones(3, np.float32), np.array([0, 1, 0], np.float32), np.array([0, 0, 1], np.float32)]

    h, c = link.initial_state(starts[0])
    assert h.shape == c.shape == (3, 4) and not h.any()
    assert link.post(obs[0], starts[0], {}).tolist() == []
    torch.manual_seed(1)
    acted = link.act()
    params, values, state = _forward(model, obs[0], model.initial_state(3))
    torch.manual_seed(1)
    actions = dist.sample(params)
    assert acted.actions.tolist() == actions.tolist() and acted.version == 0
    torch.testing.assert_close(torch.from_numpy(acted.log_probs), dist.log_prob(params, actions), rtol=0, atol=0)
    torch.testing.assert_close(torch.from_numpy(acted.values), values, rtol=0, atol=0)
    assert link.act() is acted  # asked again: the same answer, no new draw

    # The state carries over, reset where an episode starts (env 1).
    keep = torch.tensor([[1.0], [0.0], [1.0]])
    h, c = link.initial_state(starts[1])
    torch.testing.assert_close(torch.from_numpy(h), state[0] * keep, rtol=0, atol=0)
    link.post(obs[1], starts[1], {})
    acted = link.act()
    params, values, state = _forward(model, obs[1], (state[0] * keep, state[1] * keep))
    torch.testing.assert_close(torch.from_numpy(acted.values), values, rtol=0, atol=0)

    # Env 2's episode was cut: its final obs is valued with that episode's state, not the reset one.
    final = rng.standard_normal(2).astype(np.float32)
    final_values = link.post(obs[2], starts[2], {2: final})
    _, expected, _ = _forward(model, final[None], (state[0][[2]], state[1][[2]]))
    torch.testing.assert_close(torch.from_numpy(final_values), expected, rtol=0, atol=0)


def test_the_local_link_chooses_with_the_weights_it_has_when_asked():
    """What serial GA3C relies on: its trainer runs between the post of a segment's obs[0] and the
    first act(), and that action must come from the weights the trainer just produced."""
    torch.manual_seed(0)
    dist = Categorical(3)
    model = ActorCritic((2,), dist, (8,))
    shared = SharedModel(None, model, None, None)
    link = LocalModelLink(model, dist, 3, predict=shared.predict)
    obs = np.ones((3, 2), np.float32)
    assert link.initial_state(np.ones(3, np.float32))[0].shape == (3, 0)  # feed-forward: no state
    link.post(obs, np.ones(3, np.float32), {})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    shared.learner.version = 7
    acted = link.act()
    _, values, _ = _forward(model, obs, None)
    torch.testing.assert_close(torch.from_numpy(acted.values), values, rtol=0, atol=0)
    assert acted.version == 7


# ----- the mailbox link: the same rollouts as a local link -----


class ReadableRecurrentNet(nn.Module):
    """Answers read off each row alone (so how a batch is made up changes no bit): obs [env, k] acts
    (env + k) % 3, all but certain; the state counts the episode's observations (c) and sums k (h);
    the value is that count plus k / 10."""

    recurrent, lstm_size = True, 1

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # where the links look for the device

    def initial_state(self, batch: int):
        return torch.zeros(batch, 1), torch.zeros(batch, 1)

    def forward(self, obs, state=None):
        h, c = state if state is not None else self.initial_state(len(obs))
        h, c = h + obs[:, 1:], c + 1.0
        logits = 50.0 * nn.functional.one_hot((obs[:, 0] + obs[:, 1]).long() % 3, 3).float()
        return logits, c[:, 0] + obs[:, 1] / 10, (h, c)


class Recording:
    """An ActorLink that passes everything to another and keeps a copy of every answer."""

    def __init__(self, link):
        self.link, self.state_size, self.acted = link, link.state_size, []

    def initial_state(self, starts):
        return self.link.initial_state(starts)

    def post(self, obs, starts, final_obs):
        return self.link.post(obs, starts, final_obs)

    def act(self) -> Acted:
        acted = self.link.act()
        self.acted.append(Acted(acted.actions.copy(), acted.log_probs.copy(), acted.values.copy(), acted.version))
        return acted


def _fill(link, count: int) -> tuple[list[Rollout], torch.Tensor]:
    rollouts = [scripted_rollout() for _ in range(count)]
    versions = torch.zeros(count, T, dtype=torch.int64)
    writer = RolloutWriter(ScriptedEnvBatch(), link)
    for rollout, row in zip(rollouts, versions, strict=True):
        assert writer.fill(rollout.numpy(), row.numpy()) is not None
    return rollouts, versions


def _through_the_mailbox(net, dist, count: int) -> tuple[Recording, list[Rollout], torch.Tensor]:
    mail = Mailboxes.allocate(1, 3, (2,), torch.float32, dist, lstm_size=1)
    mail.h.fill_(9.0)  # a dead predecessor's state; the engine resets the row before an agent starts
    mail.reset_state(0)
    board = RequestBoard(mail)
    ctx = thread_ipc()
    reader, request = ctx.Pipe(duplex=False)
    wake = ctx.Semaphore(0)
    board.connect(AgentLine(0, 0, reader, wake))
    shared = SharedModel(None, net, None, None)
    shared.learner.version = 7
    predictor = Predictor(0, board, shared, dist, Stats(), torch.device("cpu"), max_rows=64, wait_s=0.0,
                          on_crash=lambda message: pytest.fail(str(message)))
    stopped = threading.Event()
    link = Recording(MailboxLink(mail.numpy_row(0), request, wake, lambda: not stopped.is_set()))
    filled: list = []
    agent = threading.Thread(target=lambda: filled.extend(_fill(link, count)), daemon=True)
    predictor.start()
    agent.start()
    agent.join(10.0)
    stopped.set()
    predictor.stop_event.set()
    predictor.join(5.0)
    assert not agent.is_alive() and not predictor.is_alive() and filled
    return link, *filled


def test_the_mailbox_link_gives_the_writer_what_a_local_link_gives():
    dist, net = Categorical(3), ReadableRecurrentNet()
    torch.manual_seed(0)
    mailbox, mailbox_rollouts, mailbox_versions = _through_the_mailbox(net, dist, 3)
    shared = SharedModel(None, net, None, None)
    shared.learner.version = 7
    local = Recording(LocalModelLink(net, dist, 3, predict=shared.predict))
    torch.manual_seed(0)
    local_rollouts, local_versions = _fill(local, 3)

    for by_mail, by_local in zip(mailbox_rollouts, local_rollouts, strict=True):
        for name, tensor in by_mail.tensors().items():
            assert torch.equal(tensor, getattr(by_local, name)), name
    assert torch.equal(mailbox_versions, local_versions) and set(local_versions.flatten().tolist()) == {7}
    for a, b in zip(mailbox.acted, local.acted, strict=True):
        assert a.actions.tolist() == b.actions.tolist() and a.values.tolist() == b.values.tolist()
        assert a.log_probs.tolist() == b.log_probs.tolist()
    assert len(local.acted) == 3 * T
    # What they agree on is right: actions (env + k) % 3, values the episode's count + k / 10, env 1's
    # cut episodes valued with their own state (4 observations, k = 3: 4.3), not a reset one (1.3).
    first = local_rollouts[0]
    k = first.obs[:T, :, 1]
    assert torch.equal(first.actions, (first.obs[:T, :, 0] + k).long() % 3)
    assert local.acted[0].values.tolist() == [1.0, 1.0, 1.0]
    assert local.acted[1].values.tolist() == pytest.approx([2.1] * 3)
    cut = [rollout.truncation_values[rollout.truncated == 1] for rollout in local_rollouts]
    assert torch.cat(cut).tolist() == pytest.approx([4.3] * 4)  # after steps 2, 5, 8 and 11
    # The state rollout 1's obs[0] went in with (rows 0..3 of rollout 0 had k = [0,1,0,1], [0,1,2,0],
    # [0,1,2,3]; env 0's obs[0] starts an episode): counts [0, 1, 4], sums [0, 0, 6].
    assert local_rollouts[1].c0.tolist() == [[0.0], [1.0], [4.0]]
    assert local_rollouts[1].h0.tolist() == [[0.0], [0.0], [6.0]]
