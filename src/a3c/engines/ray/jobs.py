"""What an EnvRunner sends back to the driver: small dataclasses, pickled by Ray on the way. The
payloads stay numpy arrays, which Ray carries as out-of-band buffers (zero-copy, and read-only,
where the driver reads them from its node's object store).

    Where          setup's reply and the ready probe: the runner's node and pid
    A3CResult      an a3c_step job: ray_rollouts_per_job Gradients, in the order computed
    SegmentResult  a ga3c_segment job: one t_max-step Rollout segment and its episodes

Either job result carries the version of the weights it was computed or acted with, the
tracebacks of envs that raised during it (each env already rebuilt) and, with normalize_reward,
the return statistics the runner added since its last job. Statistics travel as
normalization.Moments (count, mean, M2), the type the driver's rows merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from a3c.normalization import Moments
from a3c.rollout import Rollout


@dataclass(frozen=True)
class Where:
    node_id: str
    pid: int


@dataclass
class Gradient:
    """One rollout's clipped gradient, as a flat float32 vector, and what the rollout measured."""

    grads: np.ndarray  # [parameters] float32
    env_steps: int
    returns: list[float]  # of the episodes that ended in the rollout
    lengths: list[int]
    sums: dict[str, float]  # loss.py's metrics of this one update
    obs_moments: Moments | None = None  # with normalize_obs: the rollout's observations


@dataclass
class A3CResult:
    version: int
    gradients: list[Gradient]
    env_errors: list[str] = field(default_factory=list)
    reward_moments: Moments | None = None


@dataclass
class SegmentResult:
    version: int
    env_steps: int  # T * E
    # Rollout's fields by name: obs [T+1, E, *obs_shape] (uint8 frames stay uint8), rewards [T, E], ...
    segment: dict[str, np.ndarray]
    returns: list[float]  # of the episodes that ended in the segment
    lengths: list[int]
    env_errors: list[str] = field(default_factory=list)
    reward_moments: Moments | None = None

    def rollout(self) -> tuple[Rollout, torch.Tensor]:
        """The segment as tensors the driver owns (the arrays Ray hands over are read-only), and the
        acting version of each of its steps [T]: the one the runner had throughout."""
        segment = Rollout(**{name: torch.from_numpy(np.array(a)) for name, a in self.segment.items()})
        return segment, torch.full((segment.t_max,), self.version, dtype=torch.int64)


JobResult = A3CResult | SegmentResult
