"""The main process's view of training: episode stats and losses in, progress bar (or plain
progress lines when stderr is not a terminal), metrics.csv, episodes.csv, TensorBoard,
events.log and the "solved" stop rule out.

State that must survive a resume (the return window, bests, times to target, wall
seconds already spent) round-trips through `state()` and the `restored` argument. On a
resume, rows that were written after the checkpoint being resumed (a run killed between
checkpoints) are dropped, so env_steps never goes backwards in either CSV.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from a3c.engines.messages import MetricSums
from a3c.loss import LOSS_METRICS
from a3c.stats import RunStats
from a3c.stop_rules import StopRule, stop_rule

BASE_COLUMNS = ("wall_s", "env_steps", "updates", "episodes", "mean_return_100", "fps", *LOSS_METRICS, "lr")
# Columns that measure the machine, not the training: they differ between two runs of the same
# deterministic config (engine columns such as GA3C's pps and tps too). Every other column repeats.
WALL_CLOCK_COLUMNS = ("wall_s", "fps", "pss_mb")
# One row per finished training episode; `worker` is the rank of the worker or agent that ran it,
# env_steps the run's total when the main process heard of it.
EPISODE_COLUMNS = ("wall_s", "env_steps", "worker", "return", "length")
PLAIN_PROGRESS_EVERY_S = 10.0  # a progress line at most this often when stderr is not a terminal


class Monitor:
    def __init__(
        self,
        cfg,
        run_dir: Path,
        target: float | None,
        engine_columns: Sequence[str] = (),
        restored: dict[str, Any] | None = None,
    ):
        restored = restored or {}
        self.cfg, self.run_dir, self.target = cfg, Path(run_dir), target
        self.stats = RunStats(cfg.target_window, target, restored)
        self.wall_before = float(restored.get("wall_seconds", 0.0))
        self.started = time.monotonic()
        self.columns = BASE_COLUMNS + tuple(engine_columns)
        self._metrics = MetricSums()
        self._last_log_time = self.started
        self._last_log_steps: int | None = None
        self._log_step_mark = int(restored.get("env_steps", 0))  # deterministic mode logs by env steps
        self.last_row: dict[str, Any] = {}

        dropped = {}
        if "env_steps" in restored:
            for name in ("metrics.csv", "episodes.csv"):
                dropped[name] = _drop_rows_after(self.run_dir / name, int(restored["env_steps"]))
        self._csv_file, self._csv = _open_csv(self.run_dir / "metrics.csv", self.columns)
        self._episodes_file, self._episodes = _open_csv(self.run_dir / "episodes.csv", EPISODE_COLUMNS)
        self._events = open(self.run_dir / "events.log", "a")
        for name, count in dropped.items():
            if count:
                self.event(
                    f"{name}: dropped {count} rows written after the checkpoint resumed from "
                    f"(env_steps > {restored['env_steps']})"
                )
        self._tb = None
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))
        # A bar only on a terminal: in a log file its carriage-return frames are noise, so there
        # the same news comes as a plain line every PLAIN_PROGRESS_EVERY_S seconds.
        self._plain = cfg.progress and not _is_terminal(sys.stderr)
        self._last_plain = self.started
        self._bar = tqdm(
            total=cfg.total_steps,
            initial=int(restored.get("env_steps", 0)),
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not cfg.progress or self._plain,
            file=sys.stderr,
            desc=cfg.env_id,
        )

    # ----- inputs -----
    def wall_seconds(self) -> float:
        return self.wall_before + (time.monotonic() - self.started)

    def record_episodes(
        self, returns: Sequence[float], env_steps: int, lengths: Sequence[int] = (), worker: int | None = None
    ) -> None:
        wall = round(self.wall_seconds(), 3)
        for i, ret in enumerate(returns):
            self._episodes.writerow(
                dict(
                    wall_s=wall,
                    env_steps=env_steps,
                    worker="" if worker is None else worker,
                    length=lengths[i] if i < len(lengths) else "",
                    **{"return": _num(ret)},
                )
            )
        self.stats.add(returns, wall, env_steps)

    def stop_counting(self) -> None:
        """See RunStats.stop_counting: a run stopped on its target reports the mean that reached it."""
        self.stats.stop_counting()

    def record_losses(self, sums: dict[str, float], counts: dict[str, int]) -> None:
        self._metrics.merge(sums, counts)

    def event(self, message: str) -> None:
        line = f"[{self.wall_seconds():8.1f}s] {message}"
        self._events.write(line + "\n")
        self._events.flush()
        if self.cfg.progress:
            tqdm.write(line, file=sys.stderr)

    # ----- the stop rule -----
    def mean_return(self) -> float | None:
        return self.stats.mean()

    def stop_rule(self, env_steps: int) -> StopRule | None:
        """The stop rule the run has met, if any (stop_rules.stop_rule on this run's window and clock)."""
        return stop_rule(self.cfg, self.target, self.stats.window, env_steps, self.wall_seconds())

    # ----- outputs -----
    def due(self, env_steps: int) -> bool:
        """Time for a metrics row: every log_interval_s seconds, or with deterministic=true every
        log_interval_steps env steps, so two runs of one config log at the same steps."""
        if self.cfg.deterministic:
            return env_steps - self._log_step_mark >= self.cfg.log_interval_steps
        return time.monotonic() - self._last_log_time >= self.cfg.log_interval_s

    def log(self, env_steps: int, updates: int, episodes: int, lr: float, extra: dict[str, float | None]) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last_log_time, 1e-9)
        previous = self._last_log_steps if self._last_log_steps is not None else self._bar.n
        fps = (env_steps - previous) / elapsed
        row: dict[str, Any] = dict(
            wall_s=round(self.wall_seconds(), 3),
            env_steps=env_steps,
            updates=updates,
            episodes=episodes,
            mean_return_100=_num(self.mean_return()),
            fps=round(fps, 1),
            lr=lr,
        )
        means = self._metrics.means()
        for key in LOSS_METRICS:
            row[key] = _num(means.get(key))
        row.update({k: _num(v) for k, v in extra.items()})
        self._csv.writerow(row)
        self._csv_file.flush()
        self._episodes_file.flush()
        self._log_step_mark = env_steps
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("env_steps",) and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", value, env_steps)
        self._metrics = MetricSums()
        self._last_log_time, self._last_log_steps = now, env_steps
        self.last_row = row
        self._bar.update(max(0, min(env_steps, self.cfg.total_steps) - self._bar.n))
        mean = self.mean_return()
        postfix = f"return100={'-' if mean is None else f'{mean:.1f}'} eps={episodes} fps={fps:,.0f}"
        # Engines with batched prediction and training show their rates and policy lag too.
        for key, label in (("pps", "pps"), ("tps", "tps"), ("policy_lag", "lag")):
            if isinstance(extra.get(key), (int, float)):
                postfix += f" {label}={extra[key]:,.0f}" if key != "policy_lag" else f" {label}={extra[key]:.2f}"
        self._bar.set_postfix_str(postfix, refresh=True)
        if self._plain and now - self._last_plain >= PLAIN_PROGRESS_EVERY_S:
            self._last_plain = now
            print(
                f"[{self.wall_seconds():8.1f}s] {self.cfg.env_id} env_steps={env_steps:,}/{self.cfg.total_steps:,} "
                f"{postfix}",
                file=sys.stderr,
                flush=True,
            )

    def state(self, env_steps: int) -> dict[str, Any]:
        return dict(self.stats.state(), wall_seconds=self.wall_seconds(), env_steps=env_steps)

    def summary(self, stop_reason: str, env_steps: int, updates: int, episodes: int) -> dict[str, Any]:
        wall = self.wall_seconds()
        mean = self.mean_return()
        stats = self.stats
        stability = stats.stability()
        return dict(
            env_id=self.cfg.env_id,
            algo=self.cfg.algo,
            seed=self.cfg.seed,
            stop_reason=stop_reason,
            solved=stats.time_to_target is not None,
            target_return=self.target,
            env_steps=env_steps,
            updates=updates,
            episodes=episodes,
            wall_seconds=round(wall, 3),
            steps_per_second=round(env_steps / wall, 1) if wall > 0 else 0.0,
            mean_return_100=mean,
            best_mean_return_100=stats.best_mean,
            time_to_target_s=None if stats.time_to_target is None else round(stats.time_to_target, 3),
            steps_to_target=stats.steps_to_target,
            # Did it hold its peak: best and final window means, the drop between them against the
            # run's first full window, when the best came, and the curve's average (stats.py).
            stability=None
            if stability is None
            else dict(
                best_mean_return_100=stability.best,
                final_mean_return_100=stability.final,
                first_mean_return_100=stability.reference,
                drop=round(stability.drop, 4),
                best_at_s=round(stability.best_at, 3),
                best_at_steps=stats.best_at_steps,
                first_peak_at_s=round(stability.first_peak_at, 3),
                mean_over_run=round(stability.mean_over_run, 4),
            ),
        )

    def close(self) -> None:
        self._bar.close()
        self._csv_file.close()
        self._episodes_file.close()
        self._events.close()
        if self._tb is not None:
            self._tb.close()


def _num(value: float | None) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # counts stay whole numbers in the CSV
    return round(float(value), 6)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _open_csv(path: Path, columns: Sequence[str]):
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


def _drop_rows_after(path: Path, env_steps: int) -> int:
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
