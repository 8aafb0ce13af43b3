"""What the network sees: observation spaces checked, images made channels-first, and
bytes kept as bytes.

`model_view` wraps an env once so every observation is in the form the model and the
rollout buffers store: float32 vectors, or images [C, H, W] as uint8 when the env gives
uint8 or bool (4x less memory and copying than float32 all the way to the learner, where
`ObsSpec.scale` turns them into floats on the learner's device).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from a3c.distributions import distribution_for
from a3c.errors import UserError

LAYOUTS = ("auto", "chw", "hwc")


@dataclass(frozen=True)
class ObsSpec:
    shape: tuple[int, ...]  # as stored and fed to the model: [D] vectors, [C, H, W] images
    dtype: type  # np.uint8 or np.float32
    scale: float  # the model multiplies by this after casting to float: 1/255 for 0..255 bytes

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.uint8 if self.dtype == np.uint8 else torch.float32

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3


def check_action_space(env_id: str, space: gym.Space) -> None:
    """The env's action space must be one a distribution fits (distributions.distribution_for
    holds the rule); the error names the env."""
    try:
        distribution_for(space)
    except UserError:
        raise UserError(
            f"environment '{env_id}' has action space {space}, which is not supported. "
            "Allowed: Discrete(n) (starting at 0), or a Box of floats (any shape) for continuous actions."
        ) from None


def _check_observation_space(env_id: str, space: gym.Space) -> gym.spaces.Box:
    if not isinstance(space, gym.spaces.Box):
        raise UserError(
            f"environment '{env_id}' has observation space {space}, which is not supported. "
            "Allowed: a Box: vectors, or images as [C, H, W] or [H, W, C] (uint8, bool or float)."
        )
    if len(space.shape) == 0 or len(space.shape) > 3 or 0 in space.shape:
        raise UserError(
            f"environment '{env_id}' has observations of shape {space.shape}, which is not supported. "
            "Allowed: a vector [D], a grayscale image [H, W], or an image [C, H, W] / [H, W, C]."
        )
    return space


def _is_small_int(dtype) -> bool:
    return np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.bool_))


def _channels_last(shape: tuple[int, ...], layout: str) -> bool:
    """Images come channels-last from most envs ([210, 160, 3], MinAtar's [10, 10, C]) and
    channels-first from frame stacks ([4, 84, 84]). A channel axis is the short one; a tie
    goes to channels-last, the Gymnasium convention."""
    if layout != "auto":
        return layout == "hwc"
    return shape[-1] <= shape[0]


def model_view(env: gym.Env, env_id: str, layout: str = "auto") -> tuple[gym.Env, ObsSpec]:
    """env wrapped so its observations are stored and fed as the returned ObsSpec says."""
    check_action_space(env_id, env.action_space)
    space = _check_observation_space(env_id, env.observation_space)
    convert, spec, new_space = observation_converter(space, layout)
    if convert is None:
        return env, spec
    return gym.wrappers.TransformObservation(env, convert, new_space), spec


def observation_converter(space: gym.spaces.Box, layout: str = "auto"):
    """(convert, spec, new space) for observations of `space` as the model takes them: convert is
    None when they need no change, else a function of one observation (channels-first, bytes
    kept as bytes). model_view wraps envs with it; a loaded agent applies it to observations
    straight from the user's own env."""
    shape = tuple(space.shape)
    low, high = np.broadcast_to(space.low, shape), np.broadcast_to(space.high, shape)
    as_bytes = _is_small_int(space.dtype)
    dtype = np.uint8 if as_bytes else np.float32
    scale = 1.0
    if as_bytes and space.dtype == np.uint8 and float(high.max()) > 1:
        scale = 1.0 / float(high.max())  # 0..255 pixels (or RAM bytes) -> [0, 1]
    transpose = None
    new_shape = shape
    if len(shape) == 2 and as_bytes and min(shape) >= 8:
        new_shape = (1, *shape)  # a grayscale image gets its channel axis
    elif len(shape) == 3 and _channels_last(shape, layout):
        transpose = (2, 0, 1)
        new_shape = (shape[2], shape[0], shape[1])

    if new_shape == shape and np.dtype(space.dtype) == np.dtype(dtype):
        return None, ObsSpec(shape, dtype, scale), space

    def convert(obs):
        obs = np.asarray(obs)
        if transpose is not None:
            obs = obs.transpose(transpose)
        return np.ascontiguousarray(obs, dtype=dtype).reshape(new_shape)

    new_low, new_high = (
        (convert(low), convert(high))
        if np.all(np.isfinite(low))
        else (np.full(new_shape, -np.inf, dtype), np.full(new_shape, np.inf, dtype))
    )
    new_space = gym.spaces.Box(low=new_low, high=new_high, shape=new_shape, dtype=dtype)
    return convert, ObsSpec(new_shape, dtype, scale), new_space
