"""What the main loop does with an engine's messages: episode returns and losses to the monitor,
crashes and env errors to events.log (one traceback per kind), and NaN/inf updates to the guard,
which puts the last good checkpoint back when they keep coming."""

from __future__ import annotations

from a3c.checkpoint import load_checkpoint
from a3c.engines.messages import Crash, EnvError, Event, Message, Report
from a3c.errors import RunFailed


class NonFiniteGuard:
    """The main process's view of skipped NaN/inf updates. Engines skip such an update and
    report it; `patience` of them in a row restore the last good checkpoint's weights and
    optimizer state, and `max_restores` restores with no good checkpoint in between stop the run."""

    def __init__(self, patience: int, max_restores: int):
        self.patience, self.max_restores = patience, max_restores
        self.total = 0
        self.streak = 0  # skipped updates since the last applied one
        self.restores = 0  # restores since the last good checkpoint
        self.last_good: str | None = None  # a checkpoint written while updates were finite

    def record(self, applied: int, skipped: int) -> bool:
        """Count one report's updates; True when the streak calls for a restore."""
        self.total += skipped
        if skipped:
            self.streak = skipped if applied else self.streak + skipped
        elif applied:
            self.streak = 0
        return self.streak >= self.patience

    def saved(self, path: str) -> None:
        if self.streak == 0:
            self.last_good = path
            self.restores = 0


class MessageHandler:
    def __init__(self, engine, monitor, counters, guard: NonFiniteGuard):
        self.engine, self.monitor, self.counters, self.guard = engine, monitor, counters, guard
        self.env_errors = 0
        self._env_error_kinds: set[str] = set()

    def handle(self, msg: Message) -> None:
        monitor, guard = self.monitor, self.guard
        match msg:
            case Report():
                monitor.record_episodes(msg.returns, self.counters.env_steps, msg.lengths, msg.rank)
                if msg.sums:
                    monitor.record_losses(msg.sums, msg.counts)
                if msg.nonfinite and guard.streak == 0:  # once per streak, not once per update
                    who = "the trainers" if msg.rank < 0 else f"worker {msg.rank}"
                    monitor.event(
                        f"non-finite loss or gradient (NaN/inf) from {who}: update skipped "
                        f"({guard.total + msg.nonfinite} skipped so far)"
                    )
                if guard.record(msg.count, msg.nonfinite):
                    self._recover_from_nonfinite()
            case Crash():
                monitor.event(f"{msg.role} {msg.rank} crashed:\n{msg.error.rstrip()}")
            case EnvError():
                self._env_error(msg)
            case Event():
                monitor.event(msg.text)

    def _env_error(self, msg: EnvError) -> None:
        # Each env that raised was rebuilt where it ran; one traceback per kind of failure is enough.
        self.env_errors += 1
        lines = msg.error.rstrip().splitlines()
        kind = lines[-1] if lines else "?"
        if kind not in self._env_error_kinds:
            self._env_error_kinds.add(kind)
            self.monitor.event(
                f"env of worker {msg.rank} raised (rebuilt it; further errors of this kind "
                f"are only counted in metrics.csv env_errors):\n{msg.error.rstrip()}"
            )

    def _recover_from_nonfinite(self) -> None:
        guard = self.guard
        if guard.last_good is None or guard.restores >= guard.max_restores:
            raise RunFailed(
                f"updates keep coming out NaN/inf ({guard.streak} in a row, {guard.total} in all) and "
                + (
                    "there is no good checkpoint to go back to"
                    if guard.last_good is None
                    else f"restoring the last good checkpoint {guard.restores} times did not help"
                )
                + "; stopping. Check the env's rewards and observations for NaN/inf or huge values, "
                "or lower lr or reward_scale."
            )
        sidecar, model_tensors, optim_tensors = load_checkpoint(guard.last_good)
        self.engine.load_weights(model_tensors, optim_tensors)
        guard.restores += 1
        self.monitor.event(
            f"{guard.streak} NaN/inf updates in a row: restored weights and optimizer state from "
            f"{sidecar['path']} (restore {guard.restores} of at most {guard.max_restores})"
        )
        guard.streak = 0
