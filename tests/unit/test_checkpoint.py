"""checkpoint.py: bit-exact round trips, corruption handling and retention."""

import json
import random

import numpy as np
import pytest
import torch

from a3c.checkpoint import KEEP, load_checkpoint, restore_rng, save_checkpoint
from a3c.distributions import Categorical
from a3c.errors import CheckpointError
from a3c.models import ActorCritic
from a3c.optim import SharedAdam


def _trained_pair(seed: int = 0):
    """A recurrent model and an Adam optimizer with non-trivial statistics."""
    torch.manual_seed(seed)
    model = ActorCritic((4,), Categorical(2), hidden_sizes=(8,), recurrent=True, lstm_size=4)
    opt = SharedAdam(model.parameters(), lr=1e-2)
    for _ in range(2):
        params, value, _ = model(torch.randn(3, 4))
        opt.zero_grad()
        (params.pow(2).sum() + value.pow(2).sum()).backward()
        opt.step()
    return model, opt


def _ckpt(run_dir, env_steps: int, suffix: str):
    return run_dir / "checkpoints" / f"ckpt-{env_steps:012d}.{suffix}"


def test_round_trip_is_bit_exact(tmp_path):
    model, opt = _trained_pair()
    meta = {"counters": [1234, 56, 7], "note": "hello"}
    path = save_checkpoint(tmp_path, model, opt.state_tensors(), meta, env_steps=1234)
    assert path == _ckpt(tmp_path, 1234, "json")

    sidecar, model_tensors, optim_tensors = load_checkpoint(tmp_path)
    assert sidecar["counters"] == [1234, 56, 7] and sidecar["note"] == "hello"
    assert sidecar["skipped"] == []
    state = model.state_dict()
    assert set(model_tensors) == set(state)
    for key, tensor in state.items():
        assert torch.equal(model_tensors[key], tensor), key
    expected_optim = opt.state_tensors()
    assert set(optim_tensors) == set(expected_optim)
    for key, tensor in expected_optim.items():
        assert torch.equal(optim_tensors[key], tensor), key
    assert optim_tensors["0.step"].item() == 2

    # and the tensors load back into fresh objects
    other, other_opt = _trained_pair(seed=1)
    assert not torch.equal(other.value_head.weight, model.value_head.weight)
    other.load_state_dict(model_tensors)
    other_opt.load_state_tensors(optim_tensors)
    for a, b in zip(other.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_same_checkpoint_loads_by_run_dir_folder_or_file(tmp_path):
    model, opt = _trained_pair()
    save_checkpoint(tmp_path, model, opt.state_tensors(), {}, env_steps=10)
    for path in (tmp_path, tmp_path / "checkpoints", _ckpt(tmp_path, 10, "json"), _ckpt(tmp_path, 10, "safetensors")):
        sidecar, tensors, _ = load_checkpoint(path)
        assert sidecar["path"] == str(_ckpt(tmp_path, 10, "json"))
        assert torch.equal(tensors["value_head.weight"], model.value_head.weight)


def test_rng_states_round_trip(tmp_path):
    model, opt = _trained_pair()
    save_checkpoint(tmp_path, model, opt.state_tensors(), {}, env_steps=1)
    first = (random.random(), np.random.rand(), torch.rand(2))
    sidecar, _, _ = load_checkpoint(tmp_path)
    restore_rng(sidecar["rng"])
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])


def test_no_pickle_the_sidecar_is_plain_json(tmp_path):
    model, opt = _trained_pair()
    path = save_checkpoint(tmp_path, model, opt.state_tensors(), {"counters": [1, 2, 3]}, env_steps=5)
    data = json.loads(path.read_text())
    assert data["weights"] == "ckpt-000000000005.safetensors" and len(data["sha256"]) == 64


@pytest.mark.parametrize("damage", ["truncate_weights", "flip_weights_byte", "truncate_sidecar", "delete_weights"])
def test_a_corrupt_newest_checkpoint_is_skipped_for_the_previous_one(tmp_path, damage):
    model, opt = _trained_pair()
    save_checkpoint(tmp_path, model, opt.state_tensors(), {"counters": [100, 1, 0]}, env_steps=100)
    newer_model, newer_opt = _trained_pair(seed=1)
    save_checkpoint(tmp_path, newer_model, newer_opt.state_tensors(), {"counters": [200, 2, 0]}, env_steps=200)

    weights, sidecar_file = _ckpt(tmp_path, 200, "safetensors"), _ckpt(tmp_path, 200, "json")
    if damage == "truncate_weights":  # a crash mid-write of the tensors
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "flip_weights_byte":  # bit rot: same size, checksum differs
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "truncate_sidecar":
        sidecar_file.write_text(sidecar_file.read_text()[:40])
    else:
        weights.unlink()

    sidecar, tensors, _ = load_checkpoint(tmp_path)
    assert sidecar["counters"] == [100, 1, 0]
    assert sidecar["path"] == str(_ckpt(tmp_path, 100, "json"))
    assert len(sidecar["skipped"]) == 1 and "ckpt-000000000200" in sidecar["skipped"][0]
    assert torch.equal(tensors["value_head.weight"], model.value_head.weight)

    # named directly, the damaged checkpoint is an error, not a silent fallback
    with pytest.raises(CheckpointError, match="ckpt-000000000200"):
        load_checkpoint(sidecar_file)


def test_temporary_files_of_an_interrupted_save_are_ignored(tmp_path):
    model, opt = _trained_pair()
    save_checkpoint(tmp_path, model, opt.state_tensors(), {"counters": [100, 1, 0]}, env_steps=100)
    folder = tmp_path / "checkpoints"
    (folder / "ckpt-000000000300.safetensors.tmp").write_bytes(b"half a file")
    (folder / "ckpt-000000000300.json.tmp").write_text('{"weights": ')
    sidecar, _, _ = load_checkpoint(tmp_path)
    assert sidecar["counters"] == [100, 1, 0] and sidecar["skipped"] == []


def test_missing_path_empty_dir_and_all_corrupt_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such run directory or checkpoint"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        load_checkpoint(tmp_path)
    not_a_checkpoint = tmp_path / "notes.txt"
    not_a_checkpoint.write_text("hi")
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        load_checkpoint(not_a_checkpoint)
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "ckpt-000000000001.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "run")


def test_only_the_newest_three_are_kept(tmp_path):
    assert KEEP == 3
    model, opt = _trained_pair()
    for steps in (10, 20, 30, 40, 50):
        save_checkpoint(tmp_path, model, opt.state_tensors(), {"counters": [steps, 0, 0]}, env_steps=steps)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == [f"ckpt-{s:012d}.{ext}" for s in (30, 40, 50) for ext in ("json", "safetensors")]
    assert load_checkpoint(tmp_path)[0]["counters"] == [50, 0, 0]


def test_numeric_not_lexical_order_of_env_steps(tmp_path):
    # 9 < 10 even though "9" > "10" as text: the zero-padded names keep the order right.
    model, opt = _trained_pair()
    for steps in (9, 10):
        save_checkpoint(tmp_path, model, opt.state_tensors(), {"counters": [steps, 0, 0]}, env_steps=steps)
    assert load_checkpoint(tmp_path)[0]["counters"] == [10, 0, 0]


def test_weights_without_a_sidecar_are_pruned_by_the_next_save(tmp_path):
    # A process killed between writing the weights and their sidecar leaves an orphan behind.
    model, opt = _trained_pair()
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "ckpt-000000000050.safetensors").write_bytes(b"orphan")
    (folder / "ckpt-000000000060.safetensors.tmp").write_bytes(b"half")
    save_checkpoint(tmp_path, model, opt.state_tensors(), {"counters": [100, 0, 0]}, env_steps=100)
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt-000000000100.json", "ckpt-000000000100.safetensors"]
