"""Custom envs through the `a3c` command: a module in the current directory, in the main process
and every worker; a Box action with two axes trains; tanh on unbounded actions exits 2."""

import pytest


@pytest.mark.slow
def test_the_a3c_command_imports_custom_envs_from_the_current_directory(tmp_path):
    """`a3c train mymodule:Env` finds mymodule.py in the current directory, as `python -m` would,
    in the main process and in every worker, and eval passes the same env_kwargs."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "my_corridor.py").write_text(
        "import gymnasium as gym, numpy as np\n"
        "class Corridor(gym.Env):\n"
        "    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)\n"
        "    action_space = gym.spaces.Discrete(2)\n"
        "    def __init__(self, length=3):\n"
        "        self.length = length\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        super().reset(seed=seed); self.t = 0\n"
        "        return np.zeros(1, np.float32), {}\n"
        "    def step(self, action):\n"
        "        self.t += 1\n"
        "        return np.zeros(1, np.float32), 1.0, self.t >= self.length, False, {}\n")
    a3c_cmd = shutil.which("a3c", path=str(Path(sys.executable).parent)) or shutil.which("a3c")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    common = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    train = subprocess.run([a3c_cmd, "train", "my_corridor:Corridor", "--env-kwargs", '{"length": 4}',
                            "--total-steps", "400", "--workers", "1", "--run-dir", "run",
                            "--set", "progress=false", "--set", "tensorboard=false"], **common)
    assert train.returncode == 0, train.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["mean_return_100"] == 4.0
    evaluation = subprocess.run([a3c_cmd, "eval", "run", "--episodes", "2", "--json"], **common)
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout.strip().splitlines()[-1])["mean_return"] == 4.0


def test_matrix_action_env_trains_from_the_cli(run_cli, tmp_path):
    proc = run_cli("train", "fakes:MatrixActionEnv", "--total-steps", "2000", "--workers", "1",
                   "--set", "normalize_obs=true", "--set", "action_squash=tanh", "--run-dir", tmp_path / "run",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "summary.json").is_file()


def test_tanh_on_unbounded_actions_exits_2(run_cli, tmp_path):
    proc = run_cli("train", "fakes:UnboundedActionEnv", "--set", "action_squash=tanh",
                   "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "action_squash=tanh" in proc.stderr and "not finite" in proc.stderr
    assert not (tmp_path / "run").exists()
