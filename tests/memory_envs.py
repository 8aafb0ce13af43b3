"""A task only memory solves, for the recurrent learning tests (loaded as `memory_envs:CueRecall`).

Step 0 shows a cue, left or right; then `delay` blank steps; then a query step whose
observation is the same whichever the cue was. Answering the query with the cue's side
earns +1, the other side -1, and ends the episode. Actions before the query do nothing.

A feed-forward policy sees identical query observations for both cues, so its expected
return is 0 whatever it learns; a policy that remembers the cue can earn 1 every episode.
"""

import gymnasium as gym
import numpy as np

# GA3C settings that learn CueRecall in seconds with an LSTM (and not at all without one): the
# local (test_ga3c_lstm.py) and Ray (test_ray.py) learning tests share them.
GA3C_SETTINGS = dict(workers=2, envs_per_worker=16, t_max=8, lr=3e-3, optimizer="adam", entropy_coef=0.01,
                     hidden_sizes=(32,), lstm_size=32, train_batch=1, dynamic_adjust=False, gamma=0.9,
                     target_return=0.9)

CUE_LEFT, CUE_RIGHT, QUERY = 0, 1, 2  # observation features


class CueRecall(gym.Env):
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
