"""Reproducible runs: seeds that never overlap, and deterministic=true giving the same
metrics and weights twice, for both engines. The serial engines start no processes, so
these runs are in-process and take a fraction of a second each."""

import csv
import itertools

import gymnasium as gym
import numpy as np
import pytest
from safetensors.torch import load_file

import a3c
from a3c.config import Config
from a3c.engines.base import Engine, EngineParts
from a3c.envs import make_env_group
from a3c.monitor import WALL_CLOCK_COLUMNS
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


# ----- deterministic runs -----

def deterministic_config(run_dir, **overrides):
    values = dict(deterministic=True, workers=2, envs_per_worker=2, total_steps=4000, log_interval_steps=500,
                  tensorboard=False, progress=False, run_dir=str(run_dir), seed=3)
    values.update(overrides)
    return Config.for_env("CartPole-v1", **values)


def repeatable_rows(path, wall_clock=WALL_CLOCK_COLUMNS):
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in wall_clock} for row in csv.DictReader(fh)]


def final_weights(run_dir):
    (weights,) = sorted((run_dir / "checkpoints").glob("ckpt-*.safetensors"))[-1:]
    return load_file(str(weights))


@pytest.mark.parametrize("algo, extra", [
    ("a3c", {}),
    ("a3c", {"recurrent": True}),
    # 3 agents, batches of 2: a segment waits for the next round, so a batch trains with policy lag.
    ("ga3c", {"workers": 3, "train_batch": 2}),
    ("ga3c", {"workers": 3, "train_batch": 2, "recurrent": True}),
])
def test_the_same_seed_gives_the_same_metrics_and_weights(algo, extra, tmp_path):
    results = [a3c.train(deterministic_config(tmp_path / f"run{i}", algo=algo, **extra)) for i in (1, 2)]
    assert results[0].env_steps == results[1].env_steps >= 4000
    first, second = (repeatable_rows(tmp_path / f"run{i}" / "metrics.csv") for i in (1, 2))
    assert len(first) >= 8 and first == second
    steps = [int(r["env_steps"]) for r in first]
    assert all(b - a >= 500 for a, b in zip(steps[:-2], steps[1:-1]))  # logged by env steps, not seconds
    assert repeatable_rows(tmp_path / "run1" / "episodes.csv", ("wall_s",)) == \
        repeatable_rows(tmp_path / "run2" / "episodes.csv", ("wall_s",))
    w1, w2 = final_weights(tmp_path / "run1"), final_weights(tmp_path / "run2")
    assert w1.keys() == w2.keys() and all(w1[k].equal(w2[k]) for k in w1)  # model and optimizer, bit for bit


def test_another_seed_gives_another_run(tmp_path):
    a3c.train(deterministic_config(tmp_path / "a", seed=3))
    a3c.train(deterministic_config(tmp_path / "b", seed=4))
    assert repeatable_rows(tmp_path / "a" / "metrics.csv") != repeatable_rows(tmp_path / "b" / "metrics.csv")


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


def test_the_deterministic_engine_leaves_torch_as_it_found_it(tmp_path):
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    a3c.train(deterministic_config(tmp_path / "run", total_steps=500))
    assert torch.are_deterministic_algorithms_enabled() == before
