"""ActorCritic: torso (MLP or a conv net) -> optional LSTM -> policy head + value head.

Shapes: `forward` takes one step for a batch, obs [B, *obs_shape]; `forward_sequence`
takes a rollout, obs [T, B, *obs_shape], and resets the LSTM state wherever an
episode starts. Recurrent state is a pair (h, c), each [B, lstm_size]; feed-forward
models take and return None.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from a3c.distributions import DiagGaussian, Distribution
from a3c.errors import UserError
from a3c.normalization import ObsNormalizer, ReturnNormalizer

State = tuple[torch.Tensor, torch.Tensor] | None
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # bounds of a state-dependent log std


def normalized_columns_(weight: torch.Tensor, std: float) -> None:
    """Initialise a linear layer so each output unit's weight vector has norm `std`.

    Small policy weights (0.01) start near the uniform policy; value weights of 1.0 keep
    the first value estimates on the scale of the inputs (Mnih et al. 2016's init).
    """
    with torch.no_grad():
        weight.normal_(0.0, 1.0)
        weight.mul_(std / weight.pow(2).sum(dim=1, keepdim=True).sqrt())


class ActorCritic(nn.Module):
    def __init__(
        self,
        obs_shape: Sequence[int],
        dist: Distribution,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        recurrent: bool = False,
        lstm_size: int = 64,
        torso: str = "auto",
        obs_scale: float = 1.0,
        log_std_init: float = 0.0,
        state_dependent_std: bool = False,
        normalize_obs: bool = False,
        separate_critic: bool = False,
        normalize_reward: bool = False,
        log_std_min: float | None = None,
        aux_value: bool = False,
    ):
        super().__init__()
        self.log_std_min = log_std_min
        self.obs_shape = tuple(obs_shape)
        self.recurrent = recurrent
        self.lstm_size = lstm_size
        # Observations stored as bytes become floats here, on whatever device the model is on.
        self.obs_scale = obs_scale
        self.obs_norm = ObsNormalizer(self.obs_shape) if normalize_obs else None
        # Not used by forward: the run's reward statistics live here so that checkpoints carry them.
        self.reward_norm = ReturnNormalizer() if normalize_reward else None
        self.torso_name = choose_torso(torso, self.obs_shape)
        act = nn.Tanh if activation == "tanh" else nn.ReLU
        if self.torso_name == "mlp":
            self.torso, torso_out = _mlp_torso(int(np.prod(self.obs_shape)), hidden_sizes, act)
        else:
            self.torso, torso_out = _conv_torso(self.torso_name, self.obs_shape)
        self.lstm = nn.LSTMCell(torso_out, lstm_size) if recurrent else None
        # The value from an MLP of its own (most continuous-control actor-critics): a shared
        # torso makes the policy's features serve the value loss too, whose scale swings as
        # returns do. Feed-forward MLPs only; a recurrent critic would need its own memory.
        self.critic_torso = None
        if separate_critic:
            if self.torso_name != "mlp" or recurrent:
                raise UserError(
                    "separate_critic=true is for feed-forward MLP policies (vector observations, "
                    f"recurrent=false); this run has torso {self.torso_name} and recurrent={recurrent}. "
                    "Allowed: separate_critic = false here."
                )
            self.critic_torso, _ = _mlp_torso(int(np.prod(self.obs_shape)), hidden_sizes, act)
        head_in = lstm_size if recurrent else torso_out
        self.gaussian = isinstance(dist, DiagGaussian)
        # A Gaussian's log std is one free parameter per action dimension (most continuous-control
        # actor-critics) or, with state_dependent_std, the second half of the policy head.
        self.state_dependent_std = self.gaussian and state_dependent_std
        out = dist.param_size // 2 if self.gaussian and not self.state_dependent_std else dist.param_size
        self.policy_head = nn.Linear(head_in, out)
        self.value_head = nn.Linear(head_in, 1)
        self.aux_value_head = self._aux_value_head(head_in) if aux_value else None
        self.log_std = (
            nn.Parameter(torch.full((out,), float(log_std_init)))
            if self.gaussian and not self.state_dependent_std
            else None
        )
        normalized_columns_(self.policy_head.weight, 0.01)
        normalized_columns_(self.value_head.weight, 1.0)
        nn.init.zeros_(self.policy_head.bias)
        nn.init.zeros_(self.value_head.bias)
        if self.state_dependent_std:
            with torch.no_grad():
                self.policy_head.bias[out // 2 :] = log_std_init

    def _aux_value_head(self, head_in: int) -> nn.Linear:
        """With a critic of its own: a value head on the policy's features that only the loss reads
        (Phasic Policy Gradient's auxiliary value). The value loss then shapes those features as a
        shared torso's does, which is what made the shared torso learn fast, while the advantages
        come from the better critic (benchmarks/results/stability.md, screen 14)."""
        if self.critic_torso is None:
            raise UserError(
                "aux_value_coef > 0 needs separate_critic=true: with a shared torso the value head "
                "already trains the policy's features. Allowed: aux_value_coef = 0 here."
            )
        head = nn.Linear(head_in, 1)
        normalized_columns_(head.weight, 1.0)
        nn.init.zeros_(head.bias)
        return head

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project the parameters back onto their allowed set after an optimizer step: the free log
        std onto [log_std_min, inf). Clamping only in forward would leave it free to sink below the
        floor, where it gets no gradient and could not rise again."""
        if self.log_std is not None and self.log_std_min is not None:
            self.log_std.clamp_(min=self.log_std_min)

    def critic_parameters(self) -> list[nn.Parameter]:
        """The separate critic's parameters (its MLP and the value head); none without one."""
        if self.critic_torso is None:
            return []
        return [*self.critic_torso.parameters(), *self.value_head.parameters()]

    def initial_state(self, batch: int) -> State:
        if not self.recurrent:
            return None
        zeros = torch.zeros(batch, self.lstm_size)
        return zeros, zeros.clone()

    def _heads(
        self, features: torch.Tensor, critic_features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.policy_head(features)
        if self.log_std is not None:
            log_std = self.log_std if self.log_std_min is None else self.log_std.clamp(min=self.log_std_min)
            params = torch.cat([params, log_std.expand_as(params)], dim=-1)
        elif self.state_dependent_std:
            # Bounded so one bad state cannot make the policy deterministic or its samples huge.
            mean, log_std = params.chunk(2, dim=-1)
            low = LOG_STD_MIN if self.log_std_min is None else max(LOG_STD_MIN, self.log_std_min)
            params = torch.cat([mean, log_std.clamp(low, LOG_STD_MAX)], dim=-1)
        value_features = features if critic_features is None else critic_features
        return params, self.value_head(value_features).squeeze(-1)

    def _embed(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (the torso's features, the separate critic's features or None)."""
        if obs.dtype != torch.float32:
            obs = obs.float()
            if self.obs_scale != 1.0:
                obs = obs.mul_(self.obs_scale)
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        if self.torso_name != "mlp":
            return self.torso(obs), None
        flat = obs.reshape(obs.shape[0], -1)
        return self.torso(flat), (self.critic_torso(flat) if self.critic_torso is not None else None)

    def forward(self, obs: torch.Tensor, state: State = None) -> tuple[torch.Tensor, torch.Tensor, State]:
        """One step: obs [B, *obs_shape] -> policy params [B, P], value [B], next state."""
        features, critic_features = self._embed(obs)
        if self.lstm is not None:
            if state is None:
                state = self.initial_state(obs.shape[0])
            h, c = self.lstm(features, state)
            features, state = h, (h, c)
        params, value = self._heads(features, critic_features)
        return params, value, state

    def forward_sequence(
        self, obs: torch.Tensor, state: State, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A rollout: obs [T, B, *obs_shape], starts [T, B] (1 where a new episode begins)
        -> policy params [T, B, P], values [T, B]. Gradients flow through the whole
        sequence: truncated backpropagation through time over the rollout."""
        params, values, _ = self.forward_sequence_aux(obs, state, starts)
        return params, values

    def forward_sequence_aux(
        self, obs: torch.Tensor, state: State, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """forward_sequence, plus the auxiliary value head's [T, B] on the policy's features (None
        without one): what the loss trains."""
        steps, batch = obs.shape[:2]
        features, critic_features = self._embed(obs.reshape(steps * batch, *obs.shape[2:]))
        if self.lstm is None:
            params, values = self._heads(features, critic_features)
            aux = None if self.aux_value_head is None else self.aux_value_head(features).reshape(steps, batch)
            return params.reshape(steps, batch, -1), values.reshape(steps, batch), aux
        features = features.reshape(steps, batch, -1)
        initial = state if state is not None else self.initial_state(batch)
        assert initial is not None  # a recurrent model's initial state
        hidden = lstm_over_episodes(self.lstm, features, initial, starts)
        params, values = self._heads(hidden.reshape(steps * batch, -1))
        return params.reshape(steps, batch, -1), values.reshape(steps, batch), None  # no aux head: MLPs only


def lstm_over_episodes(
    cell: nn.LSTMCell, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], starts: torch.Tensor
) -> torch.Tensor:
    """x [T, B, I], state (h, c) each [B, H], starts [T, B] -> hidden outputs [T, B, H].

    Equal to stepping `cell` through t = 0..T-1 with the state zeroed wherever starts[t] is 1,
    but in one fused torch.lstm call instead of T cell calls: a Python loop of LSTMCell costs
    ~10 small autograd nodes per step, and on CartPole-sized nets that overhead, not the
    arithmetic, was most of a recurrent update's time.

    Resets split an env's steps into segments. Each segment becomes its own row of a packed
    batch [L, R, I] (L the longest segment, R the number of segments), left-aligned and
    zero-padded at the end, so padding only ever follows a segment's real steps and cannot
    change them. A segment that begins at t = 0 carries the given state (zeroed if
    starts[0]); one that begins at a reset starts from zeros, as the step loop would.
    """
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):
        # bfloat16 autocast would run the whole recurrence in bfloat16, the cell state included, and
        # its rounding compounds over the rollout's steps: the loss's hidden states would drift from
        # the float32 ones the acting forward computed. The torso before it keeps bfloat16.
        with torch.autocast(device_type, enabled=False):
            return lstm_over_episodes(cell, x.float(), (state[0].float(), state[1].float()), starts)
    steps, batch = starts.shape
    # cuDNN refuses a backward pass through an LSTM run in inference mode ("cudnn RNN backward can
    # only be called in training mode"): train whenever autograd records. Dropout is 0 either way.
    train = torch.is_grad_enabled()
    weights = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    keep0 = (1.0 - starts[0]).unsqueeze(-1)
    h0, c0 = state[0] * keep0, state[1] * keep0
    begins = starts.detach().to(torch.long, copy=True)  # never write into the caller's starts
    begins[0] = 1
    segment = begins.cumsum(0) - 1  # [T, B] which of its env's segments step t is in
    if steps == 1 or not bool(segment[-1].any()):
        # No reset after t = 0: the rollout is one segment per env, no packing needed.
        out, _, _ = torch.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)), weights, True, 1, 0.0, train, False, False)
        return out
    n_segments = segment[-1] + 1  # [B]
    first_row = n_segments.cumsum(0) - n_segments  # [B] the packed row of each env's first segment
    row = first_row + segment  # [T, B]
    t = torch.arange(steps, device=starts.device).unsqueeze(1).expand(steps, batch)
    position = t - (t * begins).cummax(0).values  # [T, B] steps since the segment began
    rows, length = int(n_segments.sum()), int(position.max()) + 1
    flat = (position * rows + row).reshape(-1)  # where each (t, b) sits in the packed [L * R]
    packed = x.new_zeros(length * rows, x.shape[-1]).index_copy(0, flat, x.reshape(steps * batch, -1))
    hidden = cell.hidden_size
    h_init = h0.new_zeros(rows, hidden).index_copy(0, first_row, h0).unsqueeze(0)
    c_init = c0.new_zeros(rows, hidden).index_copy(0, first_row, c0).unsqueeze(0)
    out, _, _ = torch.lstm(packed.view(length, rows, -1), (h_init, c_init), weights, True, 1, 0.0, train, False, False)
    return out.reshape(length * rows, hidden).index_select(0, flat).view(steps, batch, hidden)


def _mlp_torso(in_size: int, hidden_sizes: Sequence[int], act: type[nn.Module]) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    size = in_size
    for width in hidden_sizes:
        linear = nn.Linear(size, width)
        nn.init.orthogonal_(linear.weight, gain=np.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear, act()]
        size = width
    return nn.Sequential(*layers), size


# Conv torsos by name: (out_channels, kernel, stride) per layer, then one fully connected layer
# of the given size (0: none, the flattened convs feed the LSTM or the heads directly).
CONV_TORSOS = {
    "a3c": ([(16, 8, 4), (32, 4, 2)], 256),  # Mnih et al. 2016, the A3C paper's Atari net
    "nature": ([(32, 8, 4), (64, 4, 2), (64, 3, 1)], 512),  # Mnih et al. 2015, the DQN Nature net
    "minatar": ([(16, 3, 1)], 128),  # Young & Tian 2019, for MinAtar's 10x10 grids
    # universe-starter-agent's and pytorch-a3c's net for 42x42 frames: four 3x3 convs of stride 2
    # (padding 1) with ELU, 288 features from 42x42, no fully connected layer.
    "universe": ([(32, 3, 2)] * 4, 0),
}
PADDED = ("universe",)  # torsos whose convs pad by kernel // 2 and use ELU, as their sources do
SMALLEST_SIDE = {"a3c": 36, "nature": 36, "minatar": 3, "universe": 16}  # the least H and W each net's convs fit
# Conv weights stored channels-last make the CPU's conv kernels faster where it counts, the
# backward pass: measured with one thread on 40 Atari frames, an update of the a3c net took
# 232 instead of 302 us per frame and of the nature net 480 instead of 615 (acting is ~9%
# slower, a net ~7% more A3C steps/s on Pong). The MinAtar net's tiny convs gain nothing.
CHANNELS_LAST = ("a3c", "nature")


def choose_torso(name: str, obs_shape: tuple[int, ...]) -> str:
    """The torso for obs_shape: `auto` is the MLP for vectors, the A3C net for frames of
    Atari size and the MinAtar net for small grids; a named conv net must fit the images."""
    if name == "auto":
        if len(obs_shape) != 3:
            return "mlp"
        return "a3c" if min(obs_shape[1:]) >= SMALLEST_SIDE["a3c"] else "minatar"
    if name == "mlp":
        return name
    if len(obs_shape) != 3:
        raise UserError(
            f"torso '{name}' needs image observations [C, H, W], but this env's observations have "
            f"shape {obs_shape}. Allowed: torso = mlp or auto."
        )
    if min(obs_shape[1:]) < SMALLEST_SIDE[name]:
        fits = [t for t, side in SMALLEST_SIDE.items() if min(obs_shape[1:]) >= side]
        raise UserError(
            f"torso '{name}' needs images of at least {SMALLEST_SIDE[name]}x{SMALLEST_SIDE[name]}, "
            f"but this env's are {obs_shape[1]}x{obs_shape[2]}. Allowed: torso = "
            f"{' | '.join(['auto', 'mlp', *fits])}."
        )
    return name


def _conv_torso(name: str, obs_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """A conv net on channels-first images [C, H, W], then a ReLU fully connected layer."""
    layers: list[nn.Module] = []
    channels = obs_shape[0]
    padded = name in PADDED
    for out, kernel, stride in CONV_TORSOS[name][0]:
        conv = nn.Conv2d(channels, out, kernel, stride=stride, padding=kernel // 2 if padded else 0)
        nn.init.orthogonal_(conv.weight, gain=np.sqrt(2))
        nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # Conv2d has a bias unless told otherwise
        layers += [conv, nn.ELU() if padded else nn.ReLU()]
        channels = out
    layers.append(nn.Flatten())
    convs = nn.Sequential(*layers)
    with torch.no_grad():
        flat = convs(torch.zeros(1, *obs_shape)).shape[1]
    fc_size = CONV_TORSOS[name][1]
    if fc_size == 0:
        return convs, flat
    fc = nn.Linear(flat, fc_size)
    nn.init.orthogonal_(fc.weight, gain=np.sqrt(2))
    nn.init.zeros_(fc.bias)
    if name in CHANNELS_LAST:
        convs.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; the stub omits it
    return nn.Sequential(convs, fc, nn.ReLU()), fc_size


def build_model(cfg, spec, dist: Distribution) -> ActorCritic:
    """The network for cfg on observations described by spec (an envs.ObsSpec)."""
    if cfg.normalize_obs and not np.issubdtype(spec.dtype, np.floating):
        raise UserError(
            f"normalize_obs=true is for float observations; this env's are {np.dtype(spec.dtype).name} "
            f"{spec.shape}, which the model already scales (by {spec.scale:g}). "
            "Allowed: normalize_obs = false for this env."
        )
    return ActorCritic(
        spec.shape,
        dist,
        cfg.hidden_sizes,
        cfg.activation,
        cfg.recurrent,
        cfg.lstm_size,
        cfg.torso,
        spec.scale,
        cfg.log_std_init,
        cfg.state_dependent_std,
        cfg.normalize_obs,
        cfg.separate_critic,
        cfg.normalize_reward,
        cfg.log_std_min,
        cfg.aux_value_coef > 0,
    )
