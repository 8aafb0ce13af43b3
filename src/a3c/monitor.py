"""The main process's view of training: episode stats and losses in, progress bar,
metrics.csv, TensorBoard, events.log and the "solved" stop rule out.

State that must survive a resume (the return window, bests, times to target, wall
seconds already spent) round-trips through `state()` and the `restored` argument.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Optional, Sequence

from tqdm import tqdm

BASE_COLUMNS = (
    "wall_s", "env_steps", "updates", "episodes", "mean_return_100", "fps",
    "policy_loss", "value_loss", "entropy", "grad_norm", "lr",
)
LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "grad_norm")


class Monitor:
    def __init__(
        self,
        cfg,
        run_dir: Path,
        target: Optional[float],
        engine_columns: Sequence[str] = (),
        restored: Optional[dict[str, Any]] = None,
    ):
        restored = restored or {}
        self.cfg, self.run_dir, self.target = cfg, Path(run_dir), target
        self.window: deque[float] = deque(restored.get("recent_returns", []), maxlen=cfg.target_window)
        self.best_mean: Optional[float] = restored.get("best_mean_return_100")
        self.time_to_target: Optional[float] = restored.get("time_to_target_s")
        self.steps_to_target: Optional[int] = restored.get("steps_to_target")
        self.wall_before = float(restored.get("wall_seconds", 0.0))
        self.started = time.monotonic()
        self.columns = BASE_COLUMNS + tuple(engine_columns)
        self._loss_sums = {k: 0.0 for k in LOSS_KEYS}
        self._loss_count = 0
        self._last_log_time = self.started
        self._last_log_steps: Optional[int] = None
        self.last_row: dict[str, Any] = {}

        metrics = self.run_dir / "metrics.csv"
        # Empty counts as new: a run killed before its first row left the file but no header.
        new_file = not metrics.exists() or metrics.stat().st_size == 0
        self._csv_file = open(metrics, "a", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self.columns, extrasaction="ignore")
        if new_file:
            self._csv.writeheader()
            self._csv_file.flush()
        self._events = open(self.run_dir / "events.log", "a")
        self._tb = None
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))
        self._bar = tqdm(
            total=cfg.total_steps, initial=int(restored.get("env_steps", 0)), unit="step", unit_scale=True,
            dynamic_ncols=True, disable=not cfg.progress, file=sys.stderr, desc=cfg.env_id,
        )

    # ----- inputs -----
    def wall_seconds(self) -> float:
        return self.wall_before + (time.monotonic() - self.started)

    def record_episodes(self, returns: Sequence[float], env_steps: int) -> None:
        for ret in returns:
            self.window.append(float(ret))
        mean = self.mean_return()
        if mean is None or len(self.window) < self.window.maxlen:
            return
        if self.best_mean is None or mean > self.best_mean:
            self.best_mean = mean
        if self.target is not None and self.time_to_target is None and mean >= self.target:
            self.time_to_target = self.wall_seconds()
            self.steps_to_target = int(env_steps)

    def record_losses(self, sums: dict[str, float], count: int) -> None:
        for key in LOSS_KEYS:
            self._loss_sums[key] += sums.get(key, 0.0)
        self._loss_count += count

    def event(self, message: str) -> None:
        line = f"[{self.wall_seconds():8.1f}s] {message}"
        self._events.write(line + "\n")
        self._events.flush()
        if self.cfg.progress:
            tqdm.write(line, file=sys.stderr)

    # ----- the stop rule -----
    def mean_return(self) -> Optional[float]:
        return sum(self.window) / len(self.window) if self.window else None

    def solved(self) -> bool:
        mean = self.mean_return()
        return (
            self.target is not None and mean is not None
            and len(self.window) >= self.window.maxlen and mean >= self.target
        )

    # ----- outputs -----
    def due(self) -> bool:
        return time.monotonic() - self._last_log_time >= self.cfg.log_interval_s

    def log(self, env_steps: int, updates: int, episodes: int, lr: float, extra: dict[str, float]) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last_log_time, 1e-9)
        previous = self._last_log_steps if self._last_log_steps is not None else self._bar.n
        fps = (env_steps - previous) / elapsed
        row: dict[str, Any] = dict(
            wall_s=round(self.wall_seconds(), 3), env_steps=env_steps, updates=updates, episodes=episodes,
            mean_return_100=_num(self.mean_return()), fps=round(fps, 1), lr=lr,
        )
        for key in LOSS_KEYS:
            row[key] = _num(self._loss_sums[key] / self._loss_count) if self._loss_count else ""
        row.update({k: _num(v) for k, v in extra.items()})
        self._csv.writerow(row)
        self._csv_file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("env_steps",) and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", value, env_steps)
        self._loss_sums = {k: 0.0 for k in LOSS_KEYS}
        self._loss_count = 0
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

    def state(self, env_steps: int) -> dict[str, Any]:
        return dict(
            recent_returns=list(self.window), best_mean_return_100=self.best_mean,
            time_to_target_s=self.time_to_target, steps_to_target=self.steps_to_target,
            wall_seconds=self.wall_seconds(), env_steps=env_steps,
        )

    def summary(self, stop_reason: str, env_steps: int, updates: int, episodes: int) -> dict[str, Any]:
        wall = self.wall_seconds()
        mean = self.mean_return()
        return dict(
            env_id=self.cfg.env_id, algo=self.cfg.algo, seed=self.cfg.seed, stop_reason=stop_reason,
            solved=self.time_to_target is not None, target_return=self.target,
            env_steps=env_steps, updates=updates, episodes=episodes, wall_seconds=round(wall, 3),
            steps_per_second=round(env_steps / wall, 1) if wall > 0 else 0.0,
            mean_return_100=mean, best_mean_return_100=self.best_mean,
            time_to_target_s=None if self.time_to_target is None else round(self.time_to_target, 3),
            steps_to_target=self.steps_to_target,
        )

    def close(self) -> None:
        self._bar.close()
        self._csv_file.close()
        self._events.close()
        if self._tb is not None:
            self._tb.close()


def _num(value: Optional[float]) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # counts stay whole numbers in the CSV
    return round(float(value), 6)
