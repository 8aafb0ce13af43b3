"""The test suite's one module of fakes and shared helpers.

Importable as `fakes` from every test (tests/ is on sys.path: tests/conftest.py puts it there) and
from the `a3c train` subprocesses the tests start (tests/ is on their PYTHONPATH), which load the
envs below as `fakes:ClassName`. It imports only gymnasium, numpy and the standard library at the
top, so that such a subprocess pays nothing for it.

- optional extras: require()
- a module from a file outside the package (benchmarks/, another test file): load_file()
- envs a3c refuses, envs that misbehave on purpose (faults), continuous-action envs
- small envs that pin the env layer's semantics (layouts, dtypes, lives, reused buffers...)
- a task only memory solves (CueRecall) and the GA3C settings that learn it
- a filled rollout for the loss and V-trace tests
- a scripted env batch and link for the one rollout writer
- a multiprocessing context for pipes and semaphores shared by threads
- starting a real `a3c train` in a subprocess and reading what its run directory holds
"""

import csv
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

TESTS_DIR = Path(__file__).resolve().parent

# ----- a module from a file -----


def load_file(path: Path, name: str):
    """The module at `path` (benchmarks/ and other files no package holds), registered in sys.modules
    as `name` (its dataclasses look their module up there); name it `..._under_test` so that it
    shadows nothing the code under test imports."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ----- optional extras -----


def require(module: str):
    """Optional extras in tests: CI installs every one (`.[all,test]`), so there a missing extra
    is a failure; on a developer's machine without it, its tests skip."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    import pytest

    return pytest.importorskip(module)


# ----- envs for the CLI, fault and continuous-action tests -----


class MultiDiscreteActionEnv(gym.Env):
    """A valid Gymnasium env whose action space a3c does not support (MultiDiscrete)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), 0.0, True, False, {}


class TupleObservationEnv(gym.Env):
    """An observation space a3c cannot train on: a Tuple."""

    observation_space = gym.spaces.Tuple((gym.spaces.Box(-1.0, 1.0, shape=(2,)), gym.spaces.Discrete(3)))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


class DictObservationEnv(TupleObservationEnv):
    """An observation space a3c cannot train on: a Dict."""

    observation_space = gym.spaces.Dict({"position": gym.spaces.Box(-1.0, 1.0, shape=(2,))})


class TupleActionEnv(MultiDiscreteActionEnv):
    """An action space a3c cannot train on: a Tuple."""

    action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(2)))


class _Corridor(gym.Env):
    """Move right (action 1) to the end of a short corridor: reward 1 per step right, 0 left.
    A base for the fault-injection envs below: fast, and every step is the same work."""

    observation_space = gym.spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)
    length = 20

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return np.array([self.t / self.length, 1.0], dtype=np.float32)

    def step(self, action):
        self.t += 1
        return self._obs(), float(action), False, self.t >= self.length, {}


class HugeRewardEnv(_Corridor):
    """Every 50th step pays 1e30: the value loss of a rollout that contains it overflows to inf
    (a numerical fault, as an exploding reward would cause). Episode returns stay finite."""

    count = 0

    def step(self, action):
        obs, reward, term, trunc, info = super().step(action)
        HugeRewardEnv.count += 1
        return obs, (1e30 if HugeRewardEnv.count % 50 == 0 else reward), term, trunc, info


class AlwaysHugeRewardEnv(_Corridor):
    """Every step pays 1e30: every update is non-finite, and no restore can help."""

    def step(self, action):
        obs, _, term, trunc, info = super().step(action)
        return obs, 1e30, term, trunc, info


class FailsInWorkersEnv(_Corridor):
    """Builds in the main process (so the run starts) but raises in every worker or agent
    process: a role that dies on start-up, every time."""

    def __init__(self, render_mode=None):
        import multiprocessing

        if multiprocessing.parent_process() is not None:
            raise RuntimeError("this env cannot be built in a child process")


class FlakyStepEnv(_Corridor):
    """Raises in step now and then, as a buggy custom or C++ env does."""

    count = 0

    def step(self, action):
        FlakyStepEnv.count += 1
        if FlakyStepEnv.count % 97 == 0:
            raise ValueError("flaky env: lost its simulator connection")
        return super().step(action)


class MatrixActionEnv(gym.Env):
    """A Box action with two axes, [2, 2] in [-1, 1]: reward is minus the distance of the action
    from a fixed target matrix. Records the last action it was given."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(2, 2), dtype=np.float32)
    target = np.array([[0.5, -0.5], [0.25, 0.0]], dtype=np.float32)
    last_action = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action):
        MatrixActionEnv.last_action = np.array(action)
        assert action.shape == (2, 2), action.shape
        self.t += 1
        reward = -float(np.abs(action - self.target).sum())
        return np.zeros(3, dtype=np.float32), reward, False, self.t >= 10, {}


class UnboundedActionEnv(MatrixActionEnv):
    """A Box action with infinite bounds."""

    action_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)

    def step(self, action):
        MatrixActionEnv.last_action = np.array(action)
        self.t += 1
        return np.zeros(3, dtype=np.float32), -float(np.abs(action).sum()), False, self.t >= 10, {}


class NaNObservationEnv(_Corridor):
    """Every 30th step returns an observation with a NaN, as a simulator that blew up does."""

    count = 0

    def step(self, action):
        obs, reward, term, trunc, info = super().step(action)
        NaNObservationEnv.count += 1
        if NaNObservationEnv.count % 30 == 0:
            obs = np.array([np.nan, 1.0], dtype=np.float32)
        return obs, reward, term, trunc, info


class DiesInsideSharedPlumbingEnv(_Corridor):
    """The first of these built in a child process of a run (a worker or an agent; the marker file
    is claimed atomically, so one child per run) makes that process die, or stop, inside plumbing
    it shares with the run, the first time it gets there. A3C_TEST_FAULT=<fault>:<marker path>:

        counters        SIGKILL inside the shared step counters' add(), after its first line
        stop_check      SIGKILL inside the worker's stop check (an is_set()), after its first line
        report          SIGKILL half-way through writing a report to the main process
        report_stopped  SIGSTOP as it starts writing a report; it stays stopped

    and one for the main process (the first instance built in it, when the run probes its env):

        main_counters   SIGKILL the main process inside its 40th read of the counters (about 2 s into
                        training), after the read's first line

    The marker file gets the pid of the process, for the test to check it is gone afterwards."""

    def __init__(self, render_mode=None):
        import multiprocessing
        import os

        fault, _, marker = os.environ.get("A3C_TEST_FAULT", "").partition(":")
        if not fault or (multiprocessing.parent_process() is None) != fault.startswith("main_"):
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        if fault == "main_counters":
            _die_inside("read", nth=40)
        elif fault in ("counters", "stop_check"):
            _die_inside("add" if fault == "counters" else "is_set")
        else:
            _die_writing_a_report(stop=fault == "report_stopped")


def _die_inside(function: str, nth: int = 1) -> None:
    """SIGKILL this process inside the `nth` call from now of `function` from a3c or multiprocessing,
    after the call's first line (a `with lock:` there has taken the lock), or as it returns if it has one line."""
    import os
    import signal
    import sys

    seen = [0]

    def kill(frame, event, arg):
        os.kill(os.getpid(), signal.SIGKILL)

    def calls(frame, event, arg):
        code = frame.f_code
        if code.co_name != function or not ("/a3c/" in code.co_filename or "multiprocessing" in code.co_filename):
            return None
        seen[0] += 1
        if seen[0] < nth:
            return None
        lines = [0]

        def inside(frame, event, arg):
            if event == "line":
                lines[0] += 1
                if lines[0] == 2:
                    kill(frame, event, arg)
            elif event == "return":
                kill(frame, event, arg)
            return inside

        return inside

    sys.settrace(calls)  # this thread: the one that steps the envs, counts and checks for stop


def _die_writing_a_report(stop: bool) -> None:
    """The next write of more than a note (a pickled report, not GA3C's 4- or 8-byte notes) to any
    multiprocessing pipe, from any thread of this process, dies half-way (or stops before it)."""
    import os
    import signal
    import threading
    from multiprocessing.connection import Connection

    original = Connection._send

    def _send(self, buf, write=os.write):
        if len(buf) > 64:
            # Sent to this thread: it stops (or dies) right here, with the whole process. A signal sent
            # to the process may be taken by another thread, and this one write on before it stops.
            if stop:
                signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
            else:
                write(self._handle, bytes(buf[: len(buf) // 2]))
                signal.pthread_kill(threading.get_ident(), signal.SIGKILL)
        return original(self, buf)

    Connection._send = _send


class CountsMainProcessBuildsEnv(_Corridor):
    """Counts the instances built in the process that imported it first (a test's main process),
    where only probing should build one: workers and agents build theirs in their own processes."""

    main_process_builds = 0

    def __init__(self, render_mode=None):
        import multiprocessing

        if multiprocessing.parent_process() is None:
            CountsMainProcessBuildsEnv.main_process_builds += 1


# ----- small envs that pin the env layer's semantics -----


class ChannelsLastImageEnv(gym.Env):
    """uint8 images [H=12, W=10, C=3] whose pixel (h, w, c) holds h*20 + w*2 + c, so a test can
    tell a correct transpose to [C, H, W] from a reshape."""

    observation_space = gym.spaces.Box(0, 255, shape=(12, 10, 3), dtype=np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, episode_steps: int = 5):
        h, w, c = np.meshgrid(np.arange(12), np.arange(10), np.arange(3), indexing="ij")
        self.frame = (h * 20 + w * 2 + c).astype(np.uint8)
        self.episode_steps, self.t = episode_steps, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.frame.copy(), {}

    def step(self, action):
        self.t += 1
        return self.frame.copy(), 1.0, self.t >= self.episode_steps, False, {}


class BoolGridEnv(gym.Env):
    """MinAtar-like bool grids [8, 8, 3], channels-last."""

    observation_space = gym.spaces.Box(0, 1, shape=(8, 8, 3), dtype=bool)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        grid = np.zeros((8, 8, 3), dtype=bool)
        grid[2, 5, 1] = True
        return grid, {}

    def step(self, action):
        return self.reset()[0], 0.0, False, False, {}


class LivesEnv(gym.Env):
    """Six steps of reward 5 with three lives, lost after steps 2 and 4; the game ends after
    step 6. Real return 30; learning with clipping and episodic life sees 1 per step and
    the bootstrap cut after steps 2, 4 and 6."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.lives = 0, 3
        return np.zeros(1, dtype=np.float32), {"lives": self.lives}

    def step(self, action):
        self.t += 1
        if self.t in (2, 4):
            self.lives -= 1
        return np.zeros(1, dtype=np.float32), 5.0, self.t >= 6, False, {"lives": self.lives}


class BufferReusingEnv(gym.Env):
    """Writes every observation into one array, as C++ and some custom envs do, and is cut by
    a time limit after 3 steps: its final observation must be copied before reset overwrites it."""

    observation_space = gym.spaces.Box(-100.0, 100.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.buffer = np.zeros(2, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.buffer[:] = -1.0
        return self.buffer, {}

    def step(self, action):
        self.t += 1
        self.buffer[:] = self.t
        return self.buffer, 0.0, False, self.t >= 3, {}


class FlakyEnv(gym.Env):
    """Raises on its 3rd step (every instance), to exercise rebuilding a broken env."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)
    raised = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == 3 and FlakyEnv.raised == 0:
            FlakyEnv.raised += 1
            raise RuntimeError("simulated emulator fault")
        return np.zeros(1, dtype=np.float32), 1.0, self.t >= 5, False, {}


class TinyImageEnv(gym.Env):
    """uint8 images [3, 6, 6]: too small for the Atari nets, fine for the MinAtar one."""

    observation_space = gym.spaces.Box(0, 255, shape=(3, 6, 6), dtype=np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((3, 6, 6), dtype=np.uint8), {}

    def step(self, action):
        return np.zeros((3, 6, 6), dtype=np.uint8), 0.0, True, False, {}


class DiscreteObsEnv(gym.Env):
    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 0.0, True, False, {}


class DictObsEnv(gym.Env):
    observation_space = gym.spaces.Dict({"pos": gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)})
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"pos": np.zeros(2, dtype=np.float32)}, {}

    def step(self, action):
        return {"pos": np.zeros(2, dtype=np.float32)}, 0.0, True, False, {}


class VideoObsEnv(gym.Env):
    """Observations with four axes, which no torso takes."""

    observation_space = gym.spaces.Box(0, 255, shape=(2, 3, 16, 16), dtype=np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((2, 3, 16, 16), dtype=np.uint8), {}

    def step(self, action):
        return np.zeros((2, 3, 16, 16), dtype=np.uint8), 0.0, True, False, {}


class PixelCatch(gym.Env):
    """bsuite's Catch drawn as an image: a ball falls one row per step from a random column of
    a 10x10 board, and the paddle on the bottom row moves left, stays or moves right; +1 for a
    catch, -1 for a miss, one catch per episode (9 steps). Random play scores about -0.8. The
    board is drawn `scale` times larger, channels-last: scale 4 gives 40x40x3 uint8 frames, which
    `auto` gives the A3C net; scale 1 with dtype bool gives MinAtar-like 10x10x2 grids. It is a
    pixel game outside every family preset, for checking what `auto` and the defaults learn."""

    size = 10

    def __init__(self, scale: int = 4, dtype: str = "uint8"):
        self.scale, self.dtype = scale, np.dtype(dtype)
        side = self.size * scale
        high = 1 if self.dtype == np.bool_ else 255
        channels = 2 if self.dtype == np.bool_ else 3
        self.observation_space = gym.spaces.Box(0, high, shape=(side, side, channels), dtype=self.dtype)
        self.action_space = gym.spaces.Discrete(3)

    def _frame(self):
        board = np.zeros((self.size, self.size, self.observation_space.shape[2]), dtype=self.dtype)
        on = True if self.dtype == np.bool_ else 255
        board[self.ball_row, self.ball_col, 0] = on
        board[self.size - 1, self.paddle, 1] = on
        return board.repeat(self.scale, axis=0).repeat(self.scale, axis=1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ball_row, self.ball_col = 0, int(self.np_random.integers(self.size))
        self.paddle = self.size // 2
        return self._frame(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, self.size - 1))
        self.ball_row += 1
        done = self.ball_row == self.size - 1
        reward = (1.0 if self.paddle == self.ball_col else -1.0) if done else 0.0
        return self._frame(), reward, done, False, {}


# ----- a task only memory solves, for the recurrent learning tests (`fakes:CueRecall`) -----

# GA3C settings that learn CueRecall in seconds with an LSTM (and not at all without one): the
# local (learning/test_ga3c_recurrent_learning.py) and Ray (learning/test_ray_learning.py) learning tests share them.
GA3C_SETTINGS = dict(workers=2, envs_per_worker=16, t_max=8, lr=3e-3, optimizer="adam", entropy_coef=0.01,
                     hidden_sizes=(32,), lstm_size=32, train_batch=1, dynamic_adjust=False, gamma=0.9,
                     target_return=0.9)

CUE_LEFT, CUE_RIGHT, QUERY = 0, 1, 2  # observation features


class CueRecall(gym.Env):
    """Step 0 shows a cue, left or right; then `delay` blank steps; then a query step whose
    observation is the same whichever the cue was. Answering the query with the cue's side
    earns +1, the other side -1, and ends the episode. Actions before the query do nothing.

    A feed-forward policy sees identical query observations for both cues, so its expected
    return is 0 whatever it learns; a policy that remembers the cue can earn 1 every episode."""

    observation_space = gym.spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay: int = 3):
        self.delay = delay
        self.cue, self.t = 0, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(3, dtype=np.float32)
        if self.t == 0:
            obs[CUE_LEFT + self.cue] = 1.0
        elif self.t == self.delay + 1:
            obs[QUERY] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        return self._obs(), {}

    def step(self, action):
        if self.t == self.delay + 1:  # the query: answered, the episode is over
            return self._obs(), (1.0 if int(action) == self.cue else -1.0), True, False, {}
        self.t += 1
        return self._obs(), 0.0, False, False, {}


# ----- a filled rollout: the loss and V-trace tests' shared example -----


def filled_rollout(dist, t_max=6, n_envs=2, obs_size=3, lstm_size=8, seed=0):
    """A Rollout of random observations, actions and rewards in which env 0 terminates after
    step 2 (a new episode starts at 3) and env 1 is truncated after step 4 (V(final obs) 0.7)."""
    import torch

    from a3c.rollout import Rollout

    gen = torch.Generator().manual_seed(seed)
    rollout = Rollout.allocate(t_max, n_envs, (obs_size,), torch.float32, dist, lstm_size)
    rollout.obs.copy_(torch.randn(t_max + 1, n_envs, obs_size, generator=gen))
    rollout.actions.copy_(torch.randint(0, dist.n, (t_max, n_envs), generator=gen))
    rollout.rewards.copy_(torch.randn(t_max, n_envs, generator=gen))
    rollout.starts[0] = 1.0
    # env 0 terminates after step 2 (a new episode starts at 3); env 1 is truncated after step 4
    rollout.terminated[2, 0] = 1.0
    rollout.starts[3, 0] = 1.0
    rollout.truncated[4, 1] = 1.0
    rollout.truncation_values[4, 1] = 0.7
    rollout.starts[5, 1] = 1.0
    return rollout


# ----- a scripted env batch and link: the one rollout writer's test bench -----


class ScriptedEnvBatch:
    """Three envs stepped together (an EnvBatch, no Gymnasium) whose observation is [env, k], k the
    step within the episode (0 at a reset): env 0 terminates after 2 steps, env 1 is cut by a time
    limit after 3 (its final observation [1, 3]), env 2 runs on. A step's reward is the action it
    was given; `given` keeps every action array, as passed."""

    n, obs_shape = 3, (2,)
    LENGTHS, CUT = (2, 3, None), (False, True, False)

    def __init__(self):
        self.k = np.zeros(3, dtype=np.int64)
        self.returns = np.zeros(3)
        self.given: list[np.ndarray] = []

    @property
    def obs_dtype(self):
        import torch

        return torch.float32

    def _obs(self) -> np.ndarray:
        return np.stack([np.arange(3), self.k], axis=1).astype(np.float32)

    def reset(self) -> np.ndarray:
        self.k[:] = 0
        return self._obs()

    def step(self, actions: np.ndarray):
        from a3c.envs.group import EpisodeStats, StepResult

        self.given.append(np.array(actions))
        self.k += 1
        rewards = np.asarray(actions, dtype=np.float32)
        self.returns += rewards
        terminated, truncated = np.zeros(3, np.float32), np.zeros(3, np.float32)
        final_obs, episodes = {}, []
        for env in range(3):
            if self.k[env] == self.LENGTHS[env]:
                (truncated if self.CUT[env] else terminated)[env] = 1.0
                if self.CUT[env]:
                    final_obs[env] = np.array([env, self.k[env]], dtype=np.float32)
                episodes.append(EpisodeStats(float(self.returns[env]), int(self.k[env])))
                self.k[env], self.returns[env] = 0, 0.0
        return StepResult(self._obs(), rewards, terminated, truncated, np.maximum(terminated, truncated),
                          final_obs, episodes)

    def take_errors(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class ScriptedLink:
    """An ActorLink (a3c.acting) whose answers can be read off the number of posts p so far: the
    actions for the p-th post are 10 p + env, their log-probs -(p + env / 10), values p + env / 100,
    version p; V(final obs [env, k]) is 100 + k; the state the next posted observations go in with
    is p where they do not start an episode, 0 where they do (c = h + 0.5). Post `stop_at` answers
    None, as a GA3C agent's link does when the agent is told to stop."""

    state_size = 1

    def __init__(self, n_envs: int, stop_at: int | None = None):
        self.n, self.stop_at = n_envs, stop_at
        self.posts: list[tuple[np.ndarray, np.ndarray, dict]] = []  # copies of (obs, starts, final_obs)

    def initial_state(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = ((1.0 - starts) * len(self.posts))[:, None].astype(np.float32)
        return h, h + 0.5

    def post(self, obs, starts, final_obs):
        self.posts.append((obs.copy(), starts.copy(), {env: o.copy() for env, o in final_obs.items()}))
        if len(self.posts) == self.stop_at:
            return None
        return np.array([100.0 + final_obs[env][1] for env in sorted(final_obs)], dtype=np.float32)

    def act(self):
        from a3c.acting import Acted

        p, env = len(self.posts), np.arange(self.n)
        return Acted(10 * p + env, -(p + env / 10).astype(np.float32), (p + env / 100).astype(np.float32), p)


# ----- counters that count nothing, for a role tested alone -----


class NullCounters:
    """Counters that count nothing, for a Learner or a role under test alone: the run's env steps
    and wall seconds stay 0."""

    wall_seconds = 0.0

    def add(self, **counts) -> int:
        return 0


# ----- real pipes and semaphores between the threads of one process -----


def thread_ipc():
    """The multiprocessing context for the pipes and semaphores that threads of this one process share
    in the GA3C link tests (the agents' side in threads). Its semaphores are anonymous (a fork
    context's are unlinked at once), so none starts a resource tracker process, as a spawn context's
    named ones would."""
    import multiprocessing

    return multiprocessing.get_context("fork")


# ----- a real `a3c train` in a subprocess, and what its run directory holds -----

QUIET = ["--set", "progress=false", "--set", "tensorboard=false"]


def start_train(*args, log: Path, env_vars: dict | None = None) -> subprocess.Popen:
    """`python -m a3c train ARGS` as a user runs it; tests/ on PYTHONPATH for the custom envs.
    Output goes to files: a pipe nobody reads could block the run."""
    env = dict(os.environ, **(env_vars or {}))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    out, err = open(f"{log}.out", "w"), open(f"{log}.err", "w")
    return subprocess.Popen([sys.executable, "-m", "a3c", "train", *map(str, args), *QUIET],
                            stdout=out, stderr=err, text=True, env=env, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it, however pytest was started: a shell's background job
    inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt, so a test
    that interrupts its run would wait on a run that never heard it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def output(log: Path) -> str:
    """What a run started by start_train(log=...) wrote to stdout and stderr."""
    return Path(f"{log}.out").read_text() + Path(f"{log}.err").read_text()


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


def read_metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def loss_settings(**fields):
    """rollout_loss's settings for a Config with these fields (the rest at Config's defaults)."""
    from a3c.config import Config
    from a3c.loss import LossSettings

    return LossSettings.from_config(Config(**fields))
