"""A run's start-up: the env built once in the main process (issue 22), for both engines."""

import pytest

import a3c
import a3c.envs


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_the_main_process_builds_the_env_once(algo, tmp_path, monkeypatch):
    """Config.for_env looks at the observations of an env without a preset, and the run needs its
    spaces: one env built in the main process serves both. The engines' envs are built in their
    own processes."""
    import fakes

    monkeypatch.setattr(a3c.envs, "_last_probe", None)  # an earlier test's probe of this env is kept
    fakes.CountsMainProcessBuildsEnv.main_process_builds = 0
    cfg = a3c.Config.for_env("fakes:CountsMainProcessBuildsEnv", algo=algo, workers=1,
                             envs_per_worker=2, total_steps=1000, target_return=1e9,
                             progress=False, tensorboard=False, run_dir=str(tmp_path / "run"))
    assert a3c.train(cfg).env_steps >= 1000
    assert fakes.CountsMainProcessBuildsEnv.main_process_builds == 1
