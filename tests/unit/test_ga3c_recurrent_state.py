"""GA3C with an LSTM policy: each env's recurrent state lives beside its mailbox row, the
predictor reads and writes it, each segment records the state its first observation went
in with, and the trainer backpropagates from there.

These run the agent's own loop (`run_agent`) in a thread against a real RequestBoard, Predictor
and SegmentPool (the engine's wiring, minus processes), and the serial GA3C engine's acting
rounds (no update). That it learns: learning/test_ga3c_recurrent_learning.py."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

import a3c
from a3c.distributions import Categorical
from a3c.engines.ga3c.agent import MailboxLink, run_agent
from a3c.engines.ga3c.buffers import Mailboxes, SegmentPool
from a3c.engines.ga3c.predictor import AgentLine, Predictor, RequestBoard
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats
from a3c.engines.messages import Reporter
from a3c.envs import rank_env_group
from a3c.envs.group import EpisodeStats, StepResult
from a3c.models import ActorCritic
from fakes import NullCounters, thread_ipc

# ----- one agent, one predictor, one segment pool, in threads -----


class _Sink(list):
    def put(self, message) -> None:
        self.append(message)


class OneAgent:
    """run_agent over `envs` in a thread, answered by a Predictor thread on `model`; segments()
    takes the segments it publishes, in order, as the trainers would."""

    def __init__(self, envs, model: nn.Module, lstm_size: int, t_max: int, stale_state: float = 0.0):
        dist = Categorical(2)
        self.mail = Mailboxes.allocate(1, envs.n, envs.obs_shape, torch.float32, dist, lstm_size)
        # What a dead predecessor in this row may have left behind: a new agent must not use it.
        self.mail.h.fill_(stale_state)
        self.mail.c.fill_(stale_state)
        self.pool = SegmentPool.allocate(3, t_max, envs.n, envs.obs_shape, torch.float32, dist, None, lstm_size)
        self.pool.mail = self.mail
        self.board = RequestBoard(self.mail, on_publish=self.pool.published)
        ctx = thread_ipc()
        reader, writer = ctx.Pipe(duplex=False)
        wake = ctx.Semaphore(0)
        self.board.connect(AgentLine(0, 0, reader, wake))
        self.stopped = threading.Event()
        running = lambda: not self.stopped.is_set()  # noqa: E731
        link = MailboxLink(self.mail.numpy_row(0), writer, wake, running)
        self.predictor = Predictor(0, self.board, SharedModel(None, model, None, None), dist, Stats(),
                                   torch.device("cpu"), max_rows=64, wait_s=0.0,
                                   on_crash=lambda message: pytest.fail(str(message)))
        self.pool.offer(0)
        self.agent = threading.Thread(
            target=run_agent, daemon=True,
            args=(envs, link, self.pool, Reporter(_Sink(), 0), NullCounters(), t_max))

    def segments(self, count: int):
        self.predictor.start()
        self.agent.start()
        try:
            return [self.pool.take([self.pool.full.get(timeout=10.0)])[0] for _ in range(count)]
        finally:
            self.stopped.set()
            self.predictor.stop_event.set()
            self.agent.join(5.0)
            self.predictor.join(5.0)
            assert not self.agent.is_alive() and not self.predictor.is_alive()


class CountingNet(nn.Module):
    """A stand-in recurrent net whose state can be read off: c counts the observations of the
    episode so far, h sums them; the value is the count after this observation."""

    recurrent, lstm_size = True, 2

    def forward(self, obs, state=None):
        h, c = state if state is not None else (torch.zeros(len(obs), 2), torch.zeros(len(obs), 2))
        h, c = h + obs[:, :1], c + 1.0
        return torch.zeros(len(obs), 2), c[:, 0].clone(), (h, c)


class ScriptedEnvs:
    """Two envs whose observation is the step index within the episode (0 at a reset): env 0
    terminates after 3 steps, env 1 is cut by a time limit after 5, its final observation 5."""

    n, obs_shape, obs_dtype = 2, (1,), torch.float32
    LENGTHS, CUT = (3, 5), (False, True)

    def __init__(self):
        self.t = np.zeros(2, dtype=np.int64)

    def reset(self) -> np.ndarray:
        self.t[:] = 0
        return self.t[:, None].astype(np.float32)

    def take_errors(self) -> list[str]:
        return []  # these envs never fail

    def step(self, actions) -> StepResult:
        self.t += 1
        terminated, truncated = np.zeros(2, np.float32), np.zeros(2, np.float32)
        final_obs, episodes = {}, []
        for env in range(2):
            if self.t[env] == self.LENGTHS[env]:
                (truncated if self.CUT[env] else terminated)[env] = 1.0
                if self.CUT[env]:
                    final_obs[env] = np.array([self.t[env]], dtype=np.float32)
                episodes.append(EpisodeStats(0.0, int(self.t[env])))
                self.t[env] = 0
        return StepResult(self.t[:, None].astype(np.float32), np.zeros(2, np.float32), terminated, truncated,
                          np.maximum(terminated, truncated), final_obs, episodes)

    def close(self) -> None:
        pass


def test_state_resets_at_episode_starts_and_carries_across_segments():
    # t_max 4 against episodes of 3 and 5 steps: episodes start mid-segment and run on into the next.
    segments = OneAgent(ScriptedEnvs(), CountingNet(), lstm_size=2, t_max=4, stale_state=7.0).segments(6)
    carried = 0
    for seg in segments:
        first = seg.obs[0, :, 0]  # the step index of obs[0]: how many observations of its episode came before
        # h0/c0 is the state obs[0] went in with: its episode's earlier observations, none at a start.
        assert torch.equal(seg.c0, first[:, None].expand(2, 2)), (seg.c0, first)
        assert torch.equal(seg.h0, (first * (first - 1) / 2)[:, None].expand(2, 2)), (seg.h0, first)
        assert torch.equal(seg.starts[:, :], (seg.obs[:, :, 0] == 0).float())
        carried += int((first > 0).sum())
        # Env 1's cut-off episodes: the final obs goes in with the 5 observations before it (value 6),
        # not with the reset state the next episode starts from (value 1).
        cut = seg.truncated[:, 1] == 1
        assert torch.equal(seg.truncation_values[cut, 1], torch.full((int(cut.sum()),), 6.0))
        assert torch.equal(seg.truncation_values[:, 0], torch.zeros(4))
    assert segments[0].c0.abs().sum() == 0  # a new agent starts from zero state, whatever was in its row
    assert carried >= 4, "no segment began mid-episode: the test would not see a state carried over"
    assert sum(int(seg.truncated[:, 1].sum()) for seg in segments) >= 3


def test_the_trainer_replays_the_acting_policy_from_each_segments_initial_state():
    """With unchanged weights, forward_sequence from a segment's (h0, c0) and starts gives exactly the
    log-probs the predictor acted with: the trainer backpropagates through the states that acted."""
    torch.manual_seed(0)
    cfg = a3c.Config.for_env("a3c/MaskedCartPole-v1", envs_per_worker=3, seed=0,
                             env_kwargs={"max_episode_steps": 12})
    envs = rank_env_group(cfg, 0, 0)
    model = ActorCritic(envs.obs_shape, Categorical(2), (16,), recurrent=True, lstm_size=8)
    try:
        segments = OneAgent(envs, model, lstm_size=8, t_max=5).segments(8)
    finally:
        envs.close()
    mid_episode = 0
    for seg in segments:
        with torch.no_grad():
            params, _ = model.forward_sequence(seg.obs, seg.initial_state(), seg.starts)
        replayed = Categorical(2).log_prob(params[:5], seg.actions)
        torch.testing.assert_close(replayed, seg.behaviour_log_probs, atol=1e-5, rtol=1e-5)
        mid_episode += int((seg.starts[0] == 0).sum())
    assert mid_episode >= 3, "no segment began mid-episode: h0/c0 were never tested"


def test_the_serial_engine_records_the_states_its_agents_acted_with():
    """deterministic=true: the same check on the serial GA3C engine's segments, before any update."""
    from a3c.engines.base import EngineParts
    from a3c.engines.serial import SerialGA3CEngine
    from a3c.models import build_model
    from a3c.optim import build_optimizer

    cfg = a3c.Config.for_env("a3c/MaskedCartPole-v1", algo="ga3c", deterministic=True, workers=2,
                             envs_per_worker=3, t_max=5, lstm_size=8, hidden_sizes=(16,), seed=0,
                             env_kwargs={"max_episode_steps": 12})
    envs = rank_env_group(cfg, 0, 0)
    model = build_model(cfg, envs.spec, Categorical(2))
    envs.close()
    engine = SerialGA3CEngine(EngineParts(cfg, model, build_optimizer(cfg, model.parameters()), NullCounters(), None,
                                          envs.spec, envs.action_space))
    engine.start()
    try:
        for _ in range(4):
            engine._act()  # rounds of acting only: the weights the segments were acted with stay
    finally:
        engine.close()
    mid_episode = 0
    for seg, _ in engine.pending:
        with torch.no_grad():
            params, _ = model.forward_sequence(seg.obs, seg.initial_state(), seg.starts)
        torch.testing.assert_close(Categorical(2).log_prob(params[:5], seg.actions), seg.behaviour_log_probs,
                                   atol=1e-5, rtol=1e-5)
        mid_episode += int((seg.starts[0] == 0).sum())
    assert mid_episode >= 3
