"""Custom environments for the CLI tests, loaded as `envs_for_tests:ClassName` (tests/ on PYTHONPATH)."""

import gymnasium as gym
import numpy as np


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
