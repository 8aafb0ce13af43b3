"""The systems under comparison: one function per system, each running one training in its
own subprocess and writing one JSON record.

Every record has the same fields (see `_record`); times are seconds, "train" times count
from the start of the training call, "process" times from the launch of the subprocess.
This file is also the entry point of the SB3 and raw-env child processes
(`python benchmarks/systems.py sb3-child ...` / `raw-env ...`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Optional

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOG_INTERVAL_S = 2.0  # how often a learning-curve point is logged; a3c's default log_interval_s
WINDOW = 100  # finished training episodes in the "solved" mean, as in a3c's summary.json
SAMPLE_S = 0.2  # thread-count sampling period (and how soon a child's exit is seen)
# PSS is sampled less often: one read of /proc/PID/smaps_rollup walks the process's page tables,
# ~34 ms of CPU for the 5 processes of an a3c Pong run. At SAMPLE_S that was ~17% of a core taken
# from the system being measured (more from multi-process systems); memory peaks last seconds.
PSS_SAMPLE_S = 2.0
SYSTEMS = ("a3c", "ga3c", "sb3-a2c", "sb3-ppo")
LOCK_WAIT_S = 3600.0  # the hang guard does not count time spent waiting for the benchmark lock


def child_env() -> dict[str, str]:
    """The environment of every child: one BLAS/OpenMP thread, as each child also sets torch's."""
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")


# ----- measuring a subprocess -----
def measure(cmd: list[str], log_path: Path, hard_limit_s: float) -> dict[str, Any]:
    """Run cmd; sample the thread count of it and all its children every SAMPLE_S and their PSS every PSS_SAMPLE_S.

    Memory is proportional set size (PSS) summed over the process tree, as a3c's own metrics.csv
    pss_mb: each shared page is split among the processes that map it, so forked workers and the
    libraries they share (torch) count once in all, not once per process as summed RSS would.
    """
    from a3c.engines.processes import run_pss_mb

    peak_pss = 0.0
    peak_threads = 0
    start = time.time()
    last_pss = -PSS_SAMPLE_S
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=REPO)
        root = psutil.Process(proc.pid)
        seen: list[psutil.Process] = []  # every process of the run's tree at the last look
        while True:
            threads = 0
            try:
                tree = [root] + root.children(recursive=True)
                seen = tree
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    threads += p.num_threads()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            if tree and time.time() - last_pss >= PSS_SAMPLE_S:
                peak_pss = max(peak_pss, run_pss_mb(proc.pid) or 0.0)
                last_pss = time.time()
            peak_threads = max(peak_threads, threads)
            try:
                proc.wait(timeout=SAMPLE_S)  # returns as soon as the child exits: exact end time
                break
            except subprocess.TimeoutExpired:
                pass
            if time.time() - start > hard_limit_s:  # a hung run: ask politely, then kill its tree
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                break
    end = time.time()
    # A child that outlives the run's main process (Sample Factory's workers after its SIGTERM ran on
    # for 90 minutes, beside every later measurement) is killed with it.
    leftovers = [p for p in seen[1:] if p.is_running()]
    for p in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(leftovers, timeout=10)
    return dict(rc=proc.returncode, launched_at=start, process_wall_s=end - start,
                peak_pss_mb=round(peak_pss, 1), peak_threads=peak_threads)


def peak_memory(record: dict[str, Any]) -> tuple[Optional[float], str]:
    """A run's peak memory in MB and what was measured: "PSS" summed over the process tree, or
    "RSS" summed over it in records written before PSS (it counts pages shared by forked processes
    once per process, so it overstates multi-process systems)."""
    if record.get("peak_pss_mb") is not None:
        return record["peak_pss_mb"], "PSS"
    return record.get("peak_rss_mb"), "RSS"


def _record(system: str, env_id: str, seed: int, cap_s: float, target: Optional[float], run: dict[str, Any],
            result: dict[str, Any], series: list[list[float]], settings: dict[str, Any],
            fixed_steps: Optional[int] = None) -> dict[str, Any]:
    startup = result.get("train_started_at", run["launched_at"]) - run["launched_at"]
    ttt = result.get("time_to_target_s")
    train_wall = result.get("train_wall_s") or 0.0
    steps = result.get("env_steps") or 0
    return dict(
        # "to_target": train until solved; "throughput": a fixed number of env steps, no target.
        kind="throughput" if fixed_steps else "to_target", fixed_steps=fixed_steps,
        system=system, env_id=env_id, seed=seed, cap_s=cap_s, target_return=target,
        solved=ttt is not None, stop_reason=result.get("stop_reason", "error"), rc=run["rc"],
        time_to_target_s=ttt,  # train-call time
        time_to_target_process_s=None if ttt is None else round(startup + ttt, 3),
        steps_to_target=result.get("steps_to_target"),
        env_steps=steps, train_wall_s=train_wall, process_wall_s=round(run["process_wall_s"], 3),
        startup_s=round(startup, 3),
        steps_per_second=round(steps / train_wall, 1) if train_wall else 0.0,
        steps_per_second_process=round(steps / run["process_wall_s"], 1),
        mean_return_100=result.get("mean_return_100"),
        peak_pss_mb=run["peak_pss_mb"], peak_threads=run["peak_threads"],
        settings=settings, series=series,  # series: [train wall_s, env_steps, mean_return_100]
    )


def _write(record: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    suffix = "_throughput" if record["kind"] == "throughput" else ""
    path = out_dir / "runs" / f"{record['env_id']}_{record['system']}_seed{record['seed']}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def _workdir(out_dir: Path, system: str, env_id: str, seed: int) -> Path:
    work = out_dir / "work" / f"{env_id}_{system}_seed{seed}"
    shutil.rmtree(work, ignore_errors=True)  # a3c refuses a run dir that already holds a run
    work.mkdir(parents=True)
    return work


# ----- a3c and ga3c: the CLI, read back through summary.json and metrics.csv -----
def run_a3c(env_id: str, seed: int, cap_s: float, target: Optional[float], out_dir: Path,
            fixed_steps: Optional[int] = None, algo: str = "a3c", system: Optional[str] = None,
            sets: tuple[str, ...] = (), lock: Optional[str] = None) -> dict[str, Any]:
    """`system` names the record (default: algo); `sets` are extra `--set key=value` pairs;
    `lock` a file the run holds with flock(1) while it trains, one benchmark at a time."""
    system = system or algo
    work = _workdir(out_dir, system + ("-throughput" if fixed_steps else ""), env_id, seed)
    run_dir = work / "run"
    cmd = [sys.executable, "-m", "a3c", "train", env_id, "--algo", algo, "--seed", str(seed),
           "--run-dir", str(run_dir), "--time-limit", str(cap_s),
           "--set", "progress=false", "--set", "tensorboard=false"]
    for pair in sets:
        cmd += ["--set", pair]
    if algo == "a3c" and not any(pair.startswith("workers=") for pair in sets):
        cmd += ["--workers", "2"]  # a flag would beat a --set workers=N
    if fixed_steps:
        cmd += ["--total-steps", str(fixed_steps), "--target-return", "1e18"]  # a target no run reaches
    elif target is not None:
        cmd += ["--target-return", str(target)]
    run = measure((["flock", lock] if lock else []) + cmd, work / "log.txt",
                  hard_limit_s=cap_s + 120 + (LOCK_WAIT_S if lock else 0))
    result: dict[str, Any] = {}
    series: list[list[float]] = []
    summary_path, metrics_path = run_dir / "summary.json", run_dir / "metrics.csv"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        result = dict(summary, train_wall_s=summary["wall_seconds"])
    if metrics_path.exists():
        with open(metrics_path, newline="") as f:
            rows = list(csv.DictReader(f))
        series = [[float(r["wall_s"]), int(r["env_steps"]), float(r["mean_return_100"])]
                  for r in rows if r["mean_return_100"] != ""]
        if rows:
            # summary.json has no start time: the last metrics row is flushed right after its wall_s
            # is taken, so the file's mtime minus that wall_s is when the run's clock started.
            result["train_started_at"] = metrics_path.stat().st_mtime - float(rows[-1]["wall_s"])
    settings = dict(command=" ".join(["a3c"] + cmd[3:]).replace(str(REPO) + "/", ""),
                    config="a3c preset for the env (config.toml in the run dir)")
    return _write(_record(system, env_id, seed, cap_s, target, run, result, series, settings, fixed_steps),
                  out_dir)


def run_ga3c(env_id: str, seed: int, cap_s: float, target: Optional[float], out_dir: Path,
             fixed_steps: Optional[int] = None) -> dict[str, Any]:
    return run_a3c(env_id, seed, cap_s, target, out_dir, fixed_steps, algo="ga3c")


# ----- Stable-Baselines3 A2C and PPO: a child process, read back through its JSON -----
def run_sb3(algo: str, env_id: str, seed: int, cap_s: float, target: Optional[float],
            out_dir: Path, fixed_steps: Optional[int] = None) -> dict[str, Any]:
    system = f"sb3-{algo}"
    work = _workdir(out_dir, system + ("-throughput" if fixed_steps else ""), env_id, seed)
    child_json = work / "child.json"
    cmd = [sys.executable, str(HERE / "systems.py"), "sb3-child", algo, env_id, str(seed), str(cap_s),
           str(None if fixed_steps else target), str(child_json), str(fixed_steps or 0)]
    run = measure(cmd, work / "log.txt", hard_limit_s=cap_s + 120)
    result = json.loads(child_json.read_text()) if child_json.exists() else {}
    series = result.pop("series", [])
    settings = result.pop("settings", {})
    return _write(_record(system, env_id, seed, cap_s, target, run, result, series, settings, fixed_steps),
                  out_dir)


def run_sb3_a2c(env_id, seed, cap_s, target, out_dir, fixed_steps=None):
    return run_sb3("a2c", env_id, seed, cap_s, target, out_dir, fixed_steps)


def run_sb3_ppo(env_id, seed, cap_s, target, out_dir, fixed_steps=None):
    return run_sb3("ppo", env_id, seed, cap_s, target, out_dir, fixed_steps)


RUNNERS = {"a3c": run_a3c, "ga3c": run_ga3c, "sb3-a2c": run_sb3_a2c, "sb3-ppo": run_sb3_ppo}


def solved_callback(started: float, target: Optional[float], cap_s: float):
    """An SB3 callback that stops training by a3c's "solved" rule (the mean of the last WINDOW
    returns of SB3's episode Monitor >= target) or at cap_s, and logs a learning curve."""
    from stable_baselines3.common.callbacks import BaseCallback

    class SolvedCallback(BaseCallback):
        def __init__(self):
            super().__init__()
            self.started, self.last_log = started, -LOG_INTERVAL_S
            self.returns: deque[float] = deque(maxlen=WINDOW)
            self.series: list[list[float]] = []
            self.stop_reason, self.time_to_target, self.steps_to_target = "total_steps", None, None

        def mean(self) -> Optional[float]:
            return sum(self.returns) / len(self.returns) if self.returns else None

        def log(self, wall: float) -> None:
            if self.returns:
                self.series.append([round(wall, 3), self.num_timesteps, round(self.mean(), 4)])
            self.last_log = wall

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:  # written by Monitor, below VecNormalize: raw returns
                    self.returns.append(float(info["episode"]["r"]))
            wall = time.monotonic() - self.started
            if wall - self.last_log >= LOG_INTERVAL_S:
                self.log(wall)
            if target is not None and len(self.returns) == WINDOW and self.mean() >= target:
                self.stop_reason, self.time_to_target, self.steps_to_target = "target_reached", wall, self.num_timesteps
                return False
            if wall >= cap_s:
                self.stop_reason = "time_limit"
                return False
            return True

    return SolvedCallback()


def sb3_atari_env(env_id: str, n_envs: int, seed: int):
    """The zoo's Atari pipeline on an ALE v5 game: AtariWrapper and 4 stacked frames. The wrapper
    skips frames itself (max-pooling the last two), so the env's own frame skip is set to 1; v5's
    sticky actions (0.25) stay, as in a3c's Atari family. SB3's episode Monitor sits below the
    wrapper, so the logged returns are whole games' unclipped scores."""
    import ale_py
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    gym.register_envs(ale_py)
    env = make_atari_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=dict(frameskip=1), vec_env_cls=DummyVecEnv)
    return VecFrameStack(env, n_stack=4)


def sb3_child(algo: str, env_id: str, seed: int, cap_s: float, target: Optional[float], out_path: Path,
              fixed_steps: int = 0) -> None:
    """In the child: train SB3 until the a3c "solved" rule holds, the cap, or the zoo's budget
    (or, with fixed_steps, for exactly that many env steps)."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    sys.path.insert(0, str(HERE))
    from zoo_hyperparams import ZOO, sb3_settings, zoo_key

    run, kwargs, source = sb3_settings(algo, env_id)
    if fixed_steps:
        run["n_timesteps"] = fixed_steps
    if run["atari"]:
        env = sb3_atari_env(env_id, run["n_envs"], seed)
    else:
        env = make_vec_env(env_id, n_envs=run["n_envs"], seed=seed, vec_env_cls=DummyVecEnv)
    if run["normalize"]:
        env = VecNormalize(env)
    policy = "CnnPolicy" if run["atari"] else "MlpPolicy"
    model = {"a2c": A2C, "ppo": PPO}[algo](policy, env, seed=seed, device="cpu", verbose=0, **kwargs)
    started_at, started = time.time(), time.monotonic()
    callback = solved_callback(started, target, cap_s)
    model.learn(total_timesteps=int(run["n_timesteps"]), callback=callback)
    wall = time.monotonic() - started
    callback.log(wall)
    out_path.write_text(json.dumps(dict(
        stop_reason=callback.stop_reason, time_to_target_s=callback.time_to_target,
        steps_to_target=callback.steps_to_target, env_steps=model.num_timesteps, train_wall_s=wall,
        train_started_at=started_at, mean_return_100=callback.mean(), series=callback.series,
        settings=dict(source=source, n_envs=run["n_envs"], n_timesteps=run["n_timesteps"],
                      normalize=run["normalize"], hyperparams=ZOO[algo].get(zoo_key(env_id), {}),
                      vec_env="DummyVecEnv (one process)"),
    )))


# ----- the limit: random actions, no learning -----
def raw_env_child(env_id: str, seconds: float) -> None:
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            if terminated or truncated:
                env.reset()
    print(json.dumps(dict(steps=steps, seconds=time.perf_counter() - start)))


def raw_env_rate(env_id: str, processes: int, seconds: float = 3.0) -> dict[str, Any]:
    """Env steps/s of `processes` random-action loops run at once, one per core."""
    cmd = [sys.executable, str(HERE / "systems.py"), "raw-env", env_id, str(seconds)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=child_env(), cwd=REPO)
             for _ in range(processes)]
    rates = []
    for p in procs:
        out, _ = p.communicate()
        line = json.loads(out.strip().splitlines()[-1])
        rates.append(line["steps"] / line["seconds"])
    return dict(processes=processes, per_process=[round(r) for r in rates], total=round(sum(rates)))


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    if kind == "sb3-child":
        algo, env_id, seed, cap, target, out, fixed = rest
        sb3_child(algo, env_id, int(seed), float(cap), None if target == "None" else float(target), Path(out),
                  int(fixed))
    elif kind == "raw-env":
        raw_env_child(rest[0], float(rest[1]))
    else:
        sys.exit(f"unknown child kind {kind!r}")
