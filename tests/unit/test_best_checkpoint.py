"""A run keeps its best weights beside the rotating latest ones; load takes either and says which."""

import pytest
import torch

from a3c.checkpoint import BEST, load_checkpoint, save_checkpoint
from a3c.errors import CheckpointError


def _model(value: float) -> torch.nn.Module:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(value)
        model.bias.fill_(value)
    return model


def test_best_and_latest_are_told_apart(tmp_path):
    save_checkpoint(tmp_path, _model(1.0), {}, {"counters": [100, 1, 1]}, 100)
    save_checkpoint(tmp_path, _model(2.0).state_dict(), {}, {"counters": [50, 1, 1]}, 50, name=BEST)
    save_checkpoint(tmp_path, _model(3.0), {}, {"counters": [200, 2, 2]}, 200)
    best, weights, _ = load_checkpoint(tmp_path, "best")
    assert best["which"] == "best" and weights["bias"].item() == 2.0 and best["skipped"] == []
    latest, weights, _ = load_checkpoint(tmp_path, "latest")
    assert latest["which"] == "latest" and weights["bias"].item() == 3.0
    assert load_checkpoint(tmp_path)[0]["which"] == "latest"  # resume and the guard take the latest


def test_best_is_replaced_in_place_and_outside_the_rotation(tmp_path):
    for i in range(5):
        save_checkpoint(tmp_path, _model(float(i)), {}, {}, 10 * i, name=BEST)
        save_checkpoint(tmp_path, _model(float(i)), {}, {}, 10 * i)
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files.count("best.json") == 1 and files.count("best.safetensors") == 1
    assert len([f for f in files if f.startswith("ckpt-") and f.endswith(".json")]) == 3  # KEEP
    assert load_checkpoint(tmp_path, "best")[1]["bias"].item() == 4.0


def test_a_run_without_a_best_yet_gives_its_latest_and_says_why(tmp_path):
    save_checkpoint(tmp_path, _model(1.0), {}, {}, 10)
    sidecar, weights, _ = load_checkpoint(tmp_path, "best")
    assert sidecar["which"] == "latest" and "no best checkpoint" in sidecar["fallback"] and sidecar["skipped"] == []


def test_a_corrupt_best_falls_back_to_the_latest(tmp_path):
    save_checkpoint(tmp_path, _model(1.0), {}, {}, 10)
    save_checkpoint(tmp_path, _model(2.0), {}, {}, 10, name=BEST)
    (tmp_path / "checkpoints" / "best.safetensors").write_bytes(b"garbage")
    sidecar, weights, _ = load_checkpoint(tmp_path, "best")
    assert sidecar["which"] == "latest" and weights["bias"].item() == 1.0
    assert "corrupt" in sidecar["skipped"][0] and "could not be read" in sidecar["fallback"]


def test_a_checkpoint_file_named_directly_is_what_loads(tmp_path):
    path = save_checkpoint(tmp_path, _model(7.0), {}, {}, 10)
    save_checkpoint(tmp_path, _model(2.0), {}, {}, 5, name=BEST)
    sidecar, weights, _ = load_checkpoint(path, "best")
    assert sidecar["which"] == "file" and weights["bias"].item() == 7.0


def test_an_unknown_choice_is_refused(tmp_path):
    save_checkpoint(tmp_path, _model(1.0), {}, {}, 10)
    with pytest.raises(CheckpointError, match="best or latest"):
        load_checkpoint(tmp_path, "newest")
