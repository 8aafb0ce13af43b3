"""The main process's view of training: episode returns, losses and events in; one record of
each handed to every sink (sinks.py: metrics.csv, episodes.csv, TensorBoard, the progress
display, events.log); the run's statistics (stats.RunStats) and the stop rules read off them.

The monitor keeps the clock (wall seconds across resumes), the loss metrics averaged over a log
interval, and when the next metrics row is due; it builds each row once. State that must
survive a resume (the return window, bests, times to target, wall seconds already spent)
round-trips through `state()` and the `restored` argument. On a resume, rows that were written
after the checkpoint being resumed (a run killed between checkpoints) are dropped, so env_steps
never goes backwards in either CSV, and events.log says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a3c.engines.messages import MetricSums
from a3c.loss import LOSS_METRICS
from a3c.sinks import EpisodesCsv, EventsLog, MetricsCsv, ProgressSink, Sink, TensorBoardSink
from a3c.stats import RunStats
from a3c.stop_rules import StopRule, stop_rule

BASE_COLUMNS = ("wall_s", "env_steps", "updates", "episodes", "mean_return_100", "fps", *LOSS_METRICS, "lr")
# Columns that measure the machine, not the training: they differ between two runs of the same
# deterministic config (engine columns such as GA3C's pps and tps too). Every other column repeats.
WALL_CLOCK_COLUMNS = ("wall_s", "fps", "pss_mb")


class Monitor:
    def __init__(self, cfg, target: float | None, sinks: Sequence[Sink], restored: dict[str, Any] | None = None):
        restored = restored or {}
        self.cfg, self.target, self.sinks = cfg, target, list(sinks)
        self.stats = RunStats(cfg.target_window, target, restored)
        self.wall_before = float(restored.get("wall_seconds", 0.0))
        self.started = time.monotonic()
        self._metrics = MetricSums()
        self._last_log_time = self.started
        self._last_log_steps = int(restored.get("env_steps", 0))  # for the first row's fps
        self._log_step_mark = self._last_log_steps  # deterministic mode logs by env steps
        self.last_row: dict[str, Any] = {}

    @classmethod
    def open(
        cls,
        cfg,
        run_dir: Path,
        target: float | None,
        engine_columns: Sequence[str] = (),
        progress_fields: Sequence[str] = (),
        restored: dict[str, Any] | None = None,
    ) -> Monitor:
        """A run's monitor with the sinks its config asks for, writing into run_dir: metrics.csv with
        the base columns and then `engine_columns`, the progress display showing `progress_fields`
        (templates the engine declares, see sinks.ProgressSink)."""
        restored = restored or {}
        run_dir = Path(run_dir)
        resume_at = int(restored["env_steps"]) if "env_steps" in restored else None
        files = [
            MetricsCsv(run_dir / "metrics.csv", BASE_COLUMNS + tuple(engine_columns), resume_at),
            EpisodesCsv(run_dir / "episodes.csv", resume_at),
        ]
        sinks: list[Sink] = [*files, EventsLog(run_dir / "events.log")]
        if cfg.tensorboard:
            sinks.append(TensorBoardSink(run_dir / "tb"))
        if cfg.progress:
            sinks.append(ProgressSink(cfg.env_id, cfg.total_steps, resume_at or 0, progress_fields))
        monitor = cls(cfg, target, sinks, restored)
        for sink in files:
            if sink.dropped:
                monitor.event(
                    f"{sink.path.name}: dropped {sink.dropped} rows written after the checkpoint resumed from "
                    f"(env_steps > {resume_at})"
                )
        return monitor

    # ----- inputs -----
    def wall_seconds(self) -> float:
        return self.wall_before + (time.monotonic() - self.started)

    def record_episodes(
        self, returns: Sequence[float], env_steps: int, lengths: Sequence[int] = (), worker: int | None = None
    ) -> None:
        wall = round(self.wall_seconds(), 3)
        rows = [
            {
                "wall_s": wall,
                "env_steps": env_steps,
                "worker": "" if worker is None else worker,
                "return": _num(ret),
                "length": lengths[i] if i < len(lengths) else "",
            }
            for i, ret in enumerate(returns)
        ]
        for sink in self.sinks:
            sink.episodes(rows)
        self.stats.add(returns, wall, env_steps)

    def stop_counting(self) -> None:
        """See RunStats.stop_counting: a run stopped on its target reports the mean that reached it."""
        self.stats.stop_counting()

    def record_losses(self, sums: dict[str, float], counts: dict[str, int]) -> None:
        self._metrics.merge(sums, counts)

    def event(self, message: str) -> None:
        line = f"[{self.wall_seconds():8.1f}s] {message}"
        for sink in self.sinks:
            sink.event(line)

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
        """A metrics row, built once and handed to every sink: the counters, the window's mean, env
        steps per second since the previous row, the loss metrics averaged over the updates since
        then, lr, and `extra` (the engine's and the main loop's own columns)."""
        now = time.monotonic()
        fps = (env_steps - self._last_log_steps) / max(now - self._last_log_time, 1e-9)
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
        for sink in self.sinks:
            sink.row(row)
        self._metrics = MetricSums()
        self._last_log_time, self._last_log_steps, self._log_step_mark = now, env_steps, env_steps
        self.last_row = row

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
            # run's first full window, when the best came, the curve's average and the share of the
            # time after the first peak it spent below halfway back (stats.py).
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
                below_half_after_peak=round(stability.below_half, 4),
            ),
        )

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def _num(value: float | None) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # counts stay whole numbers in the CSV
    return round(float(value), 6)
