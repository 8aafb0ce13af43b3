"""Seeds for every process and environment of a run, derived without overlap.

Each seed comes from numpy's SeedSequence keyed by (run seed, role rank, incarnation, env
index): the same key always gives the same seed, and different keys give independent
seeds, so seed s, worker 1 never replays seed s + 1, worker 0 (as `seed + rank` did),
and a restarted worker (a new incarnation) never replays its predecessor. Process seeds
have 63 bits (torch.manual_seed and JSON take them); env seeds 32, because envs that seed
numpy's legacy RandomState (MinAtar, many custom envs) refuse more. Two keys colliding is
then a 1-in-2^32 accident per pair of envs, not an arithmetic certainty.

A worker (A3C) or agent (GA3C) of rank r in incarnation i:
    process_seed(seed, r, i)        its torch / numpy / random generators
    env_seeds(seed, r, i, n)        its n envs, one seed each (EnvGroup takes the list)
"""

from __future__ import annotations

import numpy as np

# The last spawn-key element: what a seed is for. Env seeds and process seeds of the same
# worker must not coincide either.
_PROCESS, _ENV = 0, 1


def _seed63(entropy: int, key: tuple[int, ...]) -> int:
    words = np.random.SeedSequence(entropy, spawn_key=key).generate_state(1, dtype=np.uint64)
    return int(words[0]) >> 1  # 63 bits: a non-negative int64


def process_seed(seed: int, rank: int, incarnation: int = 0) -> int:
    """The seed of worker/agent `rank`'s random generators in its `incarnation`-th life."""
    return _seed63(seed, (rank, incarnation, _PROCESS))


def _seed32(entropy: int, key: tuple[int, ...]) -> int:
    return int(np.random.SeedSequence(entropy, spawn_key=key).generate_state(1, dtype=np.uint32)[0])


def env_seeds(seed: int, rank: int, incarnation: int, n_envs: int) -> list[int]:
    """One seed per env of worker/agent `rank` in its `incarnation`-th life: the seed of that
    env's first reset and of its action space."""
    return [_seed32(seed, (rank, incarnation, _ENV, i)) for i in range(n_envs)]
