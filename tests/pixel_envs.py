"""Small envs that pin the env layer's semantics, loaded as `pixel_envs:ClassName`
(tests/ is on PYTHONPATH for CLI tests; in-process tests import them directly)."""

import gymnasium as gym
import numpy as np


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
