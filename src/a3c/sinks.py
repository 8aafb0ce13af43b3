"""Where a run's records go: metrics.csv, episodes.csv, TensorBoard, the progress display and
events.log, each a sink behind one record interface.

The monitor builds each record once and hands the same one to every sink:
  row(row)        a metrics row: {column: value}, numbers already as metrics.csv writes them
                  ("" for none), one per log interval
  episodes(rows)  finished training episodes: {wall_s, env_steps, worker, return, length} each
  event(line)     a line of news, its time already in front: "[    12.3s] worker 1 crashed ..."
  close()         at the end of the run
A sink takes what it shows and ignores the rest. None computes a number of the run.
"""

from __future__ import annotations

import csv
import os
import string
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

# One row per finished training episode; `worker` is the rank of the worker or agent that ran it,
# env_steps the run's total when the main process heard of it.
EPISODE_COLUMNS = ("wall_s", "env_steps", "worker", "return", "length")
PLAIN_PROGRESS_EVERY_S = 10.0  # a progress line at most this often when stderr is not a terminal


class Sink:
    """The record interface (see the module docstring); each method does nothing unless a sink
    has a use for that record."""

    def row(self, row: dict[str, Any]) -> None:
        pass

    def episodes(self, rows: Sequence[dict[str, Any]]) -> None:
        pass

    def event(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass


class _CsvSink(Sink):
    """A CSV file that rows are appended to under the file's own header, so a resumed run keeps
    its columns. With `resume_at` (the env_steps of the checkpoint resumed from) the rows written
    after that checkpoint, by a run killed before its next one, go first; `dropped` says how many."""

    def __init__(self, path: Path, columns: Sequence[str], resume_at: int | None = None):
        self.path = Path(path)
        self.dropped = 0 if resume_at is None else drop_rows_after(self.path, resume_at)
        self._file, self._writer = open_csv(self.path, columns)

    def close(self) -> None:
        self._file.close()


class MetricsCsv(_CsvSink):
    """metrics.csv: one line per metrics row, flushed at once."""

    def row(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()


class EpisodesCsv(_CsvSink):
    """episodes.csv: one line per finished episode, flushed with each metrics row (episodes come
    far more often than rows)."""

    def __init__(self, path: Path, resume_at: int | None = None):
        super().__init__(path, EPISODE_COLUMNS, resume_at)

    def episodes(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self._writer.writerow(row)

    def row(self, row: dict[str, Any]) -> None:
        self._file.flush()


class EventsLog(Sink):
    """events.log: every event line, appended and flushed at once (a crash keeps what led to it)."""

    def __init__(self, path: Path):
        self._file = open(path, "a")

    def event(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TensorBoardSink(Sink):
    """tb/: each number of a metrics row as the scalar train/<column>, at the row's env_steps."""

    def __init__(self, log_dir: Path):
        from torch.utils.tensorboard import SummaryWriter  # slow to import: only when asked for

        self._writer = SummaryWriter(str(log_dir))

    def row(self, row: dict[str, Any]) -> None:
        for key, value in row.items():
            if key != "env_steps" and isinstance(value, (int, float)):
                self._writer.add_scalar(f"train/{key}", value, row["env_steps"])

    def close(self) -> None:
        self._writer.close()


class ProgressSink(Sink):
    """What a person watching sees on stderr: a progress bar on a terminal, and in a log file (where
    a bar's carriage-return frames are noise) the same news as a plain line at most every
    `plain_every_s` seconds; events are printed as they come.

    The news is return100, eps and fps, then `fields`: str.format templates on the row that the
    engine declares (GA3C's "pps={pps:,.0f}"), each shown when the columns it names hold numbers."""

    def __init__(
        self,
        env_id: str,
        total_steps: int,
        initial_steps: int = 0,
        fields: Sequence[str] = (),
        terminal: bool | None = None,
        plain_every_s: float | None = None,
        stream: TextIO | None = None,
    ):
        self.env_id, self.total_steps, self.fields = env_id, total_steps, tuple(fields)
        self.stream = stream or sys.stderr
        self.plain = not (is_terminal(self.stream) if terminal is None else terminal)
        self.plain_every_s = PLAIN_PROGRESS_EVERY_S if plain_every_s is None else plain_every_s
        self._last_plain = time.monotonic()
        self._bar = tqdm(
            total=total_steps,
            initial=initial_steps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=self.plain,
            file=self.stream,
            desc=env_id,
        )

    def postfix(self, row: dict[str, Any]) -> str:
        mean = row["mean_return_100"]
        text = f"return100={'-' if mean == '' else f'{mean:.1f}'} eps={row['episodes']} fps={row['fps']:,.0f}"
        for template in self.fields:
            names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
            if all(_is_number(row.get(name)) for name in names):
                text += " " + template.format(**row)
        return text

    def row(self, row: dict[str, Any]) -> None:
        env_steps = row["env_steps"]
        postfix = self.postfix(row)
        self._bar.update(max(0, min(env_steps, self.total_steps) - self._bar.n))
        self._bar.set_postfix_str(postfix, refresh=True)
        now = time.monotonic()
        if self.plain and now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            print(
                f"[{row['wall_s']:8.1f}s] {self.env_id} env_steps={env_steps:,}/{self.total_steps:,} {postfix}",
                file=self.stream,
                flush=True,
            )

    def event(self, line: str) -> None:
        tqdm.write(line, file=self.stream)

    def close(self) -> None:
        self._bar.close()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def open_csv(path: Path, columns: Sequence[str]):
    """A writer that appends rows under the file's own header (a resumed run keeps its columns)."""
    header: list[str] = []
    if path.exists():
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
    handle = open(path, "a", newline="")
    writer = csv.DictWriter(handle, fieldnames=header or list(columns), extrasaction="ignore")
    if not header:  # a new file, or one a run killed before its first row left empty
        writer.writeheader()
        handle.flush()
    return handle, writer


def drop_rows_after(path: Path, env_steps: int) -> int:
    """Rewrite a CSV without the rows past env_steps: those of a run killed after its last checkpoint,
    which the resumed run is about to make again. Returns how many rows went."""
    if not path.exists():
        return 0
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or "env_steps" not in rows[0]:
        return 0
    column = rows[0].index("env_steps")

    def keep(row: list[str]) -> bool:
        if len(row) != len(rows[0]):
            return False  # a row cut off mid-write by the kill
        try:
            return int(float(row[column])) <= env_steps
        except ValueError:
            return False

    kept = [rows[0]] + [row for row in rows[1:] if keep(row)]
    if len(kept) == len(rows):
        return 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(kept)
    os.replace(tmp, path)
    return len(rows) - len(kept)
