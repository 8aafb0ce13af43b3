"""Reproducible runs: deterministic=true gives the same metrics and weights twice, for both
engines, and another seed another run. The serial engines start no processes, so these runs
are in-process and take a fraction of a second each."""

import csv

import pytest
from safetensors.torch import load_file

import a3c
from a3c.config import Config
from a3c.monitor import WALL_CLOCK_COLUMNS

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
    assert all(b - a >= 500 for a, b in zip(steps[:-2], steps[1:-1], strict=True))  # logged by env steps, not seconds
    assert repeatable_rows(tmp_path / "run1" / "episodes.csv", ("wall_s",)) == \
        repeatable_rows(tmp_path / "run2" / "episodes.csv", ("wall_s",))
    w1, w2 = final_weights(tmp_path / "run1"), final_weights(tmp_path / "run2")
    assert w1.keys() == w2.keys() and all(w1[k].equal(w2[k]) for k in w1)  # model and optimizer, bit for bit


def test_another_seed_gives_another_run(tmp_path):
    a3c.train(deterministic_config(tmp_path / "a", seed=3))
    a3c.train(deterministic_config(tmp_path / "b", seed=4))
    assert repeatable_rows(tmp_path / "a" / "metrics.csv") != repeatable_rows(tmp_path / "b" / "metrics.csv")


def test_the_deterministic_engine_leaves_torch_as_it_found_it(tmp_path):
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    a3c.train(deterministic_config(tmp_path / "run", total_steps=500))
    assert torch.are_deterministic_algorithms_enabled() == before
