"""The GA3C agent (NVlabs ProcessAgent): a process that only steps environments.

It holds no network: it acts through its mailbox (MailboxLink, one of the two ActorLinks of
a3c.acting). Each step it writes its observations into the mailbox, sends a note down its
pipe, and waits on its semaphore until a predictor has written actions back. The one
rollout writer (rollout.RolloutWriter) records t_max steps into the segment slot the learner
handed it (mailbox next_slot), and the agent publishes the slot index down the same pipe. A
step's reply also carries V(final obs) for episodes the step cut by a time limit, so
truncation bootstraps as with every other link.

A recurrent policy's state stays in the mailbox, where the predictor keeps it: the agent
only flags where episodes start and, once per segment, copies the state the segment's
first observation goes in with into the segment's h0/c0, which the trainer starts from.

An agent holds no lock another process needs, so SIGKILL at any instant costs at most
its unfinished segment: the learner reclaims its slots and the supervisor restarts it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from a3c.acting import Acted
from a3c.engines.ga3c.buffers import Mailboxes, SegmentPool
from a3c.engines.messages import Reporter, report_crash
from a3c.engines.processes import child_seed, parent_watch, prepare_child
from a3c.envs import EnvBatch, rank_env_group
from a3c.rollout import RolloutWriter

POLL_S = 0.2  # how often a blocked agent checks whether it should stop
PUBLISH = (0xFFFFFFFF).to_bytes(4, "little")  # a note that starts so publishes a slot; it asks for nothing


class MailboxLink:
    """The agent's end of its mailbox, an ActorLink (a3c.acting): post observations and wait for the
    predictors' reply, which answers the observations and values the final observations in one pass."""

    def __init__(self, box: dict[str, np.ndarray], request, reply, running: Callable[[], bool]):
        self.box, self.request, self.reply, self.running = box, request, reply, running
        self.state_size = box["h"].shape[-1]

    def post(self, obs: np.ndarray, starts: np.ndarray, final_obs: dict[int, np.ndarray]) -> np.ndarray | None:
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
        return box["final_values"][: len(final_obs)]

    def act(self) -> Acted:
        """The reply to the latest post: views of the mailbox, which nobody writes until the next post."""
        box = self.box
        return Acted(box["actions"], box["log_probs"], box["values"], int(box["version"]))

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
                envs, MailboxLink(box, request, reply, running), pool, Reporter(reports, rank), counters, cfg.t_max
            )
        finally:
            envs.close()
    except Exception:
        report_crash(reports, rank, "agent")
        raise


def run_agent(envs: EnvBatch, link: MailboxLink, pool: SegmentPool, reporter: Reporter, counters, t_max: int) -> None:
    """Fill segment slots with the one writer until told to stop; slots come from the learner and go
    back to the trainers through the mailbox and the pipe."""
    writer = RolloutWriter(envs, link)
    while writer.acting:
        slot = link.take_slot()
        if slot is None:
            break
        rows, versions = pool.numpy_slot(slot)
        finished = writer.fill(rows, versions)
        if finished is None:  # told to stop mid-segment: the partial segment is dropped, the learner reclaims the slot
            break
        link.publish(slot)
        reporter.episodes(finished)
        counters.add(env_steps=t_max * envs.n, episodes=len(finished))
        reporter.env_errors(envs)
        reporter.maybe_send()
    reporter.maybe_send(force=True)
