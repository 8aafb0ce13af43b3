"""GA3C's batched prediction: the predictor tests play the agents' side of the protocol with the
agents' own code (`MailboxLink`) in threads, over real pipes and semaphores, against a stand-in
network whose answers can be read off its input: obs[0] is the action to take, obs[1] the value.
No process is started."""

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from a3c.distributions import Categorical
from a3c.engines.ga3c import predictor as predictor_module
from a3c.engines.ga3c.agent import MailboxLink
from a3c.engines.ga3c.buffers import Mailboxes
from a3c.engines.ga3c.predictor import AgentLine, Predictor, RequestBoard
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats
from fakes import thread_ipc

ENVS = 2  # envs per agent


N_ACTIONS = 3


# ----- fake agents around a real RequestBoard and Predictor -----

@dataclass
class Reply:
    """What an agent read from its link after one post."""

    actions: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    version: int
    final_values: np.ndarray


class ReadableNet(nn.Module):
    """Logits that make action obs[0] all but certain, value obs[1]; records every forward pass's batch size."""

    def __init__(self):
        super().__init__()
        self.batch_sizes: list[int] = []

    def forward(self, obs, state=None):
        self.batch_sizes.append(obs.shape[0])
        logits = 50.0 * nn.functional.one_hot(obs[:, 0].long(), N_ACTIONS).float()
        return logits, obs[:, 1].clone(), None


class FakeAgents:
    """`count` agents' mailboxes and lines on one RequestBoard, the agents' ends MailboxLinks."""

    def __init__(self, count: int):
        ctx = thread_ipc()
        self.mail = Mailboxes.allocate(count, ENVS, (2,), torch.float32, Categorical(N_ACTIONS))
        self.board = RequestBoard(self.mail)
        self.net = ReadableNet()
        shared = SharedModel(None, self.net, None, None)
        shared.learner.version = 7
        self.stats = Stats()
        self.stopped = threading.Event()  # the agents' running() turns False: a blocked link gives up
        self.predictor = Predictor(0, self.board, shared, Categorical(N_ACTIONS), self.stats, torch.device("cpu"),
                                   max_rows=64, wait_s=5.0, on_crash=lambda message: pytest.fail(str(message)))
        self.readers, self.semaphores, self.links = [], [], []
        for rank in range(count):
            reader, writer = ctx.Pipe(duplex=False)
            semaphore = ctx.Semaphore(0)
            self.board.connect(AgentLine(rank, 0, reader, semaphore))
            self.readers.append(reader)
            self.semaphores.append(semaphore)
            running = lambda: not self.stopped.is_set()  # noqa: E731
            self.links.append(MailboxLink(self.mail.numpy_row(rank), writer, semaphore, running))

    def post(self, rank: int, final_obs: dict | None = None, until_in_pipe: bool = True) -> dict:
        """Agent `rank` asks for actions for obs_for(rank), in a thread as its process would; by default
        this returns once its note is in the pipe (not when a predictor may already be reading it)."""
        posted: dict = {}
        obs = torch.tensor(obs_for(rank)).numpy()
        finals = {env: torch.tensor(row).numpy() for env, row in (final_obs or {}).items()}

        def ask():
            link = self.links[rank]
            final_values = link.post(obs, np.zeros(ENVS, dtype=np.float32), finals)
            if final_values is not None:  # copies: the link's answer is valid until its next post
                acted = link.act()
                posted["reply"] = Reply(acted.actions.copy(), acted.log_probs.copy(), acted.values.copy(),
                                        acted.version, final_values.copy())
            else:
                posted["reply"] = None

        posted["thread"] = threading.Thread(target=ask, daemon=True)
        posted["thread"].start()
        if until_in_pipe:
            self.wait_until(lambda: self.readers[rank].poll(), "agent did not post")
        return posted

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + 5.0
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.001)

    def round(self) -> None:
        """Every agent posts and is answered: afterwards all have been heard from."""
        posted = [self.post(rank) for rank in range(len(self.links))]
        self.predictor.predict(self.board.gather(64, 5.0))
        for p in posted:
            reply_of(p)


def obs_for(rank: int) -> list[list[float]]:
    """Agent r's env e wants action (r + e) % 3 and has value 10 r + e: every row of every agent differs."""
    return [[(rank + env) % N_ACTIONS, 10.0 * rank + env] for env in range(ENVS)]


def actions_for(rank: int) -> list[int]:
    return [(rank + env) % N_ACTIONS for env in range(ENVS)]


def reply_of(posted: dict):
    posted["thread"].join(5.0)
    assert not posted["thread"].is_alive(), "the agent was never answered"
    return posted["reply"]


def fail_if_gather_waits_for_company(monkeypatch) -> list[float]:
    """The timeouts of the board's waits on the agents' pipes, recorded. A gather waits once for a
    first request, then again for more only while some agent could still post: that second wait
    fails the test at once, instead of blocking for the gather's wait_s and being caught by a clock."""
    real_wait, timeouts = predictor_module.wait, []

    def wait(conns, timeout=None):
        timeouts.append(timeout)
        assert len(timeouts) == 1, "gather waited for more requests: the lone agent was kept waiting"
        return real_wait(conns, timeout)

    monkeypatch.setattr(predictor_module, "wait", wait)
    return timeouts


def test_one_forward_pass_answers_every_agent_that_posted():
    agents = FakeAgents(3)
    posted = [agents.post(rank) for rank in range(3)]
    requests = agents.board.gather(max_rows=64, wait_s=5.0)
    assert sorted(r.line.rank for r in requests) == [0, 1, 2]
    agents.predictor.predict(requests)
    assert agents.net.batch_sizes == [3 * ENVS]  # one pass over all three agents' observations
    for rank, p in enumerate(posted):
        reply = reply_of(p)  # its semaphore was released
        assert reply.actions.tolist() == actions_for(rank)
        assert agents.mail.actions[rank].tolist() == actions_for(rank)
        assert reply.log_probs.tolist() == pytest.approx([0.0] * ENVS, abs=1e-6)  # the near-certain action
        assert reply.values.tolist() == [10.0 * rank + env for env in range(ENVS)]  # V(obs) of the acting rows
        assert reply.version == 7 and len(reply.final_values) == 0
        assert not agents.semaphores[rank].acquire(block=False)  # released once, not twice
    assert agents.board.in_service == 0
    assert agents.mail.waiting.tolist() == [0, 0, 0]
    totals = agents.stats.totals()
    assert (totals.predictions, totals.predict_rows, totals.predict_batches) == (6, 6, 1)


def test_final_observations_ride_in_the_same_pass():
    agents = FakeAgents(3)
    agents.mail.final_values[0] = -1.0  # agent 0 truncated nothing: its row must stay as it was
    posted = [
        agents.post(0),
        # posted out of env order: rows go in env order, so the values come back as (110, 111)
        agents.post(1, final_obs={1: [0, 111.0], 0: [2, 110.0]}),
        agents.post(2, final_obs={1: [1, 121.0]}),
    ]
    agents.predictor.predict(agents.board.gather(max_rows=64, wait_s=5.0))
    assert agents.net.batch_sizes == [3 * ENVS + 3]  # 6 observations + 3 final observations, one pass
    replies = [reply_of(p) for p in posted]
    assert replies[0].final_values.tolist() == []
    assert replies[1].final_values.tolist() == [110.0, 111.0]
    assert replies[2].final_values.tolist() == [121.0]
    assert agents.mail.final_values[0].tolist() == [-1.0, -1.0]
    for rank, reply in enumerate(replies):  # the final observations did not shift anyone's actions
        assert reply.actions.tolist() == actions_for(rank)
    totals = agents.stats.totals()
    assert (totals.predictions, totals.predict_rows, totals.predict_batches) == (6, 9, 1)


def test_a_lone_agent_is_not_kept_waiting_for_company(monkeypatch):
    agents = FakeAgents(3)
    # Agents 0 and 2 are still starting up (never heard from): agent 1 is answered at once,
    # though the predictor would wait 30 s to fill a batch.
    posted = agents.post(1)
    waits = fail_if_gather_waits_for_company(monkeypatch)
    requests = agents.board.gather(max_rows=64, wait_s=30.0)
    assert waits == [predictor_module.POLL_S]  # the wait for the first request only
    assert [r.line.rank for r in requests] == [1]
    agents.predictor.predict(requests)
    assert reply_of(posted).actions.tolist() == actions_for(1)


def test_agents_in_another_batch_are_not_waited_for(monkeypatch):
    agents = FakeAgents(3)
    agents.round()  # all three heard from
    # Agents 0 and 2 fill one predictor's batch (max_rows 4) and are not answered yet...
    first_posts = [agents.post(0), agents.post(2)]
    first = agents.board.gather(max_rows=2 * ENVS, wait_s=30.0)
    assert sorted(r.line.rank for r in first) == [0, 2]
    # ...so when agent 1 posts, nobody else can: the next batch goes out with it alone.
    lone = agents.post(1)
    waits = fail_if_gather_waits_for_company(monkeypatch)
    second = agents.board.gather(max_rows=64, wait_s=30.0)
    assert waits == [predictor_module.POLL_S]  # the wait for the first request only
    assert [r.line.rank for r in second] == [1]
    agents.predictor.predict(second)
    agents.predictor.predict(first)
    assert reply_of(lone).actions.tolist() == actions_for(1)
    assert [reply_of(p).actions.tolist() for p in first_posts] == [actions_for(0), actions_for(2)]
    assert agents.board.in_service == 0


def test_the_predictor_waits_for_agents_that_can_still_post():
    agents = FakeAgents(3)
    agents.round()  # all three heard from, none in service: each could post again
    agents.net.batch_sizes.clear()
    posted = [agents.post(0)]
    gathered: list = []
    gatherer = threading.Thread(target=lambda: gathered.extend(agents.board.gather(64, wait_s=10.0)), daemon=True)
    gatherer.start()
    agents.wait_until(lambda: not agents.readers[0].poll(), "the predictor did not take agent 0's request")
    # after the predictor took agent 0, and within its wait_s
    posted += [agents.post(1, until_in_pipe=False), agents.post(2, until_in_pipe=False)]
    gatherer.join(10.0)
    assert sorted(r.line.rank for r in gathered) == [0, 1, 2]
    agents.predictor.predict(gathered)
    assert agents.net.batch_sizes == [3 * ENVS]
    assert [reply_of(p).actions.tolist() for p in posted] == [actions_for(r) for r in range(3)]


def test_a_reply_to_a_replaced_agent_is_dropped():
    agents = FakeAgents(2)
    posted = agents.post(0)
    requests = agents.board.gather(max_rows=64, wait_s=5.0)
    # Agent 0 dies and is replaced before the forward pass ends: its old line must not be answered.
    agents.board.disconnect(0)
    replacement_reader, _ = thread_ipc().Pipe(duplex=False)
    fresh = thread_ipc().Semaphore(0)
    agents.board.connect(AgentLine(0, 1, replacement_reader, fresh))
    agents.mail.actions[0] = -5
    agents.predictor.predict(requests)
    assert agents.mail.actions[0].tolist() == [-5, -5]
    assert not agents.semaphores[0].acquire(block=False) and not fresh.acquire(block=False)
    assert agents.board.in_service == 0
    assert posted["thread"].is_alive()  # still waiting: in the engine, its process is dead by now
    agents.stopped.set()
    assert reply_of(posted) is None
