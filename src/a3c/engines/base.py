"""The interface between the main loop (training.py) and an engine.

An engine owns the processes, threads and queues that turn env steps into updates of the
global model; the main loop owns everything else. The loop, in full:

    engine.set_incarnation_base(resumes)     # a resumed run's children get fresh seeds
    engine.start()
    while no stop rule has fired:
        for msg in engine.drain(timeout):    # reports, crash notes, events
            ...                              # monitor.record_* / events.log
        for line in engine.supervise():      # restart what died; one events.log line each
            ...
        monitor.log(..., engine.extra_metrics())   # when a row is due
    leftover = engine.close()                # stop everything; reports still in flight

and, at any time between start() and close():
    engine.load_weights(model, optimizer)    # NaN/inf streak: put the last good checkpoint back
    engine.next_incarnation()                # saved with each checkpoint, for the resume after it

Messages are engines.messages' dataclasses, which the loop matches on: Report (a rank's
finished episodes and summed loss terms), Crash (a role that died, and why), EnvError (an env
that raised and was rebuilt) and Event (a line for events.log).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from a3c.engines.messages import Message


@runtime_checkable
class Engine(Protocol):
    columns: tuple[str, ...]  # engine-specific metrics.csv columns, the keys of extra_metrics()

    def set_incarnation_base(self, base: int) -> None:
        """Called before start() on a resumed run (base = resumes so far), so every child starts
        on random streams its predecessors did not use."""

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

    def next_incarnation(self) -> int:
        """An incarnation number no child of this run has used yet: a run resumed from a checkpoint
        saved now starts its children there, on random streams nothing has drawn from."""

    def close(self) -> list[Message]:
        """Stop every role and return the messages still in flight. Called once, always."""
