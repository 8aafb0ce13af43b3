"""The GA3C agent (NVlabs ProcessAgent): a process that only steps environments.

It holds no network. Each step it writes its observations into its mailbox, sends a note
down its pipe, and waits on its semaphore until a predictor has written actions back.
It records t_max steps into the segment slot the learner handed it (mailbox next_slot)
and publishes the slot index down the same pipe. A step's reply also carries V(final obs)
for episodes the step cut by a time limit, so truncation bootstraps exactly as in
rollout.RolloutCollector.

A recurrent policy's state stays in the mailbox, where the predictor keeps it: the agent
only flags where episodes start and, once per segment, copies the state the segment's
first observation goes in with into the segment's h0/c0, which the trainer starts from.

An agent holds no lock another process needs, so SIGKILL at any instant costs at most
its unfinished segment: the learner reclaims its slots and the supervisor restarts it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from a3c.engines.ga3c.buffers import Mailboxes, SegmentPool
from a3c.engines.messages import Reporter, report_crash
from a3c.engines.processes import child_seed, parent_watch, prepare_child
from a3c.envs import EnvBatch, rank_env_group

POLL_S = 0.2  # how often a blocked agent checks whether it should stop
PUBLISH = (0xFFFFFFFF).to_bytes(4, "little")  # a note that starts so publishes a slot; it asks for nothing


@dataclass
class Reply:
    actions: np.ndarray  # [E, *action_shape]
    log_probs: np.ndarray  # [E]
    version: int  # policy version that chose the actions
    final_values: np.ndarray  # [n] V(final obs) of the truncated envs, in the order posted


class PredictorLink:
    """The agent's end of its mailbox: post observations, wait for the predictors' reply."""

    def __init__(self, box: dict[str, np.ndarray], request, reply, running: Callable[[], bool]):
        self.box, self.request, self.reply, self.running = box, request, reply, running

    def predict(self, obs: np.ndarray, starts: np.ndarray, final_obs: dict[int, np.ndarray]) -> Reply | None:
        """Actions for obs [E, *obs_shape] (starts [E]: 1.0 where obs begins an episode) and values for
        the final observations; None if told to stop."""
        box = self.box
        box["obs"][:] = obs
        box["starts"][:] = starts
        for row, env in enumerate(sorted(final_obs)):
            box["final_obs"][row] = final_obs[env]
            box["final_envs"][row] = env
        box["waiting"][...] = 1
        # The note is the number of final-obs rows; the data itself is already in shared memory.
        self.request.send_bytes(len(final_obs).to_bytes(4, "little"))
        while not self.reply.acquire(timeout=POLL_S):
            if not self.running():
                return None
        box["waiting"][...] = 0
        return Reply(
            box["actions"].copy(),
            box["log_probs"].copy(),
            int(box["version"]),
            box["final_values"][: len(final_obs)].copy(),
        )

    def initial_state(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the state the observations about to be posted go in with ([E, H] each; H = 0 for
        a feed-forward policy), zero where they start an episode: a segment's h0/c0 when they are its obs[0]."""
        keep = (1.0 - starts)[:, None]
        return self.box["h"] * keep, self.box["c"] * keep

    def take_slot(self) -> int | None:
        """The free slot the learner handed over, waiting for one if none is there yet (every
        slot is full: backpressure); None if told to stop."""
        nap = 0.0005
        while True:
            slot = int(self.box["next_slot"])
            if slot >= 0:
                self.box["next_slot"][...] = -1  # taken: the learner may hand over the next one
                return slot
            if not self.running():
                return None
            time.sleep(nap)
            nap = min(2 * nap, 0.01)

    def publish(self, slot: int) -> None:
        """Hand a filled slot to the trainers: 8 bytes, one atomic pipe write, so a kill leaves
        either the whole note or none of it."""
        self.request.send_bytes(PUBLISH + slot.to_bytes(4, "little"))


def agent_main(
    rank: int,
    incarnation: int,
    cfg,
    mail: Mailboxes,
    pool: SegmentPool,
    request,
    reply,
    counters,
    reward_stats,
    reports,
) -> None:
    """reward_stats: this rank's handle on the run's return statistics (normalize_reward), or None."""
    try:
        seed = child_seed(cfg.seed, rank, incarnation)
        prepare_child(seed)
        box = mail.numpy_row(rank)

        learner_alive = parent_watch()  # the main process, whatever the start method

        def running() -> bool:
            # Stop when the engine says so, or when the learner died without saying so.
            return bool(box["running"]) and learner_alive()

        envs = rank_env_group(cfg, rank, incarnation, reward_stats)
        try:
            run_agent(
                envs, PredictorLink(box, request, reply, running), pool, Reporter(reports, rank), counters, cfg.t_max
            )
        finally:
            envs.close()
    except Exception:
        report_crash(reports, rank, "agent")
        raise


def run_agent(envs: EnvBatch, link: PredictorLink, pool: SegmentPool, reporter: Reporter, counters, t_max: int) -> None:
    writer = SegmentWriter(envs, link, reporter)
    while writer.acting:
        slot = link.take_slot()
        if slot is None:
            break
        episodes = writer.fill(pool.numpy_slot(slot), t_max)
        if episodes is None:  # told to stop mid-segment: the partial segment is dropped, the learner reclaims the slot
            break
        link.publish(slot)
        counters.add(env_steps=t_max * envs.n, episodes=episodes)
        reporter.env_errors(envs)
        reporter.maybe_send()
    reporter.maybe_send(force=True)


class SegmentWriter:
    """Fills GA3C segments: t_max steps of an EnvBatch acted on by a predictor link, written into a
    segment's arrays (obs [T+1, E, ...], rewards [T, E], versions [T], h0 [E, H], ...). Every GA3C
    wiring writes its segments with it: agent processes through their mailboxes (PredictorLink),
    the serial engine through the shared model in its own process (serial.LocalLink).

    The action for the next segment's first observation is asked for with the last step, in the
    same round trip as the values of the states that step cut off; so is its initial state."""

    def __init__(self, envs: EnvBatch, link, reporter: Reporter):
        self.envs, self.link, self.reporter = envs, link, reporter
        self.obs = envs.reset()
        self.starts = np.ones(envs.n, dtype=np.float32)  # a (re)started agent begins every episode afresh
        self.h0, self.c0 = link.initial_state(self.starts)
        self.reply: Reply | None = link.predict(self.obs, self.starts, {})

    @property
    def acting(self) -> bool:
        return self.reply is not None

    def fill(self, seg: dict[str, np.ndarray], t_max: int) -> int | None:
        """Write one segment into seg; the number of episodes it finished, or None when the link was
        told to stop mid-way (the partial segment is then worthless)."""
        envs, link, reply = self.envs, self.link, self.reply
        if reply is None:
            return None
        seg["h0"][:], seg["c0"][:] = self.h0, self.c0
        episodes = 0
        for t in range(t_max):
            seg["obs"][t] = self.obs
            seg["starts"][t] = self.starts
            seg["actions"][t] = reply.actions
            seg["behaviour_log_probs"][t] = reply.log_probs
            seg["versions"][t] = reply.version
            step = envs.step(reply.actions)
            seg["rewards"][t] = step.rewards
            seg["terminated"][t] = step.terminated
            seg["truncated"][t] = step.truncated
            self.obs, self.starts = step.obs, step.starts
            if t == t_max - 1:
                # The action for the next segment's obs[0] is asked for now: its initial state is this one.
                self.h0, self.c0 = link.initial_state(self.starts)
            # One round trip: actions for s_{t+1} and V(final obs) of the envs step t truncated.
            self.reply = reply = link.predict(self.obs, self.starts, step.final_obs)
            if reply is None:
                return None
            seg["truncation_values"][t] = 0.0
            if step.final_obs:
                # A time limit is not the end of the task: the cut-off state is valued and bootstraps.
                seg["truncation_values"][t, sorted(step.final_obs)] = reply.final_values
            episodes += len(step.episodes)
            self.reporter.episodes(step.episodes)
        seg["obs"][t_max] = self.obs  # s_T, the bootstrap state; its action starts the next segment
        seg["starts"][t_max] = self.starts
        return episodes
