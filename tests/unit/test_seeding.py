"""Seeds that never overlap, an env group seeded per env, and the engine interface every engine
offers. (Deterministic runs giving the same metrics and weights twice: run/test_reproducible_runs.py.)"""

import itertools

import gymnasium as gym
import numpy as np

from a3c.config import Config
from a3c.engines.base import Engine, EngineParts
from a3c.envs import make_env_group
from a3c.seeding import env_seeds, process_seed

# ----- seeds -----

def test_no_two_seeds_ranks_incarnations_or_envs_share_a_seed():
    seen = {}
    for seed, rank, incarnation in itertools.product(range(12), range(6), range(3)):
        for i, env_seed in enumerate(env_seeds(seed, rank, incarnation, 6)):
            assert env_seed not in seen, (seed, rank, incarnation, i, seen.get(env_seed))
            seen[env_seed] = (seed, rank, incarnation, i)
        proc = process_seed(seed, rank, incarnation)
        assert proc not in seen
        seen[proc] = (seed, rank, incarnation, "process")
    # Env seeds have 32 bits (what legacy RandomState envs take), process seeds 63 (torch's limit).
    assert all(0 <= s < (2**63 if where[-1] == "process" else 2**32) for s, where in seen.items())


def test_seed_s_worker_1_is_not_seed_s_plus_1_worker_0():
    # The old scheme (seed + rank) made these the same stream.
    assert env_seeds(5, 1, 0, 4) != env_seeds(6, 0, 0, 4)
    assert set(env_seeds(5, 1, 0, 4)).isdisjoint(env_seeds(6, 0, 0, 4))
    assert env_seeds(5, 1, 0, 4) == env_seeds(5, 1, 0, 4)  # and the same key is the same seed


def test_env_group_takes_a_seed_per_env():
    cfg = Config.for_env("CartPole-v1")
    group = lambda n, seeds: make_env_group(cfg, n, seeds)  # noqa: E731
    seeds = env_seeds(0, 0, 0, 2)
    first, again, swapped = group(2, seeds), group(2, seeds), group(2, seeds[::-1])
    obs = first.reset()
    assert np.array_equal(obs, again.reset())
    assert np.array_equal(obs[::-1], swapped.reset())
    assert np.array_equal(group(2, 7).reset()[1], group(1, 8).reset()[0])


# ----- the engine interface -----

def deterministic_config(run_dir, **overrides):
    values = dict(deterministic=True, workers=2, envs_per_worker=2, total_steps=4000, log_interval_steps=500,
                  tensorboard=False, progress=False, run_dir=str(run_dir), seed=3)
    values.update(overrides)
    return Config.for_env("CartPole-v1", **values)


def test_every_engine_offers_the_engine_interface():
    from a3c.engines.ga3c import GA3CEngine
    from a3c.engines.hogwild import HogwildEngine
    from a3c.engines.ray import RayA3CEngine, RayGA3CEngine
    from a3c.engines.serial import SerialA3CEngine, SerialGA3CEngine

    # Every method of the protocol: the main loop calls them all, never asks whether one is there.
    methods = [name for name, value in vars(Engine).items() if callable(value) and not name.startswith("_")]
    assert {"load_weights", "supervise", "drain", "close"} <= set(methods)
    for cls in (HogwildEngine, GA3CEngine, SerialA3CEngine, SerialGA3CEngine, RayA3CEngine, RayGA3CEngine):
        missing = [name for name in methods if not callable(getattr(cls, name, None))]
        assert not missing, f"{cls.__name__} lacks {missing}"
        assert isinstance(cls.columns, tuple)
    parts = EngineParts(deterministic_config("unused"), None, None, None, None, None, gym.spaces.Discrete(2), 7)
    engine = SerialA3CEngine(parts)
    assert isinstance(engine, Engine)
    assert engine.incarnations.next() == 8  # a resume of this run starts its children past the 7 it began at
