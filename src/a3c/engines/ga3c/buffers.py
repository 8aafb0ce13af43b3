"""The shared memory of GA3C: every tensor that moves between agents and the learner.

Both structures are allocated once, in the main process, moved to shared memory and
handed to each agent when it is spawned. After that nothing big is pickled: an agent
writes observations into its mailbox and sends a 4-byte note down its pipe; a predictor
writes actions back and releases the agent's semaphore; a finished rollout segment
travels as one slot index through a queue.

A = agent capacity (the most agents that can ever run), E = envs per agent,
T = t_max, S = segment slots.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from a3c.distributions import Distribution
from a3c.rollout import Rollout


@dataclass
class Mailboxes:
    """One row per agent: its request to the predictors and their reply."""

    obs: torch.Tensor  # [A, E, *obs_shape] observations that need actions
    final_obs: torch.Tensor  # [A, E, *obs_shape] first n rows: last obs of episodes cut by a time limit
    actions: torch.Tensor  # [A, E, *action_shape] reply: sampled actions
    log_probs: torch.Tensor  # [A, E] reply: log mu(a|s) of the policy that sampled them
    final_values: torch.Tensor  # [A, E] reply: V(final_obs) for the first n rows
    version: torch.Tensor  # [A] int64 reply: policy version (optimizer steps) that acted
    running: torch.Tensor  # [A] uint8: 1 while the agent should keep stepping; the engine clears it
    waiting: torch.Tensor  # [A] uint8: 1 while the agent waits for a reply (prediction queue depth)
    held_slot: torch.Tensor  # [A] int64: segment slot the agent is filling, -1 if none

    @classmethod
    def allocate(cls, agents: int, envs: int, obs_shape, obs_dtype, dist: Distribution) -> "Mailboxes":
        boxes = cls(
            obs=torch.zeros((agents, envs, *obs_shape), dtype=obs_dtype),
            final_obs=torch.zeros((agents, envs, *obs_shape), dtype=obs_dtype),
            actions=torch.zeros((agents, envs, *dist.action_shape), dtype=dist.action_dtype),
            log_probs=torch.zeros((agents, envs)),
            final_values=torch.zeros((agents, envs)),
            version=torch.zeros(agents, dtype=torch.int64),
            running=torch.zeros(agents, dtype=torch.uint8),
            waiting=torch.zeros(agents, dtype=torch.uint8),
            held_slot=torch.full((agents,), -1, dtype=torch.int64),
        )
        for f in fields(boxes):
            getattr(boxes, f.name).share_memory_()
        return boxes

    @property
    def envs_per_agent(self) -> int:
        return self.obs.shape[1]

    def numpy_row(self, rank: int) -> dict[str, np.ndarray]:
        """Numpy views of one agent's row: the agent's hot loop writes through these, which
        costs a fraction of the equivalent torch indexing."""
        return {f.name: getattr(self, f.name)[rank].numpy() for f in fields(self)}


class SegmentPool:
    """S rollout segments of T steps x E envs in one shared Rollout, plus the queues that
    pass slot indices around: agents take a free slot, fill it and put it on `full`;
    a trainer takes full slots, copies them out and puts them back on `free`.

    Slot i is envs [i*E, (i+1)*E) of the shared Rollout. Backpressure is built in: when
    every slot is full, agents wait for a free one, which bounds the policy lag.
    """

    def __init__(self, rollout: Rollout, versions: torch.Tensor, envs: int, ctx):
        self.rollout = rollout  # [T+1 or T, S*E, ...], in shared memory
        self.versions = versions  # [S, T] int64: policy version that acted at each step
        self.envs = envs
        self.free = ctx.Queue()
        self.full = ctx.Queue()
        for slot in range(self.slots):
            self.free.put(slot)

    @classmethod
    def allocate(cls, slots: int, t_max: int, envs: int, obs_shape, obs_dtype, dist: Distribution, ctx):
        rollout = Rollout.allocate(t_max, slots * envs, obs_shape, obs_dtype, dist).share_memory_()
        versions = torch.zeros((slots, t_max), dtype=torch.int64).share_memory_()
        return cls(rollout, versions, envs, ctx)

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

    def numpy_slot(self, index: int) -> dict[str, np.ndarray]:
        views = {name: t.numpy() for name, t in self.slot(index).tensors().items()}
        views["versions"] = self.versions[index].numpy()
        return views

    def take(self, indices: list[int]) -> tuple[Rollout, torch.Tensor]:
        """Copy segments out into one batch (Rollout.concat copies) and free their slots at once,
        so agents can refill them while the batch trains."""
        batch = Rollout.concat([self.slot(i) for i in indices])
        versions = self.versions[indices].clone()  # [k, T]
        for i in indices:
            self.free.put(i)
        return batch, versions
