"""Spaces a3c cannot train exit 2 naming the space and what is allowed (the check lives in the
env layer; this pins the CLI's behaviour)."""

import pytest

from a3c.cli import main


@pytest.mark.parametrize("env", ["TupleObservationEnv", "DictObservationEnv", "TupleActionEnv",
                                 "MultiDiscreteActionEnv"])
def test_untrainable_spaces_exit_2_naming_the_space(env, tmp_path, capsys):
    code = main(["train", f"envs_for_tests:{env}", "--run-dir", str(tmp_path / "run"),
                 "--set", "progress=false"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert ("Tuple" in err or "Dict" in err or "MultiDiscrete" in err) and "Allowed" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()
