"""How an actor's policy is served: one link interface, whatever serves it (TorchBeast's act(),
Acme's actor and variable source), and its local-model implementation.

The one writer (rollout.RolloutWriter) steps envs and asks its link for each step's actions;
every wiring hands it a link:

    LocalModelLink   a network in the actor's own process: A3C workers (Hogwild and serial),
                     serial GA3C's agents (the learner's shared model, called directly), Ray's
                     EnvRunners (their local copy)
    MailboxLink      a GA3C agent's mailbox to the predictors (engines/ga3c/agent.py)

A step is one post and one act. post() hands over the observations the policy acts on next,
with the final observations of the episodes the last step cut by a time limit, and returns
V(final obs), each valued with the recurrent state of the episode it ends; act() returns the
actions for the posted observations. A GA3C agent does both in one round trip (its post waits
for the predictors' whole reply). A local model values the final observations at once but
chooses the actions only when act() is called: an engine that trains between the two (serial
GA3C, A3C's weight sync before each rollout) acts with the weights and normalizer statistics
it just produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
import torch

from a3c.distributions import Distribution
from a3c.models import ActorCritic, State

# (obs [B, *obs_shape], the state they go in with) -> (policy params [B, P], values [B], the state
# after them, the policy version that produced them)
Predict = Callable[[torch.Tensor, State], tuple[torch.Tensor, torch.Tensor, State, int]]

NO_VALUES = np.zeros(0, dtype=np.float32)  # V(final obs) of a step that cut no episode


class Acted(NamedTuple):
    """The policy's answer to the posted observations (E = the actor's envs)."""

    actions: np.ndarray  # [E, *action_shape]
    log_probs: np.ndarray  # [E] log mu(a|s) of the policy that chose them
    values: np.ndarray  # [E] V(s) of that policy
    version: int  # policy version (learner updates) that chose them; 0 where the wiring counts none


class ActorLink(Protocol):
    """What an actor acts through (the module docstring says how a step goes)."""

    state_size: int  # H: the width of the recurrent state (0 for a feed-forward policy)

    def initial_state(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(h, c) [E, H] the next posted observations go in with, zero where they start an episode
        (starts [E]): a rollout's h0/c0 when they are its obs[0]. Read before that post."""

    def post(self, obs: np.ndarray, starts: np.ndarray, final_obs: dict[int, np.ndarray]) -> np.ndarray | None:
        """Hand over obs [E, *obs_shape] (starts [E]: 1.0 where obs begins an episode) and the final
        observations of the episodes the last step cut (env -> obs). Returns V of each final
        observation, in env order; None when the actor is told to stop."""

    def act(self) -> Acted:
        """Actions, log-probs, values and version for the posted observations; valid until the next post."""


class LocalModelLink:
    """An ActorLink to a network in this process. It keeps each env's recurrent state, where the
    GA3C predictors keep it in the mailboxes, and acts on the posted observations when act() is
    called (the module docstring says why). `predict` defaults to calling the model, version 0;
    serial GA3C passes the shared model's predict (its lock and its version)."""

    def __init__(self, model: ActorCritic, dist: Distribution, n_envs: int, predict: Predict | None = None):
        self.dist = dist
        self.predict: Predict = predict or _unversioned(model)
        self.state_size = model.lstm_size if model.recurrent else 0
        self.device = next(model.parameters()).device
        self._on_cpu = self.device.type == "cpu"
        # (h, c) [E, H] after the latest observations acted on, not yet reset where the next start an episode
        self.state: State = model.initial_state(n_envs)
        if self.state is not None and not self._on_cpu:
            self.state = self.state[0].to(self.device), self.state[1].to(self.device)
        self._obs: np.ndarray | None = None
        self._starts = np.ones(n_envs, dtype=np.float32)
        self._acted: Acted | None = None

    def initial_state(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.state is None:
            empty = np.zeros((len(starts), 0), dtype=np.float32)
            return empty, empty
        keep = self._tensor(1.0 - starts).unsqueeze(-1)
        return self._numpy(self.state[0] * keep), self._numpy(self.state[1] * keep)

    def post(self, obs: np.ndarray, starts: np.ndarray, final_obs: dict[int, np.ndarray]) -> np.ndarray:
        # The writer keeps obs and starts untouched until it has read the actions for them.
        if self._acted is None and self._obs is not None:
            self.act()  # the state after the observations posted before must be in place first
        final_values = NO_VALUES
        if final_obs:
            final_values = self._final_values(final_obs)
        self._obs, self._starts, self._acted = obs, starts, None
        return final_values

    def _final_values(self, final_obs: dict[int, np.ndarray]) -> np.ndarray:
        """V(final obs) with the state of the episode each ends: its env's state before the reset."""
        if torch.is_grad_enabled():
            with torch.no_grad():
                return self._final_values(final_obs)
        envs = sorted(final_obs)
        final = self._tensor(np.stack([final_obs[env] for env in envs]))
        state = self.state
        sub_state = None if state is None else (state[0][envs], state[1][envs])
        _, values, _, _ = self.predict(final, sub_state)
        return self._numpy(values)

    def act(self) -> Acted:
        if self._acted is not None:
            return self._acted
        if torch.is_grad_enabled():  # one check a step; the writer's whole rollout runs without grad
            with torch.no_grad():
                return self.act()
        assert self._obs is not None, "post observations before asking for actions"
        state = self.state
        if state is not None and self._starts.any():  # most steps start no episode: the state carries over
            keep = self._tensor(1.0 - self._starts).unsqueeze(-1)
            state = state[0] * keep, state[1] * keep
        params, values, self.state, version = self.predict(self._tensor(self._obs), state)
        actions = self.dist.sample(params)
        log_probs = self.dist.log_prob(params, actions)
        self._acted = Acted(self._numpy(actions), self._numpy(log_probs), self._numpy(values), version)
        return self._acted

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.as_tensor(array)
        return tensor if self._on_cpu else tensor.to(self.device)

    def _numpy(self, tensor: torch.Tensor) -> np.ndarray:
        return tensor.numpy() if self._on_cpu else tensor.cpu().numpy()


def _unversioned(model: ActorCritic) -> Predict:
    def predict(obs: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor, State, int]:
        params, values, next_state = model(obs, state)
        return params, values, next_state, 0

    return predict
