"""Figures over seeds, as the benchmarks report them: the interquartile mean (IQM) with a 95%
stratified-bootstrap interval from rliable (Agarwal et al., 2021), and the median.

The IQM is the mean of the middle half of the runs: it uses more of the data than the median and is
not carried away by one outlying seed as the mean is. With few seeds the interval is wide, and it is
printed so a reader sees how wide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_REPS = 5000  # rliable's examples use 50,000 over many tasks; one task of 3-10 seeds settles well before


def over_seeds(values: Sequence[float], reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict[str, float | int]:
    """IQM, its 95% stratified-bootstrap interval (rliable's percentile method) and the median of one
    figure over seeds (one value per seed). The bootstrap is seeded, so the same data always
    renders the same page."""
    return over_tasks({"x": list(values)}, reps, seed)


def over_tasks(values: dict[str, Sequence[float]], reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict[str, float | int]:
    """The same over several tasks (games), one value per seed of each: the IQM of all the runs, its
    interval from a bootstrap that resamples the seeds within each task (rliable's stratified one),
    and the median. Every task needs the same number of seeds, as in rliable's runs x tasks array."""
    from rliable import library as rly
    from rliable import metrics

    counts = {task: len(v) for task, v in values.items()}
    if not values or 0 in counts.values():
        raise ValueError("over_tasks needs at least one value for each task")
    if len(set(counts.values())) > 1:
        raise ValueError(f"every task needs the same number of seeds; got {counts}")
    scores = np.asarray([list(v) for v in values.values()], dtype=float).T  # rliable's layout: runs x tasks
    # rliable 1.2 resamples the runs with numpy's global generator (np.random.choice), whatever
    # random_state it is given: seed that one for the call and put its state back after.
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        point, interval = rly.get_interval_estimates(
            {"x": scores}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps
        )
    finally:
        np.random.set_state(saved)
    low, high = interval["x"][:, 0]
    return {
        "iqm": float(point["x"][0]),
        "iqm_ci_low": float(low),
        "iqm_ci_high": float(high),
        "median": float(np.median(scores)),
        "n": int(scores.size),
    }
