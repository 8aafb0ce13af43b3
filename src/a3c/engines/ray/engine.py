"""The Ray engine. The learner stays in the driver (the `a3c train` process: model, optimizer,
counters, checkpoints, stop rules, as for the local engines); `workers` EnvRunner actors, spread
over the cluster's nodes, step the envs.

One RayEngine owns the runners, their jobs and their supervision, and takes an algorithm part
(algorithms.py) for what it does with the results: RayA3C applies gradients, RayGA3C trains
batches of segments. RayA3CEngine and RayGA3CEngine are those two wirings.

Each runner has `ray_jobs_per_runner` jobs queued, each from the weights current when it was
sent, stamped with the learner's version. A runner that dies (killed process, lost node, a
Python error) is replaced by a new actor on a fresh random stream; the run goes on. Whether its
node left the cluster, and whether the head node still answers, is health.py's to say: a lost
head ends the run as a local crash does (checkpoint, summary.json, exit 1), and `--resume`
continues once a cluster is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.messages import Crash, EnvError, Event, Message
from a3c.engines.ray.algorithms import Outcome, RayA3C, RayAlgorithm, RayGA3C
from a3c.engines.ray.cluster import connect
from a3c.engines.ray.health import HeadWatch, Placement, gcs_endpoint, node_states
from a3c.engines.ray.jobs import JobResult
from a3c.engines.ray.runner import EnvRunner
from a3c.engines.weights import params_to_vector
from a3c.errors import UserError

# Ray's max_direct_call_object_size: arguments up to this size travel inline with a call.
INLINE_BYTES = 100 * 1024
LOCATE_AT_CLOSE_S = 20.0  # a replacement's imports take seconds; a hung one must not hold the run's end
COLUMNS: tuple[str, ...] = ("env_runners", "nodes", "restarts")  # then the algorithm part's


def resolve_config(cfg):
    """cfg as it is. GA3C on Ray always trains with V-trace, and Config itself now forces it
    (config.py, Config.__post_init__); kept for benchmarks/ray_bytes.py, which still calls this."""
    return cfg


class RayEngine:
    """The runners, their jobs and their supervision; `algorithm` makes updates of the results."""

    progress_fields: tuple[str, ...] = ("lag={policy_lag:.2f}",)

    def __init__(self, parts: EngineParts, algorithm: RayAlgorithm):
        cfg = self.cfg = parts.cfg
        self.model, self.algorithm = parts.model, algorithm
        self.statistics = algorithm.statistics
        self.columns = COLUMNS + algorithm.columns
        self.runners: list[Any] = []  # actor handles, by rank
        self.jobs: dict[Any, tuple[int, int]] = {}  # ObjectRef of a job -> (rank, incarnation it went to)
        began = time.monotonic()
        self.ray, self._ours = connect(cfg, cpus_wanted=cfg.workers)
        self.head = HeadWatch(gcs_endpoint(self.ray))
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
        self.incarnations = Incarnations(cfg.workers, parts.incarnation)
        self._first_incarnation = parts.incarnation
        self.placement = Placement()
        self.locating: dict[Any, int] = {}  # ObjectRef of a setup -> rank
        self.dead: list[tuple[int, str]] = []  # (rank, why) waiting for supervise()
        self.inbox: list[Message] = []
        self.restarts = 0
        self._weights: tuple[int, object] | None = None  # (version, vector or ObjectRef) of the last weights

    # ----- the Engine interface -----

    def start(self) -> None:
        for rank in range(self.cfg.workers):
            self._setup(rank)
        self._locate(wait=True)
        self.inbox.append(
            Event(
                f"ray: {self.cfg.workers} env runners on {self.placement.nodes_now()} node(s) "
                f"({self.ray.cluster_resources().get('CPU', 0):g} CPUs in the cluster); Ray start-up took "
                f"{self.startup_s:.1f} s, before the training clock started"
            )
        )

    def drain(self, timeout: float) -> list[Message]:
        self.head.check()
        self._locate()
        if self.jobs:
            for rank, result in self._finished(timeout):
                self.inbox.extend(EnvError(rank, error) for error in result.env_errors)
                self._merge_reward_stats(rank, result)
                self._act_on(self.algorithm.received(rank, result))
            self._act_on(self.algorithm.after_drain())
        elif timeout > 0:
            time.sleep(timeout)
        messages, self.inbox = self.inbox, []
        return messages

    def supervise(self) -> list[str]:
        if not self.dead:
            return []
        self.head.check(now=True)  # a runner's death may be the head's: find out before asking the GCS
        suspects = self.placement.suspects(rank for rank, _ in self.dead)
        states = node_states(self.ray, suspects) if suspects else []
        events = []
        for rank, why in self.placement.decide(self.dead, states):
            self._replace(rank)
            events.append(f"env runner {rank} {why}; replaced it (incarnation {self.incarnations[rank]})")
        self.dead = []
        return events

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's weights and optimizer statistics in place (after repeated NaN/inf
        updates); as a new version, they go to each runner with its next job."""
        self.algorithm.learner.load_weights(model_tensors, optim_tensors)

    def extra_metrics(self) -> dict[str, float | None]:
        return dict(
            env_runners=self.cfg.workers,
            nodes=self.placement.nodes_now(),
            restarts=self.restarts,
            **self.algorithm.metrics(),
        )

    def summary_facts(self) -> dict[str, Any]:
        return dict(
            env_runners=self.cfg.workers,
            nodes=len(self.placement.used),
            nodes_lost=len(self.placement.lost),
            restarts=self.restarts,
        )

    def close(self) -> list[Message]:
        # A runner replaced near the end may not have said where it runs yet; it has held a node all
        # the same, so summary.json's node count waits a little for its answer before the kill.
        if not self.head.lost:
            self._locate(wait=True, timeout=LOCATE_AT_CLOSE_S)
        self._shutdown()
        messages, self.inbox = self.inbox, []
        return messages

    # ----- runners and their jobs -----

    def _new_runner(self):
        # SPREAD: runners go to different nodes where they can, so a run uses the whole cluster.
        return self._remote_cls.options(scheduling_strategy="SPREAD").remote(self.cfg)

    def _setup(self, rank: int) -> None:
        """Build the runner's envs and model, then give it its first jobs. Calls from one caller run
        in order on an actor, so the jobs wait for setup; setup's reply tells us the node."""
        self.locating[self.runners[rank].setup.remote(rank, self.incarnations[rank])] = rank
        for _ in range(self.cfg.ray_jobs_per_runner):
            self._dispatch(rank)

    def _dispatch(self, rank: int) -> None:
        """Send runner `rank` a job with the current weights; its ref remembers which incarnation
        of the runner it went to, so a replaced runner's results are dropped."""
        version = self.algorithm.learner.version
        ref = self.algorithm.submit(self.runners[rank], version, self._weights_arg(version))
        self.jobs[ref] = (rank, self.incarnations[rank])

    def _act_on(self, outcome: Outcome) -> None:
        self.inbox.extend(outcome.messages)
        for rank in outcome.send:
            self._dispatch(rank)

    def _finished(self, timeout: float) -> Iterator[tuple[int, JobResult]]:
        """(rank, result) of each job done by now, after waiting up to `timeout` for the first, from
        runners still current; a runner whose job failed joins self.dead for supervise()."""
        refs = list(self.jobs)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:  # and whatever else is ready by now
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            rank, incarnation = self.jobs.pop(ref)
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
            yield rank, result

    def _replace(self, rank: int) -> None:
        try:
            self.ray.kill(self.runners[rank], no_restart=True)
        except Exception:  # already gone with its node
            pass
        self.runners[rank] = self._new_runner()
        self.incarnations.bump(rank)
        self.restarts += 1
        self._setup(rank)  # its imports run while the others go on training

    def _locate(self, wait: bool = False, timeout: float | None = None) -> None:
        """Note the node of each runner whose setup has answered (if wait: all of them, or as
        many as answer within timeout seconds)."""
        if not self.locating:
            return
        refs = list(self.locating)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=timeout if wait else 0)
        for ref in ready:
            rank = self.locating.pop(ref)
            try:
                node = self.ray.get(ref).node_id
            except Exception:  # it died during setup: its job fails too, and supervise() replaces it
                continue
            self.placement.placed(rank, node)
            incarnation = self.incarnations[rank]
            if incarnation > self._first_incarnation:  # a replacement: say where it went
                self.inbox.append(Event(f"env runner {rank} (incarnation {incarnation}) runs on node {node[:8]}"))

    def _weights_arg(self, version: int):
        """The weights of `version` (the current ones) for a job: a small vector goes by value,
        inline with the call (Ray inlines arguments up to 100 KB, where a ray.put costs a trip
        through the object store: a third of the driver's time on CartPole); a large one is put
        in the object store once per version and shared by every runner."""
        if self._weights is None or self._weights[0] != version:
            vector = params_to_vector(self.model)
            self._weights = (version, vector if vector.nbytes <= INLINE_BYTES else self.ray.put(vector))
        return self._weights[1]

    def _merge_reward_stats(self, rank: int, result: JobResult) -> None:
        """A runner's return statistics into its row (a row per runner, as per local worker); the
        totals, published into the model's buffers, go out with the next weights."""
        returns = self.statistics.writer("runner", rank).returns
        if returns is not None and result.reward_moments is not None:
            returns.add(result.reward_moments)
            self.statistics.publish()

    def _shutdown(self) -> None:
        if self.head.lost:  # every call below would wait on the lost GCS
            self.runners, self.jobs = [], {}
            return
        for runner in self.runners:
            try:
                self.ray.kill(runner, no_restart=True)
            except Exception:
                pass
        self.runners, self.jobs = [], {}
        if self._ours and self.ray.is_initialized():
            self.ray.shutdown()


class RayA3CEngine(RayEngine):
    """A3C on Ray: asynchronous gradients from EnvRunners, applied in arrival order by the driver."""

    columns: tuple[str, ...] = COLUMNS + RayA3C.columns

    def __init__(self, parts: EngineParts):
        super().__init__(parts, RayA3C(parts))


class RayGA3CEngine(RayEngine):
    """GA3C on Ray, IMPALA-style: EnvRunners act, the driver batches their segments and trains with V-trace."""

    columns: tuple[str, ...] = COLUMNS + RayGA3C.columns

    def __init__(self, parts: EngineParts):
        super().__init__(parts, RayGA3C(parts))
