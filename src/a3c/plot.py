"""Learning curves of one or several runs as a PNG: mean return against env steps and wall time."""

from __future__ import annotations

import csv
from pathlib import Path

from a3c.errors import UserError


def read_metrics(run_dir: str | Path) -> dict[str, list[float]]:
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no metrics.csv found)")
    columns: dict[str, list[float]] = {"env_steps": [], "wall_s": [], "mean_return_100": []}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if not row.get("mean_return_100"):
                continue
            for key in columns:
                columns[key].append(float(row[key]))
    return columns


def plot_runs(run_dirs: list[str], output: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not run_dirs:
        raise UserError("give at least one run directory to plot")
    series = [(Path(d).name, read_metrics(d)) for d in run_dirs]
    fig, (by_steps, by_time) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, data in series:
        by_steps.plot(data["env_steps"], data["mean_return_100"], label=name)
        by_time.plot(data["wall_s"], data["mean_return_100"], label=name)
    by_steps.set_xlabel("env steps")
    by_time.set_xlabel("wall time (s)")
    for ax in (by_steps, by_time):
        ax.set_ylabel("mean return (last 100 episodes)")
        ax.grid(alpha=0.3)
    by_steps.legend(fontsize=8)
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output
