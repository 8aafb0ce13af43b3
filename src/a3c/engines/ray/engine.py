"""The Ray engines. The learner stays in the driver (the `a3c train` process: model, optimizer,
counters, checkpoints, stop rules, as for the local engines); `workers` EnvRunner actors, spread
over the cluster's nodes, step the envs.

    RayA3CEngine   A3C, Mnih et al. 2016: each runner computes a gradient on an n-step rollout
                   from the weights it was sent; the driver applies gradients in arrival order
                   through the shared-statistics optimizer and sends that runner the current
                   weights (one ray.put per update, a flat float32 vector), stamped with their
                   version: policy_lag = updates applied between those weights and this gradient.
    RayGA3CEngine  GA3C across machines, IMPALA-style: runners act with their local policy copy
                   and ship Rollout segments; the driver trains batches of them with V-trace
                   (on the device when there is one) and refreshes runners by version. With an
                   LSTM, each runner carries its envs' recurrent state (reset where an episode
                   starts) and every segment holds the state it began with (h0, c0), which the
                   learner backpropagates through the segment from, as local GA3C's trainer does.

Each runner has `ray_jobs_per_runner` jobs queued. A runner that dies (killed process, lost node,
a Python error) is replaced by a new actor on a fresh random stream; the run goes on. A lost head
node (its GCS no longer answers) ends the run as a local crash does: checkpoint, summary.json,
exit 1, and `--resume` continues once a cluster is back.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np
import torch

from a3c.distributions import distribution_for
from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.lag import PolicyLag
from a3c.engines.learner import Learner
from a3c.engines.messages import Crash, EnvError, Event, Message, Report
from a3c.engines.ray.cluster import connect
from a3c.engines.ray.runner import EnvRunner
from a3c.engines.weights import params_to_vector
from a3c.errors import RunFailed, UserError
from a3c.rollout import Rollout, take_batch

# Ray's max_direct_call_object_size: arguments up to this size travel inline with a call.
INLINE_BYTES = 100 * 1024
# How often the driver asks whether the head node's GCS still answers. Without the GCS every call
# that needs it (replacing a runner, listing nodes, stopping actors) blocks, and Ray's core worker
# ends the process after 60 s, before the run could write its checkpoint and summary.
HEAD_PROBE_EVERY_S = 1.0


def _answers(host: str | None, port: int | None) -> bool:
    """Whether host:port (a raylet's, the GCS's) accepts a connection within a second."""
    if not host or not port:
        return True  # nothing to ask: assume it is there
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        return False
    return True


def _gcs_endpoint(ray) -> tuple[str | None, int | None]:
    """(host, port) of the cluster's GCS, on the head node; (None, None) if Ray does not say."""
    try:
        host, _, port = ray.get_runtime_context().gcs_address.rpartition(":")
        return host.strip("[]"), int(port)
    except Exception:
        return None, None


def resolve_config(cfg):
    """cfg as it is. GA3C on Ray always trains with V-trace, and Config itself now forces it
    (config.py, Config.__post_init__); kept for benchmarks/ray_bytes.py, which still calls this."""
    return cfg


def env_error_messages(rank: int, result: dict) -> list[Message]:
    """A runner's env failures (each env already rebuilt) as the local engines report them: the main
    loop logs one traceback per kind to events.log and counts them all in metrics.csv env_errors."""
    return [EnvError(rank, error) for error in result.get("env_errors", ())]


class _RayEngine:
    columns: tuple[str, ...] = ("env_runners", "nodes", "restarts", "policy_lag")
    progress_fields: tuple[str, ...] = ("lag={policy_lag:.2f}",)

    def __init__(self, parts: EngineParts):
        cfg = self.cfg = parts.cfg
        self.model, self.optimizer, self.counters = parts.model, parts.optimizer, parts.counters
        began = time.monotonic()
        self.ray, self._ours = connect(cfg, cpus_wanted=cfg.workers)
        try:
            cpus = self.ray.cluster_resources().get("CPU", 0)
            if cpus < cfg.workers:
                raise UserError(
                    f"workers={cfg.workers} env runners need {cfg.workers} CPUs, and the Ray "
                    f"cluster has {cpus:g}. Allowed: --workers {int(cpus)} or fewer, or add nodes."
                )
            self._remote_cls = self.ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(EnvRunner)
            self.runners = [self._new_runner() for _ in range(cfg.workers)]
            # Wait for every runner's imports here, off the training clock (the monitor starts later).
            self.ray.get([runner.where.remote() for runner in self.runners])
        except BaseException:
            self._shutdown()
            raise
        self.startup_s = time.monotonic() - began
        self._gcs = _gcs_endpoint(self.ray)
        self._head_probed = time.monotonic()
        self.head_lost = False
        self.incarnations = Incarnations(cfg.workers, parts.incarnation)
        self._first_incarnation = parts.incarnation
        self.inflight: dict = {}  # ObjectRef of a job -> (rank, incarnation of the runner it went to)
        self.locating: dict = {}  # ObjectRef of a setup -> rank
        self.nodes: dict[int, str] = {}  # rank -> node id of its runner
        self.nodes_used: set[str] = set()  # every node that has held a runner in this run
        self.nodes_lost: set[str] = set()  # of those, the ones that left the cluster
        self.dead: list[tuple[int, str]] = []  # (rank, why) waiting for supervise()
        self.inbox: list[Message] = []
        self.restarts = 0
        self.version = 0  # updates applied by this engine: the version stamped on weights
        self._weights: tuple[int, object] | None = None  # (version, vector or ObjectRef) of the last weights
        self.lag = PolicyLag()

    def _new_runner(self):
        # SPREAD: runners go to different nodes where they can, so a run uses the whole cluster.
        return self._remote_cls.options(scheduling_strategy="SPREAD").remote(self.cfg)

    # ----- the Engine interface -----

    def start(self) -> None:
        for rank in range(self.cfg.workers):
            self._setup(rank)
        self._locate(wait=True)
        self.inbox.append(
            Event(
                f"ray: {self.cfg.workers} env runners on {len(set(self.nodes.values()))} node(s) "
                f"({self.ray.cluster_resources().get('CPU', 0):g} CPUs in the cluster); Ray start-up took "
                f"{self.startup_s:.1f} s, before the training clock started"
            )
        )

    def drain(self, timeout: float) -> list[Message]:
        self._check_head()
        self._locate()
        if self.inflight:
            refs = list(self.inflight)
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
            if ready:  # and whatever else is ready by now
                ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                rank, incarnation = self.inflight.pop(ref)
                if incarnation != self.incarnations[rank] or any(rank == r for r, _ in self.dead):
                    continue  # a job of a runner already replaced, or about to be
                try:
                    result = self.ray.get(ref)
                except self.ray.exceptions.RayTaskError as exc:  # a Python error in the runner
                    self.inbox.append(Crash("env runner", rank, str(exc)))
                    self.dead.append((rank, "raised an error"))
                    continue
                except self.ray.exceptions.RayError as exc:  # its process or node is gone
                    self.dead.append((rank, f"died ({type(exc).__name__})"))
                    continue
                self.inbox.extend(env_error_messages(rank, result))
                self._merge_reward_stats(rank, result)
                self._received(rank, result)
            self._after_drain()
        elif timeout > 0:
            time.sleep(timeout)
        messages, self.inbox = self.inbox, []
        return messages

    def supervise(self) -> list[str]:
        if self.dead:  # a runner's death may be the head's: find out before asking the GCS for anything
            self._check_head(now=True)
        events = []
        gone = self._lost_nodes({self.nodes[rank] for rank, _ in self.dead if rank in self.nodes})
        for rank, why in self.dead:
            node = self.nodes.get(rank)
            if node in gone:
                why += f": its node {node[:8]} left the cluster"
                self.nodes_lost.add(node)
            old = self.runners[rank]
            try:
                self.ray.kill(old, no_restart=True)
            except Exception:  # already gone with its node
                pass
            self.runners[rank] = self._new_runner()
            self.incarnations.bump(rank)
            self.restarts += 1
            self.nodes.pop(rank, None)
            self._setup(rank)  # its imports run while the others go on training
            events.append(f"env runner {rank} {why}; replaced it (incarnation {self.incarnations[rank]})")
        self.dead = []
        return events

    def _lost_nodes(self, candidates: set[str]) -> set[str]:
        """Those of the candidate nodes that are gone: marked dead by the cluster, or whose raylet
        no longer answers (the cluster's health checks take seconds to notice a machine that
        dropped off, and a run can end before they do)."""
        if not candidates:
            return set()
        try:
            nodes = [n for n in self.ray.nodes() if n["NodeID"] in candidates]
        except Exception:  # the cluster cannot say right now; the runner is replaced all the same
            return set()
        return {
            n["NodeID"]
            for n in nodes
            if not n.get("Alive", True) or not _answers(n.get("NodeManagerAddress"), n.get("NodeManagerPort"))
        }

    def summary_facts(self) -> dict[str, Any]:
        return dict(
            env_runners=self.cfg.workers,
            nodes=len(self.nodes_used),
            nodes_lost=len(self.nodes_lost),
            restarts=self.restarts,
        )

    def extra_metrics(self) -> dict[str, float | None]:
        return dict(
            env_runners=self.cfg.workers,
            nodes=len(set(self.nodes.values())),
            restarts=self.restarts,
            policy_lag=self.lag.take(),
        )

    def close(self) -> list[Message]:
        self._shutdown()
        messages, self.inbox = self.inbox, []
        return messages

    # ----- plumbing -----

    def _check_head(self, now: bool = False) -> None:
        """Stop the run (RunFailed: checkpoint, summary.json, exit 1) once the head node's GCS no
        longer answers; asked at most every HEAD_PROBE_EVERY_S unless now."""
        if not now and time.monotonic() - self._head_probed < HEAD_PROBE_EVERY_S:
            return
        self._head_probed = time.monotonic()
        if _answers(*self._gcs) or _answers(*self._gcs):  # twice: one refused connection is not a lost node
            return
        self.head_lost = True
        host, port = self._gcs
        raise RunFailed(
            f"lost the Ray cluster's head node: its GCS at {host}:{port} no longer answers. The run "
            "stopped with a checkpoint; once a cluster is up again, continue with "
            "`a3c train --resume RUN_DIR` (add --ray-address for a new head's address)"
        )

    def _setup(self, rank: int) -> None:
        """Build the runner's envs and model, then give it its first job. Calls from one caller run
        in order on an actor, so the job waits for setup; setup's reply tells us the node."""
        self.locating[self.runners[rank].setup.remote(rank, self.incarnations[rank])] = rank
        for _ in range(self.cfg.ray_jobs_per_runner):
            self._dispatch(rank)

    def _locate(self, wait: bool = False) -> None:
        """Note the node of each runner whose setup has answered (all of them, if wait)."""
        if not self.locating:
            return
        refs = list(self.locating)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=None if wait else 0)
        for ref in ready:
            rank = self.locating.pop(ref)
            try:
                node = self.nodes[rank] = self.ray.get(ref)["node_id"]
            except Exception:  # it died during setup: its job fails too, and supervise() replaces it
                continue
            self.nodes_used.add(node)
            incarnation = self.incarnations[rank]
            if incarnation > self._first_incarnation:  # a replacement: say where it went
                self.inbox.append(Event(f"env runner {rank} (incarnation {incarnation}) runs on node {node[:8]}"))

    def _weights_arg(self):
        """The current weights for a job: a small vector goes by value, inline with the call (Ray
        inlines arguments up to 100 KB, where a ray.put costs a trip through the object store: a
        third of the driver's time on CartPole); a large one is put in the object store once per
        version and shared by every runner."""
        if self._weights is None or self._weights[0] != self.version:
            vector = params_to_vector(self.model)
            self._weights = (self.version, vector if vector.nbytes <= INLINE_BYTES else self.ray.put(vector))
        return self._weights[1]

    def _merge_reward_stats(self, rank: int, result: dict) -> None:
        """A runner's return statistics into its row of the run's table (a row per runner, as per
        local worker); the totals go out with the next weights."""
        normalizer = self.model.reward_norm
        if normalizer is not None and result.get("reward_moments") is not None:
            normalizer.table.merge(rank, result["reward_moments"])
            normalizer.publish()

    def _shutdown(self) -> None:
        if getattr(self, "head_lost", False):  # every call below would wait on the lost GCS
            self.runners, self.inflight = [], {}
            return
        for runner in getattr(self, "runners", []):
            try:
                self.ray.kill(runner, no_restart=True)
            except Exception:
                pass
        self.runners = []
        self.inflight = {}
        if self._ours and self.ray.is_initialized():
            self.ray.shutdown()

    def _dispatch(self, rank: int) -> None:
        """Send runner `rank` a job with the current weights; its ref remembers which incarnation
        of the runner it went to, so a replaced runner's results are dropped."""
        self.inflight[self._submit(rank)] = (rank, self.incarnations[rank])

    def _submit(self, rank: int):
        raise NotImplementedError

    def _received(self, rank: int, result: dict) -> None:
        raise NotImplementedError

    def _after_drain(self) -> None:
        pass


class RayA3CEngine(_RayEngine):
    """A3C on Ray: asynchronous gradients from EnvRunners, applied in arrival order by the driver."""

    def __init__(self, parts: EngineParts):
        super().__init__(parts)
        self.learner = Learner(self.cfg, self.model, self.optimizer, self.counters)

    def _submit(self, rank: int):
        return self.runners[rank].a3c_step.remote(self.version, self._weights_arg())

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's weights and optimizer statistics in place (after repeated NaN/inf
        updates); as a new version, they go to each runner with its next job."""
        self.learner.load_weights(model_tensors, optim_tensors)
        self.version = self.learner.version

    def _received(self, rank: int, result: dict) -> None:
        for gradient in result["gradients"]:  # in the order the runner computed them
            self._apply(rank, gradient, result["version"])
        self._dispatch(rank)  # with the weights these gradients just changed

    def _apply(self, rank: int, gradient: dict, version: int) -> None:
        # A NaN/inf gradient would poison the weights for good: the learner skips it, and counts it.
        if not self.learner.apply(
            gradient["grads"], env_steps=gradient["env_steps"], episodes=len(gradient["returns"])
        ):
            self.inbox.append(Report(rank, gradient["returns"], gradient["lengths"], nonfinite=1))
            return
        if self.model.obs_norm is not None and gradient.get("obs_moments") is not None:
            self.model.obs_norm.merge(rank, gradient["obs_moments"])  # a row per runner, as per local worker
            self.model.obs_norm.publish()
        self.lag.record(self.version, version)
        self.version = self.learner.version
        metrics = dict(gradient["sums"], lr_scale=self.learner.lr_scale)
        if "approx_kl" in metrics:
            self.learner.observe_kl(metrics["approx_kl"])
        counts = dict.fromkeys(metrics, 1)
        self.inbox.append(Report(rank, gradient["returns"], gradient["lengths"], metrics, count=1, counts=counts))


class RayGA3CEngine(_RayEngine):
    """GA3C on Ray, IMPALA-style: EnvRunners act, the driver batches their segments and trains with V-trace."""

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's weights and optimizer statistics in place (after repeated NaN/inf
        updates); as a new version, they go to each runner with its next job."""
        self.shared.learner.load_weights(model_tensors, optim_tensors)

    columns = _RayEngine.columns + ("importance_ratio",)

    def __init__(self, parts: EngineParts):
        from a3c.engines.ga3c.shared_model import SharedModel
        from a3c.engines.ga3c.stats import Stats
        from a3c.engines.ga3c.trainer import BatchUpdate

        super().__init__(parts)
        cfg = self.cfg
        self.device = next(self.model.parameters()).device
        self.shared = SharedModel(cfg, self.model, self.optimizer, self.counters)
        self.stats = Stats()
        self.lag = self.stats.lag  # BatchUpdate records each applied update's
        dist = distribution_for(parts.action_space, cfg.action_squash)
        # The GA3C trainer's own update, called in the driver's loop: no thread is started.
        self.update = BatchUpdate(0, cfg, self.shared, dist, self.stats, self.device)
        self.local = self.update.private_copy()
        self.pending: list[tuple[Rollout, torch.Tensor]] = []  # segments and their acting versions [T]
        self.waiting: list[int] = []  # ranks whose segment arrived, to be sent back out after training
        self._ratio_sum, self._ratio_count = 0.0, 0

    def _submit(self, rank: int):
        self.version = self.shared.version
        return self.runners[rank].ga3c_segment.remote(self.version, self._weights_arg())

    def _received(self, rank: int, result: dict) -> None:
        segment = Rollout(**{name: torch.from_numpy(np.array(a)) for name, a in result["segment"].items()})
        self.pending.append((segment, torch.full((segment.t_max,), result["version"], dtype=torch.int64)))
        self.counters.add(env_steps=result["env_steps"], episodes=len(result["returns"]))
        self.inbox.append(Report(rank, result["returns"], result["lengths"]))
        self.waiting.append(rank)

    def _after_drain(self) -> None:
        # Train first, then send the runners out with the weights that training produced.
        while len(self.pending) >= self.cfg.train_batch:
            batch, self.pending = take_batch(self.pending, self.cfg.max_train_batch)
            before = self.stats.totals()
            applied = self.update.train(
                self.local, Rollout.concat([seg for seg, _ in batch]), torch.stack([versions for _, versions in batch])
            )
            if applied:  # a skipped update measured no lag and no ratio: it must not pull the means down
                after = self.stats.totals()
                self._ratio_sum += after.ratio_sum - before.ratio_sum
                self._ratio_count += 1
        losses = self.stats.take_loss_report()
        if losses is not None:
            self.inbox.append(losses)
        for rank in self.waiting:
            self._dispatch(rank)
        self.waiting = []

    def extra_metrics(self) -> dict[str, float | None]:
        ratio = self._ratio_sum / self._ratio_count if self._ratio_count else None
        self._ratio_sum, self._ratio_count = 0.0, 0
        return dict(super().extra_metrics(), importance_ratio=ratio)
