"""Observation and action spaces, layouts and torsos a3c cannot train: `a3c train` (called in-process,
through the real start of a run, which refuses them before writing anything) exits 2 with one
paragraph naming what is wrong and what is allowed, no traceback, and no run directory. The checks
live in the env layer; these pin the CLI's behaviour."""

import pytest

from a3c.cli import main


# ----- bad input: exit 2, one paragraph, no traceback -----
@pytest.mark.parametrize("argv, fragments", [
    (["train", "fakes:DiscreteObsEnv"], ["Discrete(5)", "Allowed: a Box"]),
    (["train", "fakes:DictObsEnv"], ["Dict(", "Allowed: a Box"]),
    (["train", "fakes:VideoObsEnv"], ["(2, 3, 16, 16)", "Allowed: a vector"]),
    (["train", "fakes:TinyImageEnv", "--set", "torso=a3c"], ["at least 36x36", "minatar"]),
    (["train", "CartPole-v1", "--set", "torso=nature"], ["image observations", "torso = mlp or auto"]),
    (["train", "CartPole-v1", "--set", "env_backend=ale_vector"], ["env_backend", "gymnasium"]),
    (["train", "ALE/Pong-v5", "--set", "frame_skip=0"], ["frame_skip", "1 to 64"]),
    (["train", "ALE/Pong-v5", "--set", "torso=resnet"], ["torso", "nature"]),
])
def test_bad_pixel_input_exits_2_with_a_message(argv, fragments, capsys, tmp_path):
    code = main([*argv, "--run-dir", str(tmp_path / "run"), "--set", "progress=false"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "run").exists()  # a refused run writes nothing


@pytest.mark.parametrize("env", ["TupleObservationEnv", "DictObservationEnv", "TupleActionEnv",
                                 "MultiDiscreteActionEnv"])
def test_untrainable_spaces_exit_2_naming_the_space(env, tmp_path, capsys):
    code = main(["train", f"fakes:{env}", "--run-dir", str(tmp_path / "run"),
                 "--set", "progress=false"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert ("Tuple" in err or "Dict" in err or "MultiDiscrete" in err) and "Allowed" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()
