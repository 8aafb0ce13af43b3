"""The interface between the main loop (training.py) and an engine.

An engine owns the processes, threads and queues that turn env steps into updates of the
global model; the main loop owns everything else. The loop, in full:

    engine = make_engine(parts)              # engines.factory; parts: config, model, optimizer, counters, env
    engine.start()
    while no stop rule has fired:
        for msg in engine.drain(timeout):    # reports, crash notes, events
            ...                              # monitor.record_* / events.log
        for line in engine.supervise():      # restart what died; one events.log line each
            ...
        monitor.log(..., engine.extra_metrics())   # when a row is due
    leftover = engine.close()                # stop everything; reports still in flight
    summary["engine"] = engine.summary_facts()   # how it ran: processes, nodes, replacements

and, at any time between start() and close():
    engine.load_weights(model, optimizer)    # NaN/inf streak: put the last good checkpoint back
    engine.incarnations.next()               # saved with each checkpoint, for the resume after it
    engine.statistics.publish()              # normalization statistics into the model, before a checkpoint

Messages are engines.messages' dataclasses, which the loop matches on: Report (a rank's
finished episodes and summed loss terms), Crash (a role that died, and why), EnvError (an env
that raised and was rebuilt) and Event (a line for events.log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from a3c.engines.messages import Message
from a3c.normalization import Statistics


@dataclass
class EngineParts:
    """What every engine is built from: the run's config, the global model and optimizer (in shared
    memory, on the device they train on), the counters, the multiprocessing context, and the env as
    the main process probed it once (its observation spec and action space)."""

    cfg: Any  # a3c.config.Config
    model: Any  # a3c.models.ActorCritic
    optimizer: Any  # a3c.optim's shared optimizer
    counters: Any  # engines.counters.SharedCounters
    ctx: Any  # a multiprocessing context
    spec: Any  # envs.ObsSpec
    action_space: Any  # gymnasium.Space
    # The incarnation every child starts at: 0 on a fresh run; on a resumed run one no child of
    # the run has had, so the children draw from random streams their predecessors did not use.
    incarnation: int = 0


class Incarnations:
    """Each rank's incarnation: the number that, with the seed and the rank, picks a child's random
    streams. A rank's child that is replaced (restarted, re-added) takes the next number."""

    def __init__(self, ranks: int, base: int = 0):
        self._of = [base] * ranks

    def __getitem__(self, rank: int) -> int:
        return self._of[rank]

    def bump(self, rank: int) -> int:
        self._of[rank] += 1
        return self._of[rank]

    def next(self) -> int:
        """An incarnation no child of this run has used: a run resumed from a checkpoint saved now
        starts its children there."""
        return max(self._of) + 1


@runtime_checkable
class Engine(Protocol):
    columns: tuple[str, ...]  # engine-specific metrics.csv columns, the keys of extra_metrics()
    # What the progress line shows of them: str.format templates on the metrics row, such as
    # "lag={policy_lag:.2f}", each shown when the columns it names hold numbers.
    progress_fields: tuple[str, ...]
    incarnations: Incarnations  # each child's; .next() is saved with every checkpoint
    # The run's normalization statistics (normalization.Statistics), made by the engine for its
    # roles; the loop only asks it to publish them into the model before a checkpoint.
    statistics: Statistics

    def start(self) -> None:
        """Start every role. Returns at once; the work goes on until close()."""

    def drain(self, timeout: float) -> list[Message]:
        """The messages waiting, after waiting up to `timeout` seconds for the first."""

    def supervise(self) -> list[str]:
        """Replace any role that died; one line per replacement, for events.log."""

    def extra_metrics(self) -> dict[str, float | None]:
        """Values of `columns` since the previous call (None where there is nothing to report)."""

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's model weights and optimizer statistics in place of the current ones,
        so that every role acts and learns from them from its next step on."""

    def close(self) -> list[Message]:
        """Stop every role and return the messages still in flight. Called once, always."""

    def summary_facts(self) -> dict[str, Any]:
        """How the run was carried out, for summary.json (process counts, nodes, replacements).
        Called after close()."""
