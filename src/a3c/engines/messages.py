"""What engines tell the main loop: small typed messages, one class per kind, and the
channels that carry them.

They cross process boundaries as pickles (a report pipe per child: ReportPipes, ReportSender)
or stay in one process (serial and Ray engines, GA3C's threads); a Reporter batches a worker's
episodes and losses into a few Reports a second; the main loop (training.py) matches on
their class.
"""

from __future__ import annotations

import multiprocessing.connection as mp_connection
import time
import traceback
from dataclasses import dataclass, field


@dataclass
class Report:
    """Finished episodes and summed update metrics of one worker, agent or runner (rank), or of the
    learner's updates (rank -1). The metrics are whatever the learning step measured (loss.py's
    LOSS_METRICS), each summed over the updates that measured it."""

    rank: int
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0  # updates applied
    nonfinite: int = 0  # updates skipped because their loss or gradient was NaN/inf
    counts: dict[str, int] = field(default_factory=dict)  # per metric, the updates in its sum


class MetricSums:
    """Per-metric sums and counts of update metrics (a metric measured on some updates only, such
    as approx_kl, is averaged over those)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict[str, float], times: int = 1) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + times

    def merge(self, sums: dict[str, float], counts: dict[str, int]) -> None:
        for key, value in sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + counts.get(key, 0)

    def means(self) -> dict[str, float]:
        return {key: self.sums[key] / n for key, n in self.counts.items() if n}


@dataclass
class Crash:
    """A role about to die, or that died, and why."""

    role: str  # worker, agent, predictor, trainer, adjuster, env runner
    rank: int
    error: str  # a formatted traceback

    @classmethod
    def now(cls, role: str, rank: int) -> Crash:
        """The exception being handled, as a crash of role `rank`."""
        return cls(role, rank, traceback.format_exc(limit=8))


@dataclass
class EnvError:
    """An env of worker, agent or runner `rank` raised; it was rebuilt where it ran."""

    rank: int
    error: str  # the traceback


@dataclass
class Event:
    """A line for events.log."""

    text: str


Message = Report | Crash | EnvError | Event


class ReportSender:
    """A child's end of its report pipe (what Reporter and report_crash `put` to)."""

    def __init__(self, conn):
        self.conn = conn

    def put(self, message: Message) -> None:
        self.conn.send(message)


class ReportPipes:
    """Messages from the children to the main process: one pipe per child, which only that child writes.

    Not one multiprocessing.Queue for all: a child's queue writes go through a lock shared by
    every writer, held while its feeder thread writes to the pipe, so a child SIGKILLed (or
    stopped) mid-write leaves it taken and every other child's reports wait behind it forever;
    a message cut in half leaves the one reader waiting for its other half. Here a dead child
    only closes its own pipe: the main process reads end-of-file (dropping a half-written
    message with it) and forgets that pipe.
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self._readers: list = []  # also the pipes of dead children, until their last message is read

    def sender(self) -> ReportSender:
        """A new pipe for a child about to start; call started() once it has."""
        reader, writer = self.ctx.Pipe(duplex=False)
        self._readers.append(reader)
        return ReportSender(writer)

    @staticmethod
    def started(sender: ReportSender) -> None:
        """The child holds its end now: close ours, so that its death reads as end-of-file."""
        sender.conn.close()

    def start_child(self, target, name: str, *args):
        """Start a daemon process running target(*args, sender), its reports on a pipe of its own."""
        sender = self.sender()
        proc = self.ctx.Process(target=target, name=name, daemon=True, args=(*args, sender))
        proc.start()
        self.started(sender)
        return proc

    def drain(self, timeout: float) -> list[Message]:
        """Every message waiting: wait up to timeout for the first, then take what is there."""
        if not self._readers:
            time.sleep(timeout)
            return []
        messages: list[Message] = []
        for reader in mp_connection.wait(self._readers, timeout):
            assert isinstance(reader, mp_connection.Connection)
            try:
                while reader.poll():
                    messages.append(reader.recv())
            except (EOFError, OSError):  # the child is gone; so is any message it had half written
                reader.close()
                self._readers.remove(reader)
        return messages

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []


class Reporter:
    """Gathers a worker's episode returns and loss terms and sends them to the main process
    a few times a second, so its report pipe carries small batches rather than one message per step.
    `queue` is anything with put(message): a ReportSender, or the serial engines' inbox."""

    def __init__(self, queue, rank: int, every_s: float = 0.25):
        self.queue, self.rank, self.every_s = queue, rank, every_s
        self._reset()
        self._last = time.monotonic()

    def _reset(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.metrics = MetricSums()
        self.count = 0
        self.nonfinite = 0  # updates skipped because their loss or gradient was NaN/inf

    def episodes(self, stats) -> None:
        for ep in stats:
            self.returns.append(ep.ret)
            self.lengths.append(ep.length)

    def update(self, metrics: dict[str, float]) -> None:
        """An applied update and what it measured."""
        self.metrics.add(metrics)
        self.count += 1

    def skipped(self) -> None:
        self.nonfinite += 1

    def env_errors(self, envs) -> None:
        """Send the tracebacks of env failures since the last call (each env already rebuilt)."""
        for error in envs.take_errors():
            self.queue.put(EnvError(self.rank, error))

    def maybe_send(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        if self.returns or self.count or self.nonfinite:
            self.queue.put(
                Report(
                    self.rank,
                    self.returns,
                    self.lengths,
                    self.metrics.sums,
                    self.count,
                    self.nonfinite,
                    self.metrics.counts,
                )
            )
        self._reset()
        self._last = now


def report_crash(queue, rank: int, role: str) -> None:
    """Tell the main process why this process is about to die (it logs it and restarts us)."""
    try:
        queue.put(Crash.now(role, rank))
    except Exception:  # the queue itself may be gone at shutdown
        pass
