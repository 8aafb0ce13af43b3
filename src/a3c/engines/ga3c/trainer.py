"""GA3C training (NVlabs ThreadTrainer): threads in the learner that batch rollout segments
from the agents into one update of the shared network.

A trainer gathers at least train_batch segments (at most max_train_batch) and copies them
out of shared memory (their slots go straight back to the agents); its BatchUpdate moves the
batch to the device, computes the same rollout_loss as the A3C engine on a private copy of
the current parameters, clips, and applies one optimizer step to the shared network. The
policy lag of each batch (updates between acting and training) and its importance ratio
pi/mu are recorded.
"""

from __future__ import annotations

import copy
import queue as queue_lib
import threading
from collections.abc import Callable

import torch

from a3c.device import to_device
from a3c.distributions import Distribution
from a3c.engines.ga3c.buffers import SegmentPool
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats
from a3c.engines.learner import update_is_finite
from a3c.engines.messages import Crash
from a3c.loss import LossSettings, clip_gradients, measure_kl, policy_change, rollout_loss
from a3c.normalization import StatisticsWriter, batch_moments
from a3c.rollout import Rollout

POLL_S = 0.2  # longest a trainer waits for a segment before checking whether to stop


class Trainer(threading.Thread):
    """A trainer thread: gathers full segments from the slot pool and trains on them."""

    def __init__(
        self,
        index: int,
        cfg,
        pool: SegmentPool,
        shared: SharedModel,
        dist: Distribution,
        stats: Stats,
        device: torch.device,
        on_crash: Callable[[Crash], None],
        statistics: StatisticsWriter,
    ):
        super().__init__(name=f"ga3c-trainer-{index}", daemon=True)
        self.index, self.cfg, self.pool, self.on_crash = index, cfg, pool, on_crash
        self.update = BatchUpdate(statistics, cfg, shared, dist, stats, device)
        self.stop_event = threading.Event()
        self.updates = 0  # batches trained on (skipped ones too): one that trained none made no progress

    @property
    def progress(self) -> int:
        """Batches trained on (skipped ones too): one that trained none before it died made no progress."""
        return self.updates

    def run(self) -> None:
        try:
            local = self.update.private_copy()
            while not self.stop_event.is_set():
                slots = self.gather()
                if slots:
                    # take() copies the batch out and frees the slots, whatever train() then does.
                    self.update.train(local, *self.pool.take(slots))
                    self.updates += 1
        except Exception:
            self.on_crash(Crash.now("trainer", self.index))

    def gather(self) -> list[int]:
        """Indices of at least train_batch full segments, or [] when told to stop."""
        slots: list[int] = []
        while len(slots) < self.cfg.train_batch:
            if self.stop_event.is_set():
                self.pool.requeue(slots)  # another trainer (or none, at shutdown) takes them
                return []
            try:
                slots.append(self.pool.full.get(timeout=POLL_S))
            except queue_lib.Empty:
                pass
        # A backlog joins this batch rather than waiting, growing staler, for the next one,
        # up to max_train_batch segments: more would mean fewer updates per env step.
        cap = self.cfg.max_train_batch or float("inf")
        try:
            while len(slots) < cap:
                slots.append(self.pool.full.get_nowait())
        except queue_lib.Empty:
            pass
        return slots


class BatchUpdate:
    """GA3C's update of the shared network from a batch of segments: the same rollout_loss as
    A3C on a private copy of the current parameters, clipped, applied through the learner, with
    the batch's policy lag and importance ratio recorded. The trainer threads, the serial engine
    and the Ray driver all train through it. `statistics` is its trainer's writer of the
    observation statistics (normalization.Statistics)."""

    def __init__(
        self,
        statistics: StatisticsWriter,
        cfg,
        shared: SharedModel,
        dist: Distribution,
        stats: Stats,
        device: torch.device,
    ):
        self.obs_stats = statistics.obs
        self.cfg, self.shared, self.dist, self.stats, self.device = cfg, shared, dist, stats, device
        self.settings = LossSettings.from_config(cfg, device.type)

    def private_copy(self):
        """Private parameters for the backward pass (see SharedModel for why)."""
        return copy.deepcopy(self.shared.model)

    def train(self, local, batch: Rollout, versions: torch.Tensor) -> bool:
        """One update from batch ([T, k*E] segments side by side); versions [k, T] are the acting
        policies. Returns whether it was applied (False: skipped for a NaN/inf loss or gradient)."""
        observed = batch.obs[: batch.t_max].flatten(0, 1)
        applied = self._update(local, batch, versions)
        # The batch joins the normalizer's statistics only after it was trained on: merged before,
        # the learner would normalize with newer statistics than the actors did, and its log-probs
        # would differ from theirs (pi != mu) even at zero policy lag.
        if self.obs_stats is not None:  # the trainers see every agent's data: they keep the statistics
            self.obs_stats.add(batch_moments(observed.numpy()))
            with self.shared.lock:
                self.obs_stats.publish()
        return applied

    def _update(self, local, batch: Rollout, versions: torch.Tensor) -> bool:
        batch = Rollout(**{name: to_device(t, self.device) for name, t in batch.tensors().items()})
        version = self.shared.copy_to(local)
        terms = rollout_loss(local, self.dist, batch, self.settings)
        local.zero_grad(set_to_none=True)
        terms.total.backward()
        grad_norm = clip_gradients(local, self.settings.max_grad_norm, self.settings.critic_grad_norm)
        finite = update_is_finite(terms.total, grad_norm)
        if not self.shared.learner.apply([p.grad for p in local.parameters()], finite=finite):
            self.stats.skipped()  # skipped and counted; the main process decides
            return False
        learner = self.shared.learner
        metrics = dict(terms.metrics(), grad_norm=grad_norm.item(), lr_scale=learner.lr_scale)
        if measure_kl(self.cfg.target_kl, learner.version):
            metrics["approx_kl"] = kl = policy_change(self.shared.model, self.dist, batch, terms.params)
            learner.observe_kl(kl)
        self.stats.lag.record(version, versions)
        self.stats.trained(
            samples=batch.t_max * batch.n_envs,
            ratio=float(terms.log_ratio_mean.exp()),
            metrics=metrics,
        )
        return True
