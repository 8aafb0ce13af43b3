"""A trained policy to ONNX: `a3c export RUN_DIR|CHECKPOINT -o POLICY.onnx`.

The exported graph is `GreedyPolicy`, a small module of its own around the trained
ActorCritic (the training model is not bent to fit), as SB3 and Sample Factory export theirs:

    inputs   obs    [B, *obs_shape]  as a3c's env gives it (`a3c.envs.make_env(config)`): float32
                                     vectors, or images channels-first as uint8, which the graph
                                     scales itself; observation normalization is inside, frozen
             h, c   [B, lstm_size]   recurrent policies only: the LSTM state (zeros at an episode's start)
    outputs  action [B, *action_shape] what Agent.act(obs, deterministic=True) gives: int64 for
                                     Discrete; for a Box the mean, clipped to the bounds or
                                     tanh-squashed into them (action_squash), in the space's dtype
             logits [B, n] | mean, log_std [B, dim], value [B]   with outputs="all"
             h_out, c_out [B, lstm_size]   recurrent policies only: the state for the next step

The batch axis is dynamic. Every export is checked before it is kept: onnxruntime runs on a
few hundred observations that the torch Agent met playing its env greedily, and must give the
Agent's actions (and LSTM states); otherwise nothing is written and the error says what differed.
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from a3c.agent import Agent
from a3c.distributions import Categorical
from a3c.envs import make_env
from a3c.errors import UserError

PIP_HINT = "pip install 'a3c[onnx]'"
OUTPUTS = ("action", "all")
OPSET = 17  # the TorchScript exporter's and onnxruntime's well-trodden ground; LSTMCell and ArgMax are in it
CHECK_OBSERVATIONS = 300
CHECK_SEED = 10_000  # a3c eval's default: away from the training seeds
ATOL, RTOL = 1e-4, 1e-5  # float outputs: |onnx - torch| <= ATOL + RTOL * |torch|
TIE = 1e-5  # a discrete action may differ only where its logit is this close to the best one


class ExportCheckFailed(UserError):
    """onnxruntime and the torch Agent disagree on the exported policy."""


@dataclass
class ExportReport:
    path: str  # the .onnx file written
    checkpoint: str | None  # the checkpoint it was exported from
    env_steps: int  # training env steps behind that checkpoint
    inputs: list[str]
    outputs: list[str]
    observations: int  # how many observations onnxruntime and torch were compared on
    differences: dict[str, float]  # each float output compared -> its max abs difference
    ties: int  # discrete actions that differ only between logits within TIE of each other
    which: str = "file"  # best, latest, or file: which checkpoint of the run it was
    note: str | None = None  # why a run's best was asked for and its latest given

    @property
    def max_abs_diff(self) -> float:
        return max(self.differences.values(), default=0.0)


def require_onnx() -> tuple[Any, Any]:
    """The onnx and onnxruntime modules, or the UserError (exit 2) that names the pip command."""
    modules = []
    for name in ("onnx", "onnxruntime"):
        try:
            modules.append(__import__(name))
        except ImportError:
            raise UserError(
                f"a3c export needs the '{name}' package, which is not installed. Install it with: "
                f"{PIP_HINT} (or pip install -e '.[onnx]' in a checkout)."
            ) from None
    return modules[0], modules[1]


class GreedyPolicy(nn.Module):
    """obs [B, *obs_shape] (and h, c [B, H] when recurrent) -> the greedy action [B, *action_shape],
    then with outputs="all" the distribution's parameters and the value, then h_out, c_out."""

    def __init__(self, model: nn.Module, dist, action_space: gym.Space, squash: str = "clip", outputs: str = "action"):
        super().__init__()
        if outputs not in OUTPUTS:
            raise UserError(f"invalid value for '--outputs': {outputs!r}. Allowed: {' | '.join(OUTPUTS)}.")
        self.model = model
        self.recurrent = bool(model.recurrent)
        self.all = outputs == "all"
        self.discrete = isinstance(dist, Categorical)
        if not self.discrete:
            assert isinstance(action_space, gym.spaces.Box)
            self.dim, self.squash = dist.dim, squash
            self.action_shape = tuple(action_space.shape)
            self.action_dtype = torch.from_numpy(np.zeros(0, dtype=action_space.dtype)).dtype
            # float64 as to_env_actions computes: the squash then matches it to the last float32 bit.
            self.register_buffer("low", torch.as_tensor(action_space.low.astype(np.float64).reshape(-1)))
            self.register_buffer("high", torch.as_tensor(action_space.high.astype(np.float64).reshape(-1)))

    @property
    def input_names(self) -> list[str]:
        return ["obs", "h", "c"] if self.recurrent else ["obs"]

    @property
    def output_names(self) -> list[str]:
        names = ["action"]
        if self.all:
            names += (["logits"] if self.discrete else ["mean", "log_std"]) + ["value"]
        return names + (["h_out", "c_out"] if self.recurrent else [])

    def forward(
        self, obs: torch.Tensor, h: torch.Tensor | None = None, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        state = (h, c) if self.recurrent else None
        params, value, state = self.model(obs, state)
        if self.discrete:
            action = params.argmax(dim=-1)
            dist_params: tuple[torch.Tensor, ...] = (params,)
        else:
            mean, log_std = params[:, : self.dim], params[:, self.dim :]
            u, low, high = mean.double(), self.get_buffer("low"), self.get_buffer("high")
            if self.squash == "tanh":
                u = low + (torch.tanh(u) + 1.0) * 0.5 * (high - low)
            else:  # np.clip: an infinite bound clips nothing
                u = torch.maximum(torch.minimum(u, high), low)
            action = u.to(self.action_dtype).reshape(-1, *self.action_shape)
            dist_params = (mean, log_std)
        outs = [action]
        if self.all:
            outs += [*dist_params, value]
        if state is not None:
            outs += [state[0], state[1]]
        return tuple(outs)


@dataclass
class _Played:
    """What the torch Agent saw and did, step by step, playing greedily."""

    obs: np.ndarray  # [N, *obs_shape], as the env gave it
    actions: np.ndarray  # [N, *action_shape], Agent.act's
    h: np.ndarray | None = None  # [N, H] the state each step went in with (recurrent)
    c: np.ndarray | None = None
    h_out: np.ndarray | None = None  # [N, H] the state it left
    c_out: np.ndarray | None = None


def play(agent: Agent, steps: int = CHECK_OBSERVATIONS, seed: int = CHECK_SEED) -> _Played:
    """`steps` observations from greedy episodes of agent's env, built as a3c eval builds it."""
    env = make_env(agent.config)
    obs_seen: list[np.ndarray] = []
    actions: list[Any] = []
    states_in: list[list[np.ndarray]] = []  # per step, (h, c) of the one env, each [H]
    states_out: list[list[np.ndarray]] = []
    episode = 0
    obs, _ = env.reset(seed=seed)
    agent.reset()
    try:
        while len(obs_seen) < steps:
            obs_seen.append(np.asarray(obs))
            if agent.state is not None:
                states_in.append([s[0].numpy().copy() for s in agent.state])
            action = agent.act(obs, deterministic=True)
            if agent.state is not None:
                states_out.append([s[0].numpy().copy() for s in agent.state])
            actions.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                episode += 1
                obs, _ = env.reset(seed=seed + episode)
                agent.reset()
    finally:
        env.close()
    played = _Played(np.stack(obs_seen), np.stack([np.asarray(a) for a in actions]))
    if states_in:
        played.h, played.c = (np.stack([s[i] for s in states_in]) for i in (0, 1))
        played.h_out, played.c_out = (np.stack([s[i] for s in states_out]) for i in (0, 1))
    return played


def _feed(policy: GreedyPolicy, played: _Played) -> dict[str, np.ndarray]:
    feed = {"obs": played.obs}
    if policy.recurrent:
        assert played.h is not None and played.c is not None
        feed.update(h=played.h, c=played.c)
    return feed


def check(session, policy: GreedyPolicy, played: _Played) -> tuple[dict[str, float], int]:
    """Compare onnxruntime with the torch Agent on what it played: ({float output: its max abs
    difference}, tied discrete actions), or ExportCheckFailed naming the output that differs."""
    got = dict(zip(policy.output_names, session.run(None, _feed(policy, played)), strict=True))
    with torch.no_grad():
        state = None if played.h is None else (torch.from_numpy(played.h), torch.from_numpy(played.c))
        params, value, _ = policy.model(torch.from_numpy(played.obs), state)
    n = len(played.obs)
    expected: dict[str, np.ndarray] = {}
    if not policy.discrete:
        expected["action"] = played.actions
    if policy.all:
        if policy.discrete:
            expected["logits"] = params.numpy()
        else:
            expected.update(mean=params[:, : policy.dim].numpy(), log_std=params[:, policy.dim :].numpy())
        expected["value"] = value.numpy()
    if policy.recurrent:
        assert played.h_out is not None and played.c_out is not None
        expected.update(h_out=played.h_out, c_out=played.c_out)
    differences: dict[str, float] = {}
    ties = 0
    if policy.discrete:
        action = got["action"]
        if action.dtype != np.int64 or action.shape != played.actions.shape:
            raise ExportCheckFailed(
                f"the exported policy gives actions of dtype {action.dtype} and shape "
                f"{action.shape}; the torch agent's are int64 of shape {played.actions.shape}."
            )
        logits = params.numpy()
        rows = np.flatnonzero(action != played.actions)
        gaps = np.abs(logits[rows, played.actions[rows]] - logits[rows, action[rows]])
        if np.any(gaps > TIE):
            worst = rows[int(np.argmax(gaps))]
            raise ExportCheckFailed(
                f"onnxruntime and torch disagree on {int(np.sum(gaps > TIE))} of {n} greedy actions (e.g. observation "
                f"{worst}: onnx {action[worst]}, torch {played.actions[worst]}, logits {logits[worst].tolist()}). "
                "The ONNX file was not written."
            )
        ties = len(rows)
    for name, want in expected.items():
        have = got[name]
        if have.shape != want.shape:
            raise ExportCheckFailed(
                f"the exported output '{name}' has shape {have.shape} where torch gives "
                f"{want.shape}. The ONNX file was not written."
            )
        diff = np.abs(have.astype(np.float64) - want.astype(np.float64))
        bad = diff > ATOL + RTOL * np.abs(want.astype(np.float64))
        if np.any(bad):
            raise ExportCheckFailed(
                f"onnxruntime and torch disagree on '{name}' for {int(np.any(bad.reshape(n, -1), axis=1).sum())} of "
                f"{n} observations (max abs difference {float(diff.max()):.3g}, allowed {ATOL:g} + {RTOL:g} x "
                "|torch|). The ONNX file was not written."
            )
        differences[name] = float(diff.max()) if diff.size else 0.0
    return differences, ties


def _torch_export(policy: GreedyPolicy, example: tuple[torch.Tensor, ...], path: Path) -> None:
    names = policy.input_names + policy.output_names
    kwargs: dict[str, Any] = {
        "input_names": policy.input_names,
        "output_names": policy.output_names,
        "opset_version": OPSET,
        "dynamic_axes": {name: {0: "batch"} for name in names},
    }
    # The TorchScript exporter: the dynamo one needs onnxscript, which the onnx extra does not install.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes are not the user's to act on
        torch.onnx.export(policy, example, str(path), **kwargs)


def _describe(obs: np.ndarray) -> str:
    return f"{obs.dtype} [B, {', '.join(map(str, obs.shape[1:]))}]"


def export_policy(
    src: str | Path,
    output: str | Path,
    outputs: str = "action",
    observations: int = CHECK_OBSERVATIONS,
    seed: int = CHECK_SEED,
    checkpoint: str = "best",
) -> ExportReport:
    """Export a run's best (or, with checkpoint="latest", newest) checkpoint, or a checkpoint file,
    to an ONNX file at output, checked against the torch Agent on `observations` observations of its
    env before it is kept."""
    if outputs not in OUTPUTS:
        raise UserError(f"invalid value for '--outputs': {outputs!r}. Allowed: {' | '.join(OUTPUTS)}.")
    onnx, ort = require_onnx()
    output = Path(output)
    if output.is_dir():
        raise UserError(f"-o {output} is a directory. Allowed: a file path, e.g. {output / 'policy.onnx'}.")
    agent = Agent.load(src, checkpoint)
    policy = GreedyPolicy(agent.model, agent.dist, agent.action_space, agent.config.action_squash, outputs).eval()
    played = play(agent, observations, seed)
    # Two rows of real observations trace the graph; the batch axis is declared dynamic.
    example = [torch.from_numpy(played.obs[:2])]
    if policy.recurrent:
        example += [torch.from_numpy(played.h[:2]), torch.from_numpy(played.c[:2])]  # type: ignore[index]
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
    tmp = output.with_name(output.name + ".tmp")
    try:
        _torch_export(policy, tuple(example), tmp)
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model)
        meta = {
            "a3c_env_id": agent.config.env_id,
            "a3c_checkpoint": str(agent.checkpoint),
            "a3c_checkpoint_kind": agent.which,
            "a3c_env_steps": str(agent.env_steps),
            "a3c_action_space": str(agent.action_space),
            "a3c_action_squash": agent.config.action_squash,
            "a3c_observation": _describe(played.obs),
        }
        onnx.helper.set_model_props(model, meta)
        model.doc_string = (
            f"a3c greedy policy for {agent.config.env_id}: inputs {', '.join(policy.input_names)}; "
            f"outputs {', '.join(policy.output_names)}"
        )
        onnx.save(model, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        differences, ties = check(session, policy, played)
        os.replace(tmp, output)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(
        path=str(output),
        checkpoint=agent.checkpoint,
        which=agent.which,
        note=agent.note,
        env_steps=agent.env_steps,
        inputs=policy.input_names,
        outputs=policy.output_names,
        observations=len(played.obs),
        differences=differences,
        ties=ties,
    )
