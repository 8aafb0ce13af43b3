"""The shared memory of GA3C: every tensor that moves between agents and the learner.

Both structures are allocated once, in the main process, moved to shared memory and
handed to each agent when it is spawned. After that nothing big is pickled: an agent
writes observations into its mailbox and sends a 4-byte note down its pipe; a predictor
writes actions back and releases the agent's semaphore; a finished rollout segment
travels as one slot index down the same pipe.

Nothing an agent can be SIGKILLed in the middle of is shared with other processes: no
agent ever holds a lock or a queue's reader lock that others need (a process killed inside
multiprocessing.Queue.get leaves that lock taken for good, and every other agent waits on
it forever). Which slot belongs to whom is known only to the learner, which hands a free
slot to an agent through its mailbox and takes it back when the agent publishes it or dies.

A recurrent policy's state lives beside the mailbox too, one (h, c) per env: the predictor
reads it for the batched forward pass and writes the new state back, so an agent's hot
loop never touches the network and the learner never keeps per-agent state of its own.

A = agent capacity (the most agents that can ever run), E = envs per agent,
T = t_max, S = segment slots, H = lstm_size (0 for a feed-forward policy).
"""

from __future__ import annotations

import queue as queue_lib
import threading
from collections import deque
from dataclasses import dataclass, fields

import numpy as np
import torch

from a3c.distributions import Distribution
from a3c.rollout import Rollout


@dataclass
class Mailboxes:
    """One row per agent: its request to the predictors and their reply."""

    obs: torch.Tensor  # [A, E, *obs_shape] observations that need actions
    starts: torch.Tensor  # [A, E] 1.0 where obs begins an episode: the predictor resets that env's state
    final_obs: torch.Tensor  # [A, E, *obs_shape] first n rows: last obs of episodes cut by a time limit
    final_envs: torch.Tensor  # [A, E] int64 first n rows: the env each final obs belongs to (whose state values it)
    actions: torch.Tensor  # [A, E, *action_shape] reply: sampled actions
    log_probs: torch.Tensor  # [A, E] reply: log mu(a|s) of the policy that sampled them
    values: torch.Tensor  # [A, E] reply: V(obs) of that policy
    final_values: torch.Tensor  # [A, E] reply: V(final_obs) for the first n rows
    version: torch.Tensor  # [A] int64 reply: policy version (optimizer steps) that acted
    running: torch.Tensor  # [A] uint8: 1 while the agent should keep stepping; the engine clears it
    waiting: torch.Tensor  # [A] uint8: 1 while the agent waits for a reply (prediction queue depth)
    next_slot: torch.Tensor  # [A] int64: a free slot the learner handed the agent; the agent takes it and sets -1
    # The recurrent state after each env's latest observation, the one its next observation
    # goes in with; written only by the predictor answering that agent, while the agent waits.
    h: torch.Tensor  # [A, E, H]
    c: torch.Tensor  # [A, E, H]

    @classmethod
    def allocate(
        cls, agents: int, envs: int, obs_shape, obs_dtype, dist: Distribution, lstm_size: int = 0
    ) -> Mailboxes:
        boxes = cls(
            obs=torch.zeros((agents, envs, *obs_shape), dtype=obs_dtype),
            starts=torch.ones((agents, envs)),
            final_obs=torch.zeros((agents, envs, *obs_shape), dtype=obs_dtype),
            final_envs=torch.zeros((agents, envs), dtype=torch.int64),
            actions=torch.zeros((agents, envs, *dist.action_shape), dtype=dist.action_dtype),
            log_probs=torch.zeros((agents, envs)),
            values=torch.zeros((agents, envs)),
            final_values=torch.zeros((agents, envs)),
            version=torch.zeros(agents, dtype=torch.int64),
            running=torch.zeros(agents, dtype=torch.uint8),
            waiting=torch.zeros(agents, dtype=torch.uint8),
            next_slot=torch.full((agents,), -1, dtype=torch.int64),
            h=torch.zeros((agents, envs, lstm_size)),
            c=torch.zeros((agents, envs, lstm_size)),
        )
        for f in fields(boxes):
            getattr(boxes, f.name).share_memory_()
        return boxes

    @property
    def envs_per_agent(self) -> int:
        return self.obs.shape[1]

    @property
    def recurrent(self) -> bool:
        return self.h.shape[-1] > 0

    def reset_state(self, rank: int) -> None:
        """A new agent in this row starts from zero state, whatever its predecessor left."""
        self.h[rank] = 0.0
        self.c[rank] = 0.0
        self.starts[rank] = 1.0

    def numpy_row(self, rank: int) -> dict[str, np.ndarray]:
        """Numpy views of one agent's row: the agent's hot loop writes through these, which
        costs a fraction of the equivalent torch indexing."""
        return {f.name: getattr(self, f.name)[rank].numpy() for f in fields(self)}


FREE, FULL = -1, -2  # slot owners besides agent ranks; a slot a trainer is copying stays FULL


class SegmentPool:
    """S rollout segments of T steps x E envs in one shared Rollout, and the learner's book of
    who holds each slot: free, an agent's (the one it fills, and one handed over for next),
    full (published, waiting for a trainer).

    The book and the queues are the learner's alone (threads, one lock). An agent sees only
    its mailbox's next_slot and the shared tensors, so a dead agent never strands a slot: the
    engine calls reclaim(rank) and every slot that agent owned is free again.

    Slot i is envs [i*E, (i+1)*E) of the shared Rollout. Backpressure is built in: when
    every slot is taken, agents wait for a free one, which bounds the policy lag.
    """

    def __init__(self, rollout: Rollout, versions: torch.Tensor, envs: int, ctx=None):
        self.rollout = rollout  # [T+1 or T, S*E, ...], in shared memory
        self.versions = versions  # [S, T] int64: policy version that acted at each step
        self.envs = envs
        self._learner_side()

    def _learner_side(self) -> None:
        self._lock = threading.Lock()
        self.owner = [FREE] * self.slots
        self._free: deque[int] = deque(range(self.slots))
        self.full: queue_lib.Queue[int] = queue_lib.Queue()  # trainers block on it
        self._wanting: list[int] = []  # ranks that asked for a slot when none was free
        self.mail: Mailboxes | None = None

    def __getstate__(self) -> dict:  # what an agent process gets: the shared tensors only
        return dict(rollout=self.rollout, versions=self.versions, envs=self.envs)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # ----- the learner's book -----
    def offer(self, rank: int) -> None:
        """Hand agent `rank` a free slot for its next segment, unless it has one waiting already;
        if none is free it gets the next one released."""
        with self._lock:
            self._offer(rank)

    def _offer(self, rank: int) -> None:
        assert self.mail is not None, "the engine gives the pool its mailboxes before any agent starts"
        box = self.mail.next_slot
        if int(box[rank]) >= 0:  # still holds the one handed over before
            return
        if not self._free:
            if rank not in self._wanting:
                self._wanting.append(rank)
            return
        slot = self._free.popleft()
        self.owner[slot] = rank
        box[rank] = slot  # the agent takes it and writes -1: one writer at a time, no lock across processes

    def published(self, rank: int, slot: int) -> None:
        """Agent `rank` filled `slot`: it goes to the trainers, and the agent gets another."""
        with self._lock:
            if 0 <= slot < self.slots and self.owner[slot] == rank:  # else stale: from an agent since reclaimed
                self.owner[slot] = FULL
                self.full.put(slot)
                self._offer(rank)

    def release(self, indices: list[int]) -> None:
        """Slots a trainer is done with: free again, first to agents waiting for one."""
        with self._lock:
            for slot in indices:
                self.owner[slot] = FREE
                self._free.append(slot)
            self._serve_waiting()

    def requeue(self, indices: list[int]) -> None:
        """Full slots a trainer took and did not train on: back in line for the next trainer."""
        for slot in indices:
            self.full.put(slot)

    def reclaim(self, rank: int) -> list[int]:
        """Agent `rank` is gone: every slot it owned is free again (its half-filled segment is dropped)."""
        with self._lock:
            mine = [slot for slot, owner in enumerate(self.owner) if owner == rank]
            for slot in mine:
                self.owner[slot] = FREE
                self._free.append(slot)
            assert self.mail is not None
            self.mail.next_slot[rank] = -1
            if rank in self._wanting:
                self._wanting.remove(rank)
            self._serve_waiting()
        return mine

    def _serve_waiting(self) -> None:
        while self._wanting and self._free:
            self._offer(self._wanting.pop(0))

    def count(self, owner: int) -> int:
        with self._lock:
            return sum(1 for o in self.owner if o == owner)

    @classmethod
    def allocate(
        cls, slots: int, t_max: int, envs: int, obs_shape, obs_dtype, dist: Distribution, ctx, lstm_size: int = 0
    ):
        rollout = Rollout.allocate(t_max, slots * envs, obs_shape, obs_dtype, dist, lstm_size).share_memory_()
        versions = torch.zeros((slots, t_max), dtype=torch.int64).share_memory_()
        return cls(rollout, versions, envs)

    @property
    def slots(self) -> int:
        return self.versions.shape[0]

    def slot(self, index: int) -> Rollout:
        """A view of one segment: the env columns of the shared Rollout that belong to it."""
        lo, hi = index * self.envs, (index + 1) * self.envs
        views = {}
        for f in fields(Rollout):
            tensor = getattr(self.rollout, f.name)
            views[f.name] = tensor[lo:hi] if f.name in ("h0", "c0") else tensor[:, lo:hi]
        return Rollout(**views)

    def numpy_slot(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """What the agent's writer fills: numpy views of one segment's rows and of its versions [T]."""
        return self.slot(index).numpy(), self.versions[index].numpy()

    def take(self, indices: list[int]) -> tuple[Rollout, torch.Tensor]:
        """Copy segments out into one batch (Rollout.concat copies) and free their slots at once,
        so agents can refill them while the batch trains. The slots are freed even if the copy fails."""
        try:
            batch = Rollout.concat([self.slot(i) for i in indices])
            versions = self.versions[indices].clone()  # [k, T]
        finally:
            self.release(indices)
        return batch, versions
