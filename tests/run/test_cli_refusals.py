"""`a3c train` refusals that come from the real start of a run (called in-process): a missing
CUDA device or a missing ray install exits 2 with one message naming the fix, no traceback, and
no run directory."""

from __future__ import annotations

import sys

import pytest
import torch

from a3c import cli


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is valid here")
def test_device_cuda_without_cuda_exits_2_naming_the_allowed_values(tmp_path, capsys):
    from a3c.cli import main

    assert main(["train", "CartPole-v1", "--algo", "ga3c", "--device", "cuda", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "--device cpu" in err and "--device auto" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # a rejected run leaves nothing behind


def test_missing_ray_exits_2_with_the_pip_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = cli.main(["train", "CartPole-v1", "--backend", "ray", "--run-dir", str(tmp_path / "run"),
                     "--set", "progress=false"])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install 'a3c[ray]'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
